"""Elementwise functions: exp, log, sin, cos, tanh, sqrt, abs, clip."""

from __future__ import annotations

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable, as_array, dispatch


class Exp(Op):
    __slots__ = ()
    scalar_forward = True  # a ufunc: NumPy scalars in, as the arithmetic ops take them
    label = "exp"

    def forward(self, x):
        return np.exp(x)

    def vjp(self, gy, y, x):
        # d eˣ/dx = eˣ, which is the output
        return gy * y

    def local_derivatives(self, x):
        return (nt.call("exp", x),)


def exp(x: Operand) -> Variable:
    """eˣ, elementwise."""
    return Exp()(x)


class Log(Op):
    __slots__ = ()
    scalar_forward = True
    label = "log"

    def forward(self, x):
        return np.log(x)

    def vjp(self, gy, y, x):
        # d ln x/dx = 1/x
        return gy / x

    def local_derivatives(self, x):
        return (nt.fits(f"1/{nt.wrap(x, nt.POWER)}", nt.PRODUCT),)


def log(x: Operand) -> Variable:
    """The natural logarithm, elementwise."""
    return Log()(x)


class Sin(Op):
    __slots__ = ()
    scalar_forward = True
    label = "sin"

    def forward(self, x):
        return np.sin(x)

    def vjp(self, gy, y, x):
        # d sin x/dx = cos x
        return gy * _cos(x)

    def local_derivatives(self, x):
        return (nt.call("cos", x),)


def sin(x: Operand) -> Variable:
    """sin x, elementwise."""
    return Sin()(x)


class Cos(Op):
    __slots__ = ()
    scalar_forward = True
    label = "cos"

    def forward(self, x):
        return np.cos(x)

    def vjp(self, gy, y, x):
        # d cos x/dx = −sin x
        return -(gy * _sin(x))

    def local_derivatives(self, x):
        return (nt.negate(nt.call("sin", x)),)


def cos(x: Operand) -> Variable:
    """cos x, elementwise."""
    return Cos()(x)


_sin = dispatch(np.sin, sin)
_cos = dispatch(np.cos, cos)


class Tanh(Op):
    __slots__ = ()
    scalar_forward = True
    label = "tanh"

    def forward(self, x):
        return np.tanh(x)

    def vjp(self, gy, y, x):
        # d tanh x/dx = 1 − tanh²x = 1 − y²; written gy − gy·y², which spares NumPy the slow
        # path it takes for a Python number beside an array
        return gy - gy * y * y

    def local_derivatives(self, x):
        return (nt.fits(f"1 − tanh²({x.text})", nt.SUM),)


def tanh(x: Operand) -> Variable:
    """tanh x, elementwise."""
    return Tanh()(x)


class Sqrt(Op):
    __slots__ = ()
    scalar_forward = True
    label = "√"

    def forward(self, x):
        return np.sqrt(x)

    def vjp(self, gy, y, x):
        # d √x/dx = 1/(2√x) = 1/(2y)
        return gy / (y + y)

    def formula(self, x):
        return nt.fits("√" + nt.wrap(x, nt.ATOM), nt.ATOM)

    def local_derivatives(self, x):
        return (nt.fits(f"1/(2√{nt.wrap(x, nt.ATOM)})", nt.PRODUCT),)


def sqrt(x: Operand) -> Variable:
    """√x, elementwise."""
    return Sqrt()(x)


class Abs(Op):
    __slots__ = ()
    scalar_forward = True
    label = "abs"

    def forward(self, x):
        return np.abs(x)

    def vjp(self, gy, y, x):
        # d|x|/dx = sign x, and 0 at x = 0 (a subgradient; PyTorch's choice too)
        return gy * np.sign(as_array(x))

    def formula(self, x):
        return nt.fits(f"|{x.text}|", nt.ATOM)

    def local_derivatives(self, x):
        return (nt.call("sign", x),)


def abs(x: Operand) -> Variable:
    """|x|, elementwise; its gradient at 0 is 0, as PyTorch's."""
    return Abs()(x)


class Clip(Op):
    __slots__ = ("x_min", "x_max")
    scalar_forward = True
    label = "clip"

    def __init__(self, x_min: float | None, x_max: float | None):
        self.x_min = x_min
        self.x_max = x_max

    def forward(self, x):
        return np.clip(x, self.x_min, self.x_max)

    def vjp(self, gy, y, x):
        # slope 1 inside [x_min, x_max], 0 where the value was clipped
        xd = as_array(x)
        inside = np.ones(xd.shape, dtype=bool)
        if self.x_min is not None:
            inside &= xd >= self.x_min
        if self.x_max is not None:
            inside &= xd <= self.x_max
        return gy * inside

    def local_derivatives(self, x):
        low = "-inf" if self.x_min is None else nt.format_number(self.x_min)
        high = "inf" if self.x_max is None else nt.format_number(self.x_max)
        return (nt.fits(f"[{low} ≤ {x.text} ≤ {high}]", nt.ATOM),)


def clip(x: Operand, x_min: float | None, x_max: float | None) -> Variable:
    """``x`` limited to [x_min, x_max] elementwise (None: no bound on that side)."""
    if x_min is not None and x_max is not None and x_min > x_max:
        raise ValueError(f"clip: x_min ({x_min}) is greater than x_max ({x_max})")
    return Clip(x_min, x_max)(x)
