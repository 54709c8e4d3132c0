"""``compile``: trace a function once, then replay its forward and backward passes on arrays.

The first call with given argument kinds, shapes and dtypes runs ``fn`` eagerly and records
every op it calls (through the engine's per-op watch, the one ``detect_anomaly`` uses) into a
flat program over integer slots. Later calls with matching guards replay that program: each
op's ``forward`` on arrays, no Variable, Function or heap per op. The result is an ordinary
Variable made by ONE node standing for the whole call; its backward replays the recorded
reverse program (each op's ``vjp`` on arrays, gradients summed where values fan out and summed
back over broadcast axes as the eager engine does).

What a replay reads fresh on every call: the arguments, and the current ``.data`` of every
Variable the trace reached that existed before it (a model's Parameters, buffers), so an
optimizer may update in place or assign a new array. What is frozen at trace time: Python
control flow, and any value ``fn`` computed outside the graph (``float(v)``, ``v.item()``,
``if v.data > 0:``, ``Variable(v.data * 2)``). docs/performance.md, "Compiled steps", has
the rest.

>>> import compgraph as cg
>>> f = cg.compile(lambda x: (x * x).sum())
>>> x = cg.Variable(np.arange(3.0))
>>> f(x).item(), f(x).item(), f.traces
(5.0, 5.0, 1)
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from compgraph import core, notation
from compgraph.core import Function, Op, Variable
from compgraph.functions import normalization as _normalization
from compgraph.functions import shape as _shape
from compgraph.functions import stochastic as _stochastic

__all__ = ["CompiledFunction", "compile"]

_ENGINE_SLOTS = frozenset({"inputs", "outputs", "_output_specs", "__weakref__", "__dict__"})


# --- recording ------------------------------------------------------------------------------------
class _Recorder:
    """Stands in for the anomaly watch during a trace: told of every op the engine runs."""

    def __init__(self) -> None:
        self.records: list[tuple[Function, tuple[Variable, ...]]] = []
        self.backward_inside = False

    def recorded(self, f: Function, out: Any) -> None:
        self.records.append((f, out if type(out) is tuple else (out,)))

    def stepped(self, *_: Any) -> None:
        self.backward_inside = True


def _record(fn: Callable[..., Any], args: tuple[Variable, ...]) -> tuple[Any, _Recorder]:
    recorder = _Recorder()
    token = core._anomaly.set(recorder)
    try:
        out = fn(*args)
    finally:
        core._anomaly.reset(token)
    return out, recorder


# --- guards -------------------------------------------------------------------------------------
def _arg_key(i: int, a: Any) -> tuple[Any, ...]:
    if isinstance(a, Variable):
        return ("Variable", a.data.shape, a.data.dtype, a.requires_grad)
    if isinstance(a, np.ndarray):
        return ("ndarray", a.shape, a.dtype)
    if isinstance(a, (int, float, np.integer, np.floating)) and not isinstance(a, bool):
        return ("number", type(a))
    raise TypeError(
        f"compile: argument {i} is a {type(a).__name__}; a compiled function takes Variables, "
        "ndarrays and Python numbers. Capture other values in a closure (they are frozen at trace "
        "time) or call the function uncompiled."
    )


def _as_variable(a: Any) -> Variable:
    if isinstance(a, Variable):
        return a
    return Variable(a, requires_grad=False)


def _modules_of(fn: Callable[..., Any], extra: tuple[Any, ...]) -> list[Any]:
    """The Modules whose ``training`` flag is part of the guard: those given, and those ``fn``
    reaches through its bound ``self``, its closure and the globals it names (one level of
    functions deep at a time, iteratively), with all their sub-modules."""
    from compgraph.nn.module import Module

    found: dict[int, Any] = {}
    seen: set[int] = set()
    stack: list[Any] = [fn, *extra]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Module):
            for _, m in obj.named_modules():
                found[id(m)] = m
        elif callable(obj):
            stack.extend(_referents(obj))
    return list(found.values())


def _referents(obj: Any) -> list[Any]:
    """The Modules and functions a function refers to: bound self, closure cells, globals."""
    out: list[Any] = [getattr(obj, "__self__", None)]
    code = getattr(obj, "__code__", None)
    if code is not None:
        for cell in obj.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                out.append(cell.cell_contents)
        g = getattr(obj, "__globals__", {})
        out.extend(g[name] for name in code.co_names if name in g)
    return [o for o in out if _is_module(o) or hasattr(o, "__code__") or hasattr(o, "__func__")]


def _is_module(o: Any) -> bool:
    from compgraph.nn.module import Module

    return isinstance(o, Module)


# --- the program --------------------------------------------------------------------------------
class _UnsupportedError(TypeError):
    pass


def _check_op(f: Function) -> None:
    if isinstance(f, _normalization.BatchNorm):
        raise _UnsupportedError(
            "compile: batch_norm cannot be replayed yet: its forward reads and updates the running "
            "statistics as a side effect (and drops its references to them). Leave the model "
            "uncompiled, or compile only the part without BatchNorm."
        )
    if isinstance(f, _Replay):
        raise _UnsupportedError("compile: fn calls another compiled function; compile only the outer one")


class _Dropout:
    """How a traced dropout draws a fresh mask on every replay: from the module's generator
    (``seed_dropout``), with the probability recovered from the traced mask's scale."""

    __slots__ = ("shape", "dtype", "draw_dtype", "p", "scale")

    def __init__(self, f: _stochastic.Dropout):
        mask = f.mask
        self.shape, self.dtype = mask.shape, mask.dtype
        self.draw_dtype = mask.dtype if mask.dtype in (np.float32, np.float64) else np.dtype(np.float32)
        kept = mask[mask != 0]
        self.scale = kept.flat[0] if kept.size else mask.dtype.type(0)
        self.p = 1.0 - 1.0 / float(self.scale) if kept.size else 1.0

    def draw(self) -> np.ndarray:
        u = _stochastic._default_rng.random(self.shape, dtype=self.draw_dtype)
        return ((u >= self.p) * self.scale).astype(self.dtype, copy=False)


