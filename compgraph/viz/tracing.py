"""The backward pass, step by step: what each function received, its local derivatives, and
what it sent back, in the order the engine ran them.

The steps come from ``cg.backward(..., observer=...)``: the engine's own backward pass,
recorded, not a second implementation of it. Leaves' ``.grad`` are left as they were. For
z = (x + y)**2 the table reads like the note that teaches backprop:

    step  function   upstream     local            downstream
       0  z                                        ∂z/∂z = 1
       1  z = t²     ∂z/∂z = 1    ∂z/∂t = 2t = 6   ∂z/∂t = 1 × 6 = 6
       2  t = x + y  ∂z/∂t = 6    ∂t/∂x = 1        ∂z/∂x = 6 × 1 = 6
                                  ∂t/∂y = 1        ∂z/∂y = 6 × 1 = 6

    ∂z/∂x = 2(x + y) = 6
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import compgraph as cg
from compgraph import notation as nt
from compgraph.core import Function, Op, Variable
from compgraph.viz import format as fmt
from compgraph.viz import walk as walk_mod


@dataclass
class Derivative:
    """One input of a step: its local derivative and the gradient sent back to it."""

    input: str
    local: str | None  # the local derivative ∂y/∂x as a formula (elementwise ops), or the rule
    local_value: np.ndarray | None  # its value, for elementwise ops
    grad: np.ndarray  # the gradient sent to the input by this step
    accumulates: bool  # the input gets gradients from several steps, which add up
    elementwise: bool


@dataclass
class Step:
    """One function's backward step (``index`` from 1), or an output's seed (index 0)."""

    index: int
    function: Function | None
    label: str
    outputs: tuple[str, ...]
    definition: str  # e.g. "t = x + y"
    upstream: tuple[np.ndarray, ...]
    upstream_formula: tuple[str | None, ...]
    derivatives: tuple[Derivative, ...]


@dataclass
class Trace:
    """A recorded backward pass. ``print(trace)`` shows it as a table."""

    objective: str  # the name of what is differentiated: the output's name, or (z + w)
    steps: list[Step]
    gradients: dict[str, np.ndarray]  # every leaf's gradient, by name
    formulas: dict[str, str]  # each leaf's gradient as a formula of the leaves, where known
    constant_outputs: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The steps as a text table, then each leaf's gradient."""
        return _table(self)

    def __str__(self) -> str:
        return self.table()


def trace(*outputs: Variable, grad_outputs: Any = None) -> Trace:
    """Run the backward pass from ``outputs`` and record each step (``.grad`` is left alone).

    >>> x, y = cg.Variable(1.0, name="x"), cg.Variable(2.0, name="y")
    >>> z = (x + y) ** 2
    >>> z.name = "z"
    >>> trace(z).gradients
    {'x': array(6.), 'y': array(6.)}
    """
    w = walk_mod.walk(outputs)
    return from_record(w, walk_mod.record_backward(w, grad_outputs))


def _single(a: np.ndarray) -> str:
    return fmt.format_array(a).replace("\n", " ")


