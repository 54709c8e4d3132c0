"""Reductions: sum, mean, max, min over all axes or some."""

from __future__ import annotations

import numpy as np

from compgraph.core import Op, Operand, Variable, as_array
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
