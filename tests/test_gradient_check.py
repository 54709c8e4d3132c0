"""numerical_grad and gradcheck, including a checker that catches a wrong backward."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Function, Variable


def test_numerical_grad_of_known_functions():
    x = np.array([1.0, 2.0, 3.0])
    (g,) = cg.numerical_grad(lambda v: v**3, x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-6)
    ga, gb = cg.numerical_grad(lambda a, b: a * b, np.array(2.0), np.array(5.0))
    assert ga.item() == pytest.approx(5.0) and gb.item() == pytest.approx(2.0)


def test_numerical_grad_sums_tuple_outputs_and_leaves_inputs_unchanged():
    x = np.array([0.5, -1.0])
    (g,) = cg.numerical_grad(lambda v: (v * 2, v * 3), x)
    np.testing.assert_allclose(g, [5.0, 5.0], rtol=1e-6)
    np.testing.assert_array_equal(x, [0.5, -1.0])


def test_numerical_grad_refuses_integer_inputs():
    with pytest.raises(TypeError, match=r"input 0.*int64"):
        cg.numerical_grad(lambda t: t * 1.0, np.array([1, 2]))


class WrongSquare(Function):
    def forward(self, x):
        return x**2

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * gy  # should be 2x


def test_gradcheck_passes_a_correct_function():
    assert cg.gradcheck(lambda a, b: F.sum(a * F.exp(b)), np.ones((2, 2)), np.zeros((2, 2)))


def test_gradcheck_fails_a_wrong_backward_naming_input_element_and_values():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(lambda v: WrongSquare()(v), x)
    message = str(info.value)
    assert "input 0" in message and "(2, 2)" in message
    assert "[1, 1]" in message  # the worst element: error 1·x·w is largest at x = 4
    assert "backprop gives" in message and "central differences give" in message


def test_gradcheck_looks_at_every_input():
    def f(a, b):
        return a + WrongSquare()(b)

    with pytest.raises(cg.GradcheckError, match="input 1"):
        cg.gradcheck(f, np.ones(2), np.ones(2))


def test_gradcheck_catches_errors_a_plain_sum_would_hide():
    class WrongSoftmax(Function):
        """Right forward; backward passes gy straight through (wrong, yet sum-preserving)."""

        def forward(self, x):
            e = np.exp(x - x.max())
            return e / e.sum()

        def backward(self, gy):
            return gy

    with pytest.raises(cg.GradcheckError):
        cg.gradcheck(lambda v: WrongSoftmax()(v), np.array([0.1, 0.5, -0.3]))


def test_grad_of_a_constant_output_reaches_no_input():
    x = Variable(2.0)
    (g,) = cg.grad(x**1, [x], create_graph=True)  # 1: a constant
    assert cg.grad(g, [x]) == (None,)
