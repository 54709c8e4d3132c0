"""Recurrent networks: an RNN, LSTM or GRU over all its layers and time steps as one op.

The layouts and formulas are PyTorch's: layer l has ``W_ih`` (G·H, in), ``W_hh`` (G·H, H),
``b_ih`` and ``b_hh`` (G·H,), with the gate blocks in the order i, f, g, o (LSTM, G = 4) or
r, z, n (GRU, G = 3), and the GRU's reset gate multiplies (W_hn·h + b_hn).

Why one op: a time step's own arithmetic is small (h·W_hhᵀ and a few elementwise passes), so
recording it as graph ops would cost more in Python than it computes. ``Recurrence`` runs the
whole stack of layers on arrays instead: each layer projects the inputs of all its time steps
with one matrix product, and only h·W_hhᵀ and the gates run per step. Its backward pass is
backpropagation through time in closed form, and again collects the weights' gradients of
all steps in one product each. One graph node per call: no per-step outputs to stack.

Second-order gradients are not supported: a backward pass with ``create_graph=True`` through
these ops raises NotImplementedError rather than return gradients that cannot be
differentiated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compgraph._checks import one_of
from compgraph.core import Function, Operand, Variable, is_grad_enabled
from compgraph.functions._fast import sum_leading

#: One layer's parameters: (W_ih, W_hh) or (W_ih, W_hh, b_ih, b_hh).
LayerWeights = Sequence[Operand]


def _sigmoid_(a: np.ndarray) -> None:
    """σ(a) in place, written with tanh, which never overflows: σ(a) = tanh(a/2)/2 + 1/2."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


class _Tape:
    """What one layer's forward pass keeps for its backward pass.

    ``hs`` holds h₀ … h_T (T+1, N, H): the layer's outputs are ``hs[1:]``; ``acts`` the
    activated gates of every step (T, N, G·H), computed in place over x·W_ihᵀ + b.
    """

    def __init__(self, x: np.ndarray, acts: np.ndarray, h0: np.ndarray):
        T, N, H = acts.shape[0], acts.shape[1], h0.shape[-1]
        self.x, self.acts = x, acts
        self.hs = np.empty((T + 1, N, H), dtype=acts.dtype)
        self.hs[0] = h0


class _Cell:
    """The arithmetic of one kind of cell on arrays, step by step, forward and back."""

    name = "rnn"
    gates = 1
    has_state_c = False
    #: whether b_hh may be added once to x·W_ihᵀ (not for the GRU, whose r multiplies it)
    fold_bias = True

    def start(self, tape: _Tape, c0: np.ndarray | None) -> None:
        """Allocate what the cell keeps besides h and the gates."""

    def step(self, tape: _Tape, t: int, hw: np.ndarray) -> None:
        """Step t: turn ``tape.acts[t]`` (x·W_ihᵀ + b) with ``hw`` (h·W_hhᵀ) into the gates
        and write h_{t+1} (and c_{t+1})."""
        raise NotImplementedError

    def step_back(
        self, tape: _Tape, t: int, gh: np.ndarray, gc: Any, g_xw: np.ndarray, g_hw: np.ndarray
    ) -> tuple[Any, Any]:
        """Given ∂L/∂h_{t+1} (and ∂L/∂c_{t+1}), write ∂L/∂(x·W_ihᵀ) and ∂L/∂(h·W_hhᵀ) of step t
        into ``g_xw`` and ``g_hw``; return the part of ∂L/∂h_t not through h·W_hhᵀ (None: none)
        and ∂L/∂c_t."""
        raise NotImplementedError


class _TanhCell(_Cell):
    name = "rnn_tanh"

    def step(self, tape, t, hw):
        a = tape.acts[t]
        a += hw
        np.tanh(a, out=a)
        tape.hs[t + 1] = a

    def step_back(self, tape, t, gh, gc, g_xw, g_hw):
        # h = tanh(a):  ∂h/∂a = 1 − h²
        h = tape.acts[t]
        np.multiply(gh, 1 - h * h, out=g_xw)
        return None, None


