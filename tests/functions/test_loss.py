"""softmax_cross_entropy, binary_cross_entropy_with_logits, mean_squared_error: values, gradients, errors."""

import warnings

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def test_softmax_cross_entropy_value_by_hand():
    x = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    t = np.array([0, 0])
    # −(log ½ + log ¾)/2
    assert F.softmax_cross_entropy(x, t).item() == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


def test_softmax_cross_entropy_gradient_and_second_order():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    assert cg.gradcheck(lambda v: F.softmax_cross_entropy(v, t), x)
    assert cg.gradcheck(lambda v: cg.grad(F.softmax_cross_entropy(v, t), [v], create_graph=True)[0] * v, x)


def test_softmax_cross_entropy_gradient_by_hand():
    x = Variable(np.zeros((2, 2)))
    F.softmax_cross_entropy(x, np.array([0, 1])).backward()
    np.testing.assert_allclose(x.grad.data, [[-0.25, 0.25], [0.25, -0.25]])


def test_softmax_cross_entropy_is_stable_for_large_logits():
    x = Variable(np.array([[1000.0, 0.0], [0.0, -1000.0]]))
    loss = F.softmax_cross_entropy(x, np.array([1, 1]))
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    assert np.isfinite(x.grad.data).all()


def test_softmax_cross_entropy_keeps_float32():
    x = Variable(np.zeros((2, 3), dtype=np.float32))
    loss = F.softmax_cross_entropy(x, np.array([0, 1]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_softmax_cross_entropy_rejects_one_hot_labels_with_a_hint():
    with pytest.raises(ValueError, match=r"integer class labels.*argmax"):
        F.softmax_cross_entropy(Variable(np.zeros((2, 3))), np.eye(3)[:2])


def test_softmax_cross_entropy_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.softmax_cross_entropy(Variable(np.zeros((2, 3))), np.array([0, 3]))


def test_mean_squared_error_value_and_gradients():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])
    assert F.mean_squared_error(a, b).item() == pytest.approx(13 / 3)
    rng = np.random.default_rng(1)
    assert cg.gradcheck(F.mean_squared_error, rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    assert cg.gradcheck(F.mean_squared_error, rng.normal(size=(3, 2)), rng.normal(size=(2,)))
    x = Variable(a)
    F.mean_squared_error(x, b).backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 4 / 3, 2.0])


@pytest.mark.parametrize("bad", [[0, 1, -1], [0, 1, 4], [0, 1, 2**63 + 5]])
def test_labels_out_of_range_are_refused_once_named(bad):
    x = Variable(np.zeros((3, 4)))
    t = np.array(bad, dtype=np.uint64 if max(bad) > 2**62 else np.int64)
    with pytest.raises(ValueError, match=r"^SoftmaxCrossEntropy: labels must lie in \[0, 4\)") as info:
        F.softmax_cross_entropy(x, t)
    assert str(info.value).count("SoftmaxCrossEntropy") == 1


