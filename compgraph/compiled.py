"""``compile``: trace a function once, then replay its forward and backward passes on arrays.

The first call with given argument kinds, shapes and dtypes runs ``fn`` eagerly and records
every op it calls (through the engine's per-op watch, the one ``detect_anomaly`` uses) into a
trace over integer slots (compgraph/_compile_trace.py). That trace becomes two generated Python
functions, one line per op (compgraph/_compile_program.py): later calls with matching guards
run the forward one on arrays, no Variable, Function or heap per op. The result is an ordinary
Variable made by ONE node standing for the whole call; its backward runs the generated reverse
function (each op's rule on arrays, gradients summed where values fan out and summed back over
broadcast axes as the eager engine does).

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
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from compgraph import core
from compgraph._compile_plan import Plan
from compgraph._compile_program import Program, _as_output
from compgraph._compile_trace import Trace, bind, binds, record, state_names
from compgraph.core import Function, Variable
from compgraph.functions import normalization as _normalization

__all__ = ["CompiledFunction", "compile"]


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


def _fast_guard(t: Trace, args: tuple[Any, ...]) -> bool:
    """Whether ``args`` match the trace's: the same class (Variable, ndarray, number type),
    shape, dtype and requires_grad per argument, and the same repeated Variables. The cheap
    check of the latest trace, run before the cache key is built."""
    specs = t.arg_specs
    if len(args) != len(specs):
        return False
    for a, (cls, shape, dtype, rg) in zip(args, specs):
        if type(a) is not cls:
            return False
        if rg is None:  # an ndarray, or a number (its type was the check)
            if shape is not None and (a.shape != shape or a.dtype != dtype):
                return False
        else:
            d = a.data
            if a.requires_grad is not rg or d.shape != shape or d.dtype != dtype:
                return False
    # arguments traced apart may come as one Variable (each slot reads it, the engine sums
    # both gradients), but one traced as repeated must still be
    return not t.repeats or _aliases(args) == t.aliases


def _aliases(args: tuple[Any, ...]) -> tuple[int, ...]:
    first: dict[int, int] = {}
    return tuple(first.setdefault(id(a), i) if isinstance(a, Variable) else i for i, a in enumerate(args))


def _arg_spec(a: Any) -> tuple[Any, ...]:
    if type(a) is np.ndarray:
        return (np.ndarray, a.shape, a.dtype, None)
    if isinstance(a, Variable):
        return (type(a), a.data.shape, a.data.dtype, a.requires_grad)
    return (type(a), None, None, None)


def _leaves_unchanged(t: Trace) -> bool:
    for _, v, shape, dtype, rg in t.leaf_specs:
        d = v.data
        if d.shape != shape or d.dtype != dtype or v.requires_grad != rg:
            return False
    return True


# --- the node a call returns ------------------------------------------------------------------------
class _Replay(Function):
    """One node standing for a whole compiled call: its inputs are the arguments and closure
    leaves that need a gradient; its backward runs the generated reverse function on the
    values this call's forward saved."""

    __slots__ = ("trace", "values", "state")
    compiled_call = True  # a trace that meets one refuses it (compile only the outer function)

    @property
    def label(self) -> str:
        return f"compiled {self.trace.name}"

    def backward(self, *gys: Variable) -> tuple[Any, ...]:
        """The engine's way in: a gradient Variable per output (zeros where none came)."""
        if core.is_grad_enabled():
            raise NotImplementedError(
                "create_graph=True through a compiled function is not supported: its backward runs on "
                "arrays. Call the function uncompiled (fn.eager) for higher-order gradients."
            )
        return self.gradients([_rule_form(gy.data) for gy in gys])

    def gradients(self, seeds: list[Any]) -> tuple[Any, ...]:
        """The gradient of each input (None where none reaches it), from one per output."""
        t = self.trace
        if t.stateful:
            _own(t, self)
        return t.program.backward(self.values, *seeds)


def _rule_form(a: Any) -> Any:
    """A value as a rule receives it (``core._value``): 0-d as a NumPy scalar."""
    return a if type(a) is not np.ndarray or a.ndim else a[()]


class _Result(Variable):
    """A compiled call's output: an ordinary Variable, except that ``backward()`` takes a
    shorter way when its node stands alone on leaves (a training step's loss, as it is
    returned). The engine's walk would find one node there, so this does what it would do:
    check the inputs were not changed in place, seed ones, run the node's reverse function,
    and hand each leaf its gradient with the engine's own ``_Handout``. Everything else (an
    input computed by eager code, hooks, retain_grad, create_graph, anomaly mode, an input
    given twice) goes the engine's way."""

    __slots__ = ()

    def backward(self, retain_grad: bool = False, create_graph: bool = False) -> None:
        node = self.creator
        if retain_grad or create_graph or not _stands_alone(node, self._stamp):
            return Variable.backward(self, retain_grad, create_graph)
        _hand_out(node.inputs, _run_reverse(node, _seeds(node, self)))


