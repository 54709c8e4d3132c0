"""Loss functions: softmax cross-entropy, binary cross-entropy with logits and mean squared error.

All are means, so an empty batch gives NaN, as PyTorch's mse_loss and cross_entropy do
(and NumPy's mean of nothing, but without its warning), and an empty gradient.
"""

from __future__ import annotations

import math

import numpy as np

from compgraph.core import Op, Operand, Variable, dispatch
from compgraph.functions.activation import _softmax, log_softmax_array, sigmoid

_sum = np.add.reduce  # ndarray.sum without its Python-level wrapper
_sigmoid = dispatch(lambda a: np.tanh(a * 0.5) * 0.5 + 0.5, sigmoid)  # as Sigmoid.forward


def _check_labels(x: np.ndarray, t: np.ndarray) -> None:
    if x.ndim == 0:
        raise ValueError(f"SoftmaxCrossEntropy: x must be (..., C) scores, got shape {x.shape}")
    if t.dtype.kind not in "iu" or t.shape != x.shape[:-1]:
        hint = " (for one-hot labels pass t.argmax(axis=-1))" if t.shape == x.shape else ""
        raise ValueError(
            f"SoftmaxCrossEntropy: t must hold integer class labels of shape {x.shape[:-1]} for x "
            f"of shape {x.shape}, got {t.dtype} of shape {t.shape}{hint}"
        )


def _label_positions(
    shape: tuple[int, int], rows: np.ndarray, t: np.ndarray, ignore_index: int
) -> np.ndarray:
    """The flat index of each row's label in x (M, C), checking every label lies in [0, C)."""
    try:  # one call finds the positions and rejects any label out of range, negative ones too
        return np.ravel_multi_index((rows, t.astype(np.intp, copy=False)), shape)
    except ValueError:
        raise ValueError(
            f"SoftmaxCrossEntropy: labels must lie in [0, {shape[1]}) or equal ignore_index "
            f"({ignore_index}), got values from {t.min()} to {t.max()}"
        ) from None


def _positions_if_in_range(shape: tuple[int, int], t: np.ndarray) -> np.ndarray | None:
    """The flat index of each row's label in x (M, C); None if some label is not in [0, C)."""
    try:
        return np.ravel_multi_index((np.arange(len(t)), t.astype(np.intp, copy=False)), shape)
    except ValueError:
        return None  # some label is ignore_index, or out of range


class SoftmaxCrossEntropy(Op):
    __slots__ = ("ignore_index", "log_p", "picks", "kept", "count")
    label = "softmax CE"
    grad_rules = ("g·(softmax({0}) − onehot({1}))/N", "none")

    def __init__(self, ignore_index: int = -100):
        self.ignore_index = ignore_index

    def forward(self, x, t):
        _check_labels(x, t)
        if x.ndim != 2:
            # (..., C) as rows (M, C), views of contiguous arrays; M spelt out (-1 is ambiguous with a 0)
            rows = math.prod(t.shape)
            x, t = x.reshape(rows, x.shape[-1]), t.reshape(rows)
        self.log_p = log_softmax_array(x, axis=1)  # kept: backward needs softmax(x) = e^log_p
        self.kept, self.picks, self.count = None, None, len(t)
        if not 0 <= self.ignore_index < x.shape[1]:
            # the usual case: no label is ignore_index, found without looking at every label
            self.picks = _positions_if_in_range(x.shape, t)
        if self.picks is None:
            self.kept = t != self.ignore_index
            rows = np.flatnonzero(self.kept)
            self.picks = _label_positions(x.shape, rows, t[rows], self.ignore_index)
            self.count = len(rows)
        if self.count == 0:  # an empty batch, or every label ignored: NaN, as PyTorch
            return np.array(np.nan, dtype=self.log_p.dtype)
        # .mean() without its Python-level wrapper
        return -(_sum(self.log_p.ravel()[self.picks]) / self.count)

    def vjp(self, gy, y, x, t):
        # L = −mean over the kept rows of log softmax(x)[t]:  ∂L/∂x = (softmax(x) − onehot(t))/N
        # on a kept row (N of them), 0 on an ignored one
        n = max(self.count, 1)  # nothing kept: the gradient is 0 (or empty), any scale will do
        if isinstance(x, Variable):  # recorded: softmax(x) must be differentiable again
            onehot = np.zeros(self.log_p.shape, dtype=x.dtype)
            onehot.ravel()[self.picks] = 1
            g = _softmax(x, -1) - onehot.reshape(x.shape)
            if self.kept is not None:
                g = g * self.kept.reshape(x.shape[:-1] + (1,)).astype(x.dtype)
            return g * (gy / n), None
        g = np.exp(self.log_p)  # a new (contiguous) array: updated in place
        g.ravel()[self.picks] -= 1
        if self.kept is not None:
            g[~self.kept] = 0
        g *= gy / n
        return (g if x.ndim == 2 else g.reshape(x.shape)), None


def softmax_cross_entropy(x: Operand, t: Operand, ignore_index: int = -100) -> Variable:
    """Mean cross-entropy of softmax(x) (..., C) against integer labels t (...), computed stably.

    The classes lie on the last axis (PyTorch's cross_entropy takes them on axis 1). Positions
    whose label is ``ignore_index`` add nothing and the mean is over the others, as PyTorch's;
    if all are ignored the loss is NaN and the gradient 0.

    >>> x = np.array([[0.0, 0.0], [5.0, 0.0]])
    >>> round(softmax_cross_entropy(x, np.array([1, -100])).item(), 6)  # log 2: row 2 is ignored
    0.693147
    """
    return SoftmaxCrossEntropy(ignore_index)(x, t)


class BinaryCrossEntropyWithLogits(Op):
    __slots__ = ()
    label = "BCE with logits"
    grad_rules = ("g·(σ({0}) − {1})/N", "−g·{0}/N")

    def forward(self, x, t):
        # −t·log σ(x) − (1 − t)·log(1 − σ(x)) = max(x, 0) − x·t + log(1 + e^−|x|): no exp
        # overflows and no log of 0, whatever the size of x
        loss = np.maximum(x, 0) - x * t
        loss += np.log1p(np.exp(-np.abs(x)))
        if loss.size == 0:
            return np.array(np.nan, dtype=loss.dtype)
        return _sum(loss.ravel()) / loss.size

    def vjp(self, gy, y, x, t):
        # L = mean(max(x, 0) − x·t + log(1 + e^−|x|)):  ∂L/∂x = (σ(x) − t)/n,  ∂L/∂t = −x/n
        scale = gy / max(x.size, 1)  # size 0: an empty gradient, any scale will do
        gx = (_sigmoid(x) - t) * scale if self.needs_grad(0) else None
        gt = x * -scale if self.needs_grad(1) else None
        return gx, gt


def binary_cross_entropy_with_logits(x: Operand, t: Operand) -> Variable:
    """The mean binary cross-entropy of sigmoid(x) against targets t in [0, 1], of x's shape, computed stably.

    As ``torch.nn.functional.binary_cross_entropy_with_logits(x, t)``; NaN for empty arrays.

    >>> round(binary_cross_entropy_with_logits(np.array([0.0]), np.array([1.0])).item(), 6)  # log 2
    0.693147
    """
    a, b = (x.shape if isinstance(x, Variable) else np.shape(x) for x in (x, t))
    if a != b:
        raise ValueError(
            f"binary_cross_entropy_with_logits: x of shape {a} and t of shape {b} must have the same "
            "shape, one target per logit (as PyTorch's)"
        )
    return BinaryCrossEntropyWithLogits()(x, t)


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
