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
