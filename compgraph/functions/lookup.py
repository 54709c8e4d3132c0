"""Integer ids to vectors: embedding (rows of a table, differentiable) and one_hot (a constant)."""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph.core import Operand, Variable, as_array
from compgraph.functions.conv import shape_of
from compgraph.functions.shape import get_item


def _ids(t: Any, name: str, op: str, bound: int, bound_name: str) -> np.ndarray:
    shape_of(t, name, op)
    t = as_array(t)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: {name} must hold integers, got {t.dtype}; convert with {name}.astype(np.int64)"
        )
    if t.size and (t.min() < 0 or t.max() >= bound):
        raise ValueError(
            f"{op}: {name} must lie in [0, {bound}) ({bound_name}), got values from {t.min()} to {t.max()}"
        )
    return t


def embedding(ids: Operand, W: Operand) -> Variable:
    """The rows of W (V, D) picked by integer ``ids`` of any shape: (..., D).

    The gradient adds gy into W's rows, so an id that appears several times accumulates.

    >>> embedding(np.array([[2, 0]]), np.arange(6.0).reshape(3, 2)).data
    array([[[4., 5.],
            [0., 1.]]])
    """
    W_shape = shape_of(W, "W", "embedding")
    if len(W_shape) != 2:
        raise ValueError(f"embedding: W must be a (vocabulary, dim) table, got shape {W_shape}")
    t = _ids(ids, "ids", "embedding", W_shape[0], f"W has {W_shape[0]} rows")
    # indexing is the op: GetItem's gradient scatters with np.add.at, so repeated ids add up
    return get_item(W, t)


def one_hot(t: Operand, num_classes: int, dtype: Any = np.float32) -> Variable:
    """Integer labels t (any shape) as one-hot vectors (..., num_classes), a constant Variable.

    >>> one_hot(np.array([2, 0]), 3).data
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be at least 1, got {num_classes}")
    labels = _ids(t, "t", "one_hot", int(num_classes), f"num_classes is {num_classes}")
    y = np.zeros(labels.shape + (int(num_classes),), dtype=dtype)
    np.put_along_axis(y, labels[..., None], 1, axis=-1)
    return Variable(y, requires_grad=False)
