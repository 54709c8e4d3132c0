"""Activation functions: sigmoid, relu, leaky_relu, softplus, silu, gelu, softmax, log_softmax."""

from __future__ import annotations

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable, as_array, dispatch
from compgraph.functions._erf import erfc, normal_cdf32
from compgraph.functions._fast import max_keepdims, sum_keepdims
from compgraph.functions.math import exp, tanh


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    # 1/(1 + e⁻ˣ) written with tanh, which never overflows
    return np.tanh(x * 0.5) * 0.5 + 0.5


class Sigmoid(Op):
    __slots__ = ()
    scalar_forward = True  # a ufunc: NumPy scalars in, as the arithmetic ops take them
    label = "σ"

    def forward(self, x):
        return sigmoid_array(x)

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
    scalar_forward = True
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


class LeakyReLU(Op):
    __slots__ = ("negative_slope",)
    label = "leaky_relu"

    def __init__(self, negative_slope: float):
        self.negative_slope = negative_slope

    def forward(self, x):
        return np.where(x > 0, x, x * self.negative_slope)

    def vjp(self, gy, y, x):
        # slope 1 where x > 0, else negative_slope (at 0 too, as PyTorch)
        xd = as_array(x)
        return gy * np.where(xd > 0, 1.0, self.negative_slope).astype(xd.dtype)

    def local_derivatives(self, x):
        s = nt.format_number(self.negative_slope)
        return (nt.fits(f"[{x.text} > 0] + {s}·[{x.text} ≤ 0]", nt.SUM),)


def leaky_relu(x: Operand, negative_slope: float = 0.01) -> Variable:
    """x where x > 0, else negative_slope·x, elementwise."""
    return LeakyReLU(negative_slope)(x)


class Softplus(Op):
    __slots__ = ("beta", "threshold")
    label = "softplus"

    def __init__(self, beta: float, threshold: float):
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        # log(1 + e^(βx))/β as max(βx, 0) + log(1 + e^(−|βx|)): no overflow, no lost digits;
        # x itself where βx > threshold, as PyTorch
        bx = x * self.beta
        y = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / self.beta
        return np.where(bx > self.threshold, x, y)

    def vjp(self, gy, y, x):
        # d/dx log(1 + e^(βx))/β = σ(βx); 1 where the op is x itself
        bx = x * self.beta
        slope = _sigmoid(bx)
        linear = as_array(bx) > self.threshold
        if linear.any():
            slope = slope * np.asarray(~linear) + linear
        return gy * slope

    def local_derivatives(self, x):
        if self.beta == 1:
            return (nt.call("σ", x),)
        return (nt.fits(f"σ({nt.scale(self.beta, x).text})", nt.ATOM),)


def softplus(x: Operand, beta: float = 1.0, threshold: float = 20.0) -> Variable:
    """log(1 + e^(βx))/β elementwise, and x where βx > threshold, as PyTorch's softplus."""
    if beta == 0:
        raise ValueError("softplus: beta is 0, which divides by zero; use a nonzero beta (1 by default)")
    return Softplus(beta, threshold)(x)


class SiLU(Op):
    __slots__ = ()
    label = "silu"

    def forward(self, x):
        return x * sigmoid_array(x)

    def vjp(self, gy, y, x):
        # d(x·σ(x))/dx = σ + x·σ(1 − σ), written σ + x(σ − σ²) (no Python number: see Tanh)
        s = _sigmoid(x)
        return gy * (s + x * (s - s * s))

    def local_derivatives(self, x):
        return (nt.fits(f"σ({x.text})(1 + {nt.wrap(x, nt.PRODUCT)}(1 − σ({x.text})))", nt.PRODUCT),)


def silu(x: Operand) -> Variable:
    """x·σ(x), elementwise (also called swish)."""
    return SiLU()(x)