def _stands_alone(node: Any, stamp: int) -> bool:
    """Whether the engine's walk from an output made at ``stamp`` would find ``node`` alone:
    a _Replay on leaves, each given once, with no hooks or anomaly mode to honour. Raises the
    engine's error if an input was changed in place after the output was computed from it."""
    if type(node) is not _Replay or core._hooks or core._anomaly.get() is not None:
        return False
    inputs = node.inputs
    for x in inputs:
        if x.creator is not None:  # eager code computed it: the engine walks on from here
            return False
        if x._stamp > stamp:  # set after this output was computed from it
            raise core._changed_error(node, x)
    # one Variable twice: the engine sums its gradients first
    return not (node.trace.may_repeat and len({id(x) for x in inputs}) != len(inputs))


def _seeds(node: _Replay, y: Variable) -> list[Any]:
    """Ones for ``y``; zeros for the node's other outputs, as the engine gives an output no
    gradient reached."""
    d = y.data
    seed = np.ones(d.shape, d.dtype) if d.ndim else d.dtype.type(1)
    if len(node.outputs) == 1:
        return [seed]
    return [
        seed if ref() is y else _rule_form(np.zeros(*spec))
        for ref, spec in zip(node.outputs, node._output_specs)
    ]


def _run_reverse(node: _Replay, seeds: list[Any]) -> tuple[Any, ...]:
    """The node's reverse program; with grad mode off where a Function's backward runs on
    Variables in it, so that it records nothing."""
    if not node.trace.program.records:
        return node.gradients(seeds)
    token = core._grad_mode.set(False)
    try:
        return node.gradients(seeds)
    finally:
        core._grad_mode.reset(token)


def _hand_out(inputs: tuple[Variable, ...], gxs: tuple[Any, ...]) -> None:
    """Each input that needs one its gradient, as the engine's ``_Handout`` gives it (summed
    into a gradient already there)."""
    handout = core._Handout(())
    for x, g in zip(inputs, gxs):
        if g is None or not x.requires_grad:
            continue
        if x.grad is None:
            x.grad = handout(g)
        else:
            x.grad = Variable(x.grad.data + g, requires_grad=False)


def _finish(t: Trace, modules: list[Any]) -> None:
    """The program, and what a replay reads: which arguments and leaves the node takes
    gradients for, the guard's specs, and the ops whose state a replay swaps per call."""
    t.statistics = _statistics_sources(t, modules)
    t.program = Program(t)
    t.arg_specs = tuple(_arg_spec(a) for a in t.given_args)
    t.aliases = _aliases(t.given_args)
    t.repeats = len(set(t.arg_slots)) != len(t.arg_slots)
    first = {}
    for k, s in enumerate(t.arg_slots):
        first.setdefault(s, k)
    t.grad_args = tuple(k for s, k in first.items() if t.vars[s].requires_grad)
    t.leaf_specs = tuple((s, v, v.data.shape, v.data.dtype, v.requires_grad) for s, v in t.leaves)
    t.leaf_vars = tuple(v for _, v in t.leaves)
    t.grad_leaves = tuple(v for _, v in t.leaves if v.requires_grad)
    t.all_variables = all(spec[0] is Variable for spec in t.arg_specs)
    t.grad_args_all = t.grad_args == tuple(range(len(t.arg_slots))) and not t.grad_leaves
    # could one Variable be two inputs of the node (an argument and a leaf, or two arguments
    # traced apart: the guard lets them through)?
    t.may_repeat = len(t.grad_args) > 1 or (bool(t.grad_args) and bool(t.grad_leaves))
    t.out_grad = tuple(t.vars[o].requires_grad for o in t.out_slots)
    t.out_specs = tuple((t.vars[o].data.shape, t.vars[o].data.dtype) for o in t.out_slots)
    t.stateful = []
    t.binds = []
    for _, _, _, g in t.ops:
        names = state_names(g)
        if names:
            t.stateful.append((g, names))
            t.binds.extend(binds(g, names, t))
    t.owner = None


def _statistics_sources(t: Trace, modules: list[Any]) -> dict[int, Callable[[], tuple[Any, Any]]]:
    """For each batch_norm with running statistics: where a replay finds them. The Module
    attributes that held those very arrays when traced (so ``load_state_dict`` or ``astype``,
    which assign new arrays, are seen), else the traced arrays themselves."""
    found = {}
    for _, _, _, g in t.ops:
        if not isinstance(g, _normalization.BatchNorm) or g.running_mean is None:
            continue
        mean, var = g.running_mean, g.running_var
        source = None
        for m in modules:
            attrs = {id(v): name for name, v in vars(m).items() if isinstance(v, np.ndarray)}
            if id(mean) in attrs and id(var) in attrs:
                source = (m, attrs[id(mean)], attrs[id(var)])
                break
        if source is None:
            found[id(g)] = lambda mean=mean, var=var: (mean, var)
        else:
            found[id(g)] = lambda m=source[0], a=source[1], b=source[2]: (getattr(m, a), getattr(m, b))
    return found


