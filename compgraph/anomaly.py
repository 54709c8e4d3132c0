"""Anomaly mode: stop at the op where a NaN or an infinity first appears, or where a value the
backward pass needs was changed in place.

Inside ``with detect_anomaly():`` every op is checked as it runs, and every backward step as
it runs, and the first problem raises ``AnomalyError`` naming the op and the line of your
code behind it:

- an op whose output holds NaN/Inf while its inputs held none (``log(0)``, ``exp(1000)``):
  the op, its inputs' shapes and value ranges, and the ``file:line`` that called it;
- a backward rule that turns finite upstream gradients into a NaN/Inf gradient (``sqrt`` at
  0): the op, the input, and the ``file:line`` where the op ran in the forward pass;
- a value saved for the backward pass that changed in place between the forward and the
  backward pass (``x.data[...] = 10`` after ``y = x * w``): the op and the variable.

To compare values, each op keeps a copy of its inputs and output until its graph is freed:
anomaly mode costs memory as well as time, so it is for finding a bug, not for training.
Like grad mode, it holds for the current thread (and asyncio task). Inside it NumPy's
RuntimeWarnings for division by zero, overflow and invalid values are off: the first such
value raises instead, with more to say.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from compgraph import core
from compgraph.core import Function, Op, Variable, _label


class AnomalyError(RuntimeError):
    """The first NaN/Inf, or value changed in place, found by ``detect_anomaly()``."""


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every op and every backward step inside the block (see the module's docstring).

    >>> import compgraph.functions as F
    >>> x = Variable(np.array([1.0, 0.0]))
    >>> with detect_anomaly():
    ...     y = F.log(x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compgraph.anomaly.AnomalyError: Log gave 1 Inf in its output of shape (2,) from finite inputs, at ...
    """
    token = core._anomaly.set(_WATCH)
    try:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # the error says more
            yield
    finally:
        core._anomaly.reset(token)


def is_anomaly_enabled() -> bool:
    """Whether ops called now (in this thread) are checked."""
    return core._anomaly.get() is not None


class _Record:
    """What anomaly mode keeps of one op from its forward pass."""

    __slots__ = ("where", "inputs", "outputs")

    def __init__(self, where: str, inputs: list[np.ndarray], outputs: list[np.ndarray]):
        self.where = where
        self.inputs = inputs  # a copy of each input's data, as the op saw it
        self.outputs = outputs  # and of each output's


class _Watch:
    """The checks of anomaly mode; the engine calls ``recorded`` after every op and ``stepped``
    after every backward rule."""

    def __init__(self) -> None:
        # kept as long as its op: a graph built in anomaly mode is checked when it backpropagates
        self.records: weakref.WeakKeyDictionary[Function, _Record] = weakref.WeakKeyDictionary()

    def recorded(self, f: Function, out: Variable | tuple[Variable, ...]) -> None:
        outs = out if isinstance(out, tuple) else (out,)
        where = _callers_line()
        for i, y in enumerate(outs):
            bad = _nonfinite(y.data)
            if bad and not any(_nonfinite(x.data) for x in f.inputs) and not _given_nonfinite(f):
                which = f" {i}" if len(outs) > 1 else ""
                raise AnomalyError(
                    f"{_name(f)} gave {bad} in its output{which} of shape {y.shape} from finite inputs, "
                    f"at {where}: " + "; ".join(_describe(j, x) for j, x in enumerate(f.inputs))
                )
        if any(y.creator is f for y in outs):  # recorded: it will run backward
            self.records[f] = _Record(where, [x.data.copy() for x in f.inputs], [y.data.copy() for y in outs])

    def stepped(self, f: Function, y: Variable, gys: tuple[Any, ...], gxs: tuple[Any, ...]) -> None:
        record = self.records.get(f)
        where = f"created at {record.where}" if record else "created outside detect_anomaly()"
        if record is not None:
            self._check_saved(f, y, record)
        if any(_nonfinite(core.as_array(g)) for g in gys):
            return  # NaN/Inf came from upstream: the op that made it raised already
        for i, g in enumerate(gxs):
            if g is not None and (bad := _nonfinite(core.as_array(g))):
                x = f.inputs[i]
                raise AnomalyError(
                    f"the backward rule of {_name(f)} ({where}) gave {bad} in the gradient of its "
                    f"input {i} {_label(x)}(shape {x.shape}) from finite upstream gradients; "
                    + "; ".join(_describe(j, v) for j, v in enumerate(f.inputs))
                )

    def _check_saved(self, f: Function, y: Variable, record: _Record) -> None:
        for i, (x, saved) in enumerate(zip(f.inputs, record.inputs)):
            if not _same(x.data, saved):
                raise AnomalyError(
                    f"input {i} {_label(x)}of {_name(f)} (created at {record.where}) was changed in "
                    f"place after the forward pass: {_change(saved, x.data)}. Its gradients would use "
                    "the new value. Change a copy (x.data = x.data.copy() first), or change it after "
                    "backward()."
                )
        outs = [y] if isinstance(f, Op) else [ref() for ref in f.outputs]
        for i, (out, saved) in enumerate(zip(outs, record.outputs)):
            if out is not None and not _same(out.data, saved):
                which = f" {i}" if len(outs) > 1 else ""
                raise AnomalyError(
                    f"the output{which} of {_name(f)} (created at {record.where}) was changed in "
                    f"place after the forward pass: {_change(saved, out.data)}; its backward rule "
                    "would use the new value."
                )


