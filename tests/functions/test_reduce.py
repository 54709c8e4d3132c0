"""sum mean max min over all axes or some: values and gradients."""

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
