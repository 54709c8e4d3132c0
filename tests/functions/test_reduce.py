"""sum mean max min logsumexp var std over all axes or some, cumsum, argmax, argmin: values and gradients."""

import doctest
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.strategies import distinct

AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_reductions_match_numpy_and_gradients(name, axis, keepdims, data):
    x = data.draw(distinct((2, 3, 4)))  # distinct values: max/min have no ties
    fn, ref = getattr(F, name), getattr(np, name)
    np.testing.assert_allclose(fn(x, axis, keepdims).data, ref(x, axis=axis, keepdims=keepdims))
    assert cg.gradcheck(lambda v: fn(v, axis, keepdims), x)


def test_sum_second_order():
    x = np.random.default_rng(0).normal(size=(2, 3))
    assert cg.gradcheck(lambda v: cg.grad(F.sum(F.sum(v, axis=0) ** 3), [v], create_graph=True)[0], x)


def test_max_gradient_goes_to_the_maximum():
    x = Variable(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]))
    F.sum(F.max(x, axis=1)).backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_tied_maxima_share_the_gradient():
    x = Variable(np.array([3.0, 1.0, 3.0]))
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.5, 0.0, 0.5])


def test_mean_gradient_is_one_over_n():
    x = Variable(np.ones((2, 5)))
    F.mean(x).backward()
    np.testing.assert_allclose(x.grad.data, np.full((2, 5), 0.1))


def test_list_axes_are_accepted():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(F.sum(x, axis=[0, 1]).data, 15.0)


NAN = np.nan
WITH_NANS = np.array(
    [[1.0, NAN, 3.0, NAN], [NAN, 2.0, NAN, NAN], [1.0, 4.0, 4.0, -2.0], [0.5, NAN, 7.0, 1.0]]
)


@pytest.mark.parametrize("name", ["max", "min"])
def test_a_nan_is_the_extreme_and_its_nans_share_the_gradient_as_torch_without_dim(name):
    import torch

    x = Variable(WITH_NANS)
    y = getattr(F, name)(x)
    y.backward()
    xt = torch.tensor(WITH_NANS, requires_grad=True)
    yt = getattr(torch, name)(xt)
    yt.backward()
    assert np.isnan(y.item()) and np.isnan(yt.item())
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())
    np.testing.assert_array_equal(x.grad.data, np.isnan(WITH_NANS) / 6)  # six NaNs, 1/6 each


@pytest.mark.parametrize("name", ["max", "min"])
def test_over_an_axis_nan_slices_are_nan_and_their_nans_share_the_gradient(name):
    import torch

    g = np.array([1.0, 2.0, 3.0, 4.0])
    x = Variable(WITH_NANS)
    y = getattr(F, name)(x, axis=1)
    cg.backward(y, g)
    xt = torch.tensor(WITH_NANS, requires_grad=True)
    yt = getattr(torch, f"a{name}")(xt, dim=1)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, yt.detach().numpy())  # NaN where a row holds one
    # rows without NaN (row 2 has tied maxima 4, 4) get torch.amax's gradient, shared on ties
    np.testing.assert_array_equal(x.grad.data[2], xt.grad.numpy()[2])
    np.testing.assert_array_equal(x.grad.data[2], [0, 1.5, 1.5, 0] if name == "max" else [0, 0, 0, 3])
    # a deliberate difference: torch.amax gives a NaN row the gradient NaN everywhere (0/0); the
    # row's NaNs share it here, as torch.max(x) shares a full reduction's
    assert np.isnan(xt.grad.numpy()[[0, 1, 3]]).all()
    np.testing.assert_array_equal(x.grad.data[0], [0, 0.5, 0, 0.5])
    np.testing.assert_array_equal(x.grad.data[1], [2 / 3, 0, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(x.grad.data[3], [0, 4, 0, 0])
    # torch.max with a dim sends it all to the first NaN (or tied extreme) instead; on row 3,
    # with one NaN, all three agree
    xm = torch.tensor(WITH_NANS, requires_grad=True)
    getattr(torch, name)(xm, dim=1).values.backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad.data[3], xm.grad.numpy()[3])
    assert xm.grad.numpy()[1].tolist() == [2, 0, 0, 0]


def test_nan_gradients_over_several_axes_and_keepdims():
    x3 = np.stack([WITH_NANS, np.arange(16.0).reshape(4, 4)])  # (2, 4, 4): NaNs only in the first
    x = Variable(x3)
    y = F.max(x, axis=(1, 2), keepdims=True)
    cg.backward(y, np.array([6.0, 5.0]).reshape(2, 1, 1))
    assert y.shape == (2, 1, 1) and np.isnan(y.data[0, 0, 0]) and y.data[1, 0, 0] == 15
    np.testing.assert_array_equal(x.grad.data[0], np.isnan(WITH_NANS) * 1.0)  # 6 shared by six NaNs
    np.testing.assert_array_equal(x.grad.data[1], np.eye(1, 16, 15).reshape(4, 4) * 5)


# --- logsumexp, var, std, cumsum, argmax, argmin: against PyTorch in float64 ---------------------
def _torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def _against_torch(ours, theirs, x, g=None):
    """Values and gradients (for the upstream gradient g) of ours(Variable) and theirs(tensor)."""
    import torch

    v = Variable(x)
    y = ours(v)
    g = np.random.default_rng(1).normal(size=y.shape) if g is None else g
    cg.backward(y, g)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_torch_with_gradients_and_second_order(axis, keepdims):
    import torch

    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    dims = _torch_dims(axis, 3)
    _against_torch(lambda v: F.logsumexp(v, axis, keepdims), lambda t: torch.logsumexp(t, dims, keepdims), x)
    assert cg.gradcheck(lambda v: F.logsumexp(v, axis, keepdims), x)
    assert cg.gradcheck(
        lambda v: cg.grad(F.sum(F.logsumexp(v, axis, keepdims) ** 2), [v], create_graph=True)[0], x
    )


def test_logsumexp_is_stable_for_large_and_infinite_values():
    x = Variable(np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [-np.inf, 0.0]]))
    y = F.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.data, [1000 + np.log(2), -1000 + np.log(2), 0.0])
    y.backward()
    np.testing.assert_allclose(x.grad.data, [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]])
    with np.errstate(all="raise"):  # no warning: log 0 = −inf for a slice of −inf, +inf stays +inf
        np.testing.assert_array_equal(
            F.logsumexp(np.array([[-np.inf, -np.inf], [np.inf, 1.0]]), 1).data, [-np.inf, np.inf]
        )


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    ("axis", "keepdims", "ddof"), [(None, False, 0), (1, True, 1), ((0, 2), False, 1), (-1, False, 2)]
)
def test_var_and_std_match_torch_with_gradients_and_second_order(name, axis, keepdims, ddof):
    import torch

    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    fn = getattr(F, name)
    dims = _torch_dims(axis, 3)
    _against_torch(
        lambda v: fn(v, axis, keepdims, ddof),
        lambda t: getattr(torch, name)(t, dims, correction=ddof, keepdim=keepdims),
        x,
    )
    np.testing.assert_allclose(
        fn(x, axis, keepdims, ddof).data, getattr(np, name)(x, axis, keepdims=keepdims, ddof=ddof)
    )
    assert cg.gradcheck(lambda v: fn(v, axis, keepdims, ddof), x)
    assert cg.gradcheck(
        lambda v: cg.grad(F.sum(fn(v, axis, keepdims, ddof) ** 2), [v], create_graph=True)[0], x
    )


