"""Walking a graph from its outputs, naming its values, and recording one backward pass.

Everything the renderers and the trace share: which functions and variables lie behind some
outputs (found without recursion, so graphs of any depth work), a stable name for each value
(the user's, or t, t1, … in the order they were computed), and what each function received
and sent back during a backward pass run by the engine itself.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import compgraph as cg
from compgraph.core import Function, Op, Variable
from compgraph.viz import format as fmt


@dataclass
class Walk:
    """Everything reachable from some outputs, found without recursion."""

    outputs: tuple[Variable, ...]
    functions: list[Function]  # in an order that computes inputs first
    depth: dict[Function, int]  # fewest functions between it and an output (0: an output's creator)
    variables: list[Variable]  # in the order they are computed; leaves where first used
    names: dict[Variable, str]
    # each function's outputs, in order (None for one no longer held): found from the graph,
    # since an Op keeps no reference to its output
    outputs_of: dict[Function, tuple[Variable | None, ...]] = field(default_factory=dict)

    def output(self, f: Function) -> Variable | None:
        """``f``'s output if it has exactly one (and it is still held), else None."""
        ys = self.outputs_of.get(f, ())
        return ys[0] if len(ys) == 1 else None


def walk(outputs: Sequence[Variable]) -> Walk:
    """Find every function and variable behind ``outputs``, and how far each function is from them."""
    outs = _distinct_outputs(outputs)
    roots = [y.creator for y in outs if y.creator is not None]
    functions = _postorder(roots)
    outputs_of = _outputs_of(functions, outs)
    variables = _variables(functions, outputs_of, outs)
    return Walk(tuple(outs), functions, _depths(roots), variables, _names(variables, outs), outputs_of)


def _distinct_outputs(outputs: Sequence[Variable]) -> list[Variable]:
    """The outputs, each once, in order; TypeError for one that is not a Variable."""
    outs: list[Variable] = []
    for i, y in enumerate(outputs):
        if not isinstance(y, Variable):
            raise TypeError(
                f"compgraph.viz: output {i} is a {type(y).__name__}; pass the Variables to draw, "
                "e.g. viz.to_dot(loss)"
            )
        if all(y is not o for o in outs):
            outs.append(y)
    return outs


def _postorder(roots: list[Function]) -> list[Function]:
    """Every function behind ``roots``, each after the functions computing its inputs.

    Depth first, inputs left to right, as Python evaluates an expression: the order in which
    the values were most likely computed, which makes the made-up names (t, t1, …) read in
    order. An explicit stack replaces recursion.
    """
    order: list[Function] = []
    visited: set[Function] = set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            f, inputs = stack[-1]
            for x in inputs:
                c = x.creator
                if c is not None and c not in visited:
                    visited.add(c)
                    stack.append((c, iter(c.inputs)))
                    break
            else:
                stack.pop()
                order.append(f)
    return order


def _outputs_of(functions: list[Function], outs: list[Variable]) -> dict[Function, tuple]:
    """Each function's outputs: its own weak references for a Function, else the one value
    of the graph it created (an Op has one output, and it is an input or an output here)."""
    found: dict[Function, Variable] = {}
    for v in outs:
        if v.creator is not None:
            found.setdefault(v.creator, v)
    for f in functions:
        for x in f.inputs:
            if x.creator is not None:
                found.setdefault(x.creator, x)
    result: dict[Function, tuple] = {}
    for f in functions:
        if isinstance(f, Op):
            result[f] = (found.get(f),)
        else:
            result[f] = tuple(ref() for ref in f.outputs)
    return result


def _variables(
    functions: list[Function], outputs_of: dict[Function, tuple], outs: list[Variable]
) -> list[Variable]:
    """Every variable once, in the order computed: each function's inputs, then its outputs;
    outputs that no function made (leaves) last."""
    computed = (v for f in functions for v in (*f.inputs, *outputs_of[f]))
    return list(dict.fromkeys(v for v in itertools.chain(computed, outs) if v is not None))


def _depths(roots: list[Function]) -> dict[Function, int]:
    """The fewest functions between each function and an output (breadth first from ``roots``,
    the outputs' creators, at 0)."""
    depth: dict[Function, int] = {}
    queue: deque[Function] = deque()
    for f in roots:
        if f not in depth:
            depth[f] = 0
            queue.append(f)
    while queue:
        f = queue.popleft()
        for x in f.inputs:
            c = x.creator
            if c is not None and c not in depth:
                depth[c] = depth[f] + 1
                queue.append(c)
    return depth


