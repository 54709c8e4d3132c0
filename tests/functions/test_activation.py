"""sigmoid relu softmax log_softmax: values, stability, gradients, second order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.functions._fast import max_keepdims, sum_keepdims, sum_leading
from tests.strategies import arrays, shapes


@settings(max_examples=25, deadline=None)
@given(shape=shapes())
def test_sigmoid(shape):
    x = np.random.default_rng(0).uniform(-4, 4, shape)
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x)))
    assert cg.gradcheck(F.sigmoid, x)


def test_sigmoid_does_not_overflow():
    y = F.sigmoid(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(y.data, [0.0, 1.0])


@settings(max_examples=25, deadline=None)
@given(x=arrays((3, 4), avoid=0.0))
def test_relu(x):
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x, 0))
    assert cg.gradcheck(F.relu, x)


def test_relu_does_not_write_into_the_incoming_gradient():
    x = Variable(np.array([-1.0, 2.0]))
    y = F.relu(x)
    gy = np.array([5.0, 7.0])
    (g,) = cg.grad(y, [x], grad_outputs=gy)
    np.testing.assert_array_equal(g.data, [0.0, 7.0])
    np.testing.assert_array_equal(gy, [5.0, 7.0])


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_gradients_and_second_order(fn, axis):
    x = np.random.default_rng(2).normal(size=(3, 4))
    assert cg.gradcheck(lambda v: fn(v, axis=axis), x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(fn(v, axis) ** 2), [v], create_graph=True)[0], x)


def test_softmax_values_sum_to_one_and_survive_large_logits():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])
    y = F.softmax(x).data
    np.testing.assert_allclose(y.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(y[0], np.exp([-2.0, -1.0, 0.0]) / np.exp([-2.0, -1.0, 0.0]).sum())
    log_y = F.log_softmax(x).data
    assert np.isfinite(log_y).all()
    np.testing.assert_allclose(np.exp(log_y), y)


@settings(max_examples=60, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.sampled_from([-1, 0]), st.booleans())
def test_fast_row_reductions_equal_numpys(x, axis, single):
    x = x.astype(np.float32) if single else x
    assert np.array_equal(max_keepdims(x, axis), x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(sum_keepdims(x, axis), x.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-5)


def test_fast_row_reductions_keep_nan_inf_and_other_dtypes():
    x = np.array([[1.0, np.nan, 3.0], [np.inf, 1.0, 2.0], [-np.inf, -np.inf, -1.0]])
    assert np.array_equal(max_keepdims(x, 1), [[np.nan], [np.inf], [-1.0]], equal_nan=True)
    assert np.array_equal(sum_keepdims(x, 1), [[np.nan], [np.inf], [-np.inf]], equal_nan=True)
    ints = np.arange(6).reshape(2, 3)
    assert sum_keepdims(ints, -1).dtype == ints.sum(axis=-1).dtype
    assert np.array_equal(sum_keepdims(ints, -1), [[3], [12]])
    half = np.ones((2, 3), np.float16)
    assert sum_keepdims(half, 1).dtype == np.float16 and max_keepdims(half, 1).dtype == np.float16
    scalar = np.array(2.0)
    assert max_keepdims(scalar, -1) == sum_keepdims(scalar, -1) == scalar.max(axis=-1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.booleans())
def test_sum_over_the_batch_equals_numpys(x, single):
    x = x.astype(np.float32) if single else x
    expected = x.sum(axis=0)
    got = sum_leading(x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sum_leading(np.asfortranarray(x)), expected, rtol=1e-5, atol=1e-5)
