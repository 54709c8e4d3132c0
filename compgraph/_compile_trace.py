"""A compiled function's trace: the ops ``fn`` ran, over integer slots.

``record`` runs ``fn`` eagerly with the engine's per-op watch (the hook ``detect_anomaly``
uses) set to a recorder; ``Trace`` turns the records into slots (arguments, leaves read on
every call, constants, temporaries) and the ops that some output depends on, each with a
shallow copy of its Function (its replica) that a replay runs. An op whose inputs are all
constants is folded: its traced outputs become constants. compgraph/compiled.py has the rest.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from compgraph import core
from compgraph.core import Function, Variable
from compgraph.functions import normalization as _normalization
from compgraph.functions import stochastic as _stochastic

_ENGINE_SLOTS = frozenset({"inputs", "outputs", "_output_specs", "__weakref__", "__dict__"})


# --- recording ------------------------------------------------------------------------------------
class Recorder:
    """Stands in for the anomaly watch during a trace: told of every op the engine runs."""

    def __init__(self) -> None:
        self.records: list[tuple[Function, tuple[Variable, ...]]] = []
        self.backward_inside = False

    def recorded(self, f: Function, out: Any) -> None:
        self.records.append((f, out if type(out) is tuple else (out,)))

    def stepped(self, *_: Any) -> None:
        self.backward_inside = True


def record(fn: Callable[..., Any], args: tuple[Variable, ...]) -> tuple[Any, Recorder]:
    recorder = Recorder()
    token = core._anomaly.set(recorder)
    try:
        out = fn(*args)
    finally:
        core._anomaly.reset(token)
    return out, recorder


class UnsupportedError(TypeError):
    pass


def _check_op(f: Function) -> None:
    if getattr(f, "compiled_call", False):
        raise UnsupportedError("compile: fn calls another compiled function; compile only the outer one")


class Dropout:
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


class Trace:
    """One traced program: the functions (copies of the traced ones) with their input and
    output slots, the leaves read on each call, and the constants."""

    def __init__(self, fn_name: str, args: tuple[Variable, ...], out: Any, recorder: Recorder, before: int):
        if recorder.backward_inside:
            raise UnsupportedError(
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
            if _foldable(f, [self.kind[i] for i in ins]):  # the same result on every call
                for y in ys:
                    self._new_slot(y, "const")
                continue
            outs_ = tuple(self._new_slot(y, "temp") for y in ys)
            self.ops.append((f, ins, outs_, _replica(f)))
        for o in outs:
            if id(o) not in self.slot:
                self._input_slot(o, produced, data_of, before)

    def _input_slot(self, x: Variable, produced: dict, data_of: dict, before: int) -> int:
        s = self.slot.get(id(x))
        if s is not None:
            return s
        if x._stamp < before and not _shared_number(x):  # existed before: read its .data on every call
            s = self._new_slot(x, "leaf")
            self.leaves.append((s, x))
            return s
        alias = data_of.get(id(x.data))
        if alias is not None and alias is not x and id(alias) in self.slot:  # x.detach(): same value
            s = self.slot[id(x)] = self.slot[id(alias)]
            return s
        return self._new_slot(x, "const")


def _shared_number(x: Variable) -> bool:
    """Whether ``x`` is one of the engine's shared constants for a Python number (``y * 2``):
    its data is a view of immutable bytes, so it holds that number for good (core._as_input)."""
    d = x.data
    if x.requires_grad or d.flags.writeable:
        return False
    while isinstance(d.base, np.ndarray):
        d = d.base
    return isinstance(d.base, bytes)


def _foldable(f: Function, kinds: list[str]) -> bool:
    """Whether op ``f`` computes a constant: all its inputs are constants, it draws no random
    numbers, and it keeps no integer array (an index copied from an argument, see ``binds``)."""
    if (
        not kinds
        or any(k != "const" for k in kinds)
        or isinstance(f, (_stochastic.Dropout, _normalization.BatchNorm))
    ):
        return False  # random, or updating running statistics: not the same on every call
    for n in state_names(f):
        value = getattr(f, n)
        for part in value if type(value) is tuple else (value,):
            if type(part) is np.ndarray and part.dtype.kind in "iub":
                return False
    return True


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
    return copy.copy(f)


def state_names(f: Function) -> tuple[str, ...]:
    """The attributes a Function sets on itself besides the engine's (settings, saved values)."""
    names: list[str] = []
    for cls in type(f).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.extend(n for n in ((slots,) if isinstance(slots, str) else slots) if n not in _ENGINE_SLOTS)
    if hasattr(f, "__dict__"):
        names.extend(vars(f))
    return tuple(n for n in names if hasattr(f, n))


def binds(g: Function, names: tuple[str, ...], t: Trace) -> list[tuple[Function, str, int, int]]:
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


def bind(binds: list[tuple[Function, str, int, int]], s: list[Any]) -> None:
    for g, n, k, slot in binds:
        a = s[slot].copy()  # copied, as the op copies its index
        if k < 0:
            setattr(g, n, a)
        else:
            parts = list(getattr(g, n))
            parts[k] = a
            setattr(g, n, tuple(parts))