_SQRT_HALF = 0.7071067811865476  # 1/√2
_INV_SQRT_2PI = 0.3989422804014327  # 1/√(2π)
_TANH_SCALE = 0.7978845608028654  # √(2/π)


def normal_cdf_array(x: np.ndarray) -> np.ndarray:
    return normal_cdf_and_pdf(x)[0]


def normal_cdf_and_pdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(Φ(x), φ(x)) for float32/float16 x, in one float32 pass (functions/_erf.py); for float64
    (Φ(x), None): Φ(x) = (1 + erf(x/√2))/2 = erfc(−x/√2)/2, no cancellation far below 0."""
    if x.dtype == np.float32 or x.dtype == np.float16:
        cdf, pdf = normal_cdf32(x)
        return cdf.astype(x.dtype, copy=False), pdf.astype(x.dtype, copy=False)
    return erfc(x * -_SQRT_HALF) * 0.5, None


class NormalCDF(Op):
    """Φ, the standard normal distribution function: in GELU's gradient, for second order."""

    __slots__ = ()
    label = "Φ"

    def forward(self, x):
        return normal_cdf_array(x)

    def vjp(self, gy, y, x):
        # dΦ/dx = φ(x) = e^(−x²/2)/√(2π)
        return gy * _normal_pdf(x)

    def local_derivatives(self, x):
        return (nt.call("φ", x),)


def _normal_pdf(x):
    return _exp(x * x * -0.5) * _INV_SQRT_2PI


class GELU(Op):
    __slots__ = ("approximate", "cdf", "pdf")
    label = "gelu"

    def __init__(self, approximate: str):
        self.approximate = approximate
        self.cdf = self.pdf = None

    def forward(self, x):
        if self.approximate == "tanh":
            return x * 0.5 * (np.tanh((x + x * x * x * 0.044715) * _TANH_SCALE) + 1)
        # kept for the backward pass, which needs Φ(x) (and φ(x), free here in float32) again
        self.cdf, self.pdf = normal_cdf_and_pdf(x)
        return x * self.cdf

    def vjp(self, gy, y, x):
        if self.approximate == "tanh":
            # y = x(1 + t)/2, t = tanh(u), u = √(2/π)(x + 0.044715x³):
            # dy/dx = (1 + t)/2 + x(1 − t²)/2 · √(2/π)(1 + 3·0.044715x²)
            x2 = x * x
            t = _tanh((x + x2 * x * 0.044715) * _TANH_SCALE)
            du = (x2 * (3 * 0.044715) + 1) * _TANH_SCALE
            return gy * ((t + 1) * 0.5 + x * (1 - t * t) * du * 0.5)
        # d(x·Φ(x))/dx = Φ(x) + x·φ(x)
        if isinstance(x, Variable):  # create_graph: recorded, so it can be differentiated again
            return gy * (_normal_cdf(x) + x * _normal_pdf(x))
        pdf = _normal_pdf(x) if self.pdf is None else self.pdf
        g = x * pdf
        g += self.cdf
        g *= gy
        return g

    def local_derivatives(self, x):
        if self.approximate == "tanh":
            return None
        return (nt.fits(f"Φ({x.text}) + {nt.wrap(x, nt.PRODUCT)}·φ({x.text})", nt.SUM),)


def gelu(x: Operand, approximate: str = "none") -> Variable:
    """x·Φ(x), Φ the standard normal distribution function, elementwise, as PyTorch's gelu;
    ``approximate="tanh"``: x(1 + tanh(√(2/π)(x + 0.044715x³)))/2.

    Φ is computed with an erfc accurate to about 1e-15 in float64, and for float32/float16 in
    one float32 pass good to a few float32 ulps (Φ and φ kept for the backward pass), see
    functions/_erf.py.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)


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
_tanh = dispatch(np.tanh, tanh)
_sigmoid = dispatch(sigmoid_array, sigmoid)
_normal_cdf = dispatch(normal_cdf_array, lambda v: NormalCDF()(v))
