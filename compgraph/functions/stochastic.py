"""Inverted dropout: zero random units while training, scale the rest so the mean is kept."""

from __future__ import annotations

import numpy as np

from compgraph.core import Op, Operand, Variable
from compgraph.functions.conv import shape_of

# The generator dropout draws from when no ``rng`` is given; reseed it with ``seed_dropout``.
_default_rng = np.random.default_rng()


def seed_dropout(seed: int | None) -> None:
    """Reseed the generator that ``dropout`` uses when no ``rng`` is passed (None: fresh entropy).

    >>> seed_dropout(0)
    >>> a = dropout(np.ones(4)).data
    >>> seed_dropout(0)
    >>> bool((dropout(np.ones(4)).data == a).all())
    True
    """
    global _default_rng
    _default_rng = np.random.default_rng(seed)


class Dropout(Op):
    __slots__ = ("mask",)

    def __init__(self, mask: np.ndarray):
        self.mask = mask  # 0 for a dropped unit, 1/(1 − p) for a kept one, in x's dtype

    def forward(self, x):
        return x * self.mask

    def vjp(self, gy, y, x):
        # y = x·mask:  ∂L/∂x = gy·mask, the same units dropped and the same scale
        return gy * self.mask


def dropout(
    x: Operand, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None
) -> Variable:
    """While training, each element of x zeroed with probability p and the rest divided by 1 − p.

    Not training, x is returned unchanged (as a Variable). The mask comes from ``rng`` (a
    ``np.random.Generator``), or from the module's generator: seed it with ``seed_dropout(n)``
    for repeatable runs. The mask is kept by the op, so backward drops the same units.

    >>> y = dropout(np.ones(6), p=0.5, rng=np.random.default_rng(0))
    >>> sorted(set(y.data.tolist()))
    [0.0, 2.0]
    """
    shape = shape_of(x, "x", "dropout")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"dropout: p must be a float in [0, 1], got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p is the probability of dropping a unit and must lie in [0, 1], got {p}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"dropout: rng must be a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}"
        )
    if not training or p == 0:
        return x if isinstance(x, Variable) else Variable(x, requires_grad=False)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float32
    u = (rng if rng is not None else _default_rng).random(shape, dtype=draw_dtype)
    scale = dtype.type(1 / (1 - p)) if p < 1 else dtype.type(0)
    mask = (u >= p) * scale  # P(u >= p) = 1 − p
    return Dropout(mask.astype(dtype, copy=False))(x)
