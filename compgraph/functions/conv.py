"""2-D convolution on NCHW images, built on im2col/col2im.

Layout: ``im2col`` turns x (N, C, H, W) into col (N, C·KH·KW, OH·OW), one column per output
pixel. The convolution is then one batched matrix product W (OC, C·KH·KW) @ col, whose
result (N, OC, OH·OW) is already in NCHW order: no transposed copy before or after the
product. ``im2col`` is a single copy out of a strided window view (no Python loop over
pixels); ``col2im``, its adjoint, adds back with a loop over the KH·KW kernel offsets, each
one vectorised slice addition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compgraph.core import Op, Operand, Variable, dispatch

Pair = tuple[int, int]
#: An int for both axes, or an (h, w) pair.
IntOrPair = int | tuple[int, int]


def as_pair(value: Any, what: str, op: str, minimum: int) -> Pair:
    """``value`` (an int or an (h, w) pair) as a pair of ints, each at least ``minimum``."""

    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints (h, w), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {what} must be at least {minimum}, got {value!r}")
    return pair


def output_size(size: Pair, kernel: Pair, stride: Pair, pad: Pair) -> Pair:
    """(OH, OW): how many windows of ``kernel`` fit in ``size`` padded by ``pad`` at ``stride``."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, pad))


def shape_of(x: Any, name: str, op: str) -> tuple[int, ...]:
    """The shape of an array operand; a TypeError naming ``op`` for anything else."""
    if isinstance(x, (Variable, np.ndarray)):
        return x.shape
    raise TypeError(f"{op}: {name} must be a Variable or a numpy.ndarray, got {type(x).__name__}")


def check_fits(op: str, size: Pair, kernel: Pair, pad: Pair) -> None:
    """A ValueError when the kernel is larger than the padded input."""
    padded = (size[0] + 2 * pad[0], size[1] + 2 * pad[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"{op}: the {kernel[0]}x{kernel[1]} kernel is larger than the {size[0]}x{size[1]} input "
            f"padded by {pad} to {padded[0]}x{padded[1]}; use a smaller kernel or more padding"
        )


def im2col_array(x: np.ndarray, kernel: Pair, stride: Pair = (1, 1), pad: Pair = (0, 0)) -> np.ndarray:
    """Every KH×KW window of x (N, C, H, W) as a column: (N, C·KH·KW, OH·OW).

    Row ``(c·KH + i)·KW + j`` of sample n's matrix holds pixel (i, j) of channel c of each
    window, the windows in row-major output order. (The book's im2col returns the transpose,
    (N·OH·OW, C·KH·KW); this layout makes the product with the weights land in NCHW order.)
    """
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW) = kernel, stride, pad
    OH, OW = output_size((H, W), kernel, stride, pad)
    if PH or PW:
        x = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    windows = sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]  # (N, C, OH, OW, KH, KW)
    # the one copy of im2col: reshape gathers the strided windows into contiguous columns
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW)


def col2im_array(
    col: np.ndarray, shape: tuple[int, ...], kernel: Pair, stride: Pair = (1, 1), pad: Pair = (0, 0)
) -> np.ndarray:
    """The adjoint of ``im2col_array``: add every column back onto its window of an (N, C, H, W) image.

    Where windows overlap, their values add up (this is the gradient of im2col).
    """
    N, C, H, W = shape
    (KH, KW), (SH, SW), (PH, PW) = kernel, stride, pad
    OH, OW = output_size((H, W), kernel, stride, pad)
    col = col.reshape(N, C, KH, KW, OH, OW)
    x = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for i in range(KH):  # KH·KW slice additions, each over the whole batch
        for j in range(KW):
            x[:, :, i : i + SH * OH : SH, j : j + SW * OW : SW] += col[:, :, i, j]
    if PH or PW:
        x = np.ascontiguousarray(x[:, :, PH : PH + H, PW : PW + W])
    return x


class Im2col(Op):
    __slots__ = ("kernel", "stride", "pad")

    def __init__(self, kernel: Pair, stride: Pair, pad: Pair):
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x):
        return im2col_array(x, self.kernel, self.stride, self.pad)

    def vjp(self, gy, y, x):
        # im2col copies each pixel to every window that holds it: those gradients add up (col2im)
        return _col2im(gy, x.shape, self.kernel, self.stride, self.pad)


class Col2im(Op):
    __slots__ = ("shape", "kernel", "stride", "pad")

    def __init__(self, shape: tuple[int, ...], kernel: Pair, stride: Pair, pad: Pair):
        self.shape, self.kernel, self.stride, self.pad = shape, kernel, stride, pad

    def forward(self, col):
        return col2im_array(col, self.shape, self.kernel, self.stride, self.pad)

    def vjp(self, gy, y, col):
        # col2im is linear and its adjoint is im2col
        return _im2col(gy, self.kernel, self.stride, self.pad)


def _image_shape(x: Any, op: str) -> tuple[int, ...]:
    shape = shape_of(x, "x", op)
    if len(shape) != 4:
        raise ValueError(f"{op}: x must be a batch of images (N, C, H, W), got shape {shape}")
    return shape


