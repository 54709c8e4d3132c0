"""Weight initialisation: He for layers followed by ReLU, Xavier (Glorot) for the others.

Values are drawn in float64 and then cast, so a float32 and a float64 model made from the same
seed hold the same weights up to rounding.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from compgraph._checks import one_of

#: A generator, a seed for ``np.random.default_rng``, or None for fresh entropy.
RngLike: TypeAlias = "np.random.Generator | int | None"

INITS = ("he", "xavier")


def as_rng(rng: RngLike) -> np.random.Generator:
    """``rng`` itself if it is a Generator, else ``np.random.default_rng(rng)``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None and (not isinstance(rng, (int, np.integer)) or isinstance(rng, bool)):
        raise TypeError(
            f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
        )
    return np.random.default_rng(rng)


def he_normal(
    shape: tuple[int, ...], fan_in: int, rng: RngLike = None, dtype: Any = np.float32
) -> np.ndarray:
    """Normal values with std sqrt(2 / fan_in) (He et al. 2015), for layers followed by ReLU.

    >>> he_normal((784, 100), fan_in=784, rng=0).std().round(2)
    np.float32(0.05)
    """
    return (as_rng(rng).standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_normal(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RngLike = None, dtype: Any = np.float32
) -> np.ndarray:
    """Normal values with std sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    For layers followed by sigmoid, tanh or nothing (an output layer).
    """
    return (as_rng(rng).standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def initial_weight(
    init: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RngLike, dtype: Any
) -> np.ndarray:
    """The weight array for ``init`` ("he" or "xavier"), checking the name and the dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters must be floating-point (float32 or float64), got dtype {dtype}")
    one_of("nn.init", "init", init, INITS)
    if init == "he":
        return he_normal(shape, fan_in, rng, dtype)
    return xavier_normal(shape, fan_in, fan_out, rng, dtype)
