"""The program a compiled trace replays, written as Python source and compiled once.

``cg.compile`` (compgraph/compiled.py) records a trace: ops over integer slots. This module
turns it into two Python functions, a forward ``forward(a0, a1, …, l0, …) -> (outs, saved)``
and a reverse ``backward(saved, g_out0, …) -> gradients``, one line per op, values in local
variables ``v3`` and gradients in ``g3``: the plan's ``t3 = t1·t2`` as code. A replay then pays
for NumPy's work and a local variable per value, not for a Variable, a Function, a heap entry
or a loop over a list of steps.

Most ops run as they do in eager mode: their own ``forward`` and ``vjp``, called on arrays (0-d
values as NumPy scalars, as the engine gives them). The arithmetic ops, relu, tanh and 2-D
matmul/linear are written out inline, with the very expressions their methods evaluate, so the
values are the same to the last bit. Three rewrites change where results are stored, never
what is computed, and only where the trace proves it safe:

- relu in place: ``relu(linear(x, W, b))`` writes max(·, 0) into the linear output when nothing
  else reads that array (the producer is an op that makes a new array, its backward does not
  read its output, and it is not a result of ``fn``); relu's backward then reads its mask from
  its own output, which is positive exactly where its input is;
- relu's and tanh's backward write into the incoming gradient when that gradient is a new
  array only this step reads (made by a product, a matmul, a sum, or an op known to return a
  new array) and not an alias of another gradient or of a seed;
- values the backward program does not read are deleted after their last forward use.

Each gradient is summed back over broadcast axes and cast to its input's dtype, as the engine
does (``core._fit``); that is decided once, from the shapes and dtypes of the trace.
"""

from __future__ import annotations

import heapq
import math
import weakref
from typing import Any

import numpy as np

from compgraph import core
from compgraph._compile_trace import Dropout, Trace
from compgraph.core import Function, Op, Variable
from compgraph.functions import activation as _activation
from compgraph.functions import arithmetic as _arithmetic
from compgraph.functions import conv as _conv
from compgraph.functions import loss as _loss
from compgraph.functions import math as _math
from compgraph.functions import matrix as _matrix
from compgraph.functions import pooling as _pooling
from compgraph.functions import shape as _shape
from compgraph.functions import stochastic as _stochastic
from compgraph.functions._fast import sum_leading

_BINARY = {_arithmetic.Add: "+", _arithmetic.Sub: "-", _arithmetic.Mul: "*", _arithmetic.Div: "/"}
#: ops whose forward returns a new array (never a view of an input) and whose backward does not
#: read their output: a relu after one of them may overwrite that output in place
_FRESH_OUTPUT = (
    _matrix.Linear,
    _matrix.MatMul,
    _conv.Conv2d,
    _arithmetic.Add,
    _arithmetic.Sub,
    _arithmetic.Mul,
)
#: the ops that may write into a dead input (see Program._in_place_ops), by their input count
_IN_PLACE = {_activation.ReLU: 1, _math.Tanh: 1, _arithmetic.Add: 2, _arithmetic.Sub: 2}
#: the largest result (elements) for which a broadcast operand is expanded once per call
_EXPAND_SIZE = 4096
#: ops run through their own vjp whose input gradients are always new arrays
_FRESH_GRADIENTS = (_pooling.MaxPool2d, _matrix.Linear, _matrix.MatMul, _loss.SoftmaxCrossEntropy)


def scalar_slots(ops: list, shapes: list) -> list[bool]:
    """Which slots a replay holds as NumPy scalars: the 0-d ones that only Ops computing on
    scalars (``scalar_forward``, one or two inputs, no dropout) produce and consume."""
    scalar = [not shape for shape, _ in shapes]
    for _, ins, outs, g in ops:
        if not (isinstance(g, Op) and g.scalar_forward and len(ins) in (1, 2)) or isinstance(
            g, _stochastic.Dropout
        ):
            for i in ins + outs:
                scalar[i] = False
    return scalar


