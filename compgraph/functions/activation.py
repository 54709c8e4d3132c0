"""Activation functions: sigmoid, relu, softmax, log_softmax."""

from __future__ import annotations

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable, as_array, dispatch
from compgraph.functions._fast import max_keepdims, sum_keepdims
from compgraph.functions.math import exp


class Sigmoid(Op):
    __slots__ = ()
    label = "σ"

    def forward(self, x):
        # 1/(1 + e⁻ˣ) written with tanh, which never overflows
        return np.tanh(x * 0.5) * 0.5 + 0.5

    def vjp(self, gy, y, x):
        # dσ/dx = σ(1 − σ) = y(1 − y) = y − y² (no Python number: see Tanh)
        return gy * (y - y * y)

    def local_derivatives(self, x):
        return (nt.fits(f"σ({x.text})(1 − σ({x.text}))", nt.PRODUCT),)


def sigmoid(x: Operand) -> Variable:
    """The logistic function 1/(1 + e⁻ˣ), elementwise."""
    return Sigmoid()(x)


class ReLU(Op):
    __slots__ = ()
    label = "relu"

    def forward(self, x):
        return np.maximum(x, 0)

    def vjp(self, gy, y, x):
        # slope 1 where x > 0, else 0
        return gy * (as_array(x) > 0)

    def local_derivatives(self, x):
        return (nt.fits(f"[{x.text} > 0]", nt.ATOM),)


def relu(x: Operand) -> Variable:
    """max(x, 0), elementwise."""
    return ReLU()(x)


def softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    # subtracting the maximum keeps exp from overflowing; the result is unchanged
    e = np.exp(x - max_keepdims(x, axis))
    e /= sum_keepdims(e, axis)
    return e


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - max_keepdims(x, axis)
    shifted -= np.log(sum_keepdims(np.exp(shifted), axis))
    return shifted


class Softmax(Op):
    __slots__ = ("axis",)
    label = "softmax"
    grad_rules = ("y·(g − Σ y·g)",)

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return softmax_array(x, self.axis)

    def vjp(self, gy, y, x):
        # ∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ):  gx = y·gy − y·Σ(y·gy)
        ygy = y * gy
        return ygy - y * ygy.sum(axis=self.axis, keepdims=True)


def softmax(x: Operand, axis: int = 1) -> Variable:
    """exp(x) normalised to sum to 1 along ``axis``, computed stably."""
    return Softmax(axis)(x)


_softmax = dispatch(softmax_array, softmax)


class LogSoftmax(Op):
    __slots__ = ("axis",)
    label = "log_softmax"
    grad_rules = ("g − softmax·Σ g",)

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return log_softmax_array(x, self.axis)

    def vjp(self, gy, y, x):
        # y = x − log Σ eˣ:  gx = gy − softmax(x)·Σ gy, and softmax(x) = e^y
        return gy - _exp(y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax(x: Operand, axis: int = 1) -> Variable:
    """log(softmax(x)) along ``axis``, computed stably (no log of 0)."""
    return LogSoftmax(axis)(x)


_exp = dispatch(np.exp, exp)
