"""Loss functions: softmax cross-entropy and mean squared error.

Both are means, so an empty batch gives NaN, as PyTorch's mse_loss and cross_entropy do
(and NumPy's mean of nothing, but without its warning), and an empty gradient.
"""

from __future__ import annotations

import numpy as np

from compgraph.core import Op, Operand, Variable
from compgraph.functions.activation import _softmax, log_softmax_array

_sum = np.add.reduce  # ndarray.sum without its Python-level wrapper


def _check_labels(x: np.ndarray, t: np.ndarray) -> None:
    if x.ndim != 2:
        raise ValueError(f"SoftmaxCrossEntropy: x must be (N, C) scores, got shape {x.shape}")
    if t.dtype.kind not in "iu" or t.shape != x.shape[:1]:
        hint = " (for one-hot labels pass t.argmax(axis=1))" if t.shape == x.shape else ""
        raise ValueError(
            f"SoftmaxCrossEntropy: t must hold integer class labels of shape ({x.shape[0]},) for x "
            f"of shape {x.shape}, got {t.dtype} of shape {t.shape}{hint}"
        )


def _label_positions(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The flat index of each row's label in x, checking every label lies in [0, C)."""
    try:  # one call finds the positions and rejects any label out of range, negative ones too
        return np.ravel_multi_index((np.arange(len(t)), t.astype(np.intp, copy=False)), x.shape)
    except ValueError:
        raise ValueError(
            f"SoftmaxCrossEntropy: labels must lie in [0, {x.shape[1]}), "
            f"got values from {t.min()} to {t.max()}"
        ) from None


class SoftmaxCrossEntropy(Op):
    __slots__ = ("log_p", "picks")
    label = "softmax CE"
    grad_rules = ("g·(softmax({0}) − onehot({1}))/N", "none")

    def forward(self, x, t):
        _check_labels(x, t)
        self.picks = _label_positions(x, t)
        self.log_p = log_softmax_array(x, axis=1)  # kept: backward needs softmax(x) = e^log_p
        if len(t) == 0:
            return np.array(np.nan, dtype=self.log_p.dtype)
        # .mean() without its Python-level wrapper
        return -(_sum(self.log_p.ravel()[self.picks]) / len(t))

    def vjp(self, gy, y, x, t):
        # L = −mean(log softmax(x)[t]):  ∂L/∂x = (softmax(x) − onehot(t)) / N
        n = max(len(t), 1)  # an empty batch's gradient is empty: any scale will do
        if isinstance(x, Variable):  # recorded: softmax(x) must be differentiable again
            onehot = np.zeros(x.shape, dtype=x.dtype)
            onehot.ravel()[self.picks] = 1
            return (_softmax(x, 1) - onehot) * (gy / n), None
        g = np.exp(self.log_p)  # a new (contiguous) array: updated in place
        g.ravel()[self.picks] -= 1
        g *= gy / n
        return g, None


def softmax_cross_entropy(x: Operand, t: Operand) -> Variable:
    """Mean cross-entropy of softmax(x) (N, C) against integer labels t (N,), computed stably."""
    return SoftmaxCrossEntropy()(x, t)


class MeanSquaredError(Op):
    __slots__ = ()
    label = "MSE"
    grad_rules = ("g·2({0} − {1})/N", "g·2({1} − {0})/N")

    def forward(self, x0, x1):
        diff = x0 - x1
        total = (diff * diff).sum()
        if diff.size == 0:
            return np.array(np.nan, dtype=np.result_type(total, 1.0))
        return total / diff.size

    def vjp(self, gy, y, x0, x1):
        # L = mean((x0 − x1)²):  ∂L/∂x0 = 2(x0 − x1)/n = −∂L/∂x1
        diff = x0 - x1
        g = diff * (gy * (2 / max(diff.size, 1)))  # size 0: an empty gradient, any scale will do
        return (g if self.needs_grad(0) else None), (-g if self.needs_grad(1) else None)


def _check_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """A ValueError unless one shape broadcasts to the other (a (4, 1) against a (4,) would
    compare every element with every other, a (4, 4) mean instead of 4 squared errors)."""
    try:
        both = np.broadcast_shapes(a, b)
    except ValueError:
        both = None
    if both in (a, b):
        return
    fix = f" (e.g. x0.reshape({b}) or x1.reshape({a}))" if np.prod(a) == np.prod(b) else ""
    problem = "do not broadcast together"
    if both is not None:
        problem = f"would broadcast to {both}, pairing every element of one with every element of the other"
    raise ValueError(
        f"mean_squared_error: x0 of shape {a} and x1 of shape {b} {problem}; give them the same shape{fix}"
    )


def mean_squared_error(x0: Operand, x1: Operand) -> Variable:
    """The mean over all elements of (x0 − x1)²; NaN for empty arrays.

    x0 and x1 have the same shape, or one broadcasts to the other's ((N, D) against (D,));
    shapes that would both grow, like (4, 1) and (4,), are a ValueError.
    """
    a, b = (x.shape if isinstance(x, Variable) else np.shape(x) for x in (x0, x1))
    if a != b:
        _check_shapes(a, b)
    return MeanSquaredError()(x0, x1)
