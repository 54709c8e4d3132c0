"""Reductions: sum, mean, max, min, logsumexp, var, std over all axes or some; cumsum, argmax, argmin."""

from __future__ import annotations

import builtins  # this module defines sum, max and min
import math

import numpy as np

from compgraph.core import Op, Operand, Variable, as_array, dispatch
from compgraph.functions.math import exp, sqrt
from compgraph.functions.shape import _broadcast_to

Axis = int | tuple[int, ...] | None


def keepdims_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as length 1."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _norm_axis(axis: Axis) -> Axis:
    return tuple(axis) if isinstance(axis, list) else axis


class Sum(Op):
    __slots__ = ("axis", "keepdims")
    label = "Σ"
    grad_rules = ("g broadcast back",)

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def vjp(self, gy, y, x):
        # ∂(Σ x)/∂xᵢ = 1: spread gy back over the summed axes
        if not self.keepdims:
            gy = gy.reshape(keepdims_shape(x.shape, self.axis))
        return _broadcast_to(gy, x.shape)


def sum(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """The sum over ``axis`` (an int, a tuple, or None for all)."""
    return Sum(_norm_axis(axis), keepdims)(x)


def mean(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """The mean over ``axis`` (an int, a tuple, or None for all)."""
    y = sum(x, axis, keepdims)
    count = np.size(as_array(x)) // y.size if y.size else 1
    return y / count


class Max(Op):
    __slots__ = ("axis", "keepdims")
    label = "max"
    grad_rules = ("g to the maximum",)

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)

    def vjp(self, gy, y, x):
        # only the extreme elements move the result; ties share the gradient equally. A NaN is
        # the extreme of its slice (NumPy's max and min propagate it): where the result is NaN
        # the slice's NaNs share the gradient (as torch.max(x) without dim), and where it is
        # not, the slice holds no NaN, so "equal or NaN" finds the extremes everywhere
        shape = keepdims_shape(x.shape, self.axis)
        xd = as_array(x)
        hit = xd == as_array(y).reshape(shape)
        if xd.dtype.kind in "fc":
            hit |= np.isnan(xd)
        share = (hit / hit.sum(axis=self.axis, keepdims=True)).astype(xd.dtype)
        return _broadcast_to(gy.reshape(shape), x.shape) * share


class Min(Max):
    __slots__ = ()
    label = "min"
    grad_rules = ("g to the minimum",)

    def forward(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


def max(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """The maximum over ``axis``; the gradient goes to the maximal elements (split on ties).

    A NaN is the maximum: its slice's result is NaN and its NaNs share the gradient,
    as with ``torch.max(x)`` (no dim). Over some axes PyTorch differs, and we keep the rule:
    ``torch.amax`` gives the whole slice a NaN gradient, ``torch.max(x, dim)`` its first NaN.
    """
    return Max(_norm_axis(axis), keepdims)(x)


def min(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """The minimum over ``axis``; the gradient goes to the minimal elements (split on ties).

    A NaN is the minimum: its slice's result is NaN and its NaNs share the gradient,
    as with ``torch.min(x)`` (no dim). Over some axes PyTorch differs, and we keep the rule:
    ``torch.amin`` gives the whole slice a NaN gradient, ``torch.min(x, dim)`` its first NaN.
    """
    return Min(_norm_axis(axis), keepdims)(x)


def _count(shape: tuple[int, ...], axis: Axis) -> int:
    """How many elements each result of a reduction over ``axis`` gathers."""
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


class LogSumExp(Op):
    __slots__ = ("axis", "keepdims")
    label = "logsumexp"
    grad_rules = ("g·softmax({0})",)

    def __init__(self, axis: Axis, keepdims: bool):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        # log Σ eˣ = m + log Σ eˣ⁻ᵐ with m the maximum: no overflow. An infinite m (a slice of
        # -inf, or holding +inf) is left out of the shift, which would make x − m NaN
        m = x.max(axis=self.axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        total = np.exp(x - m).sum(axis=self.axis, keepdims=self.keepdims)
        with np.errstate(divide="ignore"):  # log 0 = −inf: a slice of −inf only
            return np.log(total) + m.reshape(total.shape)

    def vjp(self, gy, y, x):
        # ∂/∂xᵢ log Σ eˣ = e^(xᵢ − y) = softmax(x)ᵢ over the slice
        shape = keepdims_shape(x.shape, self.axis)
        return gy.reshape(shape) * _exp(x - y.reshape(shape))


def logsumexp(x: Operand, axis: Axis = None, keepdims: bool = False) -> Variable:
    """log Σ exp(x) over ``axis``, computed stably (no overflow for large x).

    >>> round(logsumexp(np.array([1000.0, 1000.0])).item() - 1000, 6)  # log 2
    0.693147
    """
    return LogSumExp(_norm_axis(axis), keepdims)(x)


class Var(Op):
    __slots__ = ("axis", "keepdims", "ddof")
    label = "var"
    grad_rules = ("g·2({0} − mean)/(n − ddof)",)

    def __init__(self, axis: Axis, keepdims: bool, ddof: int):
        self.axis, self.keepdims, self.ddof = axis, keepdims, ddof

    def _divisor(self, shape: tuple[int, ...]) -> int:
        return builtins.max(_count(shape, self.axis) - self.ddof, 0)  # NumPy's and PyTorch's clamp

    def forward(self, x):
        d = x - x.mean(axis=self.axis, keepdims=True)
        d *= d
        with np.errstate(divide="ignore", invalid="ignore"):  # n ≤ ddof: inf or NaN, as NumPy
            return d.sum(axis=self.axis, keepdims=self.keepdims) / x.dtype.type(self._divisor(x.shape))

    def vjp(self, gy, y, x):
        # var = Σ(x − μ)²/(n − ddof):  ∂var/∂xᵢ = 2(xᵢ − μ)/(n − ddof) (μ's own term sums to 0)
        divisor = self._divisor(x.shape)
        scale = 2 / divisor if divisor else math.nan
        g = gy.reshape(keepdims_shape(x.shape, self.axis)) * scale
        return g * (x - _mean_keepdims(x, self.axis))


def var(x: Operand, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """The variance over ``axis``: Σ(x − mean)²/(n − ddof) (ddof=1: the unbiased estimate).

    >>> var(np.array([1.0, 2.0, 3.0, 4.0])).item()
    1.25
    """
    return Var(_norm_axis(axis), keepdims, ddof)(x)


def std(x: Operand, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """The standard deviation over ``axis``: the square root of ``var(x, axis, keepdims, ddof)``."""
    return sqrt(var(x, axis, keepdims, ddof))


class CumSum(Op):
    __slots__ = ("axis",)
    label = "cumsum"
    grad_rules = ("g summed from the end",)

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return np.cumsum(x, axis=self.axis)

    def vjp(self, gy, y, x):
        # yᵢ = Σ_{j≤i} xⱼ:  ∂L/∂xⱼ = Σ_{i≥j} gyᵢ, a cumulative sum from the other end
        return _flip(_cumsum(_flip(gy, self.axis), self.axis), self.axis)


def cumsum(x: Operand, axis: int) -> Variable:
    """The running sum along ``axis``: y[..., i, ...] = Σ_{j≤i} x[..., j, ...].

    >>> cumsum(np.array([1.0, 2.0, 3.0]), 0).data
    array([1., 3., 6.])
    """
    shape = np.shape(as_array(x))
    if not isinstance(axis, (int, np.integer)) or not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"cumsum: axis must be an int in [{-len(shape)}, {len(shape)}) for x of shape {shape}, "
            f"got {axis!r}; flatten x first (x.reshape(-1)) for a running sum over all elements"
        )
    return CumSum(int(axis) % len(shape))(x)


def argmax(x: Operand, axis: int | None = None) -> np.ndarray:
    """The index of the maximum along ``axis`` (of the flattened x if None): a plain ndarray, no gradient."""
    return np.asarray(np.argmax(as_array(x), axis=axis))


def argmin(x: Operand, axis: int | None = None) -> np.ndarray:
    """The index of the minimum along ``axis`` (of the flattened x if None): a plain ndarray, no gradient."""
    return np.asarray(np.argmin(as_array(x), axis=axis))


def _flip_index(ndim: int, axis: int) -> tuple[slice, ...]:
    return (slice(None),) * axis + (slice(None, None, -1),)


_exp = dispatch(np.exp, exp)
_mean_keepdims = dispatch(
    lambda a, axis: a.mean(axis=axis, keepdims=True), lambda v, axis: mean(v, axis, keepdims=True)
)
_flip = dispatch(np.flip, lambda v, axis: v[_flip_index(v.ndim, axis)])
_cumsum = dispatch(lambda a, axis: np.cumsum(a, axis=axis), lambda v, axis: cumsum(v, axis))
