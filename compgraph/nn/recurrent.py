"""Recurrent layers as PyTorch has them: RNN, LSTM, GRU and their one-step cells.

Constructor arguments, call signatures, return values and parameter names and layouts are
PyTorch's, so a PyTorch model's ``state_dict()`` (as NumPy arrays) loads with
``load_state_dict`` and computes the same: layer l holds ``weight_ih_l{l}`` (G·H, in),
``weight_hh_l{l}`` (G·H, H), ``bias_ih_l{l}`` and ``bias_hh_l{l}`` (G·H,), with the gate
blocks i, f, g, o (LSTM, G = 4) or r, z, n (GRU, G = 3); a cell's are ``weight_ih`` and so on.
Every parameter starts uniform in [-1/√H, 1/√H], as in PyTorch.

A whole sequence runs as one op (``compgraph.functions.recurrent``), so second-order
gradients (``create_graph=True``) through these layers are not supported: they raise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph._checks import one_of, positive_int
from compgraph.core import Operand, Variable
from compgraph.functions import recurrent as R
from compgraph.nn.init import RngLike, as_rng
from compgraph.nn.layers import _layer_input
from compgraph.nn.module import Module, Parameter

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], hidden: int, dtype: np.dtype) -> Parameter:
    """U(-1/√H, 1/√H), PyTorch's initialisation of every recurrent parameter."""
    k = 1.0 / np.sqrt(hidden)
    return Parameter(rng.uniform(-k, k, shape).astype(dtype))


def _float_dtype(where: str, dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: parameters must be floating-point (float32 or float64), got dtype {dtype}")
    return dtype


def _reshape(x: Operand, shape: tuple[int, ...]) -> Operand:
    return x.reshape(shape) if isinstance(x, Variable) else np.reshape(x, shape)


class _Recurrent(Module):
    """What RNN, LSTM and GRU share: the parameters of each layer and the checks of a call."""

    _cell = "rnn_tanh"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        name = type(self).__name__
        self.input_size = positive_int(name, "input_size", input_size)
        self.hidden_size = positive_int(name, "hidden_size", hidden_size)
        self.num_layers = positive_int(name, "num_layers", num_layers)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        dtype, rng = _float_dtype(name, dtype), as_rng(rng)
        H, G = self.hidden_size, _GATES[self._cell]
        for layer in range(self.num_layers):
            fan_in = self.input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}", _uniform(rng, (G * H, fan_in), H, dtype))
            setattr(self, f"weight_hh_l{layer}", _uniform(rng, (G * H, H), H, dtype))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", _uniform(rng, (G * H,), H, dtype))
                setattr(self, f"bias_hh_l{layer}", _uniform(rng, (G * H,), H, dtype))

    def _weights(self) -> list[tuple[Parameter, ...]]:
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        return [tuple(getattr(self, f"{n}_l{layer}") for n in names) for layer in range(self.num_layers)]

    def _input(self, x: Operand) -> tuple[Operand, bool]:
        """x as (T, N, in), and whether it came unbatched, (T, in)."""
        x = _layer_input(self, x, self.weight_ih_l0.dtype)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(N, T, {})" if self.batch_first else "(T, N, {})"
            raise ValueError(
                f"{self._describe()}: expected input of shape {layout.format(self.input_size)}, or "
                f"(T, {self.input_size}) unbatched, got {x.shape}"
            )
        if x.ndim == 2:
            return _reshape(x, (x.shape[0], 1, x.shape[1])), True
        return (x.transpose(1, 0, 2) if self.batch_first else x), False

    def _state(self, h: Operand | None, role: str, batch: int, unbatched: bool) -> Operand | None:
        """An initial state checked as (L, N, H) ((L, H) for unbatched input); None stays None."""
        if h is None:
            return None
        h = _layer_input(self, h, self.weight_ih_l0.dtype)
        L, H = self.num_layers, self.hidden_size
        expected = (L, H) if unbatched else (L, batch, H)
        if h.shape != expected:
            raise ValueError(
                f"{self._describe()}: {role} must have shape {expected} (num_layers, "
                f"{'' if unbatched else 'batch, '}hidden_size), got {h.shape}"
            )
        return _reshape(h, (L, 1, H)) if unbatched else h

    def _output(self, y: Variable, states: tuple[Variable, ...], unbatched: bool) -> tuple[Variable, ...]:
        if unbatched:
            L, H = self.num_layers, self.hidden_size
            return (y.reshape(y.shape[0], H), *[s.reshape(L, H) for s in states])
        return (y.transpose(1, 0, 2) if self.batch_first else y, *states)

    def _run(self, x: Operand, states: tuple[Operand | None, ...]) -> tuple[Variable, ...]:
        x, unbatched = self._input(x)
        checked = [self._state(s, role, x.shape[1], unbatched) for s, role in zip(states, ("h0", "c0"))]
        if self._cell == "lstm":
            y, *out = R.lstm(x, checked[0], checked[1], self._weights())
        elif self._cell == "gru":
            y, *out = R.gru(x, checked[0], self._weights())
        else:
            y, *out = R.rnn(x, checked[0], self._weights(), self._cell[4:])
        return self._output(y, tuple(out), unbatched)

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        extra += ", batch_first=True" if self.batch_first else ""
        return f"{self.input_size} -> {self.hidden_size}, num_layers={self.num_layers}{extra}"