class _ReLUCell(_Cell):
    name = "rnn_relu"

    def step(self, tape, t, hw):
        a = tape.acts[t]
        a += hw
        np.maximum(a, 0, out=a)
        tape.hs[t + 1] = a

    def step_back(self, tape, t, gh, gc, g_xw, g_hw):
        # h = max(a, 0):  ∂h/∂a = [a > 0]
        np.multiply(gh, tape.acts[t] > 0, out=g_xw)
        return None, None


class _LSTMCell(_Cell):
    name = "lstm"
    gates = 4
    has_state_c = True

    def start(self, tape, c0):
        T, N, H = tape.hs.shape[0] - 1, tape.hs.shape[1], tape.hs.shape[2]
        tape.cs = np.empty((T + 1, N, H), dtype=tape.acts.dtype)  # c₀ … c_T
        tape.cs[0] = c0
        tape.tanh_cs = np.empty((T, N, H), dtype=tape.acts.dtype)  # tanh c₁ … tanh c_T
        # σ(a) = tanh(a/2)/2 + 1/2 on the blocks i, f, o and tanh(a) on g: a·s, tanh, ·s + s₀
        s = np.full(4 * H, 0.5, dtype=tape.acts.dtype)
        s[2 * H : 3 * H] = 1
        tape.scale, tape.shift = s, np.where(s == 1, 0, s).astype(s.dtype)
        # the activations' derivatives: σ' = (1 − y)·y and tanh' = (1 − y)·(1 + y)
        tape.d_shift = np.where(s == 1, 1, 0).astype(s.dtype)

    def step(self, tape, t, hw):
        a = tape.acts[t]
        a += hw
        a *= tape.scale
        np.tanh(a, out=a)
        a *= tape.scale
        a += tape.shift
        H = hw.shape[1] // 4
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = tape.cs[t + 1]
        np.multiply(f, tape.cs[t], out=c)
        c += i * g
        np.tanh(c, out=tape.tanh_cs[t])
        np.multiply(o, tape.tanh_cs[t], out=tape.hs[t + 1])

    def step_back(self, tape, t, gh, gc, g_xw, g_hw):
        # c' = f·c + i·g,  h' = o·tanh(c'):  ∂L/∂c' = gc + gh·o·(1 − tanh²c')
        a, tc = tape.acts[t], tape.tanh_cs[t]
        H = tc.shape[1]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        gc = gh * o * (1 - tc * tc) + gc
        np.multiply(gc, g, out=g_xw[:, :H])
        np.multiply(gc, tape.cs[t], out=g_xw[:, H : 2 * H])
        np.multiply(gc, i, out=g_xw[:, 2 * H : 3 * H])
        np.multiply(gh, tc, out=g_xw[:, 3 * H :])
        g_xw *= 1 - a
        g_xw *= a + tape.d_shift
        return None, gc * f


class _GRUCell(_Cell):
    name = "gru"
    gates = 3
    fold_bias = False

    def start(self, tape, c0):
        tape.hn = np.empty(tape.hs[1:].shape, dtype=tape.acts.dtype)  # W_hn·h + b_hn per step

    def step(self, tape, t, hw):
        a = tape.acts[t]
        H = hw.shape[1] // 3
        rz = a[:, : 2 * H]
        rz += hw[:, : 2 * H]
        _sigmoid_(rz)
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        hn = tape.hn[t]
        hn[...] = hw[:, 2 * H :]
        n += r * hn
        np.tanh(n, out=n)
        # h' = (1 − z)·n + z·h = n + z·(h − n)
        h = tape.hs[t + 1]
        np.subtract(tape.hs[t], n, out=h)
        h *= z
        h += n

    def step_back(self, tape, t, gh, gc, g_xw, g_hw):
        # h' = (1 − z)·n + z·h,  n = tanh(a_n + r·hn),  r = σ(a_r),  z = σ(a_z)
        a, hn = tape.acts[t], tape.hn[t]
        H = hn.shape[1]
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        gn = g_xw[:, 2 * H :]
        np.multiply(gh, 1 - z, out=gn)
        gn *= 1 - n * n
        np.multiply(gn, r, out=g_hw[:, 2 * H :])
        gr, gz = g_xw[:, :H], g_xw[:, H : 2 * H]
        np.multiply(gn, hn, out=gr)
        gr *= r * (1 - r)
        np.multiply(gh, tape.hs[t] - n, out=gz)
        gz *= z * (1 - z)
        g_hw[:, : 2 * H] = g_xw[:, : 2 * H]
        return gh * z, None


