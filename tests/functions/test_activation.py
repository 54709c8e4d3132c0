"""sigmoid relu softmax log_softmax leaky_relu softplus silu gelu (erf): values, stability,
gradients (against PyTorch where it has them), second order."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.functions._erf import erf, erfc
from compgraph.functions._fast import max_keepdims, sum_keepdims, sum_leading
from tests.functions.oracle import against_torch
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


# --- leaky_relu, softplus, silu, gelu against PyTorch ------------------------------------------
TF = torch.nn.functional
ACTIVATIONS = {
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda v: F.gelu(v, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh")),
    "silu": (F.silu, TF.silu),
    "softplus": (F.softplus, TF.softplus),
    "softplus_beta": (lambda v: F.softplus(v, beta=2.0, threshold=3.0), lambda t: TF.softplus(t, 2.0, 3.0)),
    "leaky_relu": (F.leaky_relu, TF.leaky_relu),
    "leaky_relu_0.2": (lambda v: F.leaky_relu(v, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
}
# away from leaky_relu's kink at 0 and softplus's switch to x at βx = threshold (1.5 and 20)
SAMPLE = np.concatenate([np.linspace(-8.0, 8.0, 160) + 0.013, [-40.0, -25.0, 19.0, 21.0, 25.0, 40.0]])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_value_and_gradient_equal_pytorchs(name):
    ours, theirs = ACTIVATIONS[name]
    against_torch(ours, theirs, SAMPLE, rtol=1e-12, atol=1e-13)  # tails: both lose digits in 1 − t²


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=10, deadline=None)
@given(shape=shapes())
def test_activation_gradcheck_and_second_order(name, shape):
    ours, _ = ACTIVATIONS[name]
    x = np.random.default_rng(len(shape)).uniform(-4, 4, shape)
    x = np.where(np.abs(x) < 0.05, 0.5, x)  # not at the kink of leaky_relu
    x = np.where(np.abs(x - 1.5) < 0.05, 1.0, x)  # nor at softplus_beta's threshold
    assert cg.gradcheck(ours, x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(ours(v) * v), [v], create_graph=True)[0], x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_float32(name):
    ours, theirs = ACTIVATIONS[name]
    x = Variable(SAMPLE[::10].astype(np.float32))
    y = ours(x)
    assert y.dtype == np.float32
    (g,) = cg.grad(F.sum(y), [x])
    assert g.dtype == np.float32
    t = torch.tensor(x.data, requires_grad=True)
    theirs(t).sum().backward()
    np.testing.assert_allclose(y.data, theirs(torch.tensor(x.data)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.data, t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_leaky_relu_slope_at_zero_is_negative_slope_as_pytorchs():
    x = Variable(np.array([0.0, -1.0, 1.0]))
    (g,) = cg.grad(F.sum(F.leaky_relu(x, 0.1)), [x])
    t = torch.tensor(x.data, requires_grad=True)
    TF.leaky_relu(t, 0.1).sum().backward()
    np.testing.assert_array_equal(g.data, t.grad.numpy())
    np.testing.assert_array_equal(g.data, [0.1, 0.1, 1.0])


def test_softplus_and_gelu_tails_are_finite_and_exact():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    np.testing.assert_array_equal(F.softplus(x).data, [0.0, np.exp(-40.0), np.log(2.0), 40.0, 1000.0])
    wide = F.softplus(np.array([800.0, -800.0]), threshold=np.inf).data  # no overflow in e^(βx)
    np.testing.assert_array_equal(wide, [800.0, 0.0])
    y = F.gelu(Variable(x))
    assert y.data[-1] == 1000.0 and y.data[-2] == 40.0 and y.data[2] == 0.0
    # x·Φ(x) below 0 is tiny, not 0 (PyTorch's 1 + erf cancels to -0 there): Φ(-40) ≈ 3.7e-350
    # underflows, but at -10 it is 7.6e-24, and x·Φ(x) keeps all its digits
    np.testing.assert_allclose(F.gelu(np.array(-10.0)).data, -10 * 7.61985302416052606e-24, rtol=1e-14)
    (g,) = cg.grad(F.sum(y), [y.creator.inputs[0]])
    assert np.isfinite(g.data).all()
    np.testing.assert_array_equal(g.data[[0, -1]], [0.0, 1.0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: F.gelu(np.ones(2), approximate="exact"), r"gelu: approximate must be 'none' or 'tanh'"),
        (lambda: F.softplus(np.ones(2), beta=0), "softplus: beta is 0"),
    ],
)
def test_activation_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_erf_and_erfc_equal_pythons_to_a_few_ulp():
    x = np.concatenate([np.linspace(-30, 30, 200_001), [0.46875, -0.46875, 4.0, -4.0, 1e-300, 5e-324]])
    e, c = erf(x), erfc(x)
    e_ref = np.array([math.erf(v) for v in x])
    c_ref = np.array([math.erfc(v) for v in x])
    assert (np.abs(e - e_ref) <= 4 * np.spacing(np.abs(e_ref))).all()
    normal = c_ref >= np.finfo(np.float64).tiny
    assert (np.abs(c - c_ref)[normal] <= 6 * np.spacing(c_ref[normal])).all()
    assert (np.abs(c - c_ref)[~normal] <= 1e-323).all()  # subnormal, past x ≈ 26.5
    edges = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    np.testing.assert_array_equal(erf(edges), [np.nan, 1.0, -1.0, 0.0, -0.0])
    np.testing.assert_array_equal(erfc(edges), [np.nan, 0.0, 2.0, 1.0, 1.0])
    assert np.signbit(erf(np.array([-0.0]))[0])
    assert erf(np.ones(2, np.float32)).dtype == np.float32
