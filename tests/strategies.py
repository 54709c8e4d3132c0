"""Hypothesis strategies shared by the op tests: float64 arrays with broadcasting shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def arrays(shape, low=-2.0, high=2.0, avoid=None, gap=0.1):
    """float64 arrays of ``shape`` in [low, high]; with ``avoid``, no element within ``gap`` of it."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if avoid is not None:
        elements = elements.filter(lambda v: abs(v - avoid) > gap)
    return hnp.arrays(np.float64, shape, elements=elements)


def shapes(min_dims=0, max_dims=3, max_side=3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def broadcast_pair(min_dims=0, max_dims=3):
    """Two shapes that broadcast together, like (3, 1) and (2, 1, 4)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, max_side=3
    ).map(lambda r: r.input_shapes)


def distinct(shape, low=-2.0, high=2.0):
    """Arrays whose elements differ pairwise by at least 0.05 (no ties for max/min)."""
    n = int(np.prod(shape))
    return st.integers(0, 2**32 - 1).map(
        lambda seed: (
            np.random.default_rng(seed).permutation(np.linspace(low, high, max(n, 1)))[:n].reshape(shape)
        )
    )
