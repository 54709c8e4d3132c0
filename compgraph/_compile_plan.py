"""A compiled function's plan: its trace as the seed's list of local computations.

``t3 = t1·t2   # () float64`` per forward op and ``gt1 = gt3·t2`` per backward step, with
Parameters by their qualified names: what ``CompiledFunction.plan`` prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from compgraph import notation
from compgraph._compile_trace import Trace
from compgraph.core import Function, Variable


class Plan:
    """The compiled program as the seed's local computations: ``t3 = t1 * t2`` per forward op,
    ``gt1 = gt3 * t2`` per backward step, with each value's shape and dtype."""

    def __init__(self, t: Trace):
        self.lines = _plan_lines(t)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return str(self)


def _names(t: Trace) -> list[str]:
    names, temps = [], 0
    for s, (v, k) in enumerate(zip(t.vars, t.kind)):
        given = getattr(v, "_qualified_name", None) or v.name
        if k == "const" and v.data.size == 1 and not given:
            given = notation.format_number(v.data.item())
        elif k == "temp":
            temps += 1
            given = f"t{temps}"
        names.append(given or (f"x{t.arg_slots.index(s)}" if k == "arg" else f"c{s}"))
    return names


def _spec(v: Variable) -> str:
    return f"{tuple(v.data.shape)} {v.data.dtype}"


def _plan_lines(t: Trace) -> list[str]:
    names = _names(t)
    sym = [notation.Sym(n) for n in names]
    args = ", ".join(names[s] for s in t.arg_slots)
    lines = [f"compiled {t.name}({args}): {len(t.ops)} ops"]
    for s, v in t.leaves:
        lines.append(f"  read {names[s]}.data   # {_spec(v)}")
    lines.append("forward:")
    for f, ins, outs, _ in t.ops:
        formula = f.formula(*[sym[i] for i in ins])
        rhs = formula.text if formula is not None else f"{f.label}({', '.join(names[i] for i in ins)})"
        lhs = ", ".join(names[o] for o in outs)
        lines.append(f"  {lhs} = {rhs}   # {', '.join(_spec(t.vars[o]) for o in outs)}")
    lines.append("backward:")
    got: set[int] = set()
    for o in t.out_slots:
        if t.vars[o].requires_grad:
            lines.append(f"  g{names[o]} = 1   # seed, {_spec(t.vars[o])}")
            got.add(o)
    for f, ins, outs, _ in reversed(t.ops):
        if any(o in got for o in outs):
            lines.extend(_backward_lines(t, f, ins, outs, names, sym, got))
    return lines


def _backward_lines(
    t: Trace, f: Function, ins: tuple, outs: tuple, names: list, sym: list, got: set
) -> list[str]:
    """``gx = gy·∂y/∂x`` (an elementwise op) or the op's grad rule, for each input needing one."""
    lines = []
    locs = f.local_derivatives(*[sym[i] for i in ins]) if len(outs) == 1 else None
    gy = notation.Sym("g" + names[outs[0]]) if len(outs) == 1 else None
    for k, i in enumerate(ins):
        if not t.vars[i].requires_grad:
            continue
        if locs is not None and locs[k] is not None and gy is not None:
            prod = notation.product([gy, locs[k]])
            rhs = prod.text if prod is not None else f"{gy.text} * ∂/∂{names[i]}"
        elif k < len(f.grad_rules) and gy is not None:
            rhs = re.sub(r"\bg\b", gy.text, f.grad_rules[k].format(*(sym[j].text for j in ins)))
        else:
            rhs = f"{f.label} rule for input {k}"
        lines.append(f"  g{names[i]} {'+=' if i in got else '='} {rhs}")
        got.add(i)
    return lines


def _iter_ops(t: Trace) -> Iterator[Function]:  # for tests and tools: the traced functions in order
    return (f for f, _, _, _ in t.ops)