def test_var_by_hand_and_with_no_degrees_of_freedom_left():
    assert F.var(np.array([1.0, 2.0, 3.0, 4.0])).item() == 1.25
    assert F.var(np.array([1.0, 2.0, 3.0, 4.0]), ddof=1).item() == pytest.approx(5 / 3)
    x = Variable(np.array([2.0]))
    with np.errstate(all="raise"):  # NaN as NumPy and PyTorch, without their warnings
        y = F.var(x, ddof=1)
        y.backward()
    assert np.isnan(y.item()) and np.isnan(x.grad.data).all()


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum_matches_torch_with_gradients_and_second_order(axis):
    import torch

    x = np.random.default_rng(3).normal(size=(2, 3, 4))
    _against_torch(lambda v: F.cumsum(v, axis), lambda t: torch.cumsum(t, axis), x)
    assert cg.gradcheck(lambda v: F.cumsum(v, axis), x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(F.cumsum(v, axis) ** 3), [v], create_graph=True)[0], x)


def test_cumsum_gradient_by_hand():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = F.cumsum(x, 0)
    cg.backward(y, np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(y.data, [1, 3, 6])
    np.testing.assert_array_equal(x.grad.data, [111, 110, 100])  # each input reaches every later sum


@pytest.mark.parametrize("axis", [2, -3, None, 0.5])
def test_cumsum_rejects_an_axis_that_is_not_one_of_x(axis):
    with pytest.raises(ValueError, match=r"cumsum: axis must be an int in \[-2, 2\) for x of shape \(2, 3\)"):
        F.cumsum(np.zeros((2, 3)), axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["logsumexp", "var", "std", "cumsum"])
def test_new_reductions_keep_the_dtype(name, dtype):
    x = Variable(np.random.default_rng(4).normal(size=(3, 4)).astype(dtype))
    y = getattr(F, name)(x, 1)
    F.sum(y).backward()
    assert y.dtype == dtype and x.grad.dtype == dtype


def test_argmax_and_argmin_give_plain_arrays_as_numpy():
    x = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    for ours, theirs in ((F.argmax, np.argmax), (F.argmin, np.argmin)):
        for axis in (None, 0, 1, -1):
            for operand in (x, Variable(x)):
                got = ours(operand, axis)
                assert type(got) is np.ndarray and got.dtype.kind == "i"
                np.testing.assert_array_equal(got, theirs(x, axis=axis))
    assert F.argmax(Variable(x)).shape == () and F.argmax(x).item() == 3


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.reduce"])
    assert result.attempted >= 3 and result.failed == 0
