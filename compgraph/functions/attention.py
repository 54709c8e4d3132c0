"""Scaled dot-product attention, one op, as torch.nn.functional.scaled_dot_product_attention.

softmax(Q·Kᵀ/√d + mask)·V over the last two axes, batched over the leading ones. The forward
pass keeps the attention probabilities P (..., T, S) and the backward pass is the closed form
(FlashAttention's): four batched products and one row sum, no recomputed softmax.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from compgraph.core import Op, Operand, Variable
from compgraph.functions._fast import max_keepdims, sum_keepdims
from compgraph.functions.activation import softmax
from compgraph.functions.matrix import _mT, matmul


class ScaledDotProductAttention(Op):
    __slots__ = ("bias", "live", "scale", "p")
    label = "attention"
    grad_rules = ("dS·{1}/√d", "dSᵀ·{0}/√d", "Pᵀ·g")

    def __init__(self, bias: np.ndarray | None, live: np.ndarray | None, scale: float):
        # bias: added to the scores (0 or −inf for a bool mask); live: 1 for the query rows that
        # attend to some key, 0 for those that attend to none (their bias row is zeroed so that
        # the softmax stays finite, and their output and gradients are 0, as PyTorch's)
        self.bias, self.live, self.scale = bias, live, scale

    def forward(self, q, k, v):
        # the softmax in place on the new score array s, the largest here (as softmax_array)
        p = _times_mT(q, k)
        p *= self.scale
        if self.bias is not None:
            p += self.bias  # broadcasts to the scores' shape: checked by the function
        p -= max_keepdims(p, -1)
        np.exp(p, out=p)
        p *= 1 / sum_keepdims(p, -1)
        if self.live is not None:
            p *= self.live
        self.p = p  # kept: the backward pass needs P and nothing else of the forward's
        return p @ v

    def vjp(self, gy, y, q, k, v):
        # S = Q·Kᵀ/√d, P = softmax(S), O = P·V:  dV = Pᵀ·dO,  dP = dO·Vᵀ,
        # dS = P∘(dP − rowsum(dP∘P)),  dQ = dS·K/√d,  dK = dSᵀ·Q/√d
        if isinstance(gy, Variable):
            return self._vjp_recorded(gy, q, k, v)
        p = self.p
        gv = _mT(p) @ gy if self.needs_grad(2) else None
        gq = gk = None
        if self.needs_grad(0) or self.needs_grad(1):
            ds = _times_mT(gy, v)
            # rowsum(dP∘P) = rowsum(dO∘O), since O = P·V: a (T, dv) product instead of a (T, S) one
            ds -= np.einsum("...i,...i->...", gy, y)[..., None]
            ds *= p
            ds *= self.scale
            gq = ds @ k if self.needs_grad(0) else None
            gk = _mT(ds) @ q if self.needs_grad(1) else None
        return gq, gk, gv  # batch axes broadcast in the forward pass are summed back by the engine

    def _vjp_recorded(self, gy, q, k, v):
        # the same rule on Variables, with P recomputed from Q and K, so that it differentiates again
        s = matmul(q, _mT(k)) * self.scale
        if self.bias is not None:
            s = s + self.bias
        p = softmax(s, -1)
        if self.live is not None:
            p = p * self.live
        gv = matmul(_mT(p), gy) if self.needs_grad(2) else None
        gq = gk = None
        if self.needs_grad(0) or self.needs_grad(1):
            dp = matmul(gy, _mT(v))
            ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * self.scale
            gq = matmul(ds, k) if self.needs_grad(0) else None
            gk = matmul(_mT(ds), q) if self.needs_grad(1) else None
        return gq, gk, gv


def _times_mT(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·bᵀ over the last two axes. NumPy's stacked matmul takes a transposed right operand
    some 1.7x slower than a contiguous one (seen at (12, 4, 64, 32)): copying it first is faster."""
    if b.ndim == 2:
        return np.dot(a, b.T) if a.ndim == 2 else a @ b.T
    return a @ np.ascontiguousarray(_mT(b))


@functools.lru_cache(maxsize=16)
def _causal_bias(t: int, s: int, dtype: np.dtype) -> np.ndarray:
    """(t, s): 0 where key j ≤ query i (the lower triangle, as torch.tril), −inf above; read-only."""
    bias = np.triu(np.full((t, s), -np.inf, dtype), 1)
    bias.flags.writeable = False
    return bias


