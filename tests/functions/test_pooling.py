"""max_pool2d and avg_pool2d: values by hand and against a loop, ties, gradients, errors."""

import doctest
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def pool_by_loops(x, reduce, kernel, stride, pad, fill):
    """The definition, one window at a time; padding is ``fill``."""
    (KH, KW), (SH, SW), (PH, PW) = kernel, stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=fill)
    OH, OW = (xp.shape[2] - KH) // SH + 1, (xp.shape[3] - KW) // SW + 1
    y = np.zeros(x.shape[:2] + (OH, OW))
    for i in range(OH):
        for j in range(OW):
            y[:, :, i, j] = reduce(xp[:, :, i * SH : i * SH + KH, j * SW : j * SW + KW], axis=(2, 3))
    return y


@st.composite
def pool_cases(draw, max_side=7):
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        draw(st.integers(max(1, KH - 2 * PH), max_side)),
        draw(st.integers(max(1, KW - 2 * PW), max_side)),
    )
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    kernel = KH if KH == KW and draw(st.booleans()) else (KH, KW)
    pad = PH if PH == PW and draw(st.booleans()) else (PH, PW)
    return shape, kernel, stride, pad, draw(st.integers(0, 2**16))


def _geometry(kernel, stride, pad):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    return pair(kernel), pair(kernel if stride is None else stride), pair(pad)


def _distinct(shape, seed):
    """Values at least 0.01 apart: no ties, so central differences see one maximum per window."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(np.linspace(-2, 2, n)).reshape(shape)


def test_pooling_by_hand():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data, [[[[2.5, 4.5], [10.5, 12.5]]]])
    # 3x3 windows at stride 1: the max is the bottom-right corner, the mean the centre
    np.testing.assert_array_equal(F.max_pool2d(x, 3, stride=1).data, [[[[10, 11], [14, 15]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 3, stride=1).data, [[[[5, 6], [9, 10]]]])


def test_padding_is_never_the_max_and_counts_as_zero_in_the_mean():
    x = -np.arange(1.0, 5.0).reshape(1, 1, 2, 2)  # all negative: a zero border would win
    # 2x2 windows at stride 2 over the 4x4 padded image hold one pixel each
    np.testing.assert_array_equal(F.max_pool2d(x, 2, pad=1).data, x)
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, pad=1).data, x / 4)


@settings(max_examples=40, deadline=None)
@given(case=pool_cases())
def test_pooling_matches_the_definition(case):
    shape, kernel, stride, pad, seed = case
    x = np.random.default_rng(seed).normal(size=shape)
    geometry = _geometry(kernel, stride, pad)
    y = F.max_pool2d(x, kernel, stride, pad).data
    np.testing.assert_array_equal(y, pool_by_loops(x, np.max, *geometry, fill=-np.inf))
    y = F.avg_pool2d(x, kernel, stride, pad).data
    np.testing.assert_allclose(y, pool_by_loops(x, np.mean, *geometry, fill=0.0), atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(case=pool_cases(max_side=5))
def test_pooling_gradients(case):
    shape, kernel, stride, pad, seed = case
    x = _distinct(shape, seed)
    assert cg.gradcheck(lambda v: F.max_pool2d(v, kernel, stride, pad), x)
    assert cg.gradcheck(lambda v: F.avg_pool2d(v, kernel, stride, pad), x)


@pytest.mark.parametrize(("kernel", "stride", "pad"), [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0))])
@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_second_order(pool, kernel, stride, pad):
    x = _distinct((2, 2, 5, 6), 1)
    assert cg.gradcheck(
        lambda v: cg.grad(F.sum(pool(v, kernel, stride, pad) ** 3), [v], create_graph=True)[0], x
    )


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima():
    x = Variable(np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]))
    F.sum(F.max_pool2d(x, 2)).backward()
    # row-major order within each window: the top-left 1, the top-right 2
    np.testing.assert_array_equal(x.grad.data, [[[[1, 0, 0, 1], [0, 0, 0, 0]]]])


def test_overlapping_windows_add_their_gradients():
    x = Variable(np.array([[[[0.0, 1.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 0.0]]]]))
    F.sum(F.max_pool2d(x, 2, stride=1)).backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])
    x.cleargrad()
    F.sum(F.avg_pool2d(x, 2, stride=1)).backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / np.float64(4))


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_keeps_float32(pool):
    x = Variable(np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32))
    y = pool(x, 2)
    F.sum(y).backward()
    assert y.dtype == x.grad.dtype == np.float32


def test_pooling_matches_torch():
    torch = pytest.importorskip("torch")
    x = _distinct((2, 3, 9, 8), 2)
    g = np.random.default_rng(3).normal(size=(2, 3, 5, 3))
    for ours, theirs in (
        (F.max_pool2d, torch.nn.functional.max_pool2d),
        (F.avg_pool2d, torch.nn.functional.avg_pool2d),
    ):
        xv = Variable(x)
        y = ours(xv, 3, (2, 3), 1)
        cg.backward(y, g)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt, 3, (2, 3), 1)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize(
    ("shape", "args", "error", "message"),
    [
        (
            (1, 1, 4, 4),
            (3, 1, 2),
            ValueError,
            r"pad \(2, 2\) is more than half the 3x3 kernel.*pad <= \(1, 1\)",
        ),
        ((1, 1, 2, 2), (3,), ValueError, r"3x3 kernel is larger than the 2x2 input"),
        ((4, 4), (2,), ValueError, r"\(N, C, H, W\), got shape \(4, 4\)"),
        ((1, 1, 4, 4), (0,), ValueError, r"kernel_size must be at least 1"),
        ((1, 1, 4, 4), (2.0,), TypeError, r"kernel_size must be an int or a pair"),
    ],
)
def test_pooling_errors(pool, shape, args, error, message):
    with pytest.raises(error, match=pool.__name__ + r": .*" + message):
        pool(np.zeros(shape), *args)


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.pooling"])
    assert result.attempted > 0 and result.failed == 0


def _torch_max_pool(x, g, *args):
    """torch's max_pool2d of x (values, input gradient for upstream g, and argmax indices)."""
    import torch

    xt = torch.tensor(x, requires_grad=True)
    yt, indices = torch.nn.functional.max_pool2d(xt, *args, return_indices=True)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy(), indices.numpy()