class _Trace:
    """One traced program: the functions (copies of the traced ones), their slots, the leaves
    read on each call, and the reverse program."""

    def __init__(self, fn_name: str, args: tuple[Variable, ...], out: Any, recorder: _Recorder, before: int):
        if recorder.backward_inside:
            raise _UnsupportedError(
                "compile: fn ran a backward pass (backward() or grad()) while it was traced; compile "
                "the forward computation only and call backward on its result"
            )
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if not isinstance(o, Variable):
                raise TypeError(
                    f"compile: fn returned a {type(o).__name__}; a compiled function must return a "
                    "Variable or a tuple of Variables (return numbers through .item() outside it)"
                )
        self.name, self.several = fn_name, isinstance(out, tuple)
        self.slot: dict[int, int] = {}
        self.vars: list[Variable] = []  # every traced value, by slot (kept alive: ids stay unique)
        self.kind: list[str] = []  # "arg", "leaf", "const", "temp"
        self.arg_slots = tuple(self._new_slot(a, "arg") for a in args)  # an argument given twice: one slot
        self._build(recorder.records, before, outs)
        self.out_slots = tuple(self.slot[id(o)] for o in outs)
        self.owner: weakref.ref | None = None

    def _new_slot(self, v: Variable, kind: str) -> int:
        s = self.slot.get(id(v))
        if s is None:
            s = self.slot[id(v)] = len(self.vars)
            self.vars.append(v)
            self.kind.append(kind)
        return s

    def _build(self, records: list, before: int, outs: tuple[Variable, ...]) -> None:
        produced = {id(y): (f, k) for f, ys in records for k, y in enumerate(ys)}
        data_of = {id(v.data): v for v in self.vars}
        for _, ys in records:
            for y in ys:
                data_of.setdefault(id(y.data), y)
        live = _live(records, outs)
        self.ops: list[tuple[Function, tuple[int, ...], tuple[int, ...], Function]] = []
        self.leaves: list[tuple[int, Variable]] = []
        for f, ys in records:
            if id(f) not in live:
                continue
            _check_op(f)
            ins = tuple(self._input_slot(x, produced, data_of, before) for x in f.inputs)
            outs_ = tuple(self._new_slot(y, "temp") for y in ys)
            self.ops.append((f, ins, outs_, _replica(f)))
        for o in outs:
            if id(o) not in self.slot:
                self._input_slot(o, produced, data_of, before)

    def _input_slot(self, x: Variable, produced: dict, data_of: dict, before: int) -> int:
        s = self.slot.get(id(x))
        if s is not None:
            return s
        if x._stamp < before:  # existed before the trace: read its .data on every call
            s = self._new_slot(x, "leaf")
            self.leaves.append((s, x))
            return s
        alias = data_of.get(id(x.data))
        if alias is not None and alias is not x and id(alias) in self.slot:  # x.detach(): same value
            s = self.slot[id(x)] = self.slot[id(alias)]
            return s
        return self._new_slot(x, "const")


