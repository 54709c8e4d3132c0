"""2-D max and average pooling on NCHW images.

Neither builds an im2col matrix. Window offset (i, j) of every output pixel at once is the
strided slice ``x[:, :, i::stride, j::stride]`` (cut to the output size), so a pooling layer is
KH·KW vectorised elementwise steps, and its gradient KH·KW slice writes. (NumPy reductions
over a tiny trailing axis, as in ``x.reshape(..., 2, 2).max(axis=(3, 5))``, are ten times
slower than this on SimpleConvNet's sizes.)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from compgraph.core import Op, Operand, Variable, dispatch
from compgraph.functions.conv import IntOrPair, Pair, as_pair, check_fits, output_size, shape_of

#: (kernel, stride, pad), each an (h, w) pair
Geometry = tuple[Pair, Pair, Pair]


def _windows(x: np.ndarray, geometry: Geometry, out: Pair) -> Iterator[tuple[int, np.ndarray]]:
    """(offset number i·KW + j, the strided view of window offset (i, j) of every output pixel)."""
    (KH, KW), (SH, SW), _ = geometry
    OH, OW = out
    for i in range(KH):
        for j in range(KW):
            yield i * KW + j, x[:, :, i : i + SH * OH : SH, j : j + SW * OW : SW]


def _pad(x: np.ndarray, pad: Pair, value: float) -> np.ndarray:
    if not any(pad):
        return x
    (PH, PW) = pad
    return np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=value)


def _crop(x: np.ndarray, pad: Pair) -> np.ndarray:
    if not any(pad):
        return x
    (PH, PW) = pad
    return np.ascontiguousarray(x[:, :, PH : x.shape[2] - PH, PW : x.shape[3] - PW])


def _tiles(shape: tuple[int, ...], geometry: Geometry) -> bool:
    """Whether the windows cover the input exactly once (stride = kernel, no padding, no rest)."""
    kernel, stride, pad = geometry
    return kernel == stride and not any(pad) and shape[2] % kernel[0] == 0 and shape[3] % kernel[1] == 0


def _lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def max_pool_array(x: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(the maximum of each window, which offset i·KW + j held it: the first one on ties).

    A window holding NaN has maximum NaN, held by its last NaN (PyTorch's rule on the CPU).
    """
    kernel, _, pad = geometry
    out = output_size(x.shape[2:], *geometry)
    padded = _pad(x, pad, _lowest(x.dtype))
    views = _windows(padded, geometry, out)
    y = next(views)[1].copy()
    # the winning offset per output pixel, updated without branches: idx += better·(o − idx)
    # (unsigned wrap-around makes that exact); boolean-mask assignment is far slower here
    idx = np.zeros(y.shape, dtype=np.min_scalar_type(kernel[0] * kernel[1] - 1))
    better = np.empty(y.shape, dtype=bool)
    step = np.empty_like(idx)
    for o, v in views:
        np.greater(v, y, out=better)  # strictly greater: ties keep the earlier offset
        np.maximum(y, v, out=y)
        np.subtract(idx.dtype.type(o), idx, out=step)
        np.multiply(step, better, out=step)
        idx += step
    # np.maximum has made y NaN where a window holds one, but NaN > y is never true: point
    # those windows at their last NaN (a rare case, checked once on the small output)
    if y.dtype.kind == "f" and np.isnan(y).any():
        for o, v in _windows(padded, geometry, out):
            idx[np.isnan(v)] = o
    return y, idx


def max_pool_scatter_array(
    gy: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], geometry: Geometry
) -> np.ndarray:
    """An array of ``shape`` holding each gy at the position its window's maximum came from."""
    _, _, pad = geometry
    out = gy.shape[2:]
    if _tiles(shape, geometry):  # every position is written exactly once: no zero fill needed
        gx = np.empty(shape, dtype=gy.dtype)
        for o, view in _windows(gx, geometry, out):
            np.multiply(gy, idx == o, out=view)
        return gx
    gx = np.zeros((shape[0], shape[1], shape[2] + 2 * pad[0], shape[3] + 2 * pad[1]), dtype=gy.dtype)
    for o, view in _windows(gx, geometry, out):
        view += gy * (idx == o)
    return _crop(gx, pad)