def from_record(w: walk_mod.Walk, record: walk_mod.Backward) -> Trace:
    """The trace of a recorded backward pass over walked graph ``w``."""
    names = w.names
    outs = [y for y in w.outputs if y in record.seeds]
    objective = names[outs[0]] if len(outs) == 1 else "(" + " + ".join(names[y] for y in outs) + ")"

    def named(v: Variable) -> nt.Sym:  # a value by its name; negative constants read −3
        text = names[v]
        return nt.Sym("−" + text[1:], nt.NEG) if text.startswith("-") else nt.Sym(text)

    expanded: dict[Variable, nt.Sym] = {}  # each computed value as a formula of the leaves
    for f in w.functions:
        y = w.output(f)
        if y is not None:
            formula = f.formula(*[expanded.get(x) or named(x) for x in f.inputs])
            expanded[y] = formula or named(y)

    receives: dict[Variable, int] = {y: 1 for y in outs}  # gradients that add up in each value
    for f in record.order:
        for x, gx in zip(f.inputs, record.downstream[f]):
            if gx is not None:
                receives[x] = receives.get(x, 0) + 1

    # ∂objective/∂v as the sum of its paths' products, written with names (short) and with
    # the leaves only (long); None where a formula is unknown
    short: dict[Variable, list[nt.Sym | None]] = {}
    long: dict[Variable, list[nt.Sym | None]] = {}
    steps = []
    for y in outs:
        ones = nt.ONE if bool(np.all(record.seeds[y] == 1)) else None
        short[y], long[y] = [ones], [ones]
        seed = Derivative(names[y], None, None, record.seeds[y], receives[y] > 1, True)
        steps.append(Step(0, None, "", (names[y],), names[y], (), (), (seed,)))
    for f in record.order:
        ys = list(w.outputs_of[f])
        xs = f.inputs
        single = len(ys) == 1 and ys[0] is not None
        local_short = f.local_derivatives(*[named(x) for x in xs]) if single else None
        known = local_short is not None  # an elementwise op
        elementwise = known and all(x.shape == ys[0].shape for x in xs)
        up_short = nt.total(short.get(ys[0], [None])) if single else None
        up_long = nt.total(long.get(ys[0], [None])) if single else None
        local_long = f.local_derivatives(*[expanded.get(x) or named(x) for x in xs]) if known else None
        local_values = _local_values(f, ys[0]) if elementwise else None
        derivatives = []
        for i, (x, gx) in enumerate(zip(xs, record.downstream[f])):
            if gx is None:
                continue
            if elementwise:
                local = None if local_short[i] is None else local_short[i].text
                short.setdefault(x, []).append(nt.product([up_short, local_short[i]]))
                long.setdefault(x, []).append(nt.product([up_long, local_long[i]]))
            else:
                if known and local_short[i] is not None:  # broadcasting: the sum is no product
                    local = f"g·{nt.wrap(local_short[i], nt.POWER)}"
                    if x.shape != ys[0].shape:
                        local += f" summed to shape {x.shape}"
                else:
                    local = _rule(f, [named(v) for v in xs], i)
                short.setdefault(x, []).append(None)
                long.setdefault(x, []).append(None)
            value = None if local_values is None else local_values[i]
            derivatives.append(Derivative(names[x], local, value, gx, receives.get(x, 0) > 1, elementwise))
        out_names = tuple("(unused)" if y is None else names.get(y, "?") for y in ys)
        if single:
            d = f.formula(*[named(x) for x in xs])
            definition = f"{out_names[0]} = {d.text if d is not None else f.label}"
            formula = (None if up_short is None or up_short == nt.ONE else up_short.text,)
        else:
            definition = f"{', '.join(out_names)} = {f.label}({', '.join(names[x] for x in xs)})"
            formula = ()
        steps.append(
            Step(
                record.steps[f],
                f,
                f.label,
                out_names,
                definition,
                record.upstream[f],
                formula,
                tuple(derivatives),
            )
        )

    totals: dict[Variable, np.ndarray] = {y: record.seeds[y] for y in outs if y.creator is None}
    for f in record.order:
        for x, gx in zip(f.inputs, record.downstream[f]):
            if gx is not None and x.creator is None:
                previous = totals.get(x)
                totals[x] = gx if previous is None else previous + gx
    gradients: dict[str, np.ndarray] = {}
    formulas: dict[str, str] = {}
    for v in w.variables:
        if v in totals:
            gradients[names[v]] = totals[v]
            s = nt.total(long.get(v, [None]))
            if s is not None:
                formulas[names[v]] = s.text
    constant = [names[y] for y in w.outputs if y not in record.seeds]
    return Trace(objective, steps, gradients, formulas, constant)


def _rule(f: Function, inputs: list[nt.Sym], position: int) -> str:
    """How ``f``'s backward turns the upstream gradient g into input ``position``'s gradient:
    its ``grad_rules`` entry, else what computes it (an Op's vjp, a Function's backward)."""
    if position < len(f.grad_rules):
        return f.grad_rules[position].format(*(s.text for s in inputs))
    return "vjp rule" if isinstance(f, Op) else "backward()"


