"""Transformer layers and two character-level language models: CharGPT and CharLSTM.

LayerNorm and GELU are PyTorch's modules; CausalSelfAttention, TransformerBlock and CharGPT
follow nanoGPT's model (Karpathy, github.com/karpathy/nanoGPT, model.py): one ``c_attn``
Linear makes the queries, keys and values of every head, blocks are pre-norm
(``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``), and the output head reuses the token
embedding's table (``logits = x @ wte.Wᵀ``), so that table is one Parameter, trained and saved
once. Weights start as nanoGPT's: normal with std 0.02, the two residual projections
(``c_proj``) with std 0.02/sqrt(2·n_layer), biases zero, layer norms one and zero.

The layers' parameter names follow nanoGPT's (``h.0.attn.c_attn.W``, ``ln_f.weight``) with
compgraph's Linear and Embedding layouts: a Linear's ``W`` is (in, out), the transpose of
PyTorch's ``weight``, and an Embedding's table is ``W``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph._checks import non_negative_int, one_of, positive_int, positive_number
from compgraph.core import Operand, Variable, no_grad
from compgraph.nn.init import RngLike, as_rng
from compgraph.nn.layers import Dropout, Embedding, Linear, ModuleList, _layer_input
from compgraph.nn.module import Module, Parameter
from compgraph.nn.recurrent import LSTM

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


def _rows(x: Operand) -> Operand:
    """``x`` (..., C) as (rows, C): a Linear on 2-D input is one BLAS product (np.dot), which
    is faster than NumPy's batched matmul over a (B, T, C) array, forward and backward."""
    if not isinstance(x, (np.ndarray, Variable)) or x.ndim == 2:
        return x
    return x.reshape(-1, x.shape[-1]) if x.ndim else x


def _nanogpt_init(model: Module, n_layer: int, rng: np.random.Generator) -> None:
    """nanoGPT's initial weights: Linear and Embedding tables normal(0, 0.02), biases zero, and
    every ``c_proj`` (the projections into the residual stream) normal(0, 0.02/sqrt(2·n_layer))."""
    for name, module in model.named_modules():
        if isinstance(module, (Linear, Embedding)):
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj") else 0.02
            W = module.W
            # drawn in float64 then cast, as compgraph.nn.init does
            W.data = (rng.standard_normal(W.shape) * std).astype(W.dtype)
        if isinstance(module, Linear) and module.b is not None:
            module.b.data = np.zeros_like(module.b.data)


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
        shape = np.shape(x)  # lists too: c_fc converts them
        x = _rows(x)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x)))).reshape(shape[:-1] + (-1,))


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


def _check_ids(where: str, idx: Any) -> np.ndarray:
    """``idx`` as a (B, T) integer array, T >= 1."""
    idx = idx.data if isinstance(idx, Variable) else np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"{where}: idx must hold integer token ids, got {idx.dtype}; convert with idx.astype(np.int64)"
        )
    if idx.ndim != 2 or idx.shape[1] == 0:
        raise ValueError(f"{where}: idx must be (B, T) token ids with T >= 1, got shape {idx.shape}")
    return idx


def _sample(
    logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator
) -> np.ndarray:
    """One token id per row of ``logits`` (B, V), drawn from softmax(logits / temperature),
    restricted to the ``top_k`` largest logits when given (ties with the k-th are kept)."""
    logits = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < logits.shape[1]:
        kth = np.partition(logits, -top_k, axis=1)[:, -top_k, None]
        logits = np.where(logits < kth, -np.inf, logits)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    # inverse CDF: u in [0, total) falls in exactly one token's interval of positive width;
    # the bound keeps rounding in r·total from reaching the end
    total = cdf[:, -1:]
    u = np.minimum(rng.random((len(cdf), 1)) * total, np.nextafter(total, 0))
    return (cdf <= u).sum(axis=1).astype(np.int64)


def _generation_args(
    where: str, max_new_tokens: int, temperature: float, top_k: int | None
) -> tuple[int, float, int | None]:
    max_new_tokens = non_negative_int(where, "max_new_tokens", max_new_tokens)
    temperature = positive_number(where, "temperature", temperature)
    top_k = None if top_k is None else positive_int(where, "top_k", top_k)
    return max_new_tokens, temperature, top_k


