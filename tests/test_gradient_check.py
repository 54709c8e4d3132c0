"""numerical_grad and gradcheck, including a checker that catches a wrong backward."""

import doctest

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Function, Variable


def test_numerical_grad_returns_a_tuple_of_ndarrays():
    grads = cg.numerical_grad(lambda a, b: a * b, np.array([1.0, 2.0]), np.array(3.0))
    assert type(grads) is tuple and len(grads) == 2
    assert all(type(g) is np.ndarray and g.dtype == np.float64 for g in grads)
    np.testing.assert_allclose(grads[0], [3.0, 3.0], rtol=1e-8)
    assert grads[1].shape == () and grads[1].item() == pytest.approx(3.0)


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
    # the worst partial: ∂y/∂x = 2x, backward claims 3x; the error x is largest at x = 4
    assert str(info.value) == (
        "gradcheck: the gradient for input 0 (shape (2, 2)) is wrong: ∂out[1, 1]/∂in0[1, 1] is 8 "
        "by central differences but backprop gives 12 (|difference| 4 > atol 1e-5 + rtol 0.0001 × 8)"
    )


class ClaimsOnePointSevenFive(Function):
    """1.5x², whose derivative 3x the backward claims is 1.75."""

    def forward(self, x):
        return 1.5 * x**2

    def backward(self, gy):
        return 1.75 * gy


def test_gradcheck_quotes_the_true_partial_derivative_as_a_plain_number():
    # the weighted sums that detect it would read 1.98968… against 3.41088…
    x = np.array([0.2, 1.0, 0.5])  # 3x: 0.6, 3, 1.5; the worst is 3 against 1.75
    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(lambda v: ClaimsOnePointSevenFive()(v), x)
    assert str(info.value) == (
        "gradcheck: the gradient for input 0 (shape (3,)) is wrong: ∂out[1]/∂in0[1] is 3 by central "
        "differences but backprop gives 1.75 (|difference| 1.25 > atol 1e-5 + rtol 0.0001 × 3)"
    )
    assert "np.float64" not in str(info.value)


def test_gradcheck_message_for_a_0d_input_and_output():
    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(lambda v: ClaimsOnePointSevenFive()(v), np.array(0.25))
    assert (
        "input 0 (shape ()) is wrong: ∂out/∂in0 is 0.75 by central differences but backprop gives 1.75 ("
        in str(info.value)
    )


def test_gradcheck_names_an_off_diagonal_partial_derivative():
    A = np.array([[1.0, 2.0], [0.0, 1.0]])

    class TransposedRule(Function):
        """A @ x, whose backward uses A instead of Aᵀ."""

        def forward(self, x):
            return A @ x

        def backward(self, gy):
            return A @ gy

    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(lambda v: TransposedRule()(v), np.array([0.3, -0.7]))
    # ∂out[1]/∂in0[0] is 0 and backprop says 2 (its mirror, 2 against 0, has more tolerance)
    assert "∂out[1]/∂in0[0] is 0 by central differences but backprop gives 2 " in str(info.value)
    assert "(|difference| 2 > atol 1e-5 + rtol 0.0001 × 0)" in str(info.value)


def test_gradcheck_names_the_output_and_input_of_several():
    def f(a, b):
        return a * b, WrongSquare()(b)

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(f, np.ones((2, 2)), x)
    message = str(info.value)
    assert message.startswith("gradcheck: the gradient for input 1 (shape (2, 2)) is wrong: ")
    assert "∂out1[1, 1]/∂in1[1, 1] is 8 by central differences but backprop gives 12 " in message


def test_gradcheck_of_a_second_order_function_with_a_detached_rule():
    class DetachedSquare(Function):
        """x², whose backward computes 2x from .data: right once, but not differentiable."""

        def forward(self, x):
            return x**2

        def backward(self, gy):
            (x,) = self.inputs
            return Variable(2 * x.data) * gy

    def first_derivative(v):
        return cg.grad(F.sum(DetachedSquare()(v)), [v], create_graph=True)[0]

    # the first derivative 2x is right, but its graph lost x: backprop says its slope is 0
    with pytest.raises(
        cg.GradcheckError, match=r"∂out\[0\]/∂in0\[0\] is 2 by central differences but backprop gives 0 "
    ):
        cg.gradcheck(first_derivative, np.array([0.5, 1.5]))


def test_gradcheck_reports_small_errors_that_add_up():
    class ManySmallErrors(Function):
        """100 zeros, constant in x; backward claims 9e-6 for each: within atol one by one."""

        def forward(self, x):
            return np.zeros(100) + 0 * x

        def backward(self, gy):
            return F.reshape(F.sum(gy) * 9e-6, (1,))

    with pytest.raises(cg.GradcheckError) as info:
        cg.gradcheck(lambda v: ManySmallErrors()(v), np.array([1.0]))
    message = str(info.value)
    assert (
        "weighted by random numbers (seed 0) and summed, ∂sum/∂in0[0] is 0 by central differences" in message
    )
    assert "the worst, ∂out[0]/∂in0[0], is 0 by central differences and 9e-6 by backprop" in message


def test_doctests():
    from compgraph import gradient_check

    result = doctest.testmod(gradient_check)
    assert result.attempted >= 2 and result.failed == 0


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
