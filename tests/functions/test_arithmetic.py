"""+ − × ÷, negation, powers and casts: values, gradients with broadcasting, second order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.strategies import arrays, broadcast_pair

BINARY = {
    "add": (F.add, np.add),
    "sub": (F.sub, np.subtract),
    "mul": (F.mul, np.multiply),
    "div": (F.div, np.divide),
}


@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), shapes=broadcast_pair())
def test_binary_op_matches_numpy_and_numerical_gradients(name, data, shapes):
    fn, ref = BINARY[name]
    a = data.draw(arrays(shapes[0]))
    b = data.draw(arrays(shapes[1], low=0.5, high=2.0) if name == "div" else arrays(shapes[1]))
    np.testing.assert_allclose(fn(a, Variable(b)).data, ref(a, b))
    assert cg.gradcheck(fn, a, b)


@pytest.mark.parametrize("name", BINARY)
def test_each_gradient_has_its_inputs_shape(name):
    fn = BINARY[name][0]
    x0, x1 = Variable(np.full((2, 1, 3), 2.0)), Variable(np.full((4, 1), 3.0))
    fn(x0, x1).backward()
    assert x0.grad.shape == (2, 1, 3) and x1.grad.shape == (4, 1)


def test_broadcast_gradient_sums_over_the_repeated_axes():
    x = Variable(np.ones((2, 3)))
    b = Variable(np.array([1.0, 2.0, 3.0]))
    (x * b).backward()
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(x.grad.data, [[1.0, 2.0, 3.0]] * 2)


@pytest.mark.parametrize("name", ["mul", "div"])
def test_binary_op_second_order(name):
    fn = BINARY[name][0]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0.5, 2, (3,))

    def first_grads(x0, x1):
        return cg.grad(F.sum(fn(x0, x1) * fn(x0, x1)), [x0, x1], create_graph=True)

    assert cg.gradcheck(first_grads, a, b)


@settings(max_examples=25, deadline=None)
@given(x=arrays((2, 3), low=0.5, high=2.0), c=st.sampled_from([-1.5, -1, 0, 0.5, 1, 2, 3]))
def test_pow_values_and_gradients(x, c):
    np.testing.assert_allclose(F.pow(x, c).data, x**c)
    assert cg.gradcheck(lambda v: v**c, x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(v**c), [v], create_graph=True)[0], x)


def test_neg():
    x = Variable(np.array([1.0, -2.0]))
    (-x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, -1.0])
    assert cg.gradcheck(F.neg, np.array([[0.5, 2.0]]))


def test_scalars_take_the_arrays_dtype():
    x = Variable(np.ones(2, dtype=np.float32))
    for y in (x + 1, 2.0 * x, x - 0.5, 1 / x, x**2):
        assert y.dtype == np.float32
    labels = Variable(np.array([1, 2]))
    assert (labels + 1).dtype == labels.dtype


def test_astype_casts_and_the_gradient_is_cast_back():
    x = Variable(np.ones(3, dtype=np.float32))
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0, 3.0])


def test_the_apple_graph_with_array_operands():
    # the seed's prices for three shops at once: broadcasting against the shared tax
    apple = Variable(np.array([100.0, 110.0, 90.0]))
    tax = Variable(1.1)
    price = apple * 2 * tax
    price.backward()
    assert tax.grad.shape == ()
    assert tax.grad.item() == pytest.approx(600.0)
    np.testing.assert_allclose(apple.grad.data, [2.2, 2.2, 2.2])