class CharGPT(Module):
    """A GPT over characters, nanoGPT's model: token ids (B, T) -> next-token logits (B, T, V).

    Token (``wte``) and position (``wpe``) embeddings, ``n_layer`` pre-norm blocks in ``h``,
    a final layer norm ``ln_f`` and an output head tied to ``wte`` (logits = x @ wte.Wᵀ).
    T may not exceed ``block_size``. ``bias`` puts biases in every Linear and LayerNorm;
    the default, False, is the setting nanoGPT's train.py uses for its character-level runs.
    The defaults are nanoGPT's CPU configuration for Tiny Shakespeare (about 0.80M parameters
    for a 65-character vocabulary).

    >>> gpt = CharGPT(65, rng=0)
    >>> gpt(np.zeros((2, 8), dtype=np.int64)).shape
    (2, 8, 65)
    >>> sum(p.size for p in gpt.parameters())
    804096
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int = 64,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = False,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        self.vocab_size = positive_int("CharGPT", "vocab_size", vocab_size)
        self.block_size = positive_int("CharGPT", "block_size", block_size)
        self.n_layer = positive_int("CharGPT", "n_layer", n_layer)
        self.n_head, self.n_embd = n_head, n_embd
        self.dropout, self.bias = _dropout_p("CharGPT", dropout), bool(bias)
        rng = as_rng(rng)
        self.wte = Embedding(self.vocab_size, n_embd, dtype=dtype, rng=rng)
        self.wpe = Embedding(self.block_size, n_embd, dtype=dtype, rng=rng)
        self.drop = Dropout(self.dropout, rng=rng)
        self.h = ModuleList(
            TransformerBlock(n_embd, n_head, self.bias, self.dropout, dtype=dtype, rng=rng)
            for _ in range(self.n_layer)
        )
        self.ln_f = LayerNorm(n_embd, bias=self.bias, dtype=dtype)
        _nanogpt_init(self, self.n_layer, rng)

    def forward(self, idx: Operand) -> Variable:
        """Logits (B, T, vocab_size) for token ids ``idx`` (B, T), T <= block_size."""
        return self._head(self._features(idx))

    def _features(self, idx: Operand) -> Variable:
        """The final layer norm's output (B, T, n_embd)."""
        idx = _check_ids("CharGPT", idx)
        length = idx.shape[1]
        if length > self.block_size:
            raise ValueError(
                f"CharGPT: a sequence of {length} tokens is longer than block_size {self.block_size}; "
                f"pass at most the last {self.block_size} (idx[:, -{self.block_size}:])"
            )
        x = self.drop(self.wte(idx) + self.wpe(np.arange(length)))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def _head(self, x: Variable) -> Variable:
        # the tied output head: the embedding table, transposed, is the projection
        return F.matmul(_rows(x), self.wte.W.T).reshape(x.shape[:-1] + (-1,))

    def generate(
        self,
        idx: Operand,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: RngLike = None,
    ) -> np.ndarray:
        """``idx`` (B, T) followed by ``max_new_tokens`` sampled ids: (B, T + max_new_tokens).

        Each new token is drawn from softmax(logits / temperature) of the last position,
        restricted to the ``top_k`` most likely when given, with the context cropped to the
        last ``block_size`` tokens. No graph is recorded. Dropout stays as the mode says:
        call ``eval()`` first. Same ``rng`` seed, same tokens.

        >>> CharGPT(65, n_layer=1, rng=0).generate(np.zeros((1, 1), dtype=np.int64), 5, rng=0).shape
        (1, 6)
        """
        idx = _check_ids("CharGPT.generate", idx).astype(np.int64)
        max_new_tokens, temperature, top_k = _generation_args(
            "CharGPT.generate", max_new_tokens, temperature, top_k
        )
        rng = as_rng(rng)
        with no_grad():
            for _ in range(max_new_tokens):
                x = self._features(idx[:, -self.block_size :])
                logits = self._head(x[:, -1]).data  # only the last position is sampled from
                idx = np.concatenate([idx, _sample(logits, temperature, top_k, rng)[:, None]], axis=1)
        return idx

    def extra_repr(self) -> str:
        return (
            f"vocab_size={self.vocab_size}, block_size={self.block_size}, n_layer={self.n_layer}, "
            f"n_head={self.n_head}, n_embd={self.n_embd}, dropout={self.dropout}, bias={self.bias}"
        )


class CharLSTM(Module):
    """A character-level LSTM language model: embedding, ``nn.LSTM`` (batch_first), Linear head.

    ``forward(idx, state=None)``: token ids (B, T) -> (logits (B, T, vocab_size), state), with
    ``state`` the LSTM's (h, c), each (num_layers, B, hidden_size). For truncated
    backpropagation through time, pass the state of one window into the next, detached
    (``tuple(s.detach() for s in state)``) so that backward stops at the window's start.
    Layers: ``embedding`` (vocab_size, n_embd), ``lstm`` (PyTorch's parameter names and
    layouts), ``head`` (hidden_size -> vocab_size).

    >>> model = CharLSTM(65, rng=0)
    >>> logits, (h, c) = model(np.zeros((2, 8), dtype=np.int64))
    >>> logits.shape, h.shape
    ((2, 8, 65), (2, 2, 256))
    """

    def __init__(
        self,
        vocab_size: int,
        n_embd: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        self.vocab_size = positive_int("CharLSTM", "vocab_size", vocab_size)
        rng = as_rng(rng)
        self.embedding = Embedding(self.vocab_size, n_embd, dtype=dtype, rng=rng)
        self.lstm = LSTM(n_embd, hidden_size, num_layers, batch_first=True, dtype=dtype, rng=rng)
        self.head = Linear(hidden_size, self.vocab_size, init="xavier", dtype=dtype, rng=rng)

    def forward(
        self, idx: Operand, state: tuple[Operand, Operand] | None = None
    ) -> tuple[Variable, tuple[Variable, Variable]]:
        idx = _check_ids("CharLSTM", idx)
        y, state = self.lstm(self.embedding(idx), state)
        return self.head(y), state

    def generate(
        self,
        idx: Operand,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: RngLike = None,
    ) -> np.ndarray:
        """``idx`` (B, T) followed by ``max_new_tokens`` sampled ids, as ``CharGPT.generate``.

        The prompt is read once; each new token then takes one step of the LSTM from the
        state so far (no context window to crop). No graph is recorded.
        """
        idx = _check_ids("CharLSTM.generate", idx).astype(np.int64)
        max_new_tokens, temperature, top_k = _generation_args(
            "CharLSTM.generate", max_new_tokens, temperature, top_k
        )
        rng = as_rng(rng)
        tokens = [idx]
        with no_grad():
            logits, state = self(idx)
            for i in range(max_new_tokens):
                if i:  # one step from the state so far, on the token just drawn
                    logits, state = self(tokens[-1], state)
                tokens.append(_sample(logits.data[:, -1], temperature, top_k, rng)[:, None])
        return np.concatenate(tokens, axis=1)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}"
