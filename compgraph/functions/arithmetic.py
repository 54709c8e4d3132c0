"""Elementwise arithmetic with NumPy broadcasting: + − × ÷, negation, scalar powers, casts.

The rules below are the plain math: the engine sums each gradient back over the axes that
broadcasting added, so ``x (2, 3) + b (3,)`` needs nothing special here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph.core import Op, Operand, Variable, dispatch


class Add(Op):
    __slots__ = ()
    scalar_forward = True

    def forward(self, x0, x1):
        return x0 + x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0 + x1)/∂x0 = ∂(x0 + x1)/∂x1 = 1
        v0, v1 = self.inputs  # (constants need no gradient)
        return (gy if v0.requires_grad else None), (gy if v1.requires_grad else None)


def add(x0: Operand, x1: Operand) -> Variable:
    """``x0 + x1``."""
    return Add()(x0, x1)


class Sub(Op):
    __slots__ = ()
    scalar_forward = True

    def forward(self, x0, x1):
        return x0 - x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0 − x1)/∂x0 = 1,  ∂(x0 − x1)/∂x1 = −1
        v0, v1 = self.inputs
        return (gy if v0.requires_grad else None), (-gy if v1.requires_grad else None)


def sub(x0: Operand, x1: Operand) -> Variable:
    """``x0 - x1``."""
    return Sub()(x0, x1)


class Mul(Op):
    __slots__ = ()
    scalar_forward = True

    def forward(self, x0, x1):
        return x0 * x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0·x1)/∂x0 = x1,  ∂(x0·x1)/∂x1 = x0
        v0, v1 = self.inputs
        return (gy * x1 if v0.requires_grad else None), (gy * x0 if v1.requires_grad else None)


def mul(x0: Operand, x1: Operand) -> Variable:
    """``x0 * x1``."""
    return Mul()(x0, x1)


class Div(Op):
    __slots__ = ()
    scalar_forward = True

    def forward(self, x0, x1):
        return x0 / x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0/x1)/∂x0 = 1/x1,  ∂(x0/x1)/∂x1 = −x0/x1² = −y/x1
        v0, v1 = self.inputs
        return (gy / x1 if v0.requires_grad else None), (-gy * y / x1 if v1.requires_grad else None)


def div(x0: Operand, x1: Operand) -> Variable:
    """``x0 / x1``."""
    return Div()(x0, x1)


class Neg(Op):
    __slots__ = ()
    scalar_forward = True

    def forward(self, x):
        return -x

    def vjp(self, gy, y, x):
        # ∂(−x)/∂x = −1
        return -gy


def neg(x: Operand) -> Variable:
    """``-x``."""
    return Neg()(x)


class Pow(Op):
    __slots__ = ("c",)

    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        return x**self.c

    def vjp(self, gy, y, x):
        # ∂xᶜ/∂x = c·xᶜ⁻¹
        c = self.c
        if c == 0:
            return gy * 0
        return gy * (c * x ** (c - 1)) if c != 1 else gy


def pow(x: Operand, c: int | float) -> Variable:
    """``x ** c`` for a scalar exponent ``c``."""
    if isinstance(c, np.ndarray) and c.ndim == 0:
        c = c.item()
    if not isinstance(c, (int, float, np.number)) or isinstance(c, (bool, np.bool_)):
        raise TypeError(
            f"Pow: the exponent must be a Python int or float, got {type(c).__name__}; for a "
            "Variable exponent y write exp(y * log(x))"
        )
    return Pow(c)(x)


class Cast(Op):
    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def vjp(self, gy, y, x):
        # a cast changes precision, not value: the gradient is cast back
        return _astype(gy, x.dtype)


def astype(x: Operand, dtype: Any) -> Variable:
    """``x`` converted to ``dtype`` (float32, float64, ...)."""
    return Cast(np.dtype(dtype))(x)


_astype = dispatch(lambda a, dtype: a.astype(dtype), astype)