def _local_values(f: Function, y: Variable | None) -> tuple[np.ndarray | None, ...] | None:
    """∂y/∂xᵢ of an elementwise op, elementwise: its rule applied to an upstream of ones."""
    if y is None or not isinstance(f, Op):
        return None
    with np.errstate(all="ignore"), cg.no_grad():
        gxs = f.vjp(np.ones_like(y.data), y.data, *[x.data for x in f.inputs])
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    return tuple(None if g is None else np.asarray(g) for g in gxs)


# --- the table ----------------------------------------------------------------------------------------
def _d(objective: str, name: str) -> str:
    return f"∂{objective}/∂{name}"


def _same(formula: str, value: str) -> bool:
    return formula.replace("−", "-") == value


def cells(t: Trace, step: Step) -> tuple[list[str], list[tuple[str, str]]]:
    """A step as text: its upstream gradients, then (local derivative, downstream) per input."""
    if step.function is None:
        (d,) = step.derivatives
        return [], [("", f"{_d(t.objective, d.input)} = {_single(d.grad)}")]
    upstream = []
    formulas = step.upstream_formula or (None,) * len(step.outputs)
    for name, g, formula in zip(step.outputs, step.upstream, formulas):
        text = f"{_d(t.objective, name)} = "
        if formula is not None and not _same(formula, _single(g)):
            text += f"{formula} = "
        upstream.append(text + _single(g))
    lines = []
    for d in step.derivatives:
        op = "+=" if d.accumulates else "="
        g = _single(d.grad)
        if d.elementwise:
            value = None if d.local_value is None else _single(d.local_value)
            local = f"∂{step.outputs[0]}/∂{d.input} = "
            if d.local is not None and (value is None or not _same(d.local, value)):
                local += d.local + (f" = {value}" if value is not None else "")
            else:
                local += value or "?"
            if value is not None and step.upstream and step.upstream[0].size == 1 and d.grad.size == 1:
                down = f"{_d(t.objective, d.input)} {op} {_single(step.upstream[0])} × {value} = {g}"
            else:
                down = f"{_d(t.objective, d.input)} {op} {g}"
        else:
            local = f"{d.input}: {d.local}"
            down = f"{_d(t.objective, d.input)} {op} {g}"
        lines.append((local, down))
    return upstream, lines


def _rows(t: Trace) -> list[list[str]]:
    rows = [["step", "function", "upstream", "local", "downstream"]]
    for step in t.steps:
        upstream, lines = cells(t, step)
        definition = step.definition + (" (output)" if step.function is None else "")
        for k in range(max(1, len(lines), len(upstream))):
            rows.append(
                [
                    f"{step.index}" if k == 0 else "",
                    definition if k == 0 else "",
                    upstream[k] if k < len(upstream) else "",
                    lines[k][0] if k < len(lines) else "",
                    lines[k][1] if k < len(lines) else "",
                ]
            )
    return rows


def _table(t: Trace) -> str:
    if not t.steps:
        if t.constant_outputs:
            return f"{', '.join(t.constant_outputs)}: a constant, so no gradient flows back.\n"
        return "nothing to backpropagate\n"
    rows = _rows(t)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].rjust(widths[0])] + [r[c].ljust(widths[c]) for c in range(1, len(r))]
        out.append("  ".join(cells).rstrip())
    out.append("")
    out.extend(gradient_lines(t))
    return "\n".join(out) + "\n"


def gradient_lines(t: Trace) -> list[str]:
    """One line per leaf: its gradient, as a formula when known, and its value."""
    lines = []
    for name, g in t.gradients.items():
        formula = t.formulas.get(name)
        value = _single(g)
        if formula is not None and not _same(formula, value):
            lines.append(f"{_d(t.objective, name)} = {formula} = {value}")
        else:
            lines.append(f"{_d(t.objective, name)} = {value}")
    return lines