CELLS: dict[str, _Cell] = {c.name: c for c in (_TanhCell(), _ReLUCell(), _LSTMCell(), _GRUCell())}


def _layer_forward(
    cell: _Cell, x: np.ndarray, h0: np.ndarray, c0: Any, weights: Sequence[np.ndarray]
) -> _Tape:
    """Run one layer over x (T, N, in); its outputs are ``tape.hs[1:]``."""
    W_ih, W_hh, *bias = weights
    T, N = x.shape[0], x.shape[1]
    acts = np.dot(x.reshape(T * N, x.shape[2]), W_ih.T).reshape(T, N, W_ih.shape[0])
    b_hh = None
    if bias:
        acts += bias[0]
        if cell.fold_bias:
            acts += bias[1]
        else:
            b_hh = bias[1]
    tape = _Tape(x, acts, h0)
    cell.start(tape, c0)
    W_hhT = W_hh.T
    for t in range(T):
        hw = np.dot(tape.hs[t], W_hhT)
        if b_hh is not None:
            hw += b_hh
        cell.step(tape, t, hw)
    return tape


def _layer_backward(
    cell: _Cell,
    tape: _Tape,
    weights: Sequence[np.ndarray],
    gys: np.ndarray,
    gh: np.ndarray,
    gc: Any,
    need_x: bool,
) -> tuple[Any, ...]:
    """Backpropagation through time over one layer: (gx, gh0, gc0, gW_ih, gW_hh[, gb_ih, gb_hh])."""
    W_ih, W_hh = weights[0], weights[1]
    T, N, GH = tape.acts.shape
    g_xw = np.empty_like(tape.acts)
    g_hw = g_xw if cell.fold_bias else np.empty_like(g_xw)  # the same when b_hh enters with x·W_ihᵀ
    for t in range(T - 1, -1, -1):
        gh = gh + gys[t]
        direct, gc = cell.step_back(tape, t, gh, gc, g_xw[t], g_hw[t])
        gh = np.dot(g_hw[t], W_hh)  # through h·W_hhᵀ
        if direct is not None:
            gh += direct
    g_xw2, g_hw2 = g_xw.reshape(T * N, GH), g_hw.reshape(T * N, GH)
    x = tape.x
    gx = np.dot(g_xw2, W_ih).reshape(x.shape) if need_x else None
    gW_ih = np.dot(g_xw2.T, x.reshape(T * N, x.shape[2]))
    gW_hh = np.dot(g_hw2.T, tape.hs[:-1].reshape(T * N, -1))
    grads = (gx, gh, gc, gW_ih, gW_hh)
    if len(weights) == 4:
        grads += (sum_leading(g_xw2), sum_leading(g_hw2))
    return grads


