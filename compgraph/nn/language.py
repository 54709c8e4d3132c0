"""Two character-level language models: CharGPT (nanoGPT's) and CharLSTM.

CharGPT is nanoGPT's model (github.com/karpathy/nanoGPT, model.py) built from the layers of
compgraph.nn.transformer: token and position embeddings, pre-norm TransformerBlocks in ``h``,
a final LayerNorm, and an output head that reuses the token embedding's table (``logits = x
@ wte.Wᵀ``), so that table is one Parameter, trained and saved once. Its weights start as
nanoGPT's. CharLSTM is an embedding, an nn.LSTM and a Linear head, for truncated
backpropagation through time. Both ``generate`` text under ``no_grad``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph._checks import non_negative_int, positive_int, positive_number
from compgraph.core import Operand, Variable, no_grad
from compgraph.nn.init import RngLike, as_rng
from compgraph.nn.layers import Dropout, Embedding, Linear, ModuleList
from compgraph.nn.module import Module
from compgraph.nn.recurrent import LSTM
from compgraph.nn.transformer import LayerNorm, TransformerBlock, _dropout_p


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
        return F.matmul(x, self.wte.W.T)

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