_WATCH = _Watch()  # one for all blocks: a graph may be built in one and backpropagated in another
_PACKAGE = os.path.dirname(os.path.abspath(core.__file__)) + os.sep


def _callers_line() -> str:
    """``file:line`` of the innermost caller outside compgraph (the user's code)."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or frame.f_code.co_filename.startswith("<frozen")
    ):
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _given_nonfinite(f: Function) -> bool:
    """Whether the op was given a NaN or an infinity as a setting, not an input (the -inf of
    ``masked_fill(scores, mask, -inf)``): then its output may hold it and nothing is wrong."""
    for cls in type(f).__mro__:
        for name in cls.__dict__.get("__slots__", ()):
            value = getattr(f, name, None)
            if isinstance(value, (float, np.floating)) and not np.isfinite(value):
                return True
    return False


def _nonfinite(a: np.ndarray) -> str:
    """How many NaN and Inf values ``a`` holds, as words ('' if none)."""
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return ""
    nan = int(np.isnan(a).sum())
    inf = a.size - nan - int(np.isfinite(a).sum())
    return " and ".join(f"{n} {word}" for n, word in ((nan, "NaN"), (inf, "Inf")) if n)


def _describe(i: int, x: Variable) -> str:
    """``input 0 'x': (2, 3) float64 in [-1.5, 2]``."""
    a = x.data
    text = f"input {i} {_label(x)}{a.shape} {a.dtype}"
    if a.size and a.dtype.kind in "fiub":
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        if finite.size:
            text += f" in [{finite.min():.6g}, {finite.max():.6g}]"
        if finite.size < a.size:
            text += f" with {_nonfinite(a)}"
    return text


def _same(a: np.ndarray, saved: np.ndarray) -> bool:
    if a.shape != saved.shape or a.dtype != saved.dtype:
        return False
    # equal_nan=True costs ten times as much: asked only when a NaN may be why they differ
    return np.array_equal(a, saved) or (a.dtype.kind in "fc" and np.array_equal(a, saved, equal_nan=True))


def _change(saved: np.ndarray, now: np.ndarray) -> str:
    if now.shape != saved.shape or now.dtype != saved.dtype:
        return f"it was {saved.shape} {saved.dtype}, it is {now.shape} {now.dtype}"
    same = np.asarray(saved == now)
    if saved.dtype.kind == "f":
        same |= np.isnan(saved) & np.isnan(now)
    differ = np.flatnonzero(~same)
    k = differ[0]
    index = np.unravel_index(k, saved.shape) if saved.ndim else ()
    at = f"[{', '.join(map(str, index))}]" if index else ""
    return (
        f"{differ.size} of its {saved.size} values differ, e.g. element {at or '()'} was "
        f"{saved.reshape(-1)[k]:.6g} and is {now.reshape(-1)[k]:.6g}"
    )


def _name(f: Function) -> str:
    return type(f).__name__
