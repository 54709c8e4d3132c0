"""Module calls drawn as boxes: ``h.0: TransformerBlock`` as one node that opens on demand.

``Module.__call__`` remembers each call (``compgraph.nn.module.module_calls``): the module's
name and class, what went in and what came out. The functions a call computed are those
reached walking back from its outputs, stopping at its inputs and at leaves. Calls nest as the
modules do (``h.0`` holds ``h.0.attn``, which holds ``h.0.attn.c_attn``); a closed box stands
for every function inside it, drawn like a collapsed run: one node, the gradients of each
value it takes from outside summed, its outputs flowing out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compgraph.core import Function, Variable
from compgraph.nn.module import ModuleCall, module_calls

#: ``modules="auto"`` draws boxes when the drawing would otherwise have more function nodes
#: than this (CharGPT's loss has 91), and opens them, a level at a time, while it keeps at
#: most this many.
AUTO_LIMIT = 50
#: How many kinds of op a box's title lists before "…".
TITLE_KINDS = 6


@dataclass(eq=False)
class Box:
    """One module call: its functions (in drawing order) and the calls made inside it."""

    name: str  # the module's qualified name ("h.0.attn"; "" for a model or a module in none)
    kind: str  # its class name
    functions: list[Function]
    parent: Box | None = None
    children: list[Box] = field(default_factory=list)

    @property
    def path(self) -> str:
        """What ``expand`` calls it: its name, or its class for a module in no model."""
        return self.name or self.kind

    @property
    def label(self) -> str:
        return f"{self.name}: {self.kind}" if self.name else self.kind

    def title(self, parameters: int = 0) -> str:
        """What is inside: ``h.0: TransformerBlock, 21 ops: reshape ×6, linear ×4, …; 6 parameters;
        modules: h.0.ln_1, h.0.attn, …`` (``parameters``: how many of its Parameters it hides)."""
        counts = Counter(f.label for f in self.functions)
        kinds = [label if n == 1 else f"{label} ×{n}" for label, n in counts.most_common(TITLE_KINDS)]
        if len(counts) > TITLE_KINDS:
            kinds.append("…")
        n = len(self.functions)
        text = f"{self.label}, {n} op{'s' if n != 1 else ''}: {', '.join(kinds)}"
        if parameters:
            text += f"; {parameters} parameter{'s' if parameters != 1 else ''}"
        if self.children:
            text += "; modules: " + ", ".join(dict.fromkeys(c.path for c in self.children))
        return text


def check_modules(modules: Any, expand: Any) -> tuple[str, ...]:
    """TypeError/ValueError for a ``modules`` or ``expand`` option of the wrong kind; returns
    ``expand`` as a tuple of names."""
    if not (modules == "auto" if isinstance(modules, str) else isinstance(modules, bool)):
        raise TypeError(f"compgraph.viz: modules must be 'auto', True or False, got {modules!r}")
    if expand is None:
        return ()
    names = (expand,) if isinstance(expand, str) else tuple(expand) if isinstance(expand, Iterable) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"compgraph.viz: expand must be a module name or a tuple of them, e.g. expand=('h.0',), "
            f"got {expand!r}"
        )
    if names and modules is False:
        raise ValueError(
            f"compgraph.viz: expand={names!r} opens module boxes, but modules=False draws none; "
            "leave modules at 'auto' or set it to True"
        )
    return names


def find_boxes(functions: Sequence[Function], variables: Iterable[Variable]) -> list[Box]:
    """The module calls behind ``functions`` (those drawn), each before the calls inside it.

    A call computed the drawn functions reached walking back from its outputs, stopping at its
    inputs, at leaves and at functions not drawn, but not those that a call which ended before
    it started reaches too (a module that used a value computed outside its arguments: that
    value's functions belong to the earlier call), and only functions of the call around it.
    Calls nest as their times do; one that computed nothing (a Dropout returning its input) is
    no box.
    """
    drawn = set(functions)
    outputs: dict[ModuleCall, list[Variable]] = {}
    for v in variables:
        for call in module_calls(v):
            outputs.setdefault(call, []).append(v)
    reached = {call: _reached(call, ys, drawn) for call, ys in outputs.items()}
    first_end: dict[Function, int] = {}  # the earliest end of a call reaching each function
    for call, members in reached.items():
        for f in members:
            if first_end.get(f, call.end) >= call.end:
                first_end[f] = call.end
    position = {f: i for i, f in enumerate(functions)}
    boxes: list[Box] = []
    # the boxes of the calls around the current one, innermost last, with their functions
    around: list[tuple[ModuleCall, Box, set[Function]]] = []
    for call in sorted(reached, key=lambda c: c.start):
        while around and around[-1][0].end < call.start:
            around.pop()
        members = {f for f in reached[call] if first_end[f] > call.start}
        parent = None
        if around:
            _, parent, inside = around[-1]
            members &= inside
        if not members:
            continue
        box = Box(call.name, call.kind, sorted(members, key=position.__getitem__), parent)
        if parent is not None:
            parent.children.append(box)
        boxes.append(box)
        around.append((call, box, members))
    for box in boxes:
        box.children.sort(key=lambda b: position[b.functions[0]])
    return _preorder([b for b in boxes if b.parent is None], position)


def _reached(call: ModuleCall, outputs: list[Variable], drawn: set[Function]) -> set[Function]:
    """The drawn functions reached back from ``outputs`` (``call``'s outputs in the drawing),
    without going past its inputs or leaving the drawing."""
    stop = {x for x in (ref() for ref in call.inputs) if x is not None}
    members: set[Function] = set()
    stack = [y.creator for y in outputs if y not in stop and y.creator in drawn]
    while stack:
        f = stack.pop()
        if f in members:
            continue
        members.add(f)
        for x in f.inputs:
            c = x.creator
            if c is not None and c not in members and c in drawn and x not in stop:
                stack.append(c)
    return members


def _preorder(tops: list[Box], position: dict[Function, int]) -> list[Box]:
    """The boxes in drawing order, each before the boxes inside it."""
    order: list[Box] = []
    stack = sorted(tops, key=lambda b: position[b.functions[0]], reverse=True)
    while stack:
        box = stack.pop()
        order.append(box)
        stack.extend(reversed(box.children))
    return order


def closed_boxes(boxes: list[Box], expand: tuple[str, ...]) -> list[Box]:
    """The boxes drawn as one node each: the outermost ones, except those opened by ``expand``
    (a box opens when it or a box inside it is named), whose place their calls inside and their
    other functions take. ValueError for a name that is no box of the drawing."""
    known = {b.path for b in boxes}
    unknown = [name for name in expand if name not in known]
    if unknown:
        names = list(dict.fromkeys(b.path for b in boxes))
        listed = ", ".join(names[:30]) + (", …" if len(names) > 30 else "")
        raise ValueError(
            f"compgraph.viz: expand={unknown[0]!r} names no module call of this drawing; its "
            f"module calls are: {listed or '(none)'}"
        )
    opened: set[Box] = set()  # the boxes named, and those around them
    for box in boxes:
        if box.path in expand:
            b: Box | None = box
            while b is not None and b not in opened:
                opened.add(b)
                b = b.parent
    closed = []
    stack = [b for b in reversed(boxes) if b.parent is None]  # boxes come in drawing order
    while stack:
        box = stack.pop()
        if box in opened:
            stack.extend(reversed(box.children))
        else:
            closed.append(box)
    return closed


def fitting_boxes(boxes: list[Box], functions: int, limit: int = AUTO_LIMIT) -> list[Box]:
    """The boxes drawn as one node each under ``modules="auto"``: the outermost ones, opened a
    level at a time (every box of the level that holds boxes, at once: the model, then ``h.0``
    to ``h.3``, then their ``attn`` and ``mlp``) while the drawing keeps at most ``limit``
    function nodes (of ``functions`` drawn). A box of no modules (a Linear) stays closed."""
    closed = [b for b in boxes if b.parent is None]
    nodes = functions - sum(len(b.functions) - 1 for b in closed)
    while True:
        level = [b for b in closed if b.children]
        # opening a box puts its own functions and the boxes inside it in its place
        more = sum(_own_functions(b) + len(b.children) - 1 for b in level)
        if not level or nodes + more > limit:
            return closed
        nodes += more
        closed = [c for b in closed for c in (b.children if b.children else (b,))]


def _own_functions(box: Box) -> int:
    """How many of a box's functions lie in no box inside it."""
    return len(box.functions) - sum(len(c.functions) for c in box.children)