def _own(t: Trace, node: _Replay) -> None:
    """Make ``node``'s forward state (dropout masks, saved values) the one the replicas hold,
    saving that of the call which held it while it may still run backward."""
    prev = t.owner() if t.owner is not None else None
    if prev is node:
        return
    if prev is not None:
        prev.state = [tuple(getattr(f, n) for n in names) for f, names in t.stateful]
    if node.state is not None:
        for (f, names), values in zip(t.stateful, node.state):
            for n, v in zip(names, values):
                setattr(f, n, v)
        node.state = None
    t.owner = weakref.ref(node)


def _replay(t: Trace, args: tuple[Any, ...]) -> Any:
    """Run the forward function on ``args``; the result, made by one _Replay node."""
    values = _arg_values(t, args)
    node = _Replay()
    node.state = None
    if t.stateful:
        _own(t, node)
        if t.binds:
            bind(t.binds, dict(zip(t.arg_slots, values)))
    outs, node.values = t.program.forward(*values)
    if t.grad_args_all:  # every argument needs a gradient, no leaf does: the usual small graph
        inputs = args
    else:
        inputs = tuple([args[k] for k in t.grad_args]) + t.grad_leaves
    if not inputs:  # nothing needs a gradient (or grad mode is off): plain Variables
        results = [Variable(y if type(y) is np.ndarray else _as_output(y), requires_grad=False) for y in outs]
    else:
        results = _results(t, node, inputs, outs)
    return tuple(results) if t.several else results[0]


def _arg_values(t: Trace, args: tuple[Any, ...]) -> list[Any]:
    """The forward function's arguments: each argument's array, then each leaf's ``.data``."""
    if t.all_variables:  # the guard checked every argument's class
        values = [a.data for a in args]
    else:
        values = [
            a.data if isinstance(a, Variable) else a if type(a) is np.ndarray else _as_variable(a).data
            for a in args
        ]
    for v in t.leaf_vars:
        values.append(v.data)
    return values


def _results(t: Trace, node: _Replay, inputs: tuple[Variable, ...], outs: tuple[Any, ...]) -> list[_Result]:
    """The outputs as Variables made by ``node`` over ``inputs`` (those that need no gradient
    made by none)."""
    node.trace, node.inputs = t, inputs
    generation = max([x.generation for x in inputs]) + 1
    results = []
    for y, rg in zip(outs, t.out_grad):
        out = _Result(y if type(y) is np.ndarray else _as_output(y))
        if rg:
            out.creator, out.generation = node, generation
        else:
            out.requires_grad = False
        results.append(out)
    node.outputs = tuple([weakref.ref(out) for out in results])
    node._output_specs = t.out_specs
    return results


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
        self._cache: OrderedDict[tuple[Any, ...], Trace] = OrderedDict()
        self._modules = _modules_of(fn, tuple(modules))
        self._latest: Trace | None = None
        self.__name__ = getattr(fn, "__name__", "fn")
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def retraces(self) -> int:
        """How many calls traced again after the first trace (a guard changed)."""
        return max(self.traces - 1, 0)

    def _training(self) -> tuple[bool, ...]:
        return tuple(m.training for m in self._modules)

    def _key(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        kinds = tuple(_arg_key(i, a) for i, a in enumerate(args))
        return (kinds, _aliases(args), core._grad_mode.get(), self._training())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                f"compile: {self.__name__} got keyword arguments {sorted(kwargs)}; a compiled function takes "
                "positional arguments only (bind constants with functools.partial or a closure)"
            )
        if core._anomaly.get() is not None:  # detect_anomaly(): every op checked as it runs
            return self.eager(*args)
        t = self._latest
        if (
            t is not None
            and _fast_guard(t, args)
            and t.grad_mode is core._grad_mode.get()
            and (not self._modules or t.training == self._training())
            and _leaves_unchanged(t)
        ):
            return _replay(t, args)
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
        out, recorder = record(self.eager, variables)
        t = Trace(self.__name__, variables, out, recorder, before)
        t.given_args = args
        t.grad_mode, t.training = core._grad_mode.get(), self._training()
        _finish(t, self._modules)
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
    (``float(v)``, ``v.item()``, ``if v.data > 0:``). BatchNorm's running statistics are read
    from (and updated in) the layer's current buffers on every call. Not supported: a backward
    pass inside ``fn``, ``create_graph=True`` through the result, hooks on values inside
    ``fn``. Under ``detect_anomaly()`` ``fn`` runs eagerly.

    Use it as ``cg.compile(fn)`` or as a decorator, ``@cg.compile`` or
    ``@cg.compile(max_traces=4)``; keep at most ``max_traces`` traces (the oldest goes).
    """
    mods = tuple(modules) if isinstance(modules, (list, tuple)) else (modules,)
    if fn is None:
        return lambda f: CompiledFunction(f, max_traces=max_traces, modules=mods)
    return CompiledFunction(fn, max_traces=max_traces, modules=mods)
