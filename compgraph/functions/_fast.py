"""Reductions the ops need, computed faster than ``ndarray.sum``/``max`` on the shapes they meet.

NumPy reduces short rows (a softmax over 10 classes, a bias over a batch) with a loop per row
or column, which costs several times more than the arithmetic. Sums of float32/float64 data go
to BLAS instead, as a product with a vector of ones; a row maximum is found with ``argmax``,
whose loop is fast. Results equal NumPy's up to rounding (sums may add in another order).
Products are ``np.dot``: the same BLAS call as ``@`` on 2-D operands, without the overhead of
the generalized ufunc (a third of a small product's time).
"""

from __future__ import annotations

import numpy as np

_BLAS_TYPES = "fd"  # float32, float64
_ones_cache: dict[tuple[int, np.dtype, bool], np.ndarray] = {}


def _ones(n: int, dtype: np.dtype, column: bool) -> np.ndarray:
    """A read-only vector of ``n`` ones: shape (n, 1) if ``column``, else (n,)."""
    ones = _ones_cache.get((n, dtype, column))
    if ones is None:
        if len(_ones_cache) >= 256:
            _ones_cache.clear()
        ones = np.ones((n, 1) if column else n, dtype)
        ones.flags.writeable = False
        _ones_cache[n, dtype, column] = ones
    return ones


def sum_leading(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=0)``: a bias's gradient summed over the batch."""
    if x.ndim == 2 and x.dtype.char in _BLAS_TYPES:  # (batch, features): one BLAS call
        # the cache looked up here directly: this runs for every bias in every backward pass
        ones = _ones_cache.get((len(x), x.dtype, False))
        return np.dot(ones if ones is not None else _ones(len(x), x.dtype, False), x)
    return np.add.reduce(x, 0)


def _along_last(x: np.ndarray, axis: int) -> bool:
    return x.ndim > 0 and (axis == -1 or axis == x.ndim - 1) and x.size > 0


def max_keepdims(x: np.ndarray, axis: int) -> np.ndarray:
    """``x.max(axis, keepdims=True)``; along the last axis found with argmax (which also
    returns NaN for a row holding one, as max does)."""
    if not _along_last(x, axis):
        return x.max(axis=axis, keepdims=True)
    rows = x.reshape(-1, x.shape[-1])
    m = rows[np.arange(len(rows)), rows.argmax(axis=1)]
    return m.reshape(x.shape[:-1] + (1,))


def sum_keepdims(x: np.ndarray, axis: int) -> np.ndarray:
    """``x.sum(axis, keepdims=True)``; along the last axis of float32/64 data with BLAS."""
    if not (_along_last(x, axis) and x.dtype.char in _BLAS_TYPES):
        return x.sum(axis=axis, keepdims=True)
    n = x.shape[-1]
    return np.dot(x.reshape(-1, n), _ones(n, x.dtype, True)).reshape(x.shape[:-1] + (1,))