def _names(variables: list[Variable], outputs: list[Variable]) -> dict[Variable, str]:
    """Every variable's name: its own, or a stable one made up in the order of computation.

    Outputs become z, z1, …; other computed values t, t1, …; unnamed leaves v, v1, …; scalar
    constants their value and array constants c, c1, …. A name used twice gets primes (x′).
    A name that is not a str is shown as ``str(name)`` (``name=3`` reads 3); None and "" mean
    unnamed. A Module's Parameters are named by their place in it (``fc1.W``).
    """
    given = {v: _given_name(v) for v in variables}
    used = {n for n in given.values() if n}
    counters: dict[str, int] = {}
    taken: dict[str, int] = {}
    output_set = set(outputs)
    names: dict[Variable, str] = {}

    def fresh(prefix: str) -> str:
        k = counters.get(prefix, 0)
        while True:
            candidate = prefix if k == 0 else f"{prefix}{k}"
            k += 1
            if candidate not in used:
                counters[prefix] = k
                used.add(candidate)
                return candidate

    for v in variables:
        own = given[v]
        if own:
            n = taken.get(own, 0)
            taken[own] = n + 1
            names[v] = own + "′" * n
        elif v in output_set:
            names[v] = fresh("z")
        elif v.creator is not None:
            names[v] = fresh("t")
        elif v.requires_grad:
            names[v] = fresh("v")
        elif v.data.ndim == 0:
            names[v] = fmt.format_array(v.data)
        else:
            names[v] = fresh("c")
    return names


def _given_name(v: Variable) -> str | None:
    """``v.name`` as text: a drawing shows a label, so any name is converted with str()."""
    name = v.name
    if name is None or isinstance(name, str):
        return name or None
    return str(name)


@dataclass
class Backward:
    """What each function received and returned during one backward pass, in order."""

    order: list[Function] = field(default_factory=list)  # step k (from 1) ran order[k - 1]
    upstream: dict[Function, tuple[np.ndarray, ...]] = field(default_factory=dict)
    downstream: dict[Function, tuple[np.ndarray | None, ...]] = field(default_factory=dict)
    seeds: dict[Variable, np.ndarray] = field(default_factory=dict)  # per output (step 0)
    steps: dict[Function, int] = field(default_factory=dict)

    def contribution(self, f: Function, position: int) -> np.ndarray | None:
        """The gradient that ``f`` sent back to its input ``position`` (None if none)."""
        gxs = self.downstream.get(f)
        return None if gxs is None else gxs[position]


def _differentiable(y: Variable) -> bool:
    return y.requires_grad and y.data.dtype.kind == "f"


def record_backward(w: Walk, grad_outputs: Any = None) -> Backward:
    """Run a backward pass from ``w``'s outputs and record every step of it.

    The pass goes through ``cg.grad`` with an observer, so no ``.grad`` changes.
    ``grad_outputs`` weights the outputs as in ``cg.grad`` (default: ones). Outputs that are
    constants are skipped.
    """
    record = Backward(seeds=_seeds(w.outputs, grad_outputs))
    if not record.seeds:
        return record

    def observe(f: Function, gys: tuple[Any, ...], gxs: tuple[Any, ...]) -> None:
        record.order.append(f)
        record.steps[f] = len(record.order)
        record.upstream[f] = tuple(np.array(g) for g in gys)
        record.downstream[f] = tuple(
            None if gx is None or not x.requires_grad else _as_input_gradient(gx, x)
            for x, gx in zip(f.inputs, gxs)
        )

    # grad() leaves every .grad as it is; asking for the leaves' gradients walks the whole graph
    leaves = [v for v in w.variables if v.creator is None and v.requires_grad]
    cg.grad(list(record.seeds), leaves, grad_outputs=list(record.seeds.values()), observer=observe)
    return record


def _seeds(outputs: tuple[Variable, ...], grad_outputs: Any) -> dict[Variable, np.ndarray]:
    """The gradient each differentiable output starts from: its weight, or ones."""
    if grad_outputs is None:
        weights: list[Any] = [None] * len(outputs)
    else:
        weights = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
        if len(weights) != len(outputs):
            raise ValueError(
                f"compgraph.viz: {len(weights)} grad_outputs given for {len(outputs)} outputs; "
                "give one per output"
            )
    seeds: dict[Variable, np.ndarray] = {}
    for y, g in zip(outputs, weights):
        if not _differentiable(y):
            continue
        seed = np.ones(y.shape, y.dtype) if g is None else np.array(cg.as_array(g), dtype=y.dtype)
        if seed.shape != y.shape:
            raise ValueError(
                f"compgraph.viz: grad_output of shape {seed.shape} given for an output of shape "
                f"{y.shape}; they must match"
            )
        seeds[y] = seed
    return seeds


def _as_input_gradient(gx: Any, x: Variable) -> np.ndarray:
    """A step's gradient for input ``x`` as the engine applies it (summed back over broadcast
    axes and cast by the engine already), copied as an ndarray."""
    return np.array(cg.as_array(gx))
