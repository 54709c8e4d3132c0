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
from html import escape
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

    def _repr_html_(self) -> str:
        """In Jupyter: the table as ``print`` shows it, in a ``<pre>`` block (the text repr
        would be the dataclass's, arrays and all)."""
        return f'<pre class="cg-trace">{escape(self.table())}</pre>\n'


def trace(*outputs: Variable, grad_outputs: Any = None) -> Trace:
    """Run the backward pass from ``outputs`` and record each step (``.grad`` is left alone).

    Every function gets its step, also those a drawing shows inside a module's box.

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
    return _Tracer(w, record).trace()


#: ∂objective/∂v for each value v as the terms of a sum, one per path from the objective to v
#: (the product of the local derivatives along it); a term is None where its formula is unknown.
_Paths = dict[Variable, list[nt.Sym | None]]


class _Tracer:
    """Builds a Trace in named steps: the outputs' seeds, one Step per function in the order
    the engine ran them, then the leaves' totals. Along the way it writes each gradient as its
    paths twice: with the values' names (``short``, what a step shows) and with the leaves only
    (``long``, what a leaf's gradient reads at the end)."""

    def __init__(self, w: walk_mod.Walk, record: walk_mod.Backward):
        self.w, self.record, self.names = w, record, w.names
        self.outs = [y for y in w.outputs if y in record.seeds]
        self.expanded = self.formulas_of_values()
        self.receives = _receives(self.outs, record)
        self.short: _Paths = {}
        self.long: _Paths = {}

    def trace(self) -> Trace:
        """The seeds, every function's step, the leaves' gradients, and the constant outputs."""
        names, outs = self.names, self.outs
        objective = names[outs[0]] if len(outs) == 1 else "(" + " + ".join(names[y] for y in outs) + ")"
        steps = [self.seed(y) for y in outs]
        steps += [self.step(f) for f in self.record.order]
        gradients, formulas = self.leaves()
        constant = [names[y] for y in self.w.outputs if y not in self.record.seeds]
        return Trace(objective, steps, gradients, formulas, constant)

    def named(self, v: Variable) -> nt.Sym:
        """A value by its name; negative constants read −3."""
        text = self.names[v]
        return nt.Sym("−" + text[1:], nt.NEG) if text.startswith("-") else nt.Sym(text)

    def of_leaves(self, v: Variable) -> nt.Sym:
        """A value as a formula of the leaves, or by its name where that formula is unknown."""
        return self.expanded.get(v) or self.named(v)

    def formulas_of_values(self) -> dict[Variable, nt.Sym]:
        """Each computed value as a formula of the leaves (by its name where that is too long)."""
        expanded: dict[Variable, nt.Sym] = {}
        for f in self.w.functions:
            y = self.w.output(f)
            if y is not None:
                formula = f.formula(*[expanded.get(x) or self.named(x) for x in f.inputs])
                expanded[y] = formula or self.named(y)
        return expanded

    def seed(self, y: Variable) -> Step:
        """Step 0 of output ``y``: the gradient it starts with (whose formula is 1 for ones)."""
        g = self.record.seeds[y]
        ones = nt.ONE if bool(np.all(g == 1)) else None
        self.short[y], self.long[y] = [ones], [ones]
        name = self.names[y]
        seeded = Derivative(name, None, None, g, self.receives[y] > 1, True)
        return Step(0, None, "", (name,), name, (), (), (seeded,))

    def step(self, f: Function) -> Step:
        """Function ``f``'s backward step: what it received, and what it sent to each input."""
        ys = list(self.w.outputs_of[f])
        out_names = tuple("(unused)" if y is None else self.names.get(y, "?") for y in ys)
        if len(ys) == 1 and ys[0] is not None:
            definition, upstream_formula, derivatives = self.one_output(f, ys[0], out_names[0])
        else:  # several outputs: no formulas, and each input's gradient by the function's rule
            inputs = ", ".join(self.names[x] for x in f.inputs)
            definition, upstream_formula = f"{', '.join(out_names)} = {f.label}({inputs})", ()
            derivatives = [self.by_rule(f, i, x, gx) for i, x, gx in self.sent(f)]
        upstream = self.record.upstream[f]
        index = self.record.steps[f]
        return Step(index, f, f.label, out_names, definition, upstream, upstream_formula, tuple(derivatives))

    def one_output(
        self, f: Function, y: Variable, name: str
    ) -> tuple[str, tuple[str | None], list[Derivative]]:
        """For single-output ``f``: its definition (``t = x + y``), the formula of the gradient
        it received (None when it is 1 or unknown), and its Derivatives."""
        up_short, up_long = nt.total(self.short.get(y, [None])), nt.total(self.long.get(y, [None]))
        formula = f.formula(*[self.named(x) for x in f.inputs])
        definition = f"{name} = {formula.text if formula is not None else f.label}"
        upstream_formula = None if up_short is None or up_short == nt.ONE else up_short.text
        return definition, (upstream_formula,), self.derivatives(f, y, (up_short, up_long))

    def derivatives(
        self, f: Function, y: Variable, upstream: tuple[nt.Sym | None, nt.Sym | None]
    ) -> list[Derivative]:
        """The Derivatives of single-output ``f``: local derivatives along paths for an
        elementwise op; for one that broadcast, or another op, how its rule made each gradient."""
        local_short = f.local_derivatives(*[self.named(x) for x in f.inputs])
        if local_short is None:  # not elementwise
            return [self.by_rule(f, i, x, gx) for i, x, gx in self.sent(f)]
        if any(x.shape != y.shape for x in f.inputs):  # broadcast: the sum over it is no product
            return [self.broadcast(f, y, local_short[i], i, x, gx) for i, x, gx in self.sent(f)]
        return self.elementwise(f, y, upstream, local_short)

    def sent(self, f: Function) -> list[tuple[int, Variable, np.ndarray]]:
        """(position, input, gradient) for each input that ``f``'s step sent a gradient to."""
        gxs = self.record.downstream[f]
        return [(i, x, gx) for i, (x, gx) in enumerate(zip(f.inputs, gxs)) if gx is not None]

    def elementwise(
        self,
        f: Function,
        y: Variable,
        upstream: tuple[nt.Sym | None, nt.Sym | None],
        local_short: tuple[nt.Sym | None, ...],
    ) -> list[Derivative]:
        """The Derivatives of an elementwise op that did not broadcast: each input's local
        derivative (a formula and its values), and the path it extends, upstream times local."""
        local_long = f.local_derivatives(*[self.of_leaves(x) for x in f.inputs])
        values = _local_values(f, y)
        derivatives = []
        for i, x, gx in self.sent(f):
            self.short.setdefault(x, []).append(nt.product([upstream[0], local_short[i]]))
            self.long.setdefault(x, []).append(nt.product([upstream[1], local_long[i]]))
            text = None if local_short[i] is None else local_short[i].text
            value = None if values is None else values[i]
            derivatives.append(Derivative(self.names[x], text, value, gx, self.receives.get(x, 0) > 1, True))
        return derivatives

    def broadcast(
        self, f: Function, y: Variable, local: nt.Sym | None, i: int, x: Variable, gx: np.ndarray
    ) -> Derivative:
        """Input ``x`` of an elementwise op that broadcast: g times its local derivative, summed
        back to its shape."""
        if local is None:
            return self.by_rule(f, i, x, gx)
        text = f"g·{nt.wrap(local, nt.POWER)}"
        if x.shape != y.shape:
            text += f" summed to shape {x.shape}"
        return self.without_path(x, text, gx)

    def by_rule(self, f: Function, i: int, x: Variable, gx: np.ndarray) -> Derivative:
        """Input ``i``'s gradient told by ``f``'s rule (``g @ Wᵀ``), where no formula writes it."""
        return self.without_path(x, _rule(f, [self.named(v) for v in f.inputs], i), gx)

    def without_path(self, x: Variable, text: str, gx: np.ndarray) -> Derivative:
        """The Derivative of a gradient sent to ``x`` that no product of formulas writes."""
        self.short.setdefault(x, []).append(None)
        self.long.setdefault(x, []).append(None)
        return Derivative(self.names[x], text, None, gx, self.receives.get(x, 0) > 1, False)

    def leaves(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Each leaf's gradient by name, and its formula of the leaves where known."""
        totals = _leaf_totals(self.outs, self.record)
        gradients: dict[str, np.ndarray] = {}
        formulas: dict[str, str] = {}
        for v in self.w.variables:
            if v in totals:
                gradients[self.names[v]] = totals[v]
                s = nt.total(self.long.get(v, [None]))
                if s is not None:
                    formulas[self.names[v]] = s.text
        return gradients, formulas


def _receives(outs: list[Variable], record: walk_mod.Backward) -> dict[Variable, int]:
    """How many gradients add up in each value: one seed per output, one per step sending one."""
    receives = dict.fromkeys(outs, 1)
    for f in record.order:
        for x, gx in zip(f.inputs, record.downstream[f]):
            if gx is not None:
                receives[x] = receives.get(x, 0) + 1
    return receives


def _leaf_totals(outs: list[Variable], record: walk_mod.Backward) -> dict[Variable, np.ndarray]:
    """Each leaf's gradient: its seed if it is an output, plus what every step sent it."""
    totals: dict[Variable, np.ndarray] = {y: record.seeds[y] for y in outs if y.creator is None}
    for f in record.order:
        for x, gx in zip(f.inputs, record.downstream[f]):
            if gx is not None and x.creator is None:
                previous = totals.get(x)
                totals[x] = gx if previous is None else previous + gx
    return totals


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


def _with_formula(lhs: str, formula: str | None, value: str) -> str:
    """``lhs = formula = value``, or ``lhs = value`` when the formula is unknown or reads as
    the value itself."""
    if formula is not None and not _same(formula, value):
        return f"{lhs} = {formula} = {value}"
    return f"{lhs} = {value}"


def cells(t: Trace, step: Step) -> tuple[list[str], list[tuple[str, str]]]:
    """A step as text: its upstream gradients, then (local derivative, downstream) per input."""
    if step.function is None:
        (d,) = step.derivatives
        return [], [("", f"{_d(t.objective, d.input)} = {_single(d.grad)}")]
    formulas = step.upstream_formula or (None,) * len(step.outputs)
    upstream = [
        _with_formula(_d(t.objective, name), formula, _single(g))
        for name, g, formula in zip(step.outputs, step.upstream, formulas)
    ]
    return upstream, [_derivative_cells(t, step, d) for d in step.derivatives]


def _derivative_cells(t: Trace, step: Step, d: Derivative) -> tuple[str, str]:
    """One input's (local derivative, downstream) cells: for an elementwise op the local
    derivative's formula and value, and upstream × local = downstream for scalars; else the rule."""
    if not d.elementwise:
        return f"{d.input}: {d.local}", _downstream_cell(t, step, d, None)
    value = None if d.local_value is None else _single(d.local_value)
    lhs = f"∂{step.outputs[0]}/∂{d.input}"
    if value is None:
        local = f"{lhs} = {d.local if d.local is not None else '?'}"
    else:
        local = _with_formula(lhs, d.local, value)
    return local, _downstream_cell(t, step, d, value)


def _downstream_cell(t: Trace, step: Step, d: Derivative, value: str | None) -> str:
    """``∂z/∂x += 6 × 1 = 6`` (the product shown where every factor is one number)."""
    lhs = f"{_d(t.objective, d.input)} {'+=' if d.accumulates else '='}"
    if value is not None and step.upstream and step.upstream[0].size == 1 and d.grad.size == 1:
        return f"{lhs} {_single(step.upstream[0])} × {value} = {_single(d.grad)}"
    return f"{lhs} {_single(d.grad)}"


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
    return [
        _with_formula(_d(t.objective, name), t.formulas.get(name), _single(g))
        for name, g in t.gradients.items()
    ]
