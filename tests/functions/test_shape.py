"""reshape transpose broadcast_to sum_to get_item flatten: values and gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.strategies import broadcast_pair


def test_reshape_and_its_gradient():
    x = np.arange(6.0)
    np.testing.assert_array_equal(F.reshape(x, (2, 3)).data, x.reshape(2, 3))
    assert F.reshape(x, (3, -1)).shape == (3, 2)
    assert cg.gradcheck(lambda v: F.reshape(v, (3, 2)), x)


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)])
def test_transpose_and_its_gradient(axes):
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_array_equal(F.transpose(x, axes).data, np.transpose(x, axes))
    assert cg.gradcheck(lambda v: F.transpose(v, axes), x)


@settings(max_examples=25, deadline=None)
@given(shapes=broadcast_pair())
def test_broadcast_to_and_sum_to_are_adjoint(shapes):
    small, _ = shapes
    big = np.broadcast_shapes(*shapes)
    x = np.random.default_rng(1).normal(size=small)
    np.testing.assert_array_equal(F.broadcast_to(x, big).data, np.broadcast_to(x, big))
    assert cg.gradcheck(lambda v: F.broadcast_to(v, big), x)
    g = np.random.default_rng(2).normal(size=big)
    summed = F.sum_to(g, small).data
    assert summed.shape == small
    assert summed.sum() == pytest.approx(g.sum())
    assert cg.gradcheck(lambda v: F.sum_to(v, small), g)


def test_sum_to_rejects_a_shape_it_cannot_reach():
    with pytest.raises(ValueError, match=r"sum_to.*\(2, 3\).*\(4,\)"):
        F.sum_to(np.ones((2, 3)), (4,))


INDICES = [
    1,
    (slice(None), 1),
    (slice(0, 2), slice(None, None, -1)),
    np.array([0, 2, 2, 0]),
    (np.array([0, 1, 1]), np.array([2, 2, 0])),
    (Ellipsis, None, 0),
    np.array([[True, False, True], [False, True, False], [True, True, True]]),
]


@pytest.mark.parametrize("index", INDICES, ids=lambda i: type(i).__name__)
def test_get_item_matches_numpy_and_gradients(index):
    x = np.random.default_rng(3).normal(size=(3, 3))
    np.testing.assert_array_equal(F.get_item(x, index).data, x[index])
    assert cg.gradcheck(lambda v: F.get_item(v, index), x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(v[index] ** 2), [v], create_graph=True)[0], x)


def test_repeated_indices_accumulate():
    x = Variable(np.zeros(3))
    F.sum(x[np.array([0, 0, 2, 0])]).backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


def test_indexing_with_a_variable_index():
    x = Variable(np.arange(4.0))
    idx = Variable(np.array([3, 1]))
    np.testing.assert_array_equal(x[idx].data, [3.0, 1.0])


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4))
def test_flatten_keeps_the_batch_axis(n):
    x = np.zeros((n, 2, 3))
    assert F.flatten(x).shape == (n, 6)