def _fit(gx: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """``core._fit`` on arrays: summed back over broadcast axes, in the input's dtype."""
    if gx.shape != shape:
        gx = _shape.sum_to_array(gx, shape)
    return gx if gx.dtype == dtype else gx.astype(dtype)


def _tuple(gxs: Any) -> tuple[Any, ...]:
    if type(gxs) is tuple:
        return gxs
    return tuple(gxs) if isinstance(gxs, list) else (gxs,)


def _as_output(y: Any) -> np.ndarray:
    """A forward result as the engine stores it: an ndarray (a NumPy scalar becomes 0-d)."""
    if type(y) is np.ndarray:
        return y
    return np.asarray(y) if isinstance(y, np.generic) else core._output_array(None, y)


class Program:
    """The generated ``forward`` and ``backward`` functions of one trace (``source`` is their
    text), and whether the backward calls a Function's ``backward`` on Variables (``records``:
    it must then run with grad mode off, as the engine runs rules)."""

    def __init__(self, t: Trace):
        self.t = t
        self.shapes = [(v.data.shape, v.data.dtype) for v in t.vars]
        self.scalar = scalar_slots(t.ops, self.shapes)
        self.grad = [v.requires_grad for v in t.vars]
        self.ns: dict[str, Any] = {"np": np, "_fit": _fit, "_tuple": _tuple, "_as_output": _as_output}
        self.ns.update(_dot=np.dot, _maximum=np.maximum, _multiply=np.multiply, _subtract=np.subtract)
        self.ns.update(_sum_to=_shape.sum_to_array, _sum_leading=sum_leading)
        for s, k in enumerate(t.kind):
            if k == "const":
                d = t.vars[s].data
                self.ns[f"c{s}"] = d[()] if self.scalar[s] else d
        self.consumers: list[list[int]] = [[] for _ in t.vars]
        for n, (_, ins, _, _) in enumerate(t.ops):
            for i in ins:
                self.consumers[i].append(n)
        self.in_place = self._in_place_ops()
        self.expanded = self._expanded_operands()
        self.records = False
        self.saved: list[int] = []
        back = self._backward_source()
        fwd = self._forward_source()
        self.source = fwd + "\n\n" + back
        # The text is the generator's own: slot names (v3, g5, c2), names it bound in ns, ints
        # and shapes. No string from the user, a model or a file enters it (names of values
        # and Parameters stay in the plan printout), so running it runs nothing but the trace.
        code = compile(self.source, f"<compiled {t.name}>", "exec")
        exec(code, self.ns)
        self.forward = self.ns["forward"]
        self.backward = self.ns["backward"]

    # --- names -----------------------------------------------------------------------------
    def name(self, s: int) -> str:
        return f"c{s}" if self.t.kind[s] == "const" else f"v{s}"

    def rule_form(self, s: int) -> str:
        """Slot ``s`` as a rule receives it (``core._value``): 0-d as a NumPy scalar."""
        return f"{self.name(s)}[()]" if not self.shapes[s][0] and not self.scalar[s] else self.name(s)

    def bind(self, obj: Any, prefix: str, n: int) -> str:
        name = f"{prefix}{n}"
        self.ns[name] = obj
        return name

    # --- forward -----------------------------------------------------------------------------
    def _in_place_ops(self) -> dict[int, int]:
        """The elementwise ops that may write their result into an input: op index -> input
        position. The input must be a new array (its producer makes one and its backward does
        not read it), read by this op alone, not a result of ``fn``, of the output's shape and
        dtype; and this op's backward must not read it (relu and tanh read their output)."""
        t, found = self.t, {}
        producer = {o: n for n, (_, _, outs, _) in enumerate(t.ops) for o in outs}
        for n, (_, ins, outs, g) in enumerate(t.ops):
            if type(g) not in _IN_PLACE or len(ins) != _IN_PLACE[type(g)]:
                continue
            for k, i in enumerate(ins):
                p = producer.get(i)
                if (
                    p is not None
                    and type(t.ops[p][3]) in _FRESH_OUTPUT  # not a subclass: its vjp may differ
                    and len(t.ops[p][2]) == 1
                    and self.consumers[i] == [n]
                    and i not in t.out_slots
                    and self.shapes[i] == self.shapes[outs[0]]
                    and self.shapes[i][0]
                    and self.shapes[i][1].kind == "f"
                ):
                    found[n] = k
                    break
        return found

    def _expanded_operands(self) -> dict[tuple[int, tuple[int, ...]], str]:
        """Small operands broadcast by many elementwise ops (a bias added in every layer of a
        chain), by (slot, shape to broadcast to): each expanded once per call to a contiguous
        array, which NumPy adds twice as fast as it broadcasts. Same values, same dtype."""
        uses: dict[tuple[int, tuple[int, ...]], int] = {}
        for _, ins, outs, g in self.t.ops:
            out_shape, out_dtype = self.shapes[outs[0]]
            if type(g) not in _BINARY or len(ins) != 2 or not 0 < math.prod(out_shape) <= _EXPAND_SIZE:
                continue
            for i in ins:
                shape, dtype = self.shapes[i]
                if self.t.kind[i] in ("arg", "leaf", "const") and shape != out_shape and dtype == out_dtype:
                    uses[i, out_shape] = uses.get((i, out_shape), 0) + 1
        return {key: f"e{key[0]}_{k}" for k, (key, n) in enumerate(uses.items()) if n >= 3}

    def _forward_source(self) -> str:
        t = self.t
        params = [f"a{k}" for k in range(len(t.arg_slots))] + [f"l{j}" for j in range(len(t.leaves))]
        lines = [f"def forward({', '.join(params)}):"]
        lines.extend("    " + line for line in self._forward_preamble())
        dead_after = self._dead_after()
        for n, op in enumerate(t.ops):
            lines.extend("    " + line for line in self._forward_lines(n, *op))
            if dead_after[n]:
                lines.append(f"    del {', '.join(self.name(i) for i in dead_after[n])}")
        outs = ", ".join(self.name(o) for o in t.out_slots)
        saved = ", ".join(self.name(s) for s in self.saved)
        lines.append(f"    return ({outs},), ({saved}{',' if self.saved else ''})")
        return "\n".join(lines)

    def _forward_preamble(self) -> list[str]:
        """Each argument and leaf bound to its slot's name once (0-d scalar slots as NumPy
        scalars), then the operands expanded once per call (see ``_expanded_operands``)."""
        t = self.t
        lines, seen = [], set()
        sources = [(s, f"a{k}") for k, s in enumerate(t.arg_slots)]
        sources += [(s, f"l{j}") for j, (s, _) in enumerate(t.leaves)]
        for s, p in sources:
            if s not in seen:
                seen.add(s)
                lines.append(f"v{s} = {p}[()]" if self.scalar[s] else f"v{s} = {p}")
        for (s, shape), name in self.expanded.items():
            lines.append(f"{name} = np.ascontiguousarray(np.broadcast_to({self.name(s)}, {shape!r}))")
        return lines

    def _dead_after(self) -> list[list[int]]:
        """Per op, the arrays it reads for the last time that neither the backward program nor
        the caller reads (constants and scalars stay): deleted after it, freeing their memory."""
        t = self.t
        last_use = {}
        for n, (_, ins, _, _) in enumerate(t.ops):
            for i in ins:
                last_use[i] = n
        keep = set(self.saved) | set(t.out_slots)
        return [
            [
                i
                for i in dict.fromkeys(ins)
                if last_use[i] == n and i not in keep and t.kind[i] != "const" and not self.scalar[i]
            ]
            for n, (_, ins, _, _) in enumerate(t.ops)
        ]

    def _forward_lines(self, n: int, f: Function, ins: tuple, outs: tuple, g: Function) -> list[str]:
        """Op ``n``'s forward: into its dead input, written out inline (``_INLINE_FORWARD``),
        or a call of its own forward."""
        xs = self._operands(g, ins)
        lhs = ", ".join(self.name(o) for o in outs)
        if n in self.in_place:
            return self._in_place_line(n, g, ins, outs[0], xs, lhs)
        write = _INLINE_FORWARD.get(type(g))
        lines = write(self, g, ins, outs[0], xs, lhs) if write is not None else None
        if lines is not None:
            return lines
        return self._forward_call(n, f, g, ins, outs, xs, lhs)

    def _operands(self, g: Function, ins: tuple) -> list[str]:
        """The inputs' names as the op's forward reads them: an Op computing on 0-d values
        gets NumPy scalars (scalar slots already are; others are read with ``[()]``)."""
        shapes = self.shapes
        scalar_mode = bool(g.scalar_forward and len(ins) in (1, 2) and all(not shapes[i][0] for i in ins))
        return [
            (self.name(i) if self.scalar[i] else f"{self.name(i)}[()]")
            if scalar_mode and not shapes[i][0]
            else self.name(i)
            for i in ins
        ]

    def _assign(self, lhs: str, o: int, expr: str) -> list[str]:
        """``lhs = expr``, a 0-d result that is not a scalar slot stored as a 0-d array."""
        if not self.shapes[o][0] and not self.scalar[o]:
            expr = f"_as_output({expr})"
        return [f"{lhs} = {expr}"]

    def _broadcast_operands(self, ins: tuple, o: int, xs: list[str]) -> list[str]:
        """``xs``, each operand expanded once per call (``_expanded_operands``) by its name."""
        return [self.expanded.get((i, self.shapes[o][0]), x) for i, x in zip(ins, xs)]

    def _in_place_line(self, n: int, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str]:
        # written into its dead input (see _in_place_ops): the same values
        into = xs[self.in_place[n]]
        if type(g) is _activation.ReLU:
            return [f"{lhs} = _maximum({into}, 0, out={into})"]
        ufunc = {_math.Tanh: "np.tanh", _arithmetic.Add: "np.add", _arithmetic.Sub: "np.subtract"}[type(g)]
        return [f"{lhs} = {ufunc}({', '.join(self._broadcast_operands(ins, o, xs))}, out={into})"]

    def _fwd_binary(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = x0 ∘ x1 for ∘ in + − · /
        if len(ins) != 2:
            return None
        a, b = self._broadcast_operands(ins, o, xs)
        return self._assign(lhs, o, f"{a} {_BINARY[type(g)]} {b}")

    def _fwd_neg(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = −x
        return self._assign(lhs, o, f"-{xs[0]}")

    def _fwd_relu(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = max(x, 0), written out for one float (np.maximum(x, 0) otherwise, by the op)
        dtype = self.shapes[o][1]
        if not (self.scalar[o] and dtype.kind == "f"):
            return None
        zero = self.bind(dtype.type(0), "z", o)
        return self._assign(lhs, o, f"{zero} if {xs[0]} <= 0 else {xs[0]}")  # NaN stays NaN, -0.0 gives 0.0

    def _fwd_tanh(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = tanh x
        return self._assign(lhs, o, f"np.tanh({xs[0]})")

    def _fwd_matmul(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = x0·x1, both 2-D (the op's forward otherwise)
        if not all(len(self.shapes[i][0]) == 2 for i in ins):
            return None
        return self._assign(lhs, o, f"_dot({xs[0]}, {xs[1]})")

    def _fwd_linear(self, g: Function, ins: tuple, o: int, xs: list[str], lhs: str) -> list[str] | None:
        # y = x·W [+ b], as Linear.forward: b's dtype is y's
        if not self._plain_linear(ins):
            return None
        lines = [f"{lhs} = _dot({xs[0]}, {xs[1]})"]
        if len(ins) == 3:
            lines.append(f"{lhs} += {xs[2]}")
        return lines

    def _forward_call(
        self, n: int, f: Function, g: Function, ins: tuple, outs: tuple, xs: list[str], lhs: str
    ) -> list[str]:
        """The op's own forward, or a step around it (``_forward_step``)."""
        if (
            isinstance(g, Op)
            and not isinstance(g, _stochastic.Dropout)
            and len(outs) == 1
            and self.t.statistics.get(id(g)) is None
        ):
            return self._assign(lhs, outs[0], f"{self.bind(g.forward, 'f', n)}({', '.join(xs)})")
        step = self.bind(self._forward_step(g, f, ins, outs), "f", n)
        return [f"{lhs}{',' if len(outs) == 1 and not isinstance(g, Op) else ''} = {step}({', '.join(xs)})"]

    def _plain_linear(self, ins: tuple) -> bool:
        """x (N, in) @ W (in, out) [+ b of y's dtype and at most 2-D]: Linear.forward's usual path."""
        (xs, xd), (ws, wd) = self.shapes[ins[0]], self.shapes[ins[1]]
        if len(xs) != 2 or len(ws) != 2 or xd != wd:
            return False
        if len(ins) == 2:
            return True
        bs, bd = self.shapes[ins[2]]
        return (
            bd == np.result_type(xd, wd)
            and len(bs) <= 2
            and np.broadcast_shapes(bs, (xs[0], ws[1]))
            == (
                xs[0],
                ws[1],
            )
        )

    def _forward_step(self, g: Function, f: Function, ins: tuple, outs: tuple) -> Any:
        """A forward op that needs more than ``forward(*xs)``: a fresh dropout mask, batch_norm's
        current running statistics, several outputs, or a Function whose backward reads
        ``self.inputs`` (given private Variables)."""
        draw = Dropout(g) if isinstance(g, _stochastic.Dropout) else None
        statistics = self.t.statistics.get(id(g))  # batch_norm: read (and updated) in place
        proxies = None if isinstance(g, Op) else self.proxies_of(g, f, outs)
        several = len(outs) > 1 or not isinstance(g, Op)

        def step(*xs: Any) -> Any:
            if draw is not None:
                g.mask = draw.draw()
            if statistics is not None:
                g.running_mean, g.running_var = statistics()
            if proxies is not None:
                for p, x in zip(proxies[0], xs):
                    p.data = x
            ys = g.forward(*xs)
            if several:
                return tuple(_as_output(y) for y in (ys if type(ys) is tuple else (ys,)))
            return _as_output(ys)

        return step

    # --- backward ----------------------------------------------------------------------------
    def _backward_source(self) -> str:
        t = self.t
        self.proxies: dict[int, tuple[list, list]] = {}  # a Function's private Variables
        seeds = [o for o in dict.fromkeys(t.out_slots) if self.grad[o]]
        # per slot: None (no gradient yet), "sure" (an array), "maybe" (an array or None)
        self.state: dict[int, str] = {o: "sure" for o in seeds}
        self.owned: set[int] = set()  # gradients that are new arrays no other name holds
        self.reads: set[int] = set()
        self.maybe_vars: set[int] = set()
        body: list[str] = []
        for n in self._engine_order(seeds):
            body.extend(self._backward_lines(n, *t.ops[n]))
        self.saved = sorted(self.reads)
        lines = [f"def backward(_saved, {', '.join(f'gs{k}' for k in range(len(t.out_slots)))}):"]
        if self.saved:
            lines.append(f"    ({', '.join(self.name(s) for s in self.saved)},) = _saved")
        for s in sorted(self.maybe_vars - set(seeds)):
            lines.append(f"    g{s} = None")
        for k, o in enumerate(t.out_slots):  # an output given twice gets both seeds
            if self.grad[o]:
                if t.out_slots.index(o) == k:
                    lines.append(f"    g{o} = gs{k}")
                else:
                    lines.append(f"    g{o} = g{o} + gs{k}")
        lines.extend("    " + line for line in body)
        grads = [
            f"g{s}" if self.state.get(s) else "None"
            for s, k in enumerate(t.kind)
            if k in ("arg", "leaf") and self.grad[s]
        ]
        lines.append(f"    return ({', '.join(grads)}{',' if grads else ''})")
        return "\n".join(lines)

    def _engine_order(self, seeds: list[int]) -> list[int]:
        """The ops in the order the eager engine would run their rules: from a heap keyed on
        (−generation, first come), as ``core._backprop``. Gradients that fan in are then
        summed in eager's order, so they round alike."""
        t, grad = self.t, self.grad
        producer = {o: n for n, (_, _, outs, _) in enumerate(t.ops) for o in outs}
        pending: list[tuple[int, int, int]] = []
        queued: set[int] = set()
        order: list[int] = []

        def accumulate(s: int) -> None:
            n = producer.get(s)
            if n is not None and n not in queued:
                queued.add(n)
                heapq.heappush(pending, (-t.vars[s].generation, len(queued), s))

        for o in seeds:
            accumulate(o)
        while pending:
            n = producer[heapq.heappop(pending)[2]]
            order.append(n)
            for i in t.ops[n][1]:
                if grad[i]:
                    accumulate(i)
        return order

    def read(self, s: int, form: bool = True) -> str:
        if self.t.kind[s] != "const":
            self.reads.add(s)
        return self.rule_form(s) if form else self.name(s)

    def _backward_lines(self, n: int, f: Function, ins: tuple, outs: tuple, g: Function) -> list[str]:
        states = [self.state.get(o) for o in outs]
        if not any(states):
            return []  # no gradient reaches this op's outputs
        lines: list[str] = []
        indent = ""
        conditional = False
        if all(state != "sure" for state in states):  # this op runs only if a gradient came
            lines.append(f"if {' or '.join(f'g{o_} is not None' for o_, st in zip(outs, states) if st)}:")
            indent, conditional = "    ", True
        need = [(k, i) for k, i in enumerate(ins) if self.grad[i]]
        contributions = self._inline_rule(n, g, ins, outs, need)
        if contributions is None:
            contributions, more = self._generic_rule(n, f, g, ins, outs, need)
            lines.extend(indent + line for line in more)
        for i, expr, fresh, static, maybe in contributions:
            lines.extend(
                indent + line for line in self._accumulate(i, expr, fresh, static, maybe, conditional)
            )
        for o_ in outs:
            self.owned.discard(o_)
        return lines

    def _inline_rule(self, n: int, g: Function, ins: tuple, outs: tuple, need: list) -> list | None:
        """``(input slot, expression, is a new array, (shape, dtype) or None, may be None)``
        per needed input gradient, written out for the ops whose rule is a line of NumPy
        (``_INLINE_BACKWARD``); None for the others, which run their own rule."""
        write = _INLINE_BACKWARD.get(type(g))
        if len(outs) != 1 or write is None:
            return None
        return write(self, ins, outs[0], dict(need))

    def _spec(self, *slots_or_specs: Any) -> tuple:
        """The (shape, dtype) of an elementwise result of these slots' (or specs') values."""
        parts = [self.shapes[x] if isinstance(x, int) else x for x in slots_or_specs]
        return (
            np.broadcast_shapes(*[p[0] for p in parts]),
            np.result_type(*[p[1] for p in parts]),
        )

    def _bwd_add(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx0 = gy, gx1 = gy
        if len(ins) != 2:
            return None
        return [(i, f"g{o}", False, self.shapes[o], False) for i in want.values()]

    def _bwd_sub(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx0 = gy, gx1 = −gy
        if len(ins) != 2:
            return None
        gy, res = f"g{o}", []
        if 0 in want:
            res.append((want[0], gy, False, self.shapes[o], False))
        if 1 in want:
            res.append((want[1], f"-{gy}", True, self.shapes[o], False))
        return res

    def _bwd_mul(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx0 = gy·x1, gx1 = gy·x0
        if len(ins) != 2:
            return None
        gy, res = f"g{o}", []
        if 0 in want:
            res.append((want[0], f"{gy} * {self.read(ins[1])}", True, self._spec(o, ins[1]), False))
        if 1 in want:
            res.append((want[1], f"{gy} * {self.read(ins[0])}", True, self._spec(o, ins[0]), False))
        return res

    def _bwd_div(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx0 = gy / x1, gx1 = −gy·y / x1 (y = x0 / x1)
        if len(ins) != 2:
            return None
        gy, res = f"g{o}", []
        if 0 in want:
            res.append((want[0], f"{gy} / {self.read(ins[1])}", True, self._spec(o, ins[1]), False))
        if 1 in want:
            y, x1 = self.read(o), self.read(ins[1])
            res.append((want[1], f"-{gy} * {y} / {x1}", True, self._spec(o, o, ins[1]), False))
        return res

    def _bwd_neg(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx = −gy
        return [(want[0], f"-g{o}", True, self.shapes[o], False)] if 0 in want else []

    def _bwd_relu(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx = gy·[y > 0]: y > 0 exactly where x > 0 (NaN: neither)
        if 0 not in want:
            return []
        gy, y = f"g{o}", self.read(o)
        if self.shapes[o][0] and o in self.owned:
            expr = f"_multiply({gy}, {y} > 0, out={gy})"
        else:
            expr = f"{gy} * ({y} > 0)"
        return [(want[0], expr, True, self._spec(o, (self.shapes[o][0], np.dtype(bool))), False)]

    def _bwd_tanh(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx = gy·(1 − y²), as Tanh's rule evaluates it: gy − gy·y·y
        if 0 not in want:
            return []
        gy, y = f"g{o}", self.read(o)
        shape, dtype = self.shapes[o]
        if shape and o in self.owned and dtype.kind == "f":
            # the product's array reused for the difference
            expr = f"_subtract({gy}, _mul_y({gy}, {y}), out={gy})"
            self.ns["_mul_y"] = _times_twice
        else:
            expr = f"{gy} - {gy} * {y} * {y}"
        return [(want[0], expr, True, self._spec(o, o), False)]

    def _bwd_matmul(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx0 = gy·x1ᵀ, gx1 = x0ᵀ·gy, both 2-D (the op's vjp otherwise)
        if not all(len(self.shapes[i][0]) == 2 for i in ins):
            return None
        return self._bwd_dot(ins, o, want)

    def _bwd_linear(self, ins: tuple, o: int, want: dict) -> list | None:
        # gx = gy·Wᵀ, gW = xᵀ·gy, gb = gy (summed back to b's shape)
        if not self._plain_linear(ins):
            return None
        return self._bwd_dot(ins, o, want)

    def _bwd_dot(self, ins: tuple, o: int, want: dict) -> list:
        # gy·x1ᵀ has x0's shape, x0ᵀ·gy x1's; each in the dtype of its two factors
        gy, (x0, x1), res = f"g{o}", ins[:2], []
        out_dtype = self.shapes[o][1]
        if 0 in want:
            at = (self.shapes[x0][0], np.result_type(out_dtype, self.shapes[x1][1]))
            res.append((x0, f"_dot({gy}, {self.read(x1)}.T)", True, at, False))
        if 1 in want:
            at = (self.shapes[x1][0], np.result_type(out_dtype, self.shapes[x0][1]))
            res.append((x1, f"_dot({self.read(x0)}.T, {gy})", True, at, False))
        if len(ins) == 3 and 2 in want:
            res.append((want[2], gy, False, self.shapes[o], False))
        return res

    def _generic_rule(self, n: int, f: Function, g: Function, ins: tuple, outs: tuple, need: list) -> tuple:
        """The op's own ``vjp`` (or a Function's ``backward``), then each needed gradient
        picked from its result, checked for None and fitted at run time."""
        fresh = type(g) in _FRESH_GRADIENTS
        if isinstance(g, Op):
            rule = self.bind(g.vjp, "b", n)
            args = [f"g{outs[0]}", self.read(outs[0])] + [self.read(i) for i in ins]
            lines = [f"_t = _tuple({rule}({', '.join(args)}))"]
        else:
            self.records = True
            step = self.bind(self._backward_step(g, f, ins, outs), "b", n)
            gys = [f"g{o}" if self.state.get(o) else "None" for o in outs]
            args = gys + [self.read(i, form=False) for i in ins] + [self.read(o, form=False) for o in outs]
            lines = [f"_t = {step}({', '.join(args)})"]
        res = [(i, f"_t[{k}]", fresh, None, True) for k, i in need]
        return res, lines

    def _accumulate(
        self, i: int, expr: str, fresh: bool, static: Any, maybe: bool, conditional: bool
    ) -> list:
        """``g_i = expr`` or ``g_i = g_i + expr``, fitted to input ``i``'s shape and dtype."""
        shape, dtype = self.shapes[i]
        lines: list[str] = []
        if static is None:  # known only at run time
            lines.append(f"_x = {expr}")
            if maybe:
                lines.append("if _x is not None:")
            pad = "    " if maybe else ""
            lines.append(f"{pad}if _x.shape != {shape!r} or _x.dtype != _dt{i}:")
            lines.append(f"{pad}    _x = _fit(_x, {shape!r}, _dt{i})")
            self.ns[f"_dt{i}"] = dtype
            expr = "_x"
            body_pad = pad
        else:
            if static[0] != shape:  # as sum_to_array would: one leading axis added (a bias) or others
                lead = len(static[0]) - len(shape)
                if lead == 1 and static[0][1:] == shape:
                    expr = f"_sum_leading({expr})"
                else:
                    expr = f"_sum_to({expr}, {shape!r})"
                fresh = True
            if static[1] != dtype:
                self.ns[f"_dt{i}"] = dtype
                expr, fresh = f"_fit({expr}, {shape!r}, _dt{i})", True
            body_pad = ""
        # owned: "if g_i is not None, it is a new array that no other name holds"
        state, owned = self.state.get(i), i in self.owned
        uncertain = maybe or conditional
        if state is None:  # g_i was None (or unset): it becomes expr, maybe
            lines.append(f"{body_pad}g{i} = {expr}")
            if uncertain:
                self.maybe_vars.add(i)
            self.state[i] = "maybe" if uncertain else "sure"
            owned = fresh
        elif state == "sure":  # a new sum, unless this line may not run
            if owned:  # the same values, summed into the array only this name holds
                lines.append(f"{body_pad}g{i} += {expr}")
            else:
                lines.append(f"{body_pad}g{i} = g{i} + ({expr})")
            owned = owned if uncertain else True
        elif owned:
            lines.append(f"{body_pad}if g{i} is None:")
            lines.append(f"{body_pad}    g{i} = {expr}")
            lines.append(f"{body_pad}else:")
            lines.append(f"{body_pad}    g{i} += {expr}")
            owned = fresh
        else:
            lines.append(f"{body_pad}g{i} = ({expr}) if g{i} is None else g{i} + ({expr})")
            owned = fresh and (owned or not uncertain)
        if owned:
            self.owned.add(i)
        else:
            self.owned.discard(i)
        return lines

    def proxies_of(self, g: Function, f: Function, outs: tuple) -> tuple[list, list]:
        proxies = self.proxies.get(id(g))
        if proxies is None:
            proxies = self.proxies[id(g)] = _proxies(g, f, self.t, outs)
        return proxies

    def _backward_step(self, g: Function, f: Function, ins: tuple, outs: tuple) -> Any:
        """A Function's ``backward`` on this call's values: its private input and output
        Variables set to them, each gradient given as a Variable (zeros where none came)."""
        proxies = self.proxies_of(g, f, outs)
        shapes = [self.shapes[o] for o in outs]
        m = len(outs)

        def step(*values: Any) -> Any:
            gys, xs, ys = values[:m], values[m : m + len(ins)], values[m + len(ins) :]
            for p, x in zip(proxies[0], xs):
                p.data = x
            for p, y in zip(proxies[1], ys):
                p.data = y
            full = [
                Variable(np.asarray(gy) if gy is not None else np.zeros(*spec), requires_grad=False)
                for gy, spec in zip(gys, shapes)
            ]
            return tuple(core._pass_gradient(gx, False) for gx in _tuple(g.backward(*full)))

        return step


#: the ops whose forward is written out inline, by exact class (a subclass's forward may
#: differ): each writes its lines, or None to run the op's own forward
_INLINE_FORWARD = {
    _arithmetic.Add: Program._fwd_binary,
    _arithmetic.Sub: Program._fwd_binary,
    _arithmetic.Mul: Program._fwd_binary,
    _arithmetic.Div: Program._fwd_binary,
    _arithmetic.Neg: Program._fwd_neg,
    _activation.ReLU: Program._fwd_relu,
    _math.Tanh: Program._fwd_tanh,
    _matrix.MatMul: Program._fwd_matmul,
    _matrix.Linear: Program._fwd_linear,
}
#: the ops whose rule is written out inline, by exact class: each gives its contributions
#: (see Program._inline_rule), or None to run the op's own vjp
_INLINE_BACKWARD = {
    _arithmetic.Add: Program._bwd_add,
    _arithmetic.Sub: Program._bwd_sub,
    _arithmetic.Mul: Program._bwd_mul,
    _arithmetic.Div: Program._bwd_div,
    _arithmetic.Neg: Program._bwd_neg,
    _activation.ReLU: Program._bwd_relu,
    _math.Tanh: Program._bwd_tanh,
    _matrix.MatMul: Program._bwd_matmul,
    _matrix.Linear: Program._bwd_linear,
}


def _times_twice(gy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``gy * y * y`` (a new array), as Tanh's rule evaluates it."""
    m = gy * y
    m *= y
    return m


def _proxies(g: Function, f: Function, t: Trace, outs: tuple[int, ...]) -> tuple[list, list]:
    """Private Variables for a Function that is not an Op: its ``backward`` reads
    ``self.inputs[i].data`` (and maybe its outputs), which a replay sets to its own arrays
    before calling it, so the traced Variables (and the caller's) are never touched."""
    pin = []
    for x in f.inputs:
        p = Variable(x.data, x.name, requires_grad=x.requires_grad)
        p.generation = x.generation
        pin.append(p)
    pout = [Variable(t.vars[o].data, requires_grad=t.vars[o].requires_grad) for o in outs]
    g.inputs = tuple(pin)
    if any(p.requires_grad for p in pout):
        g.outputs = tuple(weakref.ref(p) for p in pout)
        g._output_specs = tuple((p.shape, p.dtype) for p in pout)
    return pin, pout
