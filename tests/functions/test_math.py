"""exp log sin cos tanh sqrt abs clip: values against NumPy (abs: PyTorch), gradients, second order."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.notation import Sym
from tests.functions.oracle import against_torch
from tests.strategies import arrays, shapes

UNARY = {
    "exp": (F.exp, np.exp, -2.0, 2.0),
    "log": (F.log, np.log, 0.3, 3.0),
    "sin": (F.sin, np.sin, -3.0, 3.0),
    "cos": (F.cos, np.cos, -3.0, 3.0),
    "tanh": (F.tanh, np.tanh, -2.0, 2.0),
    "sqrt": (F.sqrt, np.sqrt, 0.3, 3.0),
}


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=20, deadline=None)
@given(shape=shapes())
def test_unary_op_matches_numpy_and_numerical_gradients(name, shape):
    fn, ref, low, high = UNARY[name]
    x = np.random.default_rng(len(shape)).uniform(low, high, shape)
    np.testing.assert_allclose(fn(x).data, ref(x))
    assert cg.gradcheck(fn, x)


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_second_order(name):
    fn, _, low, high = UNARY[name]
    x = np.random.default_rng(1).uniform(low, high, (2, 3))
    assert cg.gradcheck(lambda v: cg.grad(F.sum(fn(v)), [v], create_graph=True)[0], x)


def test_hand_computed_derivatives():
    x = Variable(np.array([0.0, 1.0]))
    F.sum(F.exp(x)).backward()
    np.testing.assert_allclose(x.grad.data, [1.0, np.e])
    x = Variable(4.0)
    F.sqrt(x).backward()
    assert x.grad.item() == 0.25
    x = Variable(0.0)
    F.tanh(x).backward()
    assert x.grad.item() == 1.0


@settings(max_examples=25, deadline=None)
@given(x=arrays((3, 4), low=-3, high=3))
def test_clip_values_and_gradients(x):
    x = x[(np.abs(x + 1) > 0.05) & (np.abs(x - 1) > 0.05)]  # away from the kinks
    np.testing.assert_array_equal(F.clip(x, -1, 1).data, np.clip(x, -1, 1))
    assert cg.gradcheck(lambda v: F.clip(v, -1.0, 1.0), x)


def test_clip_gradient_is_zero_outside_the_range():
    x = Variable(np.array([-2.0, 0.5, 2.0]))
    F.sum(F.clip(x, -1, 1)).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])
    x.cleargrad()
    F.sum(F.clip(x, None, 1)).backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 0.0])


def test_clip_rejects_an_empty_range():
    with pytest.raises(ValueError, match="x_min"):
        F.clip(Variable(1.0), 2, 1)


def test_abs_equals_pytorchs_value_and_gradient_with_0_at_0():
    x = np.array([-2.0, -0.5, 0.0, -0.0, 0.5, 3.0])
    against_torch(F.abs, torch.abs, x)
    v = Variable(x)
    (g,) = cg.grad(F.sum(F.abs(v)), [v])
    np.testing.assert_array_equal(g.data, [-1.0, -1.0, 0.0, 0.0, 1.0, 1.0])


@settings(max_examples=20, deadline=None)
@given(x=arrays((2, 3), avoid=0.0))
def test_abs_gradcheck_and_second_order(x):
    np.testing.assert_array_equal(F.abs(x).data, np.abs(x))
    assert cg.gradcheck(F.abs, x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(F.abs(v) * v), [v], create_graph=True)[0], x)


def test_abs_keeps_float32_and_reads_as_bars():
    x = Variable(np.array([-1.0, 2.0], np.float32), name="x")
    y = F.abs(x)
    (g,) = cg.grad(F.sum(y), [x])
    assert y.dtype == g.dtype == np.float32
    assert y.creator.formula(Sym("x")).text == "|x|"
    assert y.creator.local_derivatives(Sym("x"))[0].text == "sign(x)"