def _live(records: list, outs: tuple[Variable, ...]) -> set[int]:
    """The ids of the recorded functions some output depends on (iteratively)."""
    maker = {id(y): f for f, ys in records for y in ys}
    live: set[int] = set()
    stack = [maker[id(o)] for o in outs if id(o) in maker]
    while stack:
        f = stack.pop()
        if id(f) in live:
            continue
        live.add(id(f))
        stack.extend(maker[id(x)] for x in f.inputs if id(x) in maker)
    return live


def _replica(f: Function) -> Function:
    """The function a replay runs: a shallow copy, so state its forward keeps on itself does
    not change the eager graph the trace returned."""
    import copy

    return copy.copy(f)


def _state_names(f: Function) -> tuple[str, ...]:
    names: list[str] = []
    for cls in type(f).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.extend(n for n in ((slots,) if isinstance(slots, str) else slots) if n not in _ENGINE_SLOTS)
    if hasattr(f, "__dict__"):
        names.extend(vars(f))
    return tuple(n for n in names if hasattr(f, n))


def _rule_form(a: Any) -> Any:
    """A value as a rule receives it (``core._value``): 0-d as a NumPy scalar."""
    return a if type(a) is not np.ndarray or a.ndim else a[()]


def _fit(gx: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """``core._fit`` on arrays: summed back over broadcast axes, in the input's dtype."""
    if gx.shape != shape:
        gx = _shape.sum_to_array(gx, shape)
    return gx if gx.dtype == dtype else gx.astype(dtype)


class _Program:
    """The flat forward and reverse programs of a trace, over a list of slots."""

    def __init__(self, t: _Trace):
        self.n = len(t.vars)
        shapes = [(v.data.shape, v.data.dtype) for v in t.vars]
        #: slots held as NumPy scalars, not 0-d arrays: 0-d values that only scalar ops touch
        #: (an Op with scalar_forward), which eager also computes on NumPy scalars
        self.scalar = _scalar_slots(t, shapes)
        self.template: list[Any] = [
            (v.data[()] if self.scalar[i] else v.data) if k == "const" else None
            for i, (v, k) in enumerate(zip(t.vars, t.kind))
        ]
        self.forward: list[tuple[Any, ...]] = []
        self.backward: list[tuple[Any, ...]] = []
        self.stateful: list[tuple[Function, tuple[str, ...]]] = []
        self.binds: list[tuple[Function, str, int, int]] = []  # op attributes taken from arguments
        grad = [v.requires_grad for v in t.vars]
        for f, ins, outs, g in t.ops:
            self._add(f, ins, outs, g, t, grad, shapes)
        self.backward.reverse()

    def _add(
        self, f: Function, ins: tuple, outs: tuple, g: Function, t: _Trace, grad: list, shapes: list
    ) -> None:
        """Add one traced op to the forward program and, if it needs gradients, the reverse one."""
        op = isinstance(g, Op)
        draw = _Dropout(g) if isinstance(g, _stochastic.Dropout) else None
        proxies = None if op else _proxies(g, f, t, ins, outs)
        names = _state_names(g)
        if names:
            self.stateful.append((g, names))
            self.binds.extend(_binds(g, names, t))
        scalar = bool(g.scalar_forward and len(ins) <= 2 and all(not shapes[i][0] for i in ins))
        # s[o] = forward(s[a], s[b]) as it is: on arrays (a 0-d operand of an array op as eager
        # passes it, a 0-d array), or on NumPy scalars where every value is scalar-held
        plain = op and draw is None and len(ins) in (1, 2)
        direct = plain and (
            all(shapes[o][0] for o in outs) or all(self.scalar[i] for i in ins + outs)
        )
        if direct:
            self.forward.append((len(ins), g.forward, ins[0], ins[-1], outs[0]))
        else:
            self.forward.append((0, _forward_step(g, ins, outs, scalar, draw, proxies), 0, 0, 0))
        if any(grad[o] for o in outs):
            need = tuple((k, i) + shapes[i] for k, i in enumerate(ins) if grad[i])
            if direct:
                self.backward.append((g.vjp, outs[0], ins, need))
            else:
                self.backward.append((_backward_step(g, ins, outs, shapes, proxies, op), -1, ins, need))

    def run_forward(self, s: list[Any]) -> None:
        for kind, fwd, a, b, o in self.forward:
            if kind == 2:
                s[o] = fwd(s[a], s[b])
            elif kind == 1:
                s[o] = fwd(s[a])
            else:
                fwd(s)

    def run_backward(self, s: list[Any], g: list[Any]) -> None:
        for rule, o, ins, need in self.backward:
            if o >= 0:
                gy = g[o]
                if gy is None:
                    continue
                g[o] = None  # used: freed as eager frees it
                if len(ins) == 2:
                    gxs = rule(gy, s[o], s[ins[0]], s[ins[1]])
                else:
                    gxs = rule(gy, s[o], *[s[i] for i in ins])
            else:
                gxs = rule(s, g)
                if gxs is None:
                    continue
            if type(gxs) is not tuple:
                gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
            for k, i, shape, dtype in need:
                gx = gxs[k]
                if gx is None:
                    continue
                if gx.shape != shape or gx.dtype != dtype:
                    gx = _fit(gx, shape, dtype)
                prev = g[i]
                g[i] = gx if prev is None else prev + gx


def _scalar_slots(t: _Trace, shapes: list) -> list[bool]:
    """Which slots a replay holds as NumPy scalars: the 0-d ones that only Ops computing on
    scalars (``scalar_forward``, one or two inputs, no dropout) produce and consume."""
    scalar = [not shape for shape, _ in shapes]
    for _, ins, outs, g in t.ops:
        if not (isinstance(g, Op) and g.scalar_forward and len(ins) in (1, 2)) or isinstance(
            g, _stochastic.Dropout
        ):
            for i in ins + outs:
                scalar[i] = False
    return scalar


def _binds(g: Function, names: tuple[str, ...], t: _Trace) -> list[tuple[Function, str, int, int]]:
    """The integer arrays an op keeps (an index, as ``embedding`` and ``x[ids]`` keep a copy of
    the ids) that equal an integer argument: a replay sets them to that call's argument.
    ``(op, attribute, part of a tuple index or -1, argument slot)``."""
    found = []
    args = [s for s in dict.fromkeys(t.arg_slots) if t.vars[s].data.dtype.kind in "iub"]
    for n in names:
        value = getattr(g, n)
        parts = list(enumerate(value)) if type(value) is tuple else [(-1, value)]
        for k, part in parts:
            if type(part) is not np.ndarray or part.dtype.kind not in "iub":
                continue
            for s in args:
                d = t.vars[s].data
                if d.shape == part.shape and d.dtype == part.dtype and np.array_equal(d, part):
                    found.append((g, n, k, s))
                    break
    return found


def _bind(binds: list[tuple[Function, str, int, int]], s: list[Any]) -> None:
    for g, n, k, slot in binds:
        a = s[slot].copy()  # copied, as the op copies its index
        if k < 0:
            setattr(g, n, a)
        else:
            parts = list(getattr(g, n))
            parts[k] = a
            setattr(g, n, tuple(parts))


def _proxies(
    g: Function, f: Function, t: _Trace, ins: tuple[int, ...], outs: tuple[int, ...]
) -> tuple[list, list]:
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


def _as_output(y: Any) -> np.ndarray:
    return (
        y
        if type(y) is np.ndarray
        else core._output_array(None, y)
        if not isinstance(y, np.generic)
        else np.asarray(y)
    )


def _forward_step(
    g: Function, ins: tuple[int, ...], outs: tuple[int, ...], scalar: bool, draw: Any, proxies: Any
):
    """One forward op that needs more than ``s[o] = forward(s[a], s[b])``: 0-d values, several
    outputs, a fresh dropout mask, or a Function whose inputs must be set first."""

    def step(s: list[Any]) -> None:
        if draw is not None:
            g.mask = draw.draw()
        xs = [s[i] for i in ins]
        if proxies is not None:
            for p, x in zip(proxies[0], xs):
                p.data = x
        ys = g.forward(*[x[()] for x in xs] if scalar else xs)
        if type(ys) is tuple:
            for o, y in zip(outs, ys):
                s[o] = _as_output(y)
        else:
            s[outs[0]] = _as_output(ys)

    return step


def _backward_step(
    g: Function, ins: tuple[int, ...], outs: tuple[int, ...], shapes: list, proxies: Any, op: bool
):
    """One reverse step that needs more than ``vjp(gy, y, *xs)`` on arrays: 0-d values (rules
    get NumPy scalars, as ``core._value`` gives them) or a Function's ``backward``."""

    def step(s: list[Any], g_: list[Any]) -> Any:
        gys = [g_[o] for o in outs]
        if all(gy is None for gy in gys):
            return None
        for o in outs:
            g_[o] = None
        if op:
            return g.vjp(gys[0], _rule_form(s[outs[0]]), *[_rule_form(s[i]) for i in ins])
        for p, i in zip(proxies[0], ins):
            p.data = s[i]
        for p, o in zip(proxies[1], outs):
            p.data = s[o]
        full = [
            Variable(np.asarray(gy) if gy is not None else np.zeros(*shapes[o]), requires_grad=False)
            for gy, o in zip(gys, outs)
        ]
        gxs = g.backward(*full)
        if type(gxs) is not tuple:
            gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
        return tuple(core._pass_gradient(gx, False) for gx in gxs)

    return step


# --- the node a call returns ------------------------------------------------------------------------
class _Replay(Function):
    """One node standing for a whole compiled call: its inputs are the arguments and closure
    leaves that need a gradient; its backward replays the reverse program on this call's
    values."""

    __slots__ = ("trace", "slots", "saved", "results")

    @property
    def label(self) -> str:
        return f"compiled {self.trace.name}"

    def forward(self, *xs: np.ndarray) -> Any:
        return self.results

    def backward(self, *gys: Variable) -> tuple[Any, ...]:
        if core.is_grad_enabled():
            raise NotImplementedError(
                "create_graph=True through a compiled function is not supported: its backward runs on "
                "arrays. Call the function uncompiled (fn.eager) for higher-order gradients."
            )
        t = self.trace
        t.own(self)
        g: list[Any] = [None] * t.program.n
        for o, gy in zip(t.out_slots, gys):
            d = _rule_form(gy.data)
            g[o] = d if g[o] is None else g[o] + d
        t.program.run_backward(self.slots, g)
        return tuple(g[i] for i in t.grad_slots)


def _finish(t: _Trace) -> None:
    """The program, and which slots the node takes gradients for."""
    t.program = _Program(t)
    t.grad_slots = tuple(s for s, k in enumerate(t.kind) if k in ("arg", "leaf") and t.vars[s].requires_grad)
    t.leaf_specs = tuple((s, v, v.data.shape, v.data.dtype, v.requires_grad) for s, v in t.leaves)


def _own(self: _Trace, node: _Replay) -> None:
    """Make ``node``'s forward state (dropout masks, saved values) the one the replicas hold,
    saving that of the call which held it while it may still run backward."""
    prev = self.owner() if self.owner is not None else None
    if prev is node:
        return
    if prev is not None:
        prev.saved = [tuple(getattr(f, n) for n in names) for f, names in self.program.stateful]
    if node.saved is not None:
        for (f, names), values in zip(self.program.stateful, node.saved):
            for n, v in zip(names, values):
                setattr(f, n, v)
        node.saved = None
    self.owner = weakref.ref(node)


_Trace.own = _own  # type: ignore[attr-defined]


def _replay(t: _Trace, args: tuple[Any, ...]) -> Any:
    """Run the forward program on ``args``; the result, made by one _Replay node."""
    p = t.program
    s = p.template[:]
    node = _Replay()
    node.trace, node.saved, node.slots = t, None, s
    inputs = []
    scalar = p.scalar
    for i, a in zip(t.arg_slots, args):
        if type(a) is Variable or isinstance(a, Variable):
            if s[i] is None and a.requires_grad:
                inputs.append(a)
            d = a.data
        else:
            d = a if type(a) is np.ndarray else _as_variable(a).data
        s[i] = d[()] if scalar[i] else d
    for slot, v, _, _, rg in t.leaf_specs:
        s[slot] = v.data[()] if scalar[slot] else v.data
        if rg:
            inputs.append(v)
    if p.stateful:
        t.own(node)
        if p.binds:
            _bind(p.binds, s)
    p.run_forward(s)
    outs = [s[o] for o in t.out_slots]
    node.results = tuple(outs) if t.several else outs[0]
    result = node(*inputs)
    node.results = None
    return result


def _leaves_unchanged(t: _Trace) -> bool:
    for _, v, shape, dtype, rg in t.leaf_specs:
        d = v.data
        if d.shape != shape or d.dtype != dtype or v.requires_grad != rg:
            return False
    return True


# --- the compiled function ----------------------------------------------------------------------------
class CompiledFunction:
    """``fn`` traced once per guard and replayed: see ``compile``.

    ``traces`` counts the traces made so far (the first call's included); ``plan`` shows the
    latest trace's program; ``eager`` is ``fn`` itself.
    """

    def __init__(self, fn: Callable[..., Any], *, max_traces: int = 8, modules: tuple[Any, ...] = ()):
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if max_traces < 1:
            raise ValueError(f"compile: max_traces must be at least 1, got {max_traces}")
        self.eager = fn
        self.max_traces = max_traces
        self.traces = 0
        self._cache: OrderedDict[tuple[Any, ...], _Trace] = OrderedDict()
        self._modules = _modules_of(fn, tuple(modules))
        self._latest: _Trace | None = None
        self.__name__ = getattr(fn, "__name__", "fn")
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def retraces(self) -> int:
        """How many calls traced again after the first trace (a guard changed)."""
        return max(self.traces - 1, 0)

    def _key(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        first: dict[int, int] = {}
        kinds = tuple(_arg_key(i, a) for i, a in enumerate(args))
        aliases = tuple(
            first.setdefault(id(a), i) if isinstance(a, Variable) else i for i, a in enumerate(args)
        )
        return (kinds, aliases, core._grad_mode.get(), tuple(m.training for m in self._modules))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                f"compile: {self.__name__} got keyword arguments {sorted(kwargs)}; a compiled function takes "
                "positional arguments only (bind constants with functools.partial or a closure)"
            )
        if core._anomaly.get() is not None:  # detect_anomaly(): every op checked as it runs
            return self.eager(*args)
        key = self._key(args)
        t = self._cache.get(key)
        if t is not None and _leaves_unchanged(t):
            self._latest = t
            return _replay(t, args)
        return self._trace(key, args)

    def _trace(self, key: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        variables = tuple(_as_variable(a) for a in args)
        core.changed_in_place()  # ticks the clock: what the trace creates is stamped after this
        before = core._clock
        out, recorder = _record(self.eager, variables)
        t = _Trace(self.__name__, variables, out, recorder, before)
        _finish(t)
        self._cache[key] = t
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_traces:
            self._cache.popitem(last=False)  # the oldest goes
        self.traces += 1
        self._latest = t
        return out  # the trace's own eager result: an ordinary graph

    @property
    def plan(self) -> Plan:
        """The latest trace's program, printable: one line per forward op and backward step."""
        if self._latest is None:
            raise ValueError(
                f"compile: {self.__name__} has no trace yet: its first call outside detect_anomaly() makes "
                "one (calls inside it run eagerly)"
            )
        return Plan(self._latest)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {self.traces} trace(s)>"


def compile(fn: Callable[..., Any] | None = None, *, max_traces: int = 8, modules: Any = ()) -> Any:
    """Trace ``fn`` on its first call and replay the recorded forward and backward programs.

    ``fn`` takes Variables, ndarrays and numbers (ndarrays and numbers become constant
    Variables, a Python number a float64 0-d one) and returns a Variable or a tuple of them.
    The first call with a new guard (each argument's kind, shape, dtype and requires_grad,
    grad mode, the ``training`` flag of the Modules ``fn`` reaches through its closure, its
    globals or ``modules``, and the shapes, dtypes and requires_grad of the leaves it read)
    runs ``fn`` eagerly, returns its result and records it; later calls replay. A replay reads
    the arguments and the current ``.data`` of the Variables the trace reached (Parameters),
    draws fresh dropout masks from the module generator, and returns a Variable whose one
    creator node backpropagates through the recorded reverse program.

    Frozen at trace time: Python control flow and any value ``fn`` takes out of the graph
    (``float(v)``, ``v.item()``, ``if v.data > 0:``). Not supported: BatchNorm (its running
    statistics), a backward pass inside ``fn``, ``create_graph=True`` through the result,
    hooks on values inside ``fn``. Under ``detect_anomaly()`` ``fn`` runs eagerly.

    Use it as ``cg.compile(fn)`` or as a decorator, ``@cg.compile`` or
    ``@cg.compile(max_traces=4)``; keep at most ``max_traces`` traces (the oldest goes).
    """
    mods = tuple(modules) if isinstance(modules, (list, tuple)) else (modules,)
    if fn is None:
        return lambda f: CompiledFunction(f, max_traces=max_traces, modules=mods)
    return CompiledFunction(fn, max_traces=max_traces, modules=mods)


# --- the plan ----------------------------------------------------------------------------------------
class Plan:
    """The compiled program as the seed's local computations: ``t3 = t1 * t2`` per forward op,
    ``gt1 = gt3 * t2`` per backward step, with each value's shape and dtype."""

    def __init__(self, t: _Trace):
        self.lines = _plan_lines(t)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return str(self)


def _names(t: _Trace) -> list[str]:
    names, temps = [], 0
    for s, (v, k) in enumerate(zip(t.vars, t.kind)):
        given = getattr(v, "_qualified_name", None) or v.name
        if k == "const" and v.data.size == 1 and not given:
            given = notation.format_number(v.data.item())
        elif k == "temp":
            temps += 1
            given = f"t{temps}"
        names.append(given or (f"x{t.arg_slots.index(s)}" if k == "arg" else f"c{s}"))
    return names


def _spec(v: Variable) -> str:
    return f"{tuple(v.data.shape)} {v.data.dtype}"


def _plan_lines(t: _Trace) -> list[str]:
    names = _names(t)
    sym = [notation.Sym(n) for n in names]
    args = ", ".join(names[s] for s in t.arg_slots)
    lines = [f"compiled {t.name}({args}): {len(t.ops)} ops"]
    for s, v in t.leaves:
        lines.append(f"  read {names[s]}.data   # {_spec(v)}")
    lines.append("forward:")
    for f, ins, outs, _ in t.ops:
        formula = f.formula(*[sym[i] for i in ins])
        rhs = formula.text if formula is not None else f"{f.label}({', '.join(names[i] for i in ins)})"
        lhs = ", ".join(names[o] for o in outs)
        lines.append(f"  {lhs} = {rhs}   # {', '.join(_spec(t.vars[o]) for o in outs)}")
    lines.append("backward:")
    got: set[int] = set()
    for o in t.out_slots:
        if t.vars[o].requires_grad:
            lines.append(f"  g{names[o]} = 1   # seed, {_spec(t.vars[o])}")
            got.add(o)
    for f, ins, outs, _ in reversed(t.ops):
        if any(o in got for o in outs):
            lines.extend(_backward_lines(t, f, ins, outs, names, sym, got))
    return lines


def _backward_lines(
    t: _Trace, f: Function, ins: tuple, outs: tuple, names: list, sym: list, got: set
) -> list[str]:
    """``gx = gy·∂y/∂x`` (an elementwise op) or the op's grad rule, for each input needing one."""
    lines = []
    locs = f.local_derivatives(*[sym[i] for i in ins]) if len(outs) == 1 else None
    gy = notation.Sym("g" + names[outs[0]]) if len(outs) == 1 else None
    for k, i in enumerate(ins):
        if not t.vars[i].requires_grad:
            continue
        if locs is not None and locs[k] is not None and gy is not None:
            prod = notation.product([gy, locs[k]])
            rhs = prod.text if prod is not None else f"{gy.text} * ∂/∂{names[i]}"
        elif k < len(f.grad_rules) and gy is not None:
            rhs = re.sub(r"\bg\b", gy.text, f.grad_rules[k].format(*(sym[j].text for j in ins)))
        else:
            rhs = f"{f.label} rule for input {k}"
        lines.append(f"  g{names[i]} {'+=' if i in got else '='} {rhs}")
        got.add(i)
    return lines


def _iter_ops(t: _Trace) -> Iterator[Function]:  # for tests and tools: the traced functions in order
    return (f for f, _, _, _ in t.ops)
