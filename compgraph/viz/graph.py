"""The graph behind some outputs as plain nodes and edges: what every renderer draws.

Pictures follow the note that teaches backprop: functions are nodes labelled with their
operation (×, +, **2), values flow along the edges, each edge labelled with the forward value
and, under it, the gradient that flows back along it. A variable used in several places
splits at a small branch point: the edge into the point carries its total gradient, the edges
out of it the parts that add up to it. Leaf inputs start from their name, constants show
their value, and every output ends in its name.

Gradients come from a backward pass run for the drawing (seeded with ones, like
``y.backward()``): no ``.grad`` changes, and no ``retain_grad`` is needed to see the
gradients of intermediate values. Everything here is iterative: graphs of any depth work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compgraph.core import Function, Variable
from compgraph.viz import format as fmt
from compgraph.viz.boxes import check_modules
from compgraph.viz.collapse import COLLAPSE
from compgraph.viz.grouping import Block, Grouping, group
from compgraph.viz.walk import Backward, Walk, record_backward, walk


@dataclass
class Node:
    """A node: ``kind`` is op, chain (a collapsed run), module (a module call's box), leaf,
    const, cut, output or branch."""

    id: str
    kind: str
    label: str
    title: str = ""
    flags: tuple[str, ...] = ()


@dataclass
class Edge:
    """A value flowing from ``source`` to ``target``, with the gradient flowing back."""

    id: str
    source: str
    target: str
    name: str  # the variable's name
    value: str | None  # the forward value as text (None: not shown)
    grad: str | None  # the gradient along this edge as text (None: none or not shown)
    value_flags: tuple[str, ...] = ()
    grad_flags: tuple[str, ...] = ()
    step: int | None = None  # the backward step that computed ``grad`` (0: the seed)
    named: bool = False  # an intermediate value: its name is shown nowhere else


@dataclass
class Graph:
    """Nodes and edges in drawing order, what to say in the legend, and what it was made from:
    the walked graph and its recorded backward pass (None: gradients are not shown)."""

    walk: Walk
    record: Backward | None
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    show_names: bool = False
    legend: list[str] = field(default_factory=list)  # flags that occur, in a fixed order
    function_nodes: dict[Function, str] = field(default_factory=dict)
    vanishing: float | None = fmt.VANISHING
    exploding: float | None = fmt.EXPLODING

    @property
    def has_grads(self) -> bool:
        """Whether the edges carry gradients."""
        return self.record is not None


def _check_options(max_depth: Any, collapse: Any) -> None:
    if max_depth is not None:
        if not isinstance(max_depth, int) or isinstance(max_depth, bool):
            raise TypeError(
                f"compgraph.viz: max_depth must be an int or None, got {type(max_depth).__name__}"
            )
        if max_depth < 0:
            raise ValueError(
                f"compgraph.viz: max_depth must be >= 0 (0 draws the last function), got {max_depth}"
            )
    if collapse is not None:
        if not isinstance(collapse, int) or isinstance(collapse, bool):
            raise TypeError(f"compgraph.viz: collapse must be an int or None, got {type(collapse).__name__}")
        if collapse != 0 and collapse < 2:
            raise ValueError(
                f"compgraph.viz: collapse must be >= 2 (the shortest run drawn as one node) or 0/None "
                f"to draw every function, got {collapse}"
            )


#: the options of ``build`` (and so of ``draw``, ``to_dot``, ``render`` and ``to_html``)
OPTIONS = (
    "values",
    "grads",
    "names",
    "max_depth",
    "collapse",
    "modules",
    "expand",
    "vanishing",
    "exploding",
    "grad_outputs",
)


def check_options(caller: str, options: dict[str, Any], extra: tuple[str, ...] = ()) -> None:
    """TypeError naming an unknown option (a misspelling, or labels for names) and the known ones."""
    unknown = [key for key in options if key not in OPTIONS and key not in extra]
    if unknown:
        raise TypeError(
            f"compgraph.viz.{caller}: unknown option {unknown[0]!r}; the options are "
            f"{', '.join((*OPTIONS, *extra))}. A value is labelled by its name: set "
            "x.name = 'x' (a Module's Parameters are named fc1.W, ... already)"
        )


def build(
    outputs: Sequence[Variable],
    *,
    values: bool = True,
    grads: bool = True,
    names: bool = False,
    max_depth: int | None = None,
    collapse: int | None = COLLAPSE,
    modules: bool | str = "auto",
    expand: str | Sequence[str] | None = None,
    vanishing: float | None = fmt.VANISHING,
    exploding: float | None = fmt.EXPLODING,
    grad_outputs: Any = None,
) -> Graph:
    """The model of the graph behind ``outputs``; see ``compgraph.viz.to_dot`` for the options.

    Every drawing and the step-by-step page are made from it.
    """
    _check_options(max_depth, collapse)
    opened = check_modules(modules, expand)
    w = walk(outputs)
    record = record_backward(w, grad_outputs) if grads else None
    return _Builder(
        w, record, values, names, max_depth, (collapse or 0, modules, opened), vanishing, exploding
    ).build()


# Where a value goes: (target node, the gradient that comes back along the edge, its step).
_Use = tuple[str, np.ndarray | None, int | None]


class _Builder:
    """Builds one Graph in passes: the function nodes in the order values are computed (each
    after the nodes its inputs come from), where each value goes, the output nodes, then the
    edges, variable by variable."""

    def __init__(
        self,
        w: Walk,
        record: Backward | None,
        values: bool,
        names: bool,
        max_depth: int | None,
        grouping: tuple[int, bool | str, tuple[str, ...]],  # collapse, modules and expand
        vanishing: float | None,
        exploding: float | None,
    ):
        self.w = w
        self.record = record
        self.values = values
        self.grouping = grouping
        self.graph = Graph(w, record, show_names=names, vanishing=vanishing, exploding=exploding)
        self.included = [f for f in w.functions if max_depth is None or w.depth[f] <= max_depth]
        self.included_set = set(self.included)
        self.output_set = set(w.outputs)
        self.flags_seen: set[str] = set()
        self.var_nodes: dict[Variable, str] = {}
        self.const_nodes: dict[tuple[Function, int], str] = {}  # (function, input position)
        self.consumers: dict[Variable, list[tuple[Function, int]]] = {}  # the uses drawn
        for f in self.included:
            for i, x in enumerate(f.inputs):
                self.consumers.setdefault(x, []).append((f, i))

    def build(self) -> Graph:
        """The graph: function nodes, where each value goes, the outputs, then every edge."""
        units = self.add_function_nodes(self.blocks())
        uses = self.uses(units)
        self.add_outputs(uses)
        for v in self.w.variables:
            outs = uses.get(v)
            if outs:
                self.edges_of(v, outs)
        self.graph.legend = [
            flag
            for flag in (fmt.NONFINITE, fmt.VANISHING_FLAG, fmt.EXPLODING_FLAG)
            if flag in self.flags_seen
        ]
        return self.graph

    def blocks(self) -> dict[Function, Block]:
        """Each function drawn as part of a block (a module's box or a collapsed run), and its block."""
        return group(Grouping(self.w, self.included, self.consumers, self.output_set), *self.grouping)

    def add_function_nodes(self, block_of: dict[Function, Block]) -> list[Function | Block]:
        """A node per function or block, in the order values are computed; returns them in
        that order."""
        units: list[Function | Block] = []
        for f in self.included:
            block = block_of.get(f)
            if block is None:
                self.add_op(f)
                units.append(f)
            elif block.functions[0] is f:
                self.add_block(block)
                units.append(block)
        return units

    def add_op(self, f: Function) -> None:
        """``f``'s node, after the nodes of the values it takes from outside the drawing."""
        for i, x in enumerate(f.inputs):
            if x.creator in self.included_set:
                continue
            if _is_constant(x):  # drawn at each use: no gradient flows, nothing to add up
                self.const_nodes[f, i] = self.constant(x)
            else:
                self.source(x)
        self.graph.function_nodes[f] = self.add_node("op", f.label, _title(f, self.w))

    def add_block(self, block: Block) -> None:
        """A block's node, after the nodes of the values it takes from outside (its constants
        are not drawn)."""
        for f in block.functions:
            for x in f.inputs:
                if x.creator not in self.included_set and x.requires_grad and x not in block.hidden:
                    self.source(x)
        node = self.add_node(block.kind, block.label, block.title)
        for f in block.functions:
            self.graph.function_nodes[f] = node

    def uses(self, units: list[Function | Block]) -> dict[Variable, list[_Use]]:
        """Where each variable goes, with the gradient that comes back from there (a constant's
        edge, to its one use, is added here)."""
        uses: dict[Variable, list[_Use]] = {}
        for unit in units:
            if isinstance(unit, Block):
                self.block_inputs(unit, uses)
            else:
                self.op_inputs(unit, uses)
        return uses

    def op_inputs(self, f: Function, uses: dict[Variable, list[_Use]]) -> None:
        """A function's inputs: an edge from each constant's node, a use of each other value."""
        node = self.graph.function_nodes[f]
        step = self.step(f)
        for i, x in enumerate(f.inputs):
            const = self.const_nodes.get((f, i))
            if const is not None:
                self.add_edge(const, node, self.w.names[x], None, None)
            else:
                uses.setdefault(x, []).append((node, self.contribution(f, i), step))

    def block_inputs(self, block: Block, uses: dict[Variable, list[_Use]]) -> None:
        """A block's inputs from outside it, one edge per variable, gradients summed."""
        node = self.graph.function_nodes[block.functions[0]]
        members = set(block.functions)
        merged: dict[Variable, list] = {}
        for f in block.functions:
            step = self.step(f)
            for i, x in enumerate(f.inputs):
                if x.creator in members or (x.creator is None and not x.requires_grad) or x in block.hidden:
                    continue  # links inside the block, constants and its own weights are not drawn
                g = self.contribution(f, i)
                entry = merged.get(x)
                if entry is None:
                    merged[x] = [g, step]
                else:
                    entry[0] = _add(entry[0], g)
                    entry[1] = _later(entry[1], step)
        for x, (g, step) in merged.items():
            uses.setdefault(x, []).append((node, g, step))

    def add_outputs(self, uses: dict[Variable, list[_Use]]) -> None:
        """A node named after each computed output, taking its seed; an output that is a leaf
        is drawn on its own instead, its value shown with its name."""
        w = self.w
        for y in w.outputs:
            if y.creator is None:
                continue
            seed = self.record.seeds.get(y) if self.record is not None else None
            node = self.add_node("output", w.names[y], w.names[y])
            uses.setdefault(y, []).append((node, seed, 0 if seed is not None else None))
        for y in w.outputs:
            if y.creator is None and y not in uses:
                n = self.node(self.source(y))
                if n.kind == "leaf":
                    n.label = f"{n.label} = {fmt.format_array(y.data)}"

    def edges_of(self, v: Variable, outs: list[_Use]) -> None:
        """The edges carrying ``v`` to its uses: one edge, or, for a value used several times,
        one into a branch point with the total gradient and one from there to each use."""
        source = self.source(v)
        name = self.w.names[v]
        value = None if _is_constant(v) or not self.values else fmt.format_array(v.data)
        vflags = fmt.value_flags(v.data)
        if vflags and v.creator in self.included_set:  # the function that made a NaN or Inf
            self.node(self.graph.function_nodes[v.creator]).flags = vflags
            self.flags_seen.update(vflags)
        if value is None:
            vflags = ()
        # the names of leaves, outputs and cut values stand at their nodes; others are nowhere
        named = v.creator in self.included_set and v not in self.output_set
        if len(outs) == 1:
            target, g, step = outs[0]
            self.add_edge(source, target, name, g, step, value=value, value_flags=vflags, named=named)
            return
        total, last = None, None
        for _, g, step in outs:
            total = _add(total, g)
            last = _later(last, step)
        point = self.add_node("branch", "", f"{name} is used {len(outs)} times: its gradients add up")
        self.add_edge(source, point, name, total, last, value=value, value_flags=vflags, named=named)
        for target, g, step in outs:
            self.add_edge(point, target, name, g, step)

    def source(self, v: Variable) -> str:
        """The node a variable flows out of: its function's, or a leaf, constant or cut node."""
        c = v.creator
        if c is not None and c in self.included_set:
            return self.graph.function_nodes[c]
        node = self.var_nodes.get(v)
        if node is None:
            name = self.w.names[v]
            if c is not None:
                node = self.add_node(
                    "cut", f"⋯ {name}", f"{name}: how it was computed is not drawn (max_depth)"
                )
            elif v.requires_grad:
                node = self.add_node("leaf", name, name)
            else:
                node = self.constant(v)
            self.var_nodes[v] = node
        return node

    def constant(self, v: Variable) -> str:
        """A new node showing a constant's value."""
        text = fmt.format_array(v.data)
        return self.add_node("const", text, f"constant {text}", fmt.value_flags(v.data))

    def node(self, node_id: str) -> Node:
        return self.graph.nodes[int(node_id[1:])]  # ids are "n" and the position

    def add_node(self, kind: str, text: str, title: str = "", flags: tuple[str, ...] = ()) -> str:
        node = Node(f"n{len(self.graph.nodes)}", kind, text, title, flags)
        self.graph.nodes.append(node)
        self.flags_seen.update(flags)
        return node.id

    def add_edge(
        self,
        source: str,
        target: str,
        name: str,
        g: np.ndarray | None,
        step: int | None,
        value: str | None = None,
        value_flags: tuple[str, ...] = (),
        named: bool = False,
    ) -> None:
        """Add an edge with gradient ``g`` (None: no gradient), marking flagged values."""
        graph = self.graph
        edge = Edge(f"e{len(graph.edges)}", source, target, name, value, None, value_flags, named=named)
        if g is not None:
            edge.grad_flags = fmt.grad_flags(g, graph.vanishing, graph.exploding)
            edge.grad = fmt.marked(fmt.format_array(g), edge.grad_flags)
            edge.step = step
        if value is not None:
            edge.value = fmt.marked(value, value_flags)
        self.flags_seen.update(edge.value_flags)
        self.flags_seen.update(edge.grad_flags)
        graph.edges.append(edge)

    def step(self, f: Function) -> int | None:
        return None if self.record is None else self.record.steps.get(f)

    def contribution(self, f: Function, i: int) -> np.ndarray | None:
        return None if self.record is None else self.record.contribution(f, i)


def _is_constant(v: Variable) -> bool:
    return v.creator is None and not v.requires_grad


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _later(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _title(f: Function, w: Walk) -> str:
    names = w.names
    outs = [names.get(y, "?") for y in w.outputs_of.get(f, ()) if y is not None]
    ins = ", ".join(names.get(x, "?") for x in f.inputs)
    return f"{type(f).__name__}({ins}) → {', '.join(outs) or '(unused)'}"