def max_pool_gather_array(g: np.ndarray, idx: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The adjoint of ``max_pool_scatter_array``: from each window, the value at its argmax."""
    y = np.zeros(idx.shape, dtype=g.dtype)
    for o, view in _windows(_pad(g, geometry[2], 0), geometry, idx.shape[2:]):
        y += view * (idx == o)
    return y


class MaxPool2d(Op):
    __slots__ = ("geometry", "argmax")

    def __init__(self, geometry: Geometry):
        self.geometry = geometry

    def forward(self, x):
        y, self.argmax = max_pool_array(x, self.geometry)
        return y

    def vjp(self, gy, y, x):
        # ∂max/∂xₖ = 1 for the one element k that was the maximum (the first on ties), else 0
        return _scatter(gy, self.argmax, x.shape, self.geometry)


class MaxPoolScatter(Op):
    """The gradient of max pooling, as an op so that it can be differentiated again."""

    __slots__ = ("argmax", "shape", "geometry")

    def __init__(self, argmax: np.ndarray, shape: tuple[int, ...], geometry: Geometry):
        self.argmax, self.shape, self.geometry = argmax, shape, geometry

    def forward(self, gy):
        return max_pool_scatter_array(gy, self.argmax, self.shape, self.geometry)

    def vjp(self, ggx, y, gy):
        # a scatter's adjoint is the gather from the same positions
        return _gather(ggx, self.argmax, self.geometry)


class MaxPoolGather(Op):
    __slots__ = ("argmax", "geometry")

    def __init__(self, argmax: np.ndarray, geometry: Geometry):
        self.argmax, self.geometry = argmax, geometry

    def forward(self, g):
        return max_pool_gather_array(g, self.argmax, self.geometry)

    def vjp(self, gy, y, g):
        return _scatter(gy, self.argmax, g.shape, self.geometry)


_scatter = dispatch(max_pool_scatter_array, lambda gy, idx, shape, geo: MaxPoolScatter(idx, shape, geo)(gy))
_gather = dispatch(max_pool_gather_array, lambda g, idx, geo: MaxPoolGather(idx, geo)(g))


def avg_pool_array(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The mean of each window; padding counts as zeros (PyTorch's count_include_pad=True)."""
    (KH, KW), _, pad = geometry
    views = _windows(_pad(x, pad, 0), geometry, output_size(x.shape[2:], *geometry))
    y = next(views)[1].astype(np.result_type(x.dtype, np.float32), copy=True)
    for _, v in views:
        y += v
    y *= y.dtype.type(1 / (KH * KW))
    return y


def avg_pool_spread_array(gy: np.ndarray, shape: tuple[int, ...], geometry: Geometry) -> np.ndarray:
    """The adjoint of ``avg_pool_array``: each gy/(KH·KW) added to every position of its window."""
    (KH, KW), _, pad = geometry
    share = gy * gy.dtype.type(1 / (KH * KW))
    out = gy.shape[2:]
    if _tiles(shape, geometry):
        gx = np.empty(shape, dtype=gy.dtype)
        for _, view in _windows(gx, geometry, out):
            view[...] = share
        return gx
    gx = np.zeros((shape[0], shape[1], shape[2] + 2 * pad[0], shape[3] + 2 * pad[1]), dtype=gy.dtype)
    for _, view in _windows(gx, geometry, out):
        view += share
    return _crop(gx, pad)


class AvgPool2d(Op):
    __slots__ = ("geometry",)

    def __init__(self, geometry: Geometry):
        self.geometry = geometry

    def forward(self, x):
        return avg_pool_array(x, self.geometry)

    def vjp(self, gy, y, x):
        # ∂mean/∂xₖ = 1/(KH·KW) for every element k of the window
        return _spread(gy, x.shape, self.geometry)


class AvgPoolSpread(Op):
    """The gradient of average pooling, as an op so that it can be differentiated again."""

    __slots__ = ("shape", "geometry")

    def __init__(self, shape: tuple[int, ...], geometry: Geometry):
        self.shape, self.geometry = shape, geometry

    def forward(self, gy):
        return avg_pool_spread_array(gy, self.shape, self.geometry)

    def vjp(self, ggx, y, gy):
        # spreading is the adjoint of averaging, and the other way round
        return _avg(ggx, self.geometry)


_spread = dispatch(avg_pool_spread_array, lambda gy, shape, geo: AvgPoolSpread(shape, geo)(gy))
_avg = dispatch(avg_pool_array, lambda x, geo: AvgPool2d(geo)(x))


def _geometry(
    op: str, x: Operand, kernel_size: IntOrPair, stride: IntOrPair | None, pad: IntOrPair
) -> Geometry:
    shape = shape_of(x, "x", op)
    if len(shape) != 4:
        raise ValueError(f"{op}: x must be a batch of images (N, C, H, W), got shape {shape}")
    kernel = as_pair(kernel_size, "kernel_size", op, 1)
    stride_ = kernel if stride is None else as_pair(stride, "stride", op, 1)
    pad_ = as_pair(pad, "pad", op, 0)
    if pad_[0] > kernel[0] // 2 or pad_[1] > kernel[1] // 2:
        raise ValueError(
            f"{op}: pad {pad_} is more than half the {kernel[0]}x{kernel[1]} kernel, so some window "
            f"would hold padding only; use pad <= ({kernel[0] // 2}, {kernel[1] // 2})"
        )
    check_fits(op, shape[2:], kernel, pad_)
    return kernel, stride_, pad_


def max_pool2d(
    x: Operand, kernel_size: IntOrPair, stride: IntOrPair | None = None, pad: IntOrPair = 0
) -> Variable:
    """The maximum of each KH×KW window of x (N, C, H, W) -> (N, C, OH, OW).

    ``stride`` defaults to the kernel size; ``pad`` adds -inf borders (never chosen). The
    gradient goes to one element per window: the maximum, or on ties the first of the
    maxima in row-major window order; in a window holding NaN, the output is NaN and the
    gradient goes to its last NaN (both as PyTorch on the CPU).

    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).data
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    return MaxPool2d(_geometry("max_pool2d", x, kernel_size, stride, pad))(x)


def avg_pool2d(
    x: Operand, kernel_size: IntOrPair, stride: IntOrPair | None = None, pad: IntOrPair = 0
) -> Variable:
    """The mean of each KH×KW window of x (N, C, H, W) -> (N, C, OH, OW).

    ``stride`` defaults to the kernel size; ``pad`` adds zero borders that count in the mean
    (PyTorch's default, count_include_pad=True).

    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).data
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    return AvgPool2d(_geometry("avg_pool2d", x, kernel_size, stride, pad))(x)
