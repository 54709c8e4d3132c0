"""Elementwise arithmetic with NumPy broadcasting: + − × ÷, negation, scalar powers, casts.

The rules below are the plain math: the engine sums each gradient back over the axes that
broadcasting added, so ``x (2, 3) + b (3,)`` needs nothing special here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable, dispatch


class Add(Op):
    __slots__ = ()
    scalar_forward = True
    label = "+"

    def forward(self, x0, x1):
        return x0 + x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0 + x1)/∂x0 = ∂(x0 + x1)/∂x1 = 1
        return gy, gy

    def formula(self, x0, x1):
        return nt.infix(x0, " + ", x1, nt.SUM)

    def local_derivatives(self, x0, x1):
        return nt.ONE, nt.ONE


def add(x0: Operand, x1: Operand) -> Variable:
    """``x0 + x1``."""
    return Add()(x0, x1)


class Sub(Op):
    __slots__ = ()
    scalar_forward = True
    label = "−"

    def forward(self, x0, x1):
        return x0 - x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0 − x1)/∂x0 = 1,  ∂(x0 − x1)/∂x1 = −1
        return gy, (-gy if self.needs_grad(1) else None)

    def formula(self, x0, x1):
        return nt.infix(x0, " − ", x1, nt.SUM, nt.PRODUCT)

    def local_derivatives(self, x0, x1):
        return nt.ONE, nt.MINUS_ONE


def sub(x0: Operand, x1: Operand) -> Variable:
    """``x0 - x1``."""
    return Sub()(x0, x1)


class Mul(Op):
    __slots__ = ()
    scalar_forward = True
    label = "×"

    def forward(self, x0, x1):
        return x0 * x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0·x1)/∂x0 = x1,  ∂(x0·x1)/∂x1 = x0
        return (gy * x1 if self.needs_grad(0) else None), (gy * x0 if self.needs_grad(1) else None)

    def formula(self, x0, x1):
        return nt.infix(x0, "·", x1, nt.PRODUCT)

    def local_derivatives(self, x0, x1):
        return x1, x0


def mul(x0: Operand, x1: Operand) -> Variable:
    """``x0 * x1``."""
    return Mul()(x0, x1)


class Div(Op):
    __slots__ = ()
    scalar_forward = True
    label = "÷"

    def forward(self, x0, x1):
        return x0 / x1

    def vjp(self, gy, y, x0, x1):
        # ∂(x0/x1)/∂x0 = 1/x1,  ∂(x0/x1)/∂x1 = −x0/x1² = −y/x1
        return (gy / x1 if self.needs_grad(0) else None), (-gy * y / x1 if self.needs_grad(1) else None)

    def formula(self, x0, x1):
        return nt.infix(x0, "/", x1, nt.PRODUCT)

    def local_derivatives(self, x0, x1):
        inverse = nt.fits(f"1/{nt.wrap(x1, nt.POWER)}", nt.PRODUCT)
        return inverse, nt.fits(f"−{nt.wrap(x0, nt.PRODUCT)}/{nt.wrap(x1, nt.ATOM)}²", nt.NEG)


def div(x0: Operand, x1: Operand) -> Variable:
    """``x0 / x1``."""
    return Div()(x0, x1)


class Neg(Op):
    __slots__ = ()
    scalar_forward = True
    label = "−"

    def forward(self, x):
        return -x

    def vjp(self, gy, y, x):
        # ∂(−x)/∂x = −1
        return -gy

    def formula(self, x):
        return nt.fits(f"−{nt.wrap(x, nt.POWER)}", nt.NEG)

    def local_derivatives(self, x):
        return (nt.MINUS_ONE,)


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

    @property
    def label(self):
        return f"**{nt.format_number(self.c)}"

    def formula(self, x):
        return nt.power(x, self.c)

    def local_derivatives(self, x):
        return (nt.ZERO if self.c == 0 else nt.scale(self.c, nt.power(x, self.c - 1)),)


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
    label = "astype"

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def vjp(self, gy, y, x):
        # a cast changes precision, not value: the gradient is cast back
        return _astype(gy, x.dtype)

    def formula(self, x):
        return nt.call(str(self.dtype), x)

    def local_derivatives(self, x):
        return (nt.ONE,)


def astype(x: Operand, dtype: Any) -> Variable:
    """``x`` converted to ``dtype`` (float32, float64, ...)."""
    return Cast(np.dtype(dtype))(x)


_astype = dispatch(lambda a, dtype: a.astype(dtype), astype)
