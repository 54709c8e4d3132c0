"""Which functions a drawing shows together as one node: module boxes and collapsed runs.

A block is drawn like one function: the values it takes from outside flow in (each once, the
gradients its functions sent back summed), its values flow out, and what happens inside is
not drawn. Module boxes come first (``compgraph.viz.boxes``); runs of a repeated pattern
(``compgraph.viz.collapse``) are found among the functions left.
"""

from __future__ import annotations

from dataclasses import dataclass

from compgraph.core import Function, Variable
from compgraph.nn.module import Parameter
from compgraph.viz.boxes import AUTO_LIMIT, Box, closed_boxes, find_boxes, fitting_boxes
from compgraph.viz.collapse import blocks, chain_label, chain_title
from compgraph.viz.walk import Walk


@dataclass(eq=False)
class Block:
    """Functions drawn as one node: a collapsed run ("chain") or a module call ("module")."""

    functions: list[Function]  # in the order values are computed
    kind: str
    label: str
    title: str
    hidden: frozenset[Variable] = frozenset()  # inputs not drawn: a module's own Parameters


@dataclass
class Grouping:
    """What grouping reads: the walked graph, the functions drawn (in the order values are
    computed), where each value is used among them, and the outputs."""

    w: Walk
    included: list[Function]
    consumers: dict[Variable, list[tuple[Function, int]]]
    outputs: set[Variable]


def group(g: Grouping, collapse: int, modules: bool | str, expand: tuple[str, ...]) -> dict[Function, Block]:
    """Each function drawn as part of a block, and its block.

    ``modules``: True draws module boxes (the outermost closed, or those ``expand`` leaves
    closed), False none, and "auto" draws them only where the drawing would otherwise have more
    than ``AUTO_LIMIT`` function nodes (so small drawings stay as they are), opened level by
    level while it keeps at most that many. ``collapse``: the shortest run drawn as one (0: none).
    """
    runs = _runs(g, g.included, collapse)
    if not modules:
        return runs
    if modules == "auto" and not expand:
        nodes = len(g.included) - sum(len(b.functions) - 1 for b in set(runs.values()))
        if nodes <= AUTO_LIMIT:
            return runs
        closed = fitting_boxes(find_boxes(g.included, g.w.variables), len(g.included))
    else:
        closed = closed_boxes(find_boxes(g.included, g.w.variables), expand)
    block_of: dict[Function, Block] = {}
    for box in closed:
        block = _box_block(g, box)
        for f in box.functions:
            block_of[f] = block
    block_of.update(_runs(g, [f for f in g.included if f not in block_of], collapse))
    return block_of


def _box_block(g: Grouping, box: Box) -> Block:
    """A closed box as a block, hiding the Parameters that only its functions use (a model's
    weights are inside it; a tied table used outside too stays drawn)."""
    members = set(box.functions)
    hidden = frozenset(
        x
        for f in box.functions
        for x in f.inputs
        if isinstance(x, Parameter) and x not in g.outputs and all(c in members for c, _ in g.consumers[x])
    )
    return Block(box.functions, "module", box.label, box.title(len(hidden)), hidden)


def _runs(g: Grouping, functions: list[Function], collapse: int) -> dict[Function, Block]:
    """Each of ``functions`` drawn as part of a collapsed run, and its run."""
    if not collapse:
        return {}
    w = g.w
    block_of: dict[Function, Block] = {}
    for run in blocks(functions, g.consumers, g.outputs, collapse, w.output):
        block = Block(run, "chain", chain_label(run), chain_title(run, w.names, w.output))
        for f in run:
            block_of[f] = block
    return block_of
