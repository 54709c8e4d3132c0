"""scaled_dot_product_attention against torch's in float64 (masks, causal, broadcasting), gradients."""

import doctest
import sys

import numpy as np
import pytest
import torch

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable

sdpa = F.scaled_dot_product_attention


def _against_torch(q_shape, k_shape, v_shape, mask=None, is_causal=False, seed=0):
    """Output and the gradients of q, k and v for a random upstream gradient, ours and torch's."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in (q_shape, k_shape, v_shape)]
    ours = [Variable(a) for a in arrays]
    y = sdpa(*ours, mask=mask, is_causal=is_causal)
    g = rng.normal(size=y.shape)
    cg.backward(y, g)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    attn_mask = None if mask is None else torch.tensor(mask)
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=attn_mask, is_causal=is_causal)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-13)
    return y, ours


@pytest.mark.parametrize(
    ("q", "k", "v"),
    [
        ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)),  # (B, H, T, d), S = 6 keys, dv = 7
        ((4, 5), (4, 5), (4, 5)),  # no batch axes
        ((2, 3, 4, 5), (1, 3, 6, 5), (6, 7)),  # batch axes broadcast, and summed back
    ],
)
@pytest.mark.parametrize("is_causal", [False, True])
def test_matches_torch(q, k, v, is_causal):
    _against_torch(q, k, v, is_causal=is_causal)


@pytest.mark.parametrize(("t", "s"), [(3, 5), (5, 3)])
def test_causal_with_another_key_count_keeps_the_lower_triangle_as_torch(t, s):
    y, (_, _, v) = _against_torch((2, t, 4), (2, s, 4), (2, s, 3), is_causal=True)
    # query 0 sees key 0 only: its output is v's first row
    np.testing.assert_allclose(y.data[:, 0], v.data[:, 0], rtol=1e-12)


def test_bool_mask_keeps_the_true_keys_and_a_row_with_none_gives_zeros_as_torch():
    mask = np.random.default_rng(1).random((4, 6)) > 0.4
    mask[0] = True
    mask[2] = False  # query 2 attends to nothing
    y, (q, k, v) = _against_torch((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), mask=mask)
    assert not y.data[:, :, 2].any() and not q.grad.data[:, :, 2].any()
    # a key no query attends to gets no gradient
    mask[:, 1] = False
    y, (q, k, v) = _against_torch((3, 4, 5), (3, 6, 5), (3, 6, 2), mask=mask)
    assert not k.grad.data[:, 1].any() and not v.grad.data[:, 1].any()


def test_float_mask_is_added_to_the_scores_and_broadcasts_as_torch():
    rng = np.random.default_rng(2)
    mask = rng.normal(size=(2, 1, 4, 6))  # per batch, shared by the heads
    mask[1, 0, 3] = -np.inf  # a row with no key: zeros, as a bool mask's
    mask[0, 0, 1, :3] = -np.inf
    y, _ = _against_torch((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), mask=mask)
    assert not y.data[1, :, 3].any()
    # by hand: the scores plus the mask, then the softmax
    q, k, v = (rng.normal(size=s) for s in ((4, 5), (6, 5), (6, 2)))
    m = rng.normal(size=(4, 6))
    s = q @ k.T / np.sqrt(5) + m
    p = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(sdpa(q, k, v, mask=m).data, p / p.sum(axis=1, keepdims=True) @ v, rtol=1e-12)


@pytest.mark.parametrize("kind", ["none", "causal", "bool mask with an empty row"])
def test_gradcheck_and_second_order(kind):
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]], bool) if kind.startswith("bool") else None
    causal = kind == "causal"

    def f(q, k, v):
        return sdpa(q, k, v, mask=mask, is_causal=causal)

    assert cg.gradcheck(f, q, k, v)
    # create_graph: the rule recomputes P from q and k as ops, so it differentiates again
    assert cg.gradcheck(lambda *xs: cg.grad(F.sum(f(*xs) ** 2), list(xs), create_graph=True), q, k, v)


def test_second_order_matches_torch():
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=(2, 3, 4)) for _ in range(3)]
    ours = [Variable(a) for a in arrays]
    gs = cg.grad(F.sum(sdpa(*ours, is_causal=True) ** 3), ours, create_graph=True)
    cg.backward(F.sum(gs[0] * gs[1]) + F.sum(gs[2] * gs[2]))
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    gt = torch.autograd.grad((yt**3).sum(), theirs, create_graph=True)
    ((gt[0] * gt[1]).sum() + (gt[2] * gt[2]).sum()).backward()
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_keeps_float32():
    rng = np.random.default_rng(5)
    q, k, v = (Variable(rng.normal(size=(2, 4, 8)).astype(np.float32)) for _ in range(3))
    mask = rng.random((4, 4)) > 0.3
    for kwargs in ({"is_causal": True}, {"mask": mask}, {"mask": mask.astype(np.float64)}):
        y = sdpa(q, k, v, **kwargs)
        F.sum(y * y).backward()
        assert y.dtype == q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32
        q.grad = k.grad = v.grad = None


@pytest.mark.parametrize(
    ("shapes", "kwargs", "error", "message"),
    [
        (
            ((4, 5), (6, 4), (6, 5)),
            {},
            ValueError,
            r"must share d, .* got q \(4, 5\), k \(6, 4\), v \(6, 5\)",
        ),
        (((4, 5), (6, 5), (7, 5)), {}, ValueError, r"key count S; got q \(4, 5\), k \(6, 5\), v \(7, 5\)"),
        (((5,), (6, 5), (6, 5)), {}, ValueError, r"must be \(\.\.\., T, d\), .* got q \(5,\)"),
        (
            ((2, 4, 5), (3, 6, 5), (3, 6, 5)),
            {},
            ValueError,
            r"batch axes .* do not broadcast; got q \(2, 4, 5\)",
        ),
        (
            ((4, 5), (6, 5), (6, 5)),
            {"mask": np.ones((4, 5), bool)},
            ValueError,
            r"mask of shape \(4, 5\) does not broadcast to the scores' shape \(4, 6\)",
        ),
        (
            ((4, 5), (6, 5), (6, 5)),
            {"mask": np.ones((2, 4, 6), bool)},
            ValueError,
            r"mask of shape \(2, 4, 6\) does not broadcast to the scores' shape \(4, 6\)",
        ),
        (
            ((4, 5), (6, 5), (6, 5)),
            {"mask": np.ones((4, 6), int)},
            TypeError,
            r"bool .* or float .* got int64",
        ),
        (
            ((4, 5), (6, 5), (6, 5)),
            {"mask": Variable(np.zeros((4, 6)))},
            TypeError,
            r"mask gets no gradient here, but a mask of shape \(4, 6\) that requires one",
        ),
        (
            ((4, 5), (4, 5), (4, 5)),
            {"mask": np.ones((4, 4), bool), "is_causal": True},
            ValueError,
            r"not both",
        ),
    ],
)
def test_errors_name_the_shapes(shapes, kwargs, error, message):
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(error, match=r"^scaled_dot_product_attention: .*" + message):
        sdpa(q, k, v, **kwargs)


def test_a_constant_variable_mask_is_read_and_operands_must_be_arrays():
    rng = np.random.default_rng(6)
    q = rng.normal(size=(3, 2))
    mask = rng.normal(size=(3, 3))
    expected = sdpa(q, q, q, mask=mask).data
    np.testing.assert_array_equal(sdpa(q, q, q, mask=Variable(mask, requires_grad=False)).data, expected)
    with pytest.raises(
        TypeError, match=r"^scaled_dot_product_attention: k must be a Variable or a numpy.ndarray"
    ):
        sdpa(q, q.tolist(), q)


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.attention"])
    assert result.attempted > 0 and result.failed == 0
