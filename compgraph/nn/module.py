"""Module and Parameter: a model's trainable values found from its attributes, with its state.

A Module keeps its Parameters, buffers (non-trained arrays such as BatchNorm's running
statistics) and sub-Modules as ordinary attributes. They are discovered by walking the
attributes in the order they were assigned, so names ("fc1.W") and order are the same on every
run: the order optimizers, state dicts and saved files rely on.

A Parameter also carries its qualified name as its ``name``, so drawings, traces and error
messages say ``fc1.W`` rather than ``v1``. A Module gives it when the Parameter (or a Module
holding it) is assigned as an attribute, and again when ``named_parameters`` lists it (for
Parameters appended to a list attribute later). Names only ever grow more qualified: ``W``
becomes ``fc1.W`` when its Linear is assigned to ``fc1``, then ``encoder.fc1.W`` when that
model is assigned to ``encoder``; they never shrink back, so a Parameter shared by two layers
keeps the name of the first place it was attached. A name the user gave (``Parameter(data,
name="w")``, or set later with ``p.name = ...``) is never replaced. All of this happens while
a model is built.

Each call of a module is remembered as a ``ModuleCall``: the module's qualified name and
class, and which Variables went in and came out, so a drawing can show ``h.0:
TransformerBlock`` as one box (``compgraph.viz``). It costs one small record per module call,
none per op, and holds nothing alive: it is kept, weakly, under the output Variables and goes
when they go. ``module_calls(y)`` reads the calls that returned ``y``.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from compgraph.core import Variable


class Parameter(Variable):
    """A Variable that a Module trains: floating-point data, always requiring a gradient.

    >>> w = Parameter(np.zeros((2, 3), dtype=np.float32))
    >>> w.requires_grad, w.shape
    (True, (2, 3))
    """

    # the qualified name a Module gave it (None: none given); a ``name`` that differs from it
    # was chosen by the user and is kept
    __slots__ = ("_qualified_name",)

    def __init__(self, data: np.ndarray, name: str | None = None):
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"Parameter data must be a numpy.ndarray, got {type(data).__name__}; "
                "wrap it with np.asarray(..., dtype=np.float32) first"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"Parameter data must be floating-point to be trained, got {data.dtype}; "
                "convert it with .astype(np.float32)"
            )
        super().__init__(data, name, requires_grad=True)
        self._qualified_name: str | None = None

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Variable") :]


class ModuleCall:
    """One call of a Module: its qualified name and class then, weak references to the
    Variables it took (found in its arguments, also inside tuples, lists and dicts) and to the
    ones it returned that a graph records, and when it started and ended, on a clock that
    ticks at each call's start and end: a call made inside another starts after it and ends
    before it."""

    __slots__ = ("name", "kind", "inputs", "outputs", "start", "end", "__weakref__")

    def __init__(
        self,
        name: str,
        kind: str,
        inputs: tuple[weakref.ref, ...],
        outputs: tuple[weakref.ref, ...],
        start: int,
        end: int,
    ):
        self.name, self.kind, self.inputs, self.outputs = name, kind, inputs, outputs
        self.start, self.end = start, end

    def __repr__(self) -> str:
        where = f"{self.name}: " if self.name else ""
        return f"<ModuleCall {where}{self.kind} {self.start}-{self.end}>"


# The calls that returned each Variable, innermost first (an MLP returns its last Linear's
# output: both calls are kept under it). Keys are held weakly and every record refers to its
# Variables weakly, so a record lives exactly as long as its output.
_calls: weakref.WeakKeyDictionary[Variable, tuple[ModuleCall, ...]] = weakref.WeakKeyDictionary()
_clock = itertools.count()


def module_calls(v: Variable) -> tuple[ModuleCall, ...]:
    """The module calls that returned ``v``, innermost first (empty: none did).

    >>> from compgraph.nn import Linear
    >>> fc = Linear(2, 3, rng=0)
    >>> y = fc(np.ones((1, 2), dtype=np.float32))
    >>> [(c.name, c.kind) for c in module_calls(y)]
    [('', 'Linear')]
    """
    return _calls.get(v, ())


def _variables(value: Any) -> list[Variable]:
    """The Variables in ``value``: itself, or those inside its tuples, lists and dicts."""
    if isinstance(value, Variable):
        return [value]
    found: list[Variable] = []
    opened: set[int] = set()  # containers looked into, by id: a list holding itself is read once
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Variable):
            found.append(item)
        elif isinstance(item, (tuple, list, dict)) and id(item) not in opened:
            opened.add(id(item))
            stack.extend(reversed(list(item.values()) if isinstance(item, dict) else item))
    return found


def _remember(module: Module, args: tuple, kwargs: dict[str, Any], result: Any, start: int) -> None:
    """Record the call of ``module`` on ``args``/``kwargs``, started at ``start``, that returned
    ``result``: under each output that a graph records (none under no_grad: nothing is kept)."""
    if isinstance(result, Variable):  # the common case, kept short: this runs on every call
        if result.creator is None:
            return
        ys: tuple[Variable, ...] = (result,)
    else:
        ys = tuple([y for y in _variables(result) if y.creator is not None])
        if not ys:
            return
    if len(args) == 1 and not kwargs and isinstance(args[0], Variable):
        inputs: tuple[weakref.ref, ...] = (weakref.ref(args[0]),)
    else:
        inputs = tuple([weakref.ref(x) for x in _variables((args, kwargs))])
    outputs = (weakref.ref(ys[0]),) if len(ys) == 1 else tuple([weakref.ref(y) for y in ys])
    call = ModuleCall(module._qualified_name, type(module).__name__, inputs, outputs, start, next(_clock))
    for y in ys:
        calls = _calls.get(y, ())
        if call not in calls:  # an output returned twice is recorded once
            _calls[y] = calls + (call,)


class Module:
    """The base class of layers and models.

    Subclasses assign Parameters, sub-Modules (or lists/tuples of them) and buffers
    (``register_buffer``) as attributes in ``__init__`` and define ``forward``; calling the
    module calls ``forward``. ``training`` is True until ``eval()``.

    >>> class Affine(Module):
    ...     def __init__(self):
    ...         self.W = Parameter(np.ones((2, 1), dtype=np.float32))
    ...     def forward(self, x):
    ...         return x @ self.W
    >>> [name for name, _ in Affine().named_parameters()]
    ['W']
    """

    training: bool = True
    #: where this module sits in the model that holds it ("encoder.fc1"; "": nowhere, or the
    #: model itself), given as for Parameters; error messages name the layer by it
    _qualified_name: str = ""

    def __setattr__(self, attr: str, value: Any) -> None:
        super().__setattr__(attr, value)
        if isinstance(value, (Parameter, Module, list, tuple)):
            _qualify_members(attr, value)

    def _qualify_below(self, prefix: str) -> None:
        """Give this module the path ``prefix``, and each module and Parameter below it its path
        under ``prefix``, where that is more qualified than the name it has."""
        for _ in self.named_modules(prefix):  # listing the modules names them
            pass
        for path, _, _, value, is_buffer in self._state_entries():
            if not is_buffer:
                _qualify(value, f"{prefix}.{path}" if prefix else path)

    def _describe(self) -> str:
        """The layer as error messages name it: ``Linear 'fc1' (3 -> 4)``."""
        where = f" {self._qualified_name!r}" if self._qualified_name else ""
        inside = self.extra_repr()
        return f"{type(self).__name__}{where}" + (f" ({inside})" if inside else "")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = next(_clock)
        result = self.forward(*args, **kwargs)
        _remember(self, args, kwargs, result, start)
        return result

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation; subclasses define it, and calling the module runs it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...)")

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Keep ``array`` as attribute ``name``: saved in the state dict, not trained."""
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}.register_buffer({name!r}): a buffer must be a numpy.ndarray, "
                f"got {type(array).__name__}"
            )
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def _members(self) -> Iterator[tuple[str, Any, bool]]:
        """(attribute path, value, is_buffer) for Parameters, sub-Modules and buffers, in order."""
        buffers = self.__dict__.get("_buffer_names", ())
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value, False
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item, False
            elif name in buffers and isinstance(value, np.ndarray):
                yield name, value, True

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every sub-module once, as ("fc1", module); this one is named ``prefix``.

        A module without a more qualified name takes the one listed here (for error messages).
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            if _extends(name, module._qualified_name):
                object.__setattr__(module, "_qualified_name", name)
            yield name, module
            children = [
                (f"{name}.{attr}" if name else attr, value)
                for attr, value, _ in module._members()
                if isinstance(value, Module)
            ]
            stack.extend(reversed(children))  # depth-first, in attribute order

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module once, as ``named_modules`` without the names."""
        for _, module in self.named_modules():
            yield module

    def _state_entries(self) -> Iterator[tuple[str, Module, str, Any, bool]]:
        """(full name, owner, attribute, value, is_buffer) for each Parameter and buffer, once."""
        # depth-first in attribute order: a sub-module's entries come where it was assigned
        seen_modules: set[int] = {id(self)}
        seen: set[Any] = set()
        stack = [("", self, self._members())]
        while stack:
            prefix, module, members = stack[-1]
            item = next(members, None)
            if item is None:
                stack.pop()
                continue
            attr, value, is_buffer = item
            name = f"{prefix}.{attr}" if prefix else attr
            if isinstance(value, Module):
                if id(value) not in seen_modules:
                    seen_modules.add(id(value))
                    stack.append((name, value, value._members()))
                continue
            key = id(value) if not is_buffer else (id(module), attr)
            if key in seen:  # a Parameter shared by two layers is trained and saved once
                continue
            seen.add(key)
            yield name, module, attr, value, is_buffer

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """("fc1.W", Parameter) pairs in attribute order; a shared Parameter appears once.

        A Parameter without a more qualified name takes the one listed here as its ``name``.
        """
        for name, _, _, value, is_buffer in self._state_entries():
            if not is_buffer:
                _qualify(value, name)
                yield name, value

    def parameters(self) -> list[Parameter]:
        """The Parameters, in the order of ``named_parameters`` (what optimizers take)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (``register_buffer``), as (qualified name, array), in attribute order."""
        for name, _, _, value, is_buffer in self._state_entries():
            if is_buffer:
                yield name, value

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) here and in every sub-module."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off, running statistics) everywhere; same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every Parameter's accumulated gradient."""
        for p in self.parameters():
            p.grad = None

    def astype(self, dtype: Any) -> Module:
        """Convert every floating-point Parameter and buffer to ``dtype`` (in place); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.astype: parameters must stay floating-point, got {dtype}")
        for _, owner, attr, value, is_buffer in list(self._state_entries()):
            if is_buffer:
                if value.dtype.kind == "f":
                    setattr(owner, attr, value.astype(dtype))
            else:
                value.data = value.data.astype(dtype)
                value.grad = None
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every Parameter's data and every buffer, by name, in attribute order."""
        return {
            name: np.array(value if is_buffer else value.data, copy=True)
            for name, _, _, value, is_buffer in self._state_entries()
        }

    def load_state_dict(
        self, state: Mapping[str, np.ndarray], strict: bool = True, *, source: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Copy ``state``'s arrays into the Parameters and buffers of the same names.

        Every name, shape and dtype is checked first and all differences are reported in one
        ValueError; nothing is changed unless everything fits. With ``strict=False``, missing
        and unexpected names are allowed (and returned as ``(missing, unexpected)``), but
        shapes and dtypes must still match.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict: expected a mapping of names to arrays, "
                f"got {type(state).__name__}"
            )
        entries = list(self._state_entries())
        names = {name for name, *_ in entries}
        missing = [name for name, *_ in entries if name not in state]
        unexpected = [name for name in state if name not in names]
        problems = _name_problems(missing, unexpected) if strict else []
        for name, _, _, value, is_buffer in entries:
            if name in state:
                problems += _misfits(name, value if is_buffer else value.data, state[name])
        if problems:
            where = f" from {source}" if source else ""
            raise ValueError(
                f"{type(self).__name__}.load_state_dict{where}: the state does not fit this model; "
                "nothing was loaded:\n  " + "\n  ".join(problems)
            )
        for name, owner, attr, value, is_buffer in entries:
            if name in state:
                _assign(owner, attr, value, is_buffer, state[name])
        return missing, unexpected

    def save(self, path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
        """Write the state dict to ``path`` in the safetensors format, atomically.

        Needs the ``safetensors`` package (``pip install 'compgraph[io]'``).
        """
        from compgraph.nn.serialization import save_file

        save_file(self.state_dict(), path, metadata)

    def load(self, path: str | Path, strict: bool = True) -> Module:
        """Load weights saved by ``save`` (names, shapes and dtypes checked); returns self."""
        from compgraph.nn.serialization import load_file

        tensors, _ = load_file(path)
        self.load_state_dict(tensors, strict, source=str(path))
        return self

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its sizes and options)."""
        return ""

    def __repr__(self) -> str:
        children = [(name, v) for name, v, _ in self._members() if isinstance(v, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _extends(path: str, current: str | None) -> bool:
    """Whether ``path`` is a better name than ``current``: there is none, or ``path`` qualifies
    it further (``fc1.W`` for ``W``). Names only grow, so they settle whatever the order."""
    return bool(path) and (not current or path.endswith("." + current))


def _qualify(p: Parameter, path: str) -> None:
    """Name ``p`` by ``path`` unless the user named it or it has a more qualified name."""
    given = p._qualified_name
    if not p.name or (p.name == given and _extends(path, given)):
        p.name = p._qualified_name = path


def _qualify_members(attr: str, value: Any) -> None:
    """Name the Parameters and Modules just assigned to attribute ``attr`` (lists by position)."""
    items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
    for i, item in items:
        path = attr if i is None else f"{attr}.{i}"
        if isinstance(item, Parameter):
            _qualify(item, path)
        elif isinstance(item, Module):
            item._qualify_below(path)


def _name_problems(missing: list[str], unexpected: list[str]) -> list[str]:
    """The names a strict load refuses: entries the state lacks, and entries the model lacks."""
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected: " + ", ".join(unexpected))
    return problems


def _misfits(name: str, current: np.ndarray, new: Any) -> list[str]:
    """Why array ``new`` cannot replace the state entry ``name`` (value ``current``): none if it fits."""
    if not isinstance(new, np.ndarray):
        return [f"{name}: expected a numpy.ndarray, got {type(new).__name__}"]
    problems = []
    if new.shape != current.shape:
        problems.append(f"{name}: shape {current.shape} in the model, {new.shape} in the state")
    if new.dtype != current.dtype:
        problems.append(
            f"{name}: dtype {current.dtype} in the model, {new.dtype} in the state "
            f"(convert the model with .astype(np.{new.dtype}) first)"
        )
    return problems


def _assign(owner: Module, attr: str, value: Any, is_buffer: bool, new: np.ndarray) -> None:
    """Give a Parameter (``value``) or a buffer (attribute ``attr`` of ``owner``) a copy of ``new``."""
    if is_buffer:
        setattr(owner, attr, np.array(new, copy=True))
    else:
        value.data = np.array(new, copy=True)
        value.grad = None