def im2col(x: Operand, kernel_size: IntOrPair, stride: IntOrPair = 1, pad: IntOrPair = 0) -> Variable:
    """Differentiable ``im2col_array``: x (N, C, H, W) -> (N, C·KH·KW, OH·OW).

    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2).data[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    shape = _image_shape(x, "im2col")
    kernel = as_pair(kernel_size, "kernel_size", "im2col", 1)
    stride_, pad_ = as_pair(stride, "stride", "im2col", 1), as_pair(pad, "pad", "im2col", 0)
    check_fits("im2col", shape[2:], kernel, pad_)
    return Im2col(kernel, stride_, pad_)(x)


def col2im(
    col: Operand,
    shape: tuple[int, int, int, int],
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    pad: IntOrPair = 0,
) -> Variable:
    """Differentiable ``col2im_array``: (N, C·KH·KW, OH·OW) -> (N, C, H, W) = ``shape``, overlaps added."""
    kernel = as_pair(kernel_size, "kernel_size", "col2im", 1)
    stride_, pad_ = as_pair(stride, "stride", "col2im", 1), as_pair(pad, "pad", "col2im", 0)
    if len(shape) != 4:
        raise ValueError(f"col2im: shape must be the image shape (N, C, H, W), got {shape}")
    N, C, H, W = shape
    OH, OW = output_size((H, W), kernel, stride_, pad_)
    expected = (N, C * kernel[0] * kernel[1], OH * OW)
    if shape_of(col, "col", "col2im") != expected:
        raise ValueError(
            f"col2im: col must have shape {expected} for an image of shape {tuple(shape)} and a "
            f"{kernel[0]}x{kernel[1]} kernel at stride {stride_}, pad {pad_}; got {col.shape}"
        )
    return Col2im(tuple(shape), kernel, stride_, pad_)(col)


_im2col = dispatch(im2col_array, lambda x, k, s, p: Im2col(k, s, p)(x))
_col2im = dispatch(col2im_array, lambda c, shape, k, s, p: Col2im(shape, k, s, p)(c))


def _mT(a):
    # the last two axes swapped, on an array or a Variable
    return a.transpose((0, 2, 1))


def _rows(W):
    # W (OC, C, KH, KW) as (OC, C·KH·KW); sizes spelled out, as -1 is ambiguous when one is 0
    OC, C, KH, KW = W.shape
    return W.reshape(OC, C * KH * KW)


class Conv2d(Op):
    __slots__ = ("stride", "pad")

    def __init__(self, stride: Pair, pad: Pair):
        self.stride, self.pad = stride, pad

    def forward(self, x, W, b=None):
        N, OC = x.shape[0], W.shape[0]
        col = im2col_array(x, W.shape[2:], self.stride, self.pad)
        y = _rows(W) @ col  # (OC, C·KH·KW) @ (N, C·KH·KW, OH·OW): NCHW directly
        if b is not None:
            b = b.reshape(OC, 1)
            if np.result_type(y, b) == y.dtype:
                y += b  # in place: the output is the largest array here
            else:
                y = y + b
        return y.reshape((N, OC) + output_size(x.shape[2:], W.shape[2:], self.stride, self.pad))

    def vjp(self, gy, y, x, W, b=None):
        # y = W·im2col(x) + b:  ∂L/∂x = col2im(Wᵀ·gy),  ∂L/∂W = Σₙ gyₙ·im2col(x)ₙᵀ,  ∂L/∂b = Σ gy
        N, OC = gy.shape[0], gy.shape[1]
        kernel = W.shape[2:]
        gy3 = gy.reshape(N, OC, gy.shape[2] * gy.shape[3])  # not -1: N may be 0
        gx = gW = None
        if self.needs_grad(0):
            gx = _col2im(_rows(W).T @ gy3, x.shape, kernel, self.stride, self.pad)
        if self.needs_grad(1):
            # recomputed rather than kept from forward: col is the largest array of the layer
            col = _im2col(x, kernel, self.stride, self.pad)
            gW = (gy3 @ _mT(col)).sum(axis=0).reshape(W.shape)
        if b is None:
            return gx, gW
        return gx, gW, gy3.sum(axis=(0, 2)) if self.needs_grad(2) else None


def conv2d(
    x: Operand,
    W: Operand,
    b: Operand | None = None,
    stride: IntOrPair = 1,
    pad: IntOrPair = 0,
) -> Variable:
    """2-D convolution (cross-correlation, as in every deep-learning library).

    x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None; ``stride`` and ``pad`` (zeros on every
    side) are ints or (h, w) pairs. Returns (N, OC, OH, OW) with OH = (H + 2·pad - KH)//stride + 1.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2).data
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    x_shape = _image_shape(x, "conv2d")
    W_shape = shape_of(W, "W", "conv2d")
    if len(W_shape) != 4:
        raise ValueError(f"conv2d: W must be (out_channels, in_channels, KH, KW), got shape {W_shape}")
    if W_shape[1] != x_shape[1]:
        raise ValueError(
            f"conv2d: x of shape {x_shape} has {x_shape[1]} channels but W of shape {W_shape} expects "
            f"{W_shape[1]}; W must be (out_channels, {x_shape[1]}, KH, KW)"
        )
    if b is not None and shape_of(b, "b", "conv2d") != W_shape[:1]:
        raise ValueError(
            f"conv2d: b must have shape ({W_shape[0]},), one bias per output channel of W "
            f"{W_shape}, got {b.shape}"
        )
    stride_ = as_pair(stride, "stride", "conv2d", 1)
    pad_ = as_pair(pad, "pad", "conv2d", 0)
    check_fits("conv2d", x_shape[2:], W_shape[2:], pad_)
    op = Conv2d(stride_, pad_)
    return op(x, W) if b is None else op(x, W, b)
