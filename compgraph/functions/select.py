"""Ops that pick each element from one input or another: where, masked_fill, maximum, minimum."""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph.core import Op, Operand, Variable, as_array


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(as_array(x))


def _bool_array(op: str, name: str, mask: Any, example: str) -> np.ndarray:
    """``mask`` as a bool ndarray of its own (a copy: the backward pass must see the mask the
    forward pass used, even if the caller's array changes in between)."""
    a = as_array(mask)
    if not isinstance(a, (np.ndarray, np.bool_, bool)):
        raise TypeError(f"{op}: {name} must be a bool array or Variable, got {type(a).__name__}")
    a = np.array(a)
    if a.dtype != np.bool_:
        raise TypeError(f"{op}: {name} must hold bools, got {a.dtype}; compare first, e.g. {example}")
    return a


class Where(Op):
    __slots__ = ("condition",)
    label = "where"
    grad_rules = ("g where the condition holds, else 0", "g where it does not, else 0")

    def __init__(self, condition: np.ndarray):
        self.condition = condition

    def forward(self, x0, x1):
        return np.where(self.condition, x0, x1)

    def vjp(self, gy, y, x0, x1):
        # each output element is a copy of x0's or of x1's: its gradient goes to that one (the
        # engine sums it back over the axes broadcasting stretched)
        c = self.condition
        gx0 = gy * c if self.needs_grad(0) else None
        return gx0, (gy * np.asarray(~c) if self.needs_grad(1) else None)  # ~ of 0-d: a scalar


def where(condition: Any, x: Operand, y: Operand) -> Variable:
    """``x`` where the bool ``condition`` holds, else ``y``, broadcast together as ``np.where``.

    ``condition`` gets no gradient; ``x`` and ``y`` get the output's gradient where they were
    picked (0 elsewhere), summed back to their own shapes.

    >>> where(np.array([True, False]), np.array([1.0, 2.0]), 0.0).data
    array([1., 0.])
    """
    c = _bool_array("where", "condition", condition, "where(x > 0, x, y)")
    shapes = (c.shape, _shape(x), _shape(y))
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"where: condition {shapes[0]}, x {shapes[1]} and y {shapes[2]} do not broadcast "
            "together; each axis must have one length or length 1 (reshape, or add axes with "
            "expand_dims)"
        ) from None
    return Where(c)(x, y)


class MaskedFill(Op):
    __slots__ = ("mask", "value")
    label = "masked_fill"
    grad_rules = ("g where not masked, else 0",)

    def __init__(self, mask: np.ndarray, value: float):
        self.mask = mask
        self.value = value

    def forward(self, x):
        return np.where(self.mask, np.asarray(self.value, x.dtype), x)

    def vjp(self, gy, y, x):
        # a filled element is a constant: only the others pass the gradient on
        return gy * np.asarray(~self.mask)  # ~ of a 0-d array is a NumPy scalar


def masked_fill(x: Operand, mask: Any, value: float) -> Variable:
    """``x`` with ``value`` where the bool ``mask`` (broadcast to x's shape) holds, as
    ``torch.Tensor.masked_fill``; filled elements get no gradient.

    >>> masked_fill(np.zeros(3), np.array([False, True, False]), -np.inf).data
    array([  0., -inf,   0.])
    """
    m = _bool_array("masked_fill", "mask", mask, "masked_fill(x, x < 0, 0.0)")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"masked_fill: value must be a number, got {type(value).__name__}; for a value with a "
            "gradient use where(mask, value, x)"
        )
    x_shape = _shape(x)
    try:
        if np.broadcast_shapes(m.shape, x_shape) != x_shape:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"masked_fill: the mask's shape {m.shape} does not broadcast to x's shape {x_shape}; "
            "the result has x's shape, so the mask may only add or stretch length-1 axes"
        ) from None
    return MaskedFill(m, value)(x)


class Maximum(Op):
    __slots__ = ()
    label = "maximum"
    grad_rules = ("g where x0 > x1, g/2 on ties", "g where x1 > x0, g/2 on ties")
    _loses = staticmethod(np.less)  # x0 passes no gradient where _loses(x0, x1)

    def forward(self, x0, x1):
        return np.maximum(x0, x1)

    def vjp(self, gy, y, x0, x1):
        # the picked input takes the gradient, and ties split it in halves, as torch.maximum
        # does; a NaN is picked and so is the other input (neither loses), as in PyTorch
        a, b = as_array(x0), as_array(x1)
        dtype = as_array(y).dtype
        share = np.where(a == b, 0.5, 1.0)
        gx0 = gx1 = None
        if self.needs_grad(0):
            gx0 = gy * (share * ~self._loses(a, b)).astype(dtype)
        if self.needs_grad(1):
            gx1 = gy * (share * ~self._loses(b, a)).astype(dtype)
        return gx0, gx1


class Minimum(Maximum):
    __slots__ = ()
    label = "minimum"
    grad_rules = ("g where x0 < x1, g/2 on ties", "g where x1 < x0, g/2 on ties")
    _loses = staticmethod(np.greater)

    def forward(self, x0, x1):
        return np.minimum(x0, x1)


def maximum(x: Operand, y: Operand) -> Variable:
    """The larger of ``x`` and ``y``, elementwise with broadcasting, as ``np.maximum``.

    The gradient goes to the larger input; on ties each gets half, as with ``torch.maximum``.

    >>> maximum(np.array([1.0, 5.0]), 2.0).data
    array([2., 5.])
    """
    return Maximum()(x, y)


def minimum(x: Operand, y: Operand) -> Variable:
    """The smaller of ``x`` and ``y``, elementwise with broadcasting, as ``np.minimum``.

    The gradient goes to the smaller input; on ties each gets half, as with ``torch.minimum``.

    >>> minimum(np.array([1.0, 5.0]), 2.0).data
    array([1., 2.])
    """
    return Minimum()(x, y)
