"""Transformer layers: LayerNorm, GELU, CausalSelfAttention, FeedForward, TransformerBlock.

LayerNorm and GELU are PyTorch's modules; CausalSelfAttention and TransformerBlock follow
nanoGPT's model (Karpathy, github.com/karpathy/nanoGPT, model.py), which CharGPT
(compgraph.nn.language) assembles: one ``c_attn`` Linear makes the queries, keys and values
of every head, and blocks are pre-norm (``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``).

The layers' parameter names follow nanoGPT's (``h.0.attn.c_attn.W``, ``ln_f.weight``) with
compgraph's Linear and Embedding layouts: a Linear's ``W`` is (in, out), the transpose of
PyTorch's ``weight``, and an Embedding's table is ``W``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph._checks import one_of, positive_int, positive_number
from compgraph.core import Operand, Variable
from compgraph.nn.init import RngLike, as_rng
from compgraph.nn.layers import Dropout, Linear, _layer_input
from compgraph.nn.module import Module, Parameter

_GELU_KINDS = ("none", "tanh")


def _dropout_p(where: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: dropout must be a float in [0, 1), got {type(p).__name__} {p!r}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{where}: dropout must lie in [0, 1), got {p}")
    return float(p)


class LayerNorm(Module):
    """Normalise over the last axes, ``normalized_shape``, then scale and shift (as torch.nn.LayerNorm).

    y = (x − mean) / sqrt(var + eps) · weight + bias, the mean and the (biased) variance taken
    over the trailing axes given by ``normalized_shape`` (an int for the last axis alone).
    ``weight`` starts at one and ``bias`` at zero; ``elementwise_affine=False`` keeps neither,
    ``bias=False`` no bias. With parameters, ``x`` must have their dtype, as for ``Linear``.

    >>> ln = LayerNorm(4)
    >>> y = ln(np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32))
    >>> np.round(y.data, 3)
    array([[-1.342, -0.447,  0.447,  1.342]], dtype=float32)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ):
        dims = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        if not isinstance(dims, (tuple, list)) or not dims:
            raise TypeError(
                "LayerNorm: normalized_shape must be an int or a non-empty tuple of ints, "
                f"got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape", d) for d in dims)
        self.eps = positive_number("LayerNorm", "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        affine, shape = self.elementwise_affine, self.normalized_shape
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(shape, dtype=dtype)) if affine and bias else None

    def forward(self, x: Operand) -> Variable:
        if self.weight is not None:
            x = _layer_input(self, x, self.weight.dtype)
        elif not isinstance(x, (np.ndarray, Variable)):
            x = np.asarray(x, dtype=np.float32)
        shape, dims = tuple(x.shape), self.normalized_shape
        if shape[len(shape) - len(dims) :] != dims or len(shape) < len(dims):
            raise ValueError(
                f"{self._describe()}: expected input whose last axes are {dims}, got shape {shape}"
            )
        if len(dims) == 1:
            return F.layer_norm(x, self.weight, self.bias, self.eps)
        # several normalised axes: one flat axis for F.layer_norm, then the shape back
        flat = shape[: len(shape) - len(dims)] + (math.prod(dims),)
        weight = None if self.weight is None else self.weight.reshape(-1)
        bias = None if self.bias is None else self.bias.reshape(-1)
        return F.layer_norm(x.reshape(flat), weight, bias, self.eps).reshape(shape)

    def extra_repr(self) -> str:
        dims = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        affine = "" if self.elementwise_affine else ", elementwise_affine=False"
        bias = ", bias=False" if self.elementwise_affine and self.bias is None else ""
        return f"{dims}, eps={self.eps}{affine}{bias}"