class Recurrence(Function):
    """A stack of recurrent layers over a sequence, as one op.

    Inputs: x (T, N, in), h0 (L, N, H), for the LSTM c0 (L, N, H), then each layer's
    W_ih, W_hh and, with ``bias``, b_ih, b_hh. Outputs: the last layer's h of every step
    (T, N, H), h_n (L, N, H) and for the LSTM c_n (L, N, H).
    """

    grad_rules = ("backpropagation through time",)

    def __init__(self, cell: str, num_layers: int, bias: bool):
        self.cell = CELLS[cell]
        self.num_layers, self.bias = num_layers, bias

    @property
    def label(self) -> str:
        return self.cell.name

    def _split(self, rest: Sequence[Any]) -> tuple[Any, list[Sequence[Any]]]:
        """(c0 or None, each layer's weights) from the inputs after x and h0."""
        c0 = rest[0] if self.cell.has_state_c else None
        rest = rest[1:] if self.cell.has_state_c else rest
        k = 4 if self.bias else 2
        return c0, [rest[i * k : (i + 1) * k] for i in range(self.num_layers)]

    def forward(self, x, h0, *rest):
        c0, layers = self._split(rest)
        self.tapes = []
        for i, weights in enumerate(layers):
            tape = _layer_forward(self.cell, x, h0[i], None if c0 is None else c0[i], weights)
            self.tapes.append(tape)
            x = tape.hs[1:]
        h_n = np.stack([tape.hs[-1] for tape in self.tapes])
        if c0 is None:
            return x, h_n
        return x, h_n, np.stack([tape.cs[-1] for tape in self.tapes])

    def backward(self, gy, gh_n, gc_n=None):
        if is_grad_enabled():
            raise NotImplementedError(
                f"{type(self).__name__} ({self.label}): second-order gradients through recurrent "
                "layers are not supported; backpropagate through them without create_graph=True"
            )
        c0, layers = self._split(self.inputs[2:])
        g = gy.data
        gh0, gc0, gparams = [], [], []
        for i in range(self.num_layers - 1, -1, -1):
            weights = [w.data for w in layers[i]]
            gc = None if gc_n is None else gc_n.data[i]
            need_x = i > 0 or self.needs_grad(0)
            g, gh, gc, *gw = _layer_backward(self.cell, self.tapes[i], weights, g, gh_n.data[i], gc, need_x)
            gh0.append(gh)
            gc0.append(gc)
            gparams[:0] = gw
        states = [np.stack(gh0[::-1])] + ([np.stack(gc0[::-1])] if c0 is not None else [])
        return (g, *states, *gparams)


class RecurrentCell(Recurrence):
    """One time step of one layer as one op: x (N, in), h (N, H)[, c (N, H)] and the weights to
    h' (N, H) (and c' for the LSTM)."""

    def __init__(self, cell: str, bias: bool):
        super().__init__(cell, 1, bias)

    def forward(self, x, h, *rest):
        if self.cell.has_state_c:
            rest = (rest[0][None], *rest[1:])  # c
        outs = super().forward(x[None], h[None], *rest)
        return (outs[1][0], outs[2][0]) if self.cell.has_state_c else outs[1][0]

    def backward(self, gh, gc=None):
        gh_n = gh.data[None]
        gc_n = None if gc is None else Variable(gc.data[None], requires_grad=False)
        zeros = Variable(np.zeros_like(gh_n), requires_grad=False)
        gx, *rest = super().backward(zeros, Variable(gh_n, requires_grad=False), gc_n)
        n_states = 2 if self.cell.has_state_c else 1
        states = [s[0] for s in rest[:n_states]]
        return (None if gx is None else gx[0], *states, *rest[n_states:])


def _data(x: Operand) -> Any:
    return x.data if isinstance(x, Variable) else np.asarray(x)


def _state(x: Operand, state: Operand | None, shape: tuple[int, ...]) -> Operand:
    """``state``, or zeros of ``shape`` in x's dtype for None."""
    return np.zeros(shape, dtype=_data(x).dtype) if state is None else state