def test_a_window_with_nans_is_nan_and_its_last_nan_gets_the_gradient_as_in_torch():
    nan = np.nan
    x = np.array([[[[1, nan, 3, nan], [nan, 2, 0, 5], [1, 2, 3, 4], [nan, nan, nan, nan]]]])
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    xv = Variable(x)
    y = F.max_pool2d(xv, 2)
    cg.backward(y, g)
    y_t, gx_t, indices = _torch_max_pool(x, g, 2)
    assert np.isnan(y.data).all() and np.isnan(y_t).all()
    # every window's last NaN in row-major order: (1, 0), (0, 3), (3, 1), (3, 3)
    assert indices.ravel().tolist() == [4, 3, 13, 15]
    expected = np.zeros((4, 4))
    expected[1, 0], expected[0, 3], expected[3, 1], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(xv.grad.data[0, 0], expected)
    np.testing.assert_array_equal(xv.grad.data, gx_t)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("kernel", "stride", "pad"), [(2, 2, 0), (2, 1, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))]
)
def test_max_pool_with_nans_matches_torch(dtype, kernel, stride, pad):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 7, 6)).astype(dtype)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0, 0, 0, :3] = np.inf  # infinities next to NaNs
    xv = Variable(x)
    y = F.max_pool2d(xv, kernel, stride, pad)
    g = rng.normal(size=y.shape).astype(dtype)
    cg.backward(y, g)
    y_t, gx_t, _ = _torch_max_pool(x, g, kernel, stride, pad)
    assert np.isnan(y.data).any() and not np.isnan(y.data).all()
    np.testing.assert_array_equal(y.data, y_t)  # NaN in the same places
    np.testing.assert_allclose(xv.grad.data, gx_t, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_the_second_order_of_max_pool_with_nans_matches_torch():
    import torch

    rng = np.random.default_rng(12)
    x = rng.normal(size=(1, 2, 4, 4))
    x[rng.random(x.shape) < 0.4] = np.nan
    w, v = rng.normal(size=(1, 2, 2, 2)), rng.normal(size=x.shape)
    xv, wv = Variable(x), Variable(w)
    (gx,) = cg.grad(F.sum(F.max_pool2d(xv, 2) * wv), [xv], create_graph=True)
    (gw,) = cg.grad(F.sum(gx * v), [wv])  # v read at each window's argmax
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (gxt,) = torch.autograd.grad((torch.nn.functional.max_pool2d(xt, 2) * wt).sum(), [xt], create_graph=True)
    (gwt,) = torch.autograd.grad((gxt * torch.tensor(v)).sum(), [wt])
    np.testing.assert_array_equal(gx.data, gxt.detach().numpy())
    np.testing.assert_allclose(gw.data, gwt.numpy(), rtol=1e-12)
