"""Ops that move values without computing on them: reshape, transpose, broadcasting, indexing."""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable, dispatch
from compgraph.functions._fast import sum_leading


def sum_to_array(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead > 0 and x.shape[lead:] == shape:  # only leading axes added: a bias, a batch
        return sum_leading(x) if lead == 1 else x.sum(axis=tuple(range(lead)))
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, x.shape[lead:])):
        raise ValueError(f"sum_to: cannot sum shape {x.shape} to {shape}: {shape} does not broadcast to it")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    y = x.sum(axis=axes, keepdims=True)
    return y.reshape(shape) if lead else y


class Reshape(Op):
    __slots__ = ("shape",)
    label = "reshape"
    grad_rules = ("g reshaped back",)

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def vjp(self, gy, y, x):
        # reshaping moves no value: the gradient takes the input's shape back
        return gy.reshape(x.shape)


def reshape(x: Operand, shape: int | tuple[int, ...]) -> Variable:
    """``x`` with a new shape (one axis may be -1). ``reshape(x, (2, 3))``."""
    return Reshape((shape,) if isinstance(shape, int) else tuple(shape))(x)


class Transpose(Op):
    __slots__ = ("axes",)
    label = "ᵀ"
    grad_rules = ("gᵀ",)

    def __init__(self, axes: tuple[int, ...] | None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def vjp(self, gy, y, x):
        # transposing back with the inverse permutation
        if self.axes is None:
            return gy.transpose()
        n = len(self.axes)
        return gy.transpose(tuple(np.argsort([a % n for a in self.axes]).tolist()))

    def formula(self, x):
        return nt.fits(nt.wrap(x, nt.ATOM) + "ᵀ", nt.ATOM)


def transpose(x: Operand, axes: tuple[int, ...] | None = None) -> Variable:
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    return Transpose(None if axes is None else tuple(axes))(x)


class BroadcastTo(Op):
    __slots__ = ("shape",)
    label = "broadcast"
    grad_rules = ("g summed back",)

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def vjp(self, gy, y, x):
        # each input element was copied to several places: their gradients add up
        return _sum_to(gy, x.shape)


def broadcast_to(x: Operand, shape: tuple[int, ...]) -> Variable:
    """``x`` repeated along new or length-1 axes to ``shape`` (NumPy broadcasting rules)."""
    return BroadcastTo(tuple(shape))(x)


class SumTo(Op):
    __slots__ = ("shape",)
    label = "sum_to"
    grad_rules = ("g broadcast back",)

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        return sum_to_array(x, self.shape)

    def vjp(self, gy, y, x):
        # every summed element contributed with weight 1
        return _broadcast_to(gy, x.shape)


def sum_to(x: Operand, shape: tuple[int, ...]) -> Variable:
    """Sum ``x`` over broadcast axes so it has ``shape`` (the inverse of ``broadcast_to``)."""
    return SumTo(tuple(shape))(x)


def _sum_to(g, shape):
    # a gradient rule's sum_to, on arrays or Variables; most gradients need no summing at all
    if g.shape == shape:
        return g
    return sum_to(g, shape) if isinstance(g, Variable) else sum_to_array(g, shape)


_broadcast_to = dispatch(np.broadcast_to, broadcast_to)


def _is_basic(index: Any) -> bool:
    """Whether ``index`` uses basic indexing only (ints, slices, None, ...): no repeats possible."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice, type(None), type(Ellipsis))) for p in parts)


def _plain_index(index: Any) -> Any:
    """``index`` with Variables unwrapped and index arrays copied: the backward pass scatters
    to where the forward pass gathered from, even if the caller's array changes in between."""
    if isinstance(index, tuple):
        return tuple(_plain_index_part(p) for p in index)
    return _plain_index_part(index)


def _plain_index_part(part: Any) -> Any:
    if isinstance(part, Variable):
        part = part.data
    return part.copy() if isinstance(part, np.ndarray) else part


def scatter_add_array(gy: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` with ``gy`` added at ``index``; repeated indices accumulate."""
    gx = np.zeros(shape, dtype=gy.dtype)
    if _is_basic(index):
        gx[index] = gy
    else:
        np.add.at(gx, index, gy)
    return gx


class GetItem(Op):
    __slots__ = ("index",)
    label = "[ ]"
    grad_rules = ("g put back at the index",)

    def __init__(self, index: Any):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def vjp(self, gy, y, x):
        # each picked element passes its gradient back to where it came from
        return _scatter_add(gy, self.index, x.shape)


class ScatterAdd(Op):
    """The gradient of indexing: zeros of ``shape`` with the input added at ``index``."""

    __slots__ = ("index", "shape")
    label = "scatter_add"

    def __init__(self, index: Any, shape: tuple[int, ...]):
        self.index = index
        self.shape = shape

    def forward(self, gy):
        return scatter_add_array(gy, self.index, self.shape)

    def vjp(self, ggx, y, gy):
        # scatter's adjoint is gather
        return _get_item(ggx, self.index)


def get_item(x: Operand, index: Any) -> Variable:
    """``x[index]`` for basic and integer-array indexing, differentiable."""
    return GetItem(_plain_index(index))(x)


_get_item = dispatch(lambda a, index: a[index], get_item)
_scatter_add = dispatch(scatter_add_array, lambda g, index, shape: ScatterAdd(index, shape)(g))


def flatten(x: Operand) -> Variable:
    """``x`` reshaped to (batch, features): every axis after the first joined."""
    x_shape = x.shape if isinstance(x, (Variable, np.ndarray)) else ()
    return reshape(x, (x_shape[0], -1) if x_shape else (1, -1))