class GELU(Module):
    """x·Φ(x), elementwise (``approximate="tanh"``: the tanh approximation), as torch.nn.GELU."""

    def __init__(self, approximate: str = "none"):
        self.approximate = one_of("GELU", "approximate", approximate, _GELU_KINDS)

    def forward(self, x: Operand) -> Variable:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class CausalSelfAttention(Module):
    """Multi-head self-attention in which position t sees positions 0..t only (nanoGPT's layout).

    x (B, T, n_embd) -> (B, T, n_embd). ``c_attn`` (n_embd -> 3·n_embd) gives the queries,
    keys and values, in that order along its output, each split into ``n_head`` heads of
    n_embd/n_head; the heads' outputs, side by side, go through ``c_proj``. ``dropout`` drops
    attention weights and the output while training. Weights: Linear's (He) here; CharGPT
    re-draws them as nanoGPT does.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        bias: bool = True,
        dropout: float = 0.0,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        n_embd = positive_int("CausalSelfAttention", "n_embd", n_embd)
        n_head = positive_int("CausalSelfAttention", "n_head", n_head)
        if n_embd % n_head:
            raise ValueError(
                f"CausalSelfAttention: n_embd ({n_embd}) must be a multiple of n_head ({n_head})"
            )
        self.n_embd, self.n_head = n_embd, n_head
        self.dropout = _dropout_p("CausalSelfAttention", dropout)
        rng = as_rng(rng)
        self.c_attn = Linear(n_embd, 3 * n_embd, bias, dtype=dtype, rng=rng)
        self.c_proj = Linear(n_embd, n_embd, bias, dtype=dtype, rng=rng)
        self.attn_dropout = Dropout(self.dropout, rng=rng)
        self.resid_dropout = Dropout(self.dropout, rng=rng)

    def forward(self, x: Operand) -> Variable:
        x = _layer_input(self, x, self.c_attn.W.dtype)
        if x.ndim != 3 or x.shape[2] != self.n_embd:
            raise ValueError(
                f"{self._describe()}: expected input of shape (B, T, {self.n_embd}), got {x.shape}"
            )
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = (
            t.reshape(B, T, self.n_head, hs).transpose(0, 2, 1, 3)  # (B, n_head, T, hs)
            for t in F.split(self.c_attn(x.reshape(B * T, C)), 3, axis=1)
        )
        if self.training and self.dropout > 0:
            y = self._attend_with_dropout(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(0, 2, 1, 3).reshape(B * T, C)  # the heads side by side again
        return self.resid_dropout(self.c_proj(y)).reshape(B, T, C)

    def _attend_with_dropout(self, q: Variable, k: Variable, v: Variable) -> Variable:
        """softmax(q·kᵀ/sqrt(hs) + causal mask), with dropout on the weights, times v."""
        T, hs = q.shape[-2], q.shape[-1]
        # −inf above the diagonal: those weights come out 0 and pass no gradient
        mask = np.triu(np.full((T, T), -np.inf, dtype=q.dtype), k=1)
        att = F.matmul(q, k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(hs)) + mask
        return F.matmul(self.attn_dropout(F.softmax(att, axis=-1)), v)

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, dropout={self.dropout}"


class FeedForward(Module):
    """A transformer block's MLP: ``c_fc`` (n_embd -> 4·n_embd), GELU, ``c_proj`` back, dropout."""

    def __init__(
        self,
        n_embd: int,
        bias: bool = True,
        dropout: float = 0.0,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        rng = as_rng(rng)
        self.c_fc = Linear(n_embd, 4 * n_embd, bias, dtype=dtype, rng=rng)
        self.gelu = GELU()
        self.c_proj = Linear(4 * n_embd, n_embd, bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(_dropout_p("FeedForward", dropout), rng=rng)

    def forward(self, x: Operand) -> Variable:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class TransformerBlock(Module):
    """A pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); (B, T, C) -> (B, T, C)."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        bias: bool = True,
        dropout: float = 0.0,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        rng = as_rng(rng)
        self.ln_1 = LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.attn = CausalSelfAttention(n_embd, n_head, bias, dropout, dtype=dtype, rng=rng)
        self.ln_2 = LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.mlp = FeedForward(n_embd, bias, dropout, dtype=dtype, rng=rng)

    def forward(self, x: Operand) -> Variable:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))