def _mask_bias(mask: Any, scores: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """The additive bias and the live rows (None when every row attends to some key) of a mask."""
    fn = "scaled_dot_product_attention"
    if isinstance(mask, Variable):
        if mask.requires_grad:
            raise TypeError(
                f"{fn}: mask gets no gradient here, but a mask of shape {mask.shape} that requires one "
                "was given; pass mask.data, or add a learnable bias to the scores with matmul and softmax"
            )
        mask = mask.data
    mask = np.asarray(mask)
    if mask.dtype.kind not in "bf":
        raise TypeError(
            f"{fn}: mask must be bool (True: attend) or float (added to the scores), got {mask.dtype}; "
            "for 0/1 integers pass mask.astype(bool)"
        )
    try:
        fits = np.broadcast_shapes(mask.shape, scores) == scores
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{fn}: mask of shape {mask.shape} does not broadcast to the scores' shape {scores} "
            "(..., T, S): give it shape (T, S), or one that broadcasts to the batch's"
        )
    bias = np.where(mask, 0, -np.inf).astype(dtype) if mask.dtype == bool else mask.astype(dtype)
    live = ~np.isneginf(bias).all(axis=-1, keepdims=True)
    if live.all():
        return bias, None
    return np.where(live, bias, 0).astype(dtype, copy=False), live.astype(dtype)


def _scores_shape(q: Any, k: Any, v: Any) -> tuple[int, ...]:
    """The scores' shape (..., T, S), batch axes broadcast; a ValueError naming all three otherwise."""
    fn = "scaled_dot_product_attention"
    for name, a in (("q", q), ("k", k), ("v", v)):
        if not isinstance(a, (Variable, np.ndarray)):
            raise TypeError(f"{fn}: {name} must be a Variable or a numpy.ndarray, got {type(a).__name__}")
    sq, sk, sv = q.shape, k.shape, v.shape
    given = f"got q {sq}, k {sk}, v {sv}"
    if min(len(sq), len(sk), len(sv)) < 2:
        raise ValueError(f"{fn}: q, k and v must be (..., T, d), (..., S, d) and (..., S, dv); {given}")
    if sq[-1] != sk[-1] or sk[-2] != sv[-2]:
        raise ValueError(
            f"{fn}: q (..., T, d) and k (..., S, d) must share d, and k and v (..., S, dv) the key "
            f"count S; {given}"
        )
    try:
        batch = np.broadcast_shapes(sq[:-2], sk[:-2], sv[:-2])
    except ValueError:
        raise ValueError(f"{fn}: the batch axes (all but the last two) do not broadcast; {given}") from None
    return batch + (sq[-2], sk[-2])


def scaled_dot_product_attention(
    q: Operand, k: Operand, v: Operand, mask: Any = None, is_causal: bool = False
) -> Variable:
    """softmax(q·kᵀ/√d + mask)·v: q (..., T, d), k (..., S, d), v (..., S, dv) give (..., T, dv).

    As ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
    is_causal=is_causal)``: a bool mask says which keys each query attends to (True: attend), a
    float one is added to the scores; either broadcasts to (..., T, S) and gets no gradient.
    ``is_causal`` lets query i see keys 0…i (torch.tril's alignment when S ≠ T). A query row
    that attends to no key gives 0, with 0 gradients. Leading axes broadcast.

    >>> q = np.zeros((2, 4))
    >>> scaled_dot_product_attention(q, q, np.array([[1.0], [3.0]]), is_causal=True).data
    array([[1.],
           [2.]])
    """
    scores = _scores_shape(q, k, v)
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    bias = live = None
    if is_causal:
        if mask is not None:
            raise ValueError(
                "scaled_dot_product_attention: give mask or is_causal=True, not both "
                "(as PyTorch); for both, pass mask & np.tri(T, S, dtype=bool)"
            )
        bias = _causal_bias(scores[-2], scores[-1], dtype)  # every row keeps key 0: none is dead
    elif mask is not None:
        bias, live = _mask_bias(mask, scores, dtype)
    return ScaledDotProductAttention(bias, live, 1 / math.sqrt(q.shape[-1]))(q, k, v)
