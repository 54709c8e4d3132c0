"""Elementwise functions: exp, log, sin, cos, tanh, sqrt, clip."""

from __future__ import annotations

import numpy as np

from compgraph.core import Op, Operand, Variable, as_array, dispatch


class Exp(Op):
    __slots__ = ()

    def forward(self, x):
        return np.exp(x)

    def vjp(self, gy, y, x):
        # d eˣ/dx = eˣ, which is the output
        return gy * y


def exp(x: Operand) -> Variable:
    """eˣ, elementwise."""
    return Exp()(x)


class Log(Op):
    __slots__ = ()

    def forward(self, x):
        return np.log(x)

    def vjp(self, gy, y, x):
        # d ln x/dx = 1/x
        return gy / x


def log(x: Operand) -> Variable:
    """The natural logarithm, elementwise."""
    return Log()(x)


class Sin(Op):
    __slots__ = ()

    def forward(self, x):
        return np.sin(x)

    def vjp(self, gy, y, x):
        # d sin x/dx = cos x
        return gy * _cos(x)


def sin(x: Operand) -> Variable:
    """sin x, elementwise."""
    return Sin()(x)


class Cos(Op):
    __slots__ = ()

    def forward(self, x):
        return np.cos(x)

    def vjp(self, gy, y, x):
        # d cos x/dx = −sin x
        return -(gy * _sin(x))


def cos(x: Operand) -> Variable:
    """cos x, elementwise."""
    return Cos()(x)


_sin = dispatch(np.sin, sin)
_cos = dispatch(np.cos, cos)


class Tanh(Op):
    __slots__ = ()

    def forward(self, x):
        return np.tanh(x)

    def vjp(self, gy, y, x):
        # d tanh x/dx = 1 − tanh²x = 1 − y²; written gy − gy·y², which spares NumPy the slow
        # path it takes for a Python number beside an array
        return gy - gy * y * y


def tanh(x: Operand) -> Variable:
    """tanh x, elementwise."""
    return Tanh()(x)


class Sqrt(Op):
    __slots__ = ()

    def forward(self, x):
        return np.sqrt(x)

    def vjp(self, gy, y, x):
        # d √x/dx = 1/(2√x) = 1/(2y)
        return gy / (y + y)


def sqrt(x: Operand) -> Variable:
    """√x, elementwise."""
    return Sqrt()(x)


class Clip(Op):
    __slots__ = ("x_min", "x_max")

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


def clip(x: Operand, x_min: float | None, x_max: float | None) -> Variable:
    """``x`` limited to [x_min, x_max] elementwise (None: no bound on that side)."""
    if x_min is not None and x_max is not None and x_min > x_max:
        raise ValueError(f"clip: x_min ({x_min}) is greater than x_max ({x_max})")
    return Clip(x_min, x_max)(x)
