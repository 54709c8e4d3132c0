"""Ops that join arrays and take them apart: concatenate, stack, split; expand_dims, squeeze."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compgraph.core import Function, Op, Operand, Variable
from compgraph.functions.conv import shape_of
from compgraph.functions.shape import reshape


def _axis(op: str, axis: Any, ndim: int, what: str) -> int:
    """``axis`` as a non-negative int below ``ndim``; a clear error for anything else."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{op}: axis {axis} is out of range for {what} ({ndim} axes); use -{ndim} to {ndim - 1}"
        )
    return int(axis) % ndim


def _shapes(op: str, xs: Sequence[Operand]) -> list[tuple[int, ...]]:
    if isinstance(xs, (Variable, np.ndarray)) or not isinstance(xs, Sequence):
        raise TypeError(
            f"{op}: xs must be a list or tuple of arrays, got {type(xs).__name__}; write {op}([a, b])"
        )
    if not xs:
        raise ValueError(f"{op}: xs is empty; it needs at least one array")
    return [shape_of(x, f"xs[{i}]", op) for i, x in enumerate(xs)]


def _listed(shapes: Sequence[tuple[int, ...]]) -> str:
    return ", ".join(str(s) for s in shapes)


class Concatenate(Op):
    __slots__ = ("axis",)
    label = "concatenate"

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def vjp(self, gy, y, *xs):
        # each input was copied into one slice of the output: it gets that slice of gy back
        lead = (slice(None),) * self.axis
        gxs, start = [], 0
        for i, x in enumerate(xs):
            stop = start + x.shape[self.axis]
            gxs.append(gy[lead + (slice(start, stop),)] if self.needs_grad(i) else None)
            start = stop
        return tuple(gxs)

    @property
    def grad_rules(self):
        return ("g's slice along the axis",) * len(self.inputs)


def concatenate(xs: Sequence[Operand], axis: int = 0) -> Variable:
    """The arrays ``xs`` joined along an existing ``axis``, as ``np.concatenate``.

    Shapes must match except along ``axis``: (2, 3) and (4, 3) give (6, 3) on axis 0.

    >>> concatenate([np.zeros((1, 2)), np.ones((2, 2))]).shape
    (3, 2)
    """
    shapes = _shapes("concatenate", xs)
    ndim = len(shapes[0])
    if ndim == 0 or any(len(s) != ndim for s in shapes):
        raise ValueError(
            f"concatenate: the arrays must have the same number of axes, at least one, got shapes "
            f"{_listed(shapes)}; use stack to join them along a new axis"
        )
    a = _axis("concatenate", axis, ndim, f"shapes {_listed(shapes)}")
    rest = {s[:a] + s[a + 1 :] for s in shapes}
    if len(rest) > 1:
        raise ValueError(
            f"concatenate: shapes {_listed(shapes)} differ outside axis {axis}; every axis but the "
            "one joined along must match"
        )
    return Concatenate(a)(*xs)


class Stack(Op):
    __slots__ = ("axis",)
    label = "stack"

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        return np.stack(xs, axis=self.axis)

    def vjp(self, gy, y, *xs):
        # input i is entry i of the new axis: it gets that entry of gy back
        lead = (slice(None),) * self.axis
        return tuple(gy[lead + (i,)] if self.needs_grad(i) else None for i in range(len(xs)))

    @property
    def grad_rules(self):
        return tuple(f"g[{i}] along the new axis" for i in range(len(self.inputs)))


def stack(xs: Sequence[Operand], axis: int = 0) -> Variable:
    """The arrays ``xs`` (all of one shape) joined along a new ``axis``, as ``np.stack``.

    >>> stack([np.zeros(3), np.ones(3)], axis=1).shape
    (3, 2)
    """
    shapes = _shapes("stack", xs)
    if len(set(shapes)) > 1:
        raise ValueError(
            f"stack: the arrays must all have one shape, got {_listed(shapes)}; use concatenate to "
            "join arrays of different lengths along an existing axis"
        )
    ndim = len(shapes[0]) + 1
    return Stack(_axis("stack", axis, ndim, f"the result of stacking shape {shapes[0]}"))(*xs)


class Split(Function):
    """One input, several outputs: its backward concatenates the outputs' gradients (zeros for
    a piece that got none), one copy of the input's size. One op per piece would make each
    piece scatter into zeros of the whole input: k pieces, k full-size arrays."""

    __slots__ = ("indices", "axis")
    label = "split"
    grad_rules = ("the pieces' gradients concatenated",)

    def __init__(self, indices: list[int], axis: int):
        self.indices = indices
        self.axis = axis

    def forward(self, x):
        return tuple(np.split(x, self.indices, axis=self.axis))

    def backward(self, *gys):
        # each piece is a slice of x: their gradients, side by side, are x's
        return concatenate(gys, axis=self.axis)


def split(x: Operand, indices_or_sections: int | Sequence[int], axis: int = 0) -> tuple[Variable, ...]:
    """``x`` cut along ``axis`` into a tuple of Variables, as ``np.split``: an int n cuts it
    into n equal pieces, a list of indices cuts it before each index.

    >>> [p.shape for p in split(np.zeros((5, 2)), [1, 3])]
    [(1, 2), (2, 2), (2, 2)]
    """
    shape = shape_of(x, "x", "split")
    if not shape:
        raise ValueError("split: x is 0-d (shape ()); only an array with at least one axis can be split")
    a = _axis("split", axis, len(shape), f"shape {shape}")
    n = shape[a]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections < 1 or n % sections:
            raise ValueError(
                f"split: axis {axis} of shape {shape} has length {n}, which {sections} equal pieces "
                "cannot divide; pass the indices to cut at instead, e.g. "
                f"split(x, [{max(n // 2, 1)}], axis={axis})"
            )
        indices = [n // sections * k for k in range(1, sections)]
    else:
        indices = [int(i) for i in indices_or_sections]
    return Split(indices, a)(x)


def _axes(op: str, axis: int | Sequence[int], ndim: int, what: str) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normal = tuple(_axis(op, a, ndim, what) for a in axes)
    if len(set(normal)) < len(normal):
        raise ValueError(f"{op}: axis {tuple(axes)} names an axis twice")
    return normal


def expand_dims(x: Operand, axis: int | Sequence[int]) -> Variable:
    """``x`` with a new length-1 axis at ``axis`` (an int or a tuple), as ``np.expand_dims``.

    >>> expand_dims(np.zeros((2, 3)), 1).shape
    (2, 1, 3)
    """
    shape = shape_of(x, "x", "expand_dims")
    n_new = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
    ndim = len(shape) + n_new
    new = _axes("expand_dims", axis, ndim, f"the result of adding {n_new} axis(es) to shape {shape}")
    rest = iter(shape)
    return reshape(x, tuple(1 if i in new else next(rest) for i in range(ndim)))


def squeeze(x: Operand, axis: int | Sequence[int] | None = None) -> Variable:
    """``x`` without its length-1 axes (all of them, or those in ``axis``), as ``np.squeeze``.

    Naming an axis whose length is not 1 is an error, as in NumPy (PyTorch leaves it).

    >>> squeeze(np.zeros((2, 1, 3, 1))).shape
    (2, 3)
    """
    shape = shape_of(x, "x", "squeeze")
    if axis is None:
        drop = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        drop = _axes("squeeze", axis, len(shape), f"shape {shape}")
        wide = [a for a in drop if shape[a] != 1]
        if wide:
            raise ValueError(
                f"squeeze: axis {wide[0]} of shape {shape} has length {shape[wide[0]]}, not 1; "
                "only length-1 axes can be squeezed"
            )
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in drop))