def test_labels_of_any_integer_type_give_the_same_loss_and_gradient():
    x0 = np.random.default_rng(0).standard_normal((3, 4))
    results = []
    for dtype in (np.int64, np.int8, np.uint8, np.uint64):
        x = Variable(x0.copy())
        loss = F.softmax_cross_entropy(x, np.array([0, 3, 2], dtype=dtype))
        loss.backward()
        results.append((loss.item(), x.grad.data))
    for loss, g in results[1:]:
        assert loss == results[0][0] and np.array_equal(g, results[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_squared_error_of_empty_arrays_is_nan_as_in_torch(dtype):
    import torch

    x = Variable(np.zeros((0, 3), dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither NumPy's "mean of empty slice" nor a division by 0
        loss = F.mean_squared_error(x, np.zeros((0, 3), dtype))
        loss.backward()
    xt = torch.zeros((0, 3), dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
    loss_t = torch.nn.functional.mse_loss(xt, torch.zeros_like(xt))
    loss_t.backward()
    assert np.isnan(loss.item()) and np.isnan(loss_t.item())
    assert loss.dtype == dtype and x.grad.shape == tuple(xt.grad.shape) == (0, 3)
    assert x.grad.dtype == dtype


@pytest.mark.parametrize(("a", "b"), [((4, 1), (4,)), ((4,), (4, 1)), ((1, 3), (3, 1))])
def test_mean_squared_error_refuses_shapes_that_would_both_broadcast(a, b):
    with pytest.raises(ValueError) as info:
        F.mean_squared_error(Variable(np.zeros(a)), np.zeros(b))
    message = str(info.value)
    assert message.startswith(f"mean_squared_error: x0 of shape {a} and x1 of shape {b} would broadcast to")
    assert f"x0.reshape({b}) or x1.reshape({a})" in message


def test_mean_squared_error_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"x0 of shape \(4, 2\) and x1 of shape \(3,\) do not broadcast"):
        F.mean_squared_error(np.zeros((4, 2)), np.zeros(3))


@pytest.mark.parametrize(("a", "b"), [((4, 2), (2,)), ((1,), (4,)), ((4, 2), ()), ((3, 1, 2), (3, 5, 2))])
def test_mean_squared_error_broadcasting_one_side_matches_torch(a, b):
    import torch

    rng = np.random.default_rng(2)
    x0, x1 = rng.normal(size=a), rng.normal(size=b)
    v0, v1 = Variable(x0), Variable(x1)
    loss = F.mean_squared_error(v0, v1)
    loss.backward()
    t0, t1 = torch.tensor(x0, requires_grad=True), torch.tensor(x1, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "target size different to the input size"
        loss_t = torch.nn.functional.mse_loss(t0, t1)
    loss_t.backward()
    assert loss.item() == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(v0.grad.data, t0.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v1.grad.data, t1.grad.numpy(), rtol=1e-12)


def test_softmax_cross_entropy_of_an_empty_batch_is_nan_as_in_torch():
    import torch

    x = Variable(np.zeros((0, 5), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.softmax_cross_entropy(x, np.zeros(0, np.int64))
        loss.backward()
    xt = torch.zeros((0, 5), requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(xt, torch.zeros(0, dtype=torch.long))
    loss_t.backward()
    assert np.isnan(loss.item()) and np.isnan(loss_t.item()) and loss.dtype == np.float32
    assert x.grad.shape == tuple(xt.grad.shape) == (0, 5) and x.grad.dtype == np.float32
    (g,) = cg.grad(F.softmax_cross_entropy(x, np.zeros(0, np.int64)), [x], create_graph=True)
    assert g.shape == (0, 5)


# --- softmax_cross_entropy over (..., C) with ignore_index; binary_cross_entropy_with_logits -----
def _cross_entropy_against_torch(shape, t, **kwargs):
    import torch

    rng = np.random.default_rng(3)
    x0 = rng.normal(size=shape)
    x = Variable(x0)
    loss = F.softmax_cross_entropy(x, t, **kwargs)
    loss.backward()
    xt = torch.tensor(x0, requires_grad=True)
    tt = torch.tensor(t)
    # PyTorch takes the classes on axis 1: (N, C, d1, ...); ours are on the last axis
    loss_t = torch.nn.functional.cross_entropy(xt.movedim(-1, 1) if xt.ndim > 2 else xt, tt, **kwargs)
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    return x


def test_softmax_cross_entropy_over_a_sequence_matches_torch():
    t = np.array([[0, 4, 2], [1, 1, 3]])
    _cross_entropy_against_torch((2, 3, 5), t)
    _cross_entropy_against_torch((2, 2, 2, 5), np.stack([t[:, :2], t[:, 1:]]))
    _cross_entropy_against_torch((5,), np.array(3))  # one unbatched sample, as torch


@pytest.mark.parametrize("ignore_index", [-100, 0, 4, -1])
def test_ignored_labels_add_nothing_and_the_mean_is_over_the_others_as_torch(ignore_index):
    t = np.array([[0, 4, 2, 4], [1, 0, 3, 2]])
    t[0, 1] = t[1, 2] = ignore_index
    x = _cross_entropy_against_torch((2, 4, 5), t, ignore_index=ignore_index)
    assert not x.grad.data[t == ignore_index].any()
    # by hand: the mean over the six kept positions of the loss without the ignored ones
    kept = t != ignore_index
    loss = F.softmax_cross_entropy(x.data[kept], t[kept])
    assert F.softmax_cross_entropy(x.data, t, ignore_index=ignore_index).item() == pytest.approx(loss.item())


def test_when_every_label_is_ignored_the_loss_is_nan_and_the_gradient_zero_as_torch():
    import torch

    x = Variable(np.zeros((2, 3, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.softmax_cross_entropy(x, np.full((2, 3), -100))
        loss.backward()
    xt = torch.zeros((2, 4, 3), requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(xt, torch.full((2, 3), -100))
    loss_t.backward()
    assert np.isnan(loss.item()) and np.isnan(loss_t.item()) and loss.dtype == np.float32
    assert not x.grad.data.any() and not xt.grad.numpy().any() and x.grad.dtype == np.float32


def test_softmax_cross_entropy_over_a_sequence_gradcheck_and_second_order():
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(2, 3, 4)), np.array([[0, 3, -100], [2, -100, 1]])
    assert cg.gradcheck(lambda v: F.softmax_cross_entropy(v, t), x)
    assert cg.gradcheck(lambda v: cg.grad(F.softmax_cross_entropy(v, t), [v], create_graph=True)[0] * v, x)
    v = Variable(x)
    (g,) = cg.grad(F.softmax_cross_entropy(v, t), [v], create_graph=True)
    assert not g.data[t == -100].any()


def test_softmax_cross_entropy_errors_name_the_shapes():
    with pytest.raises(
        ValueError, match=r"labels of shape \(2, 3\) for x of shape \(2, 3, 4\), got int64 of shape \(2,\)"
    ):
        F.softmax_cross_entropy(Variable(np.zeros((2, 3, 4))), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"x must be \(\.\.\., C\) scores, got shape \(\)"):
        F.softmax_cross_entropy(Variable(np.zeros(())), np.zeros((), np.int64))
    with pytest.raises(
        ValueError,
        match=r"labels must lie in \[0, 4\) or equal ignore_index \(-100\), got values from 0 to 7",
    ):
        F.softmax_cross_entropy(Variable(np.zeros((2, 3, 4))), np.array([[0, -100, 7], [1, 2, 3]]))


def test_binary_cross_entropy_with_logits_matches_torch_for_both_inputs():
    import torch

    rng = np.random.default_rng(5)
    x0, t0 = rng.normal(size=(3, 4)) * 3, rng.uniform(size=(3, 4))
    x, t = Variable(x0), Variable(t0)
    loss = F.binary_cross_entropy_with_logits(x, t)
    loss.backward()
    xt, tt = torch.tensor(x0, requires_grad=True), torch.tensor(t0, requires_grad=True)
    loss_t = torch.nn.functional.binary_cross_entropy_with_logits(xt, tt)
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert cg.gradcheck(F.binary_cross_entropy_with_logits, x0, t0)
    assert cg.gradcheck(
        lambda a, b: cg.grad(F.binary_cross_entropy_with_logits(a, b) ** 2, [a, b], create_graph=True), x0, t0
    )


def test_binary_cross_entropy_with_logits_is_stable_for_large_logits():
    x = Variable(np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0]))
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # e^-1000 may underflow to 0
        loss = F.binary_cross_entropy_with_logits(x, t)
        loss.backward()
    assert loss.item() == pytest.approx((2000 + np.log(2)) / 5)
    np.testing.assert_allclose(x.grad.data, np.array([0.0, 0.0, 1.0, -1.0, -0.5]) / 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_keeps_the_dtype_and_is_nan_when_empty(dtype):
    x = Variable(np.zeros((2, 3), dtype))
    loss = F.binary_cross_entropy_with_logits(x, np.ones((2, 3), dtype))
    loss.backward()
    assert loss.dtype == x.grad.dtype == dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = F.binary_cross_entropy_with_logits(Variable(np.zeros(0, dtype)), np.zeros(0, dtype))
    assert np.isnan(empty.item()) and empty.dtype == dtype


def test_binary_cross_entropy_with_logits_wants_one_target_per_logit():
    with pytest.raises(
        ValueError, match=r"^binary_cross_entropy_with_logits: x of shape \(4, 1\) and t of shape \(4,\)"
    ):
        F.binary_cross_entropy_with_logits(Variable(np.zeros((4, 1))), np.zeros(4))


def test_loss_docstring_examples_run():
    import doctest
    import sys

    result = doctest.testmod(sys.modules["compgraph.functions.loss"])
    assert result.attempted >= 2 and result.failed == 0