def _flat(weights: Sequence[LayerWeights]) -> tuple[list[Operand], bool]:
    """Each layer's weights in one list, and whether they have biases (all layers alike)."""
    sizes = {len(w) for w in weights}
    if not weights or not sizes <= {2, 4} or len(sizes) != 1:
        raise ValueError(
            "recurrent weights: expected one (W_ih, W_hh) or (W_ih, W_hh, b_ih, b_hh) per layer, "
            f"the same for every layer; got {len(weights)} layers of sizes {sorted(sizes)}"
        )
    return [w for layer in weights for w in layer], sizes == {4}


def _sequence(cell: str, x: Operand, states: list[Operand | None], weights: Sequence[LayerWeights]) -> Any:
    flat, bias = _flat(weights)
    shape = (len(weights), _data(x).shape[1], _data(flat[1]).shape[1])  # (L, N, H)
    return Recurrence(cell, len(weights), bias)(x, *[_state(x, s, shape) for s in states], *flat)


def lstm(
    x: Operand, h0: Operand | None, c0: Operand | None, weights: Sequence[LayerWeights]
) -> tuple[Variable, Variable, Variable]:
    """A stacked LSTM over x (T, N, in): (outputs (T, N, H), h_n (L, N, H), c_n (L, N, H)).

    ``weights`` holds each layer's (W_ih (4H, in), W_hh (4H, H)[, b_ih, b_hh (4H,)]), gates
    i, f, g, o as PyTorch's; h0, c0 (L, N, H) or None for zeros.
    """
    return _sequence("lstm", x, [h0, c0], weights)


def gru(x: Operand, h0: Operand | None, weights: Sequence[LayerWeights]) -> tuple[Variable, Variable]:
    """A stacked GRU over x (T, N, in): (outputs (T, N, H), h_n (L, N, H)); gates r, z, n."""
    return _sequence("gru", x, [h0], weights)


def rnn(
    x: Operand, h0: Operand | None, weights: Sequence[LayerWeights], nonlinearity: str = "tanh"
) -> tuple[Variable, Variable]:
    """A stacked Elman RNN, h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) (or relu), over x (T, N, in)."""
    one_of("rnn", "nonlinearity", nonlinearity, ("tanh", "relu"))
    return _sequence(f"rnn_{nonlinearity}", x, [h0], weights)


def _cell(cell: str, x: Operand, states: list[Operand | None], weights: LayerWeights) -> Any:
    flat, bias = _flat([weights])
    shape = (_data(x).shape[0], _data(flat[1]).shape[1])  # (N, H)
    return RecurrentCell(cell, bias)(x, *[_state(x, s, shape) for s in states], *flat)


def lstm_cell(
    x: Operand, h: Operand | None, c: Operand | None, W_ih: Operand, W_hh: Operand,
    b_ih: Operand | None = None, b_hh: Operand | None = None,
) -> tuple[Variable, Variable]:
    """One LSTM step: x (N, in), h, c (N, H) (None: zeros) to (h', c')."""
    return _cell("lstm", x, [h, c], (W_ih, W_hh) if b_ih is None else (W_ih, W_hh, b_ih, b_hh))


def gru_cell(
    x: Operand, h: Operand | None, W_ih: Operand, W_hh: Operand,
    b_ih: Operand | None = None, b_hh: Operand | None = None,
) -> Variable:
    """One GRU step: x (N, in), h (N, H) (None: zeros) to h'."""
    return _cell("gru", x, [h], (W_ih, W_hh) if b_ih is None else (W_ih, W_hh, b_ih, b_hh))


def rnn_cell(
    x: Operand, h: Operand | None, W_ih: Operand, W_hh: Operand,
    b_ih: Operand | None = None, b_hh: Operand | None = None, nonlinearity: str = "tanh",
) -> Variable:
    """One Elman RNN step: x (N, in), h (N, H) (None: zeros) to h' = tanh(…) or relu(…)."""
    one_of("rnn_cell", "nonlinearity", nonlinearity, ("tanh", "relu"))
    weights = (W_ih, W_hh) if b_ih is None else (W_ih, W_hh, b_ih, b_hh)
    return _cell(f"rnn_{nonlinearity}", x, [h], weights)