class RNN(_Recurrent):
    """An Elman RNN: h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) per layer (or relu).

    ``rnn(x, h0=None)``: x (T, N, in), or (N, T, in) with ``batch_first``, or (T, in)
    unbatched; h0 (num_layers, N, H), zeros if None. Returns (output, h_n): the last layer's
    h at every step, (T, N, H) (or (N, T, H)), and each layer's last h, (num_layers, N, H).

    >>> rnn = RNN(3, 5, num_layers=2, rng=0)
    >>> y, h_n = rnn(np.zeros((7, 4, 3), dtype=np.float32))
    >>> y.shape, h_n.shape
    ((7, 4, 5), (2, 4, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        self._cell = "rnn_" + one_of("RNN", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dtype=dtype, rng=rng)

    def forward(self, x: Operand, h0: Operand | None = None) -> tuple[Variable, Variable]:
        y, h_n = self._run(x, (h0,))
        return y, h_n


class LSTM(_Recurrent):
    """A long short-term memory network, PyTorch's formulation (gates i, f, g, o).

    ``lstm(x, (h0, c0))`` or ``lstm(x)`` (zero states): x (T, N, in), or (N, T, in) with
    ``batch_first``, or (T, in) unbatched. Returns (output, (h_n, c_n)): output (T, N, H)
    (or (N, T, H)); h_n and c_n (num_layers, N, H).

    >>> lstm = LSTM(3, 5, num_layers=2, batch_first=True, rng=0)
    >>> y, (h_n, c_n) = lstm(np.zeros((4, 7, 3), dtype=np.float32))
    >>> y.shape, c_n.shape
    ((4, 7, 5), (2, 4, 5))
    """

    _cell = "lstm"

    def forward(
        self, x: Operand, hx: tuple[Operand, Operand] | None = None
    ) -> tuple[Variable, tuple[Variable, Variable]]:
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(
                f"{self._describe()}: the initial state must be a pair (h0, c0), got {type(hx).__name__}"
            )
        y, h_n, c_n = self._run(x, tuple(hx))
        return y, (h_n, c_n)


class GRU(_Recurrent):
    """A gated recurrent unit network, PyTorch's formulation (gates r, z, n):
    n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), h' = (1 − z)·n + z·h.

    ``gru(x, h0=None)``: shapes and return values as for ``RNN``.
    """

    _cell = "gru"

    def forward(self, x: Operand, h0: Operand | None = None) -> tuple[Variable, Variable]:
        y, h_n = self._run(x, (h0,))
        return y, h_n


class _RecurrentCell(Module):
    """What RNNCell, LSTMCell and GRUCell share: parameters ``weight_ih`` (G·H, in) and so on."""

    _cell = "rnn_tanh"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        name = type(self).__name__
        self.input_size = positive_int(name, "input_size", input_size)
        self.hidden_size = positive_int(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        dtype, rng = _float_dtype(name, dtype), as_rng(rng)
        H, G = self.hidden_size, _GATES[self._cell]
        self.weight_ih = _uniform(rng, (G * H, self.input_size), H, dtype)
        self.weight_hh = _uniform(rng, (G * H, H), H, dtype)
        if self.bias:
            self.bias_ih = _uniform(rng, (G * H,), H, dtype)
            self.bias_hh = _uniform(rng, (G * H,), H, dtype)

    def _run(self, x: Operand, states: tuple[Operand | None, ...]) -> Any:
        dtype = self.weight_ih.dtype
        x = _layer_input(self, x, dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._describe()}: expected input of shape (N, {self.input_size}), or "
                f"({self.input_size},) unbatched, got {x.shape}"
            )
        unbatched = x.ndim == 1
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        checked = []
        for s, role in zip(states, ("h", "c")):
            if s is not None:
                s = _layer_input(self, s, dtype)
                if s.shape != expected:
                    raise ValueError(f"{self._describe()}: {role} must have shape {expected}, got {s.shape}")
                s = _reshape(s, (1, self.hidden_size)) if unbatched else s
            checked.append(s)
        if unbatched:
            x = _reshape(x, (1, self.input_size))
        weights = (self.weight_ih, self.weight_hh) + ((self.bias_ih, self.bias_hh) if self.bias else ())
        if self._cell == "lstm":
            out = R.lstm_cell(x, *checked, *weights)
        elif self._cell == "gru":
            out = (R.gru_cell(x, *checked, *weights),)
        else:
            out = (R.rnn_cell(x, *checked, *weights, nonlinearity=self._cell[4:]),)
        return tuple(o.reshape(self.hidden_size) for o in out) if unbatched else out

    def extra_repr(self) -> str:
        return f"{self.input_size} -> {self.hidden_size}{'' if self.bias else ', bias=False'}"


class RNNCell(_RecurrentCell):
    """One step of an Elman RNN: ``cell(x, h=None)``, x (N, in) and h (N, H) to h' (N, H).

    >>> cell = RNNCell(3, 5, rng=0)
    >>> cell(np.zeros((4, 3), dtype=np.float32)).shape
    (4, 5)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        self._cell = "rnn_" + one_of("RNNCell", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng)

    def forward(self, x: Operand, h: Operand | None = None) -> Variable:
        return self._run(x, (h,))[0]


class LSTMCell(_RecurrentCell):
    """One LSTM step: ``cell(x, (h, c))`` or ``cell(x)`` (zero states) to (h', c'), each (N, H)."""

    _cell = "lstm"

    def forward(self, x: Operand, hx: tuple[Operand, Operand] | None = None) -> tuple[Variable, Variable]:
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{self._describe()}: the state must be a pair (h, c), got {type(hx).__name__}")
        h, c = self._run(x, tuple(hx))
        return h, c


class GRUCell(_RecurrentCell):
    """One GRU step: ``cell(x, h=None)``, x (N, in) and h (N, H) to h' (N, H)."""

    _cell = "gru"

    def forward(self, x: Operand, h: Operand | None = None) -> Variable:
        return self._run(x, (h,))[0]
