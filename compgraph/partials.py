"""An expression's value and its partial derivatives by backpropagation: what ``compgraph grad`` prints.

``differentiate(expression, values)`` evaluates an expression (``compgraph.expr``) at the given
values, backpropagates from its output and returns the Partials: the value, the derivative
with respect to every name, and the output Variable, whose graph the Partials draw and trace
through ``compgraph.viz``. NaN and infinities are answers here, not warnings.

>>> result = differentiate("(x + y) ** 2", {"x": 1.0, "y": 2.0})
>>> result.value, result.gradients
(9.0, {'x': 6.0, 'y': 6.0})
>>> print(result.report(), end="")
z = 9
∂z/∂x = 6
∂z/∂y = 6
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compgraph.core import Variable, grad
from compgraph.expr import Expression, parse
from compgraph.notation import format_number

#: The seed's example: 2 apples at 100 and 3 oranges at 150, with 10% tax.
APPLE_ORANGE = "(apple * apple_num + orange * orange_num) * tax"
APPLE_ORANGE_VALUES = {"apple": 100.0, "apple_num": 2.0, "orange": 150.0, "orange_num": 3.0, "tax": 1.1}
#: What the output is called unless the expression uses the name: the first free one, then out1, ...
OUTPUT_NAMES = ("z", "f", "y", "out")
DIGITS = 12  # significant digits of the printed numbers


@dataclass
class Partials:
    """An expression evaluated and differentiated.

    ``output`` is the value as a Variable named ``name``, its graph leading back to one leaf
    per name of the expression; ``gradients`` maps each name, in order of first use, to the
    partial derivative of the output with respect to it.
    """

    expression: Expression
    output: Variable
    gradients: dict[str, float]

    @property
    def name(self) -> str:
        """What the output is called: ``z`` in ``∂z/∂x``."""
        return self.output.name

    @property
    def value(self) -> float:
        return self.output.item()

    def report(self) -> str:
        """The lines ``compgraph grad`` prints: the value, then one partial derivative per name."""
        lines = [f"{self.name} = {format_value(self.value)}"]
        lines += [f"∂{self.name}/∂{x} = {format_value(g)}" for x, g in self.gradients.items()]
        if not self.gradients:
            lines.append("(no names: nothing to differentiate)")
        return "\n".join(lines) + "\n"

    def steps(self) -> str:
        """The backward pass step by step, as a table (``compgraph.viz.trace``)."""
        from compgraph import viz

        with np.errstate(all="ignore"):
            return viz.trace(self.output).table()

    def draw(self, path: str | Path, engine: str = "auto") -> Path:
        """Draw the graph with values and gradients into ``path`` (``compgraph.viz.render``)."""
        from compgraph import viz

        with np.errstate(all="ignore"):
            return viz.render(self.output, path=path, engine=engine)

    def to_html(self, path: str | Path) -> Path:
        """Write a page that steps through the backward pass (``compgraph.viz.to_html``)."""
        from compgraph import viz

        with np.errstate(all="ignore"):
            viz.to_html(self.output, path=path)
        return Path(path)


def differentiate(
    expression: Expression | str, values: Mapping[str, float], output: str | None = None
) -> Partials:
    """Evaluate ``expression`` at ``values`` and backpropagate from it.

    ``values`` maps names to numbers, each made a float64 leaf of that name; names the
    expression does not use are ignored (``unused`` lists them). The output is named
    ``output``, by default the first of OUTPUT_NAMES the expression does not use. A name
    without a value is an ExpressionError pointing at its first use.
    """
    if isinstance(expression, str):
        expression = parse(expression)
    leaves = {name: Variable(values[name], name=name) for name in expression.names if name in values}
    with np.errstate(all="ignore"):
        y = expression.evaluate(leaves)
        y.name = output or _free_name(expression)
        grads = grad(y, list(leaves.values())) if leaves else []
        gradients = {name: 0.0 if g is None else g.item() for name, g in zip(expression.names, grads)}
    return Partials(expression, y, gradients)


def unused(expression: Expression, values: Mapping[str, float]) -> list[str]:
    """The names in ``values`` that ``expression`` does not use."""
    return [name for name in values if name not in expression.names]


def apple_orange_intro() -> str:
    """What ``compgraph grad`` prints before the apple/orange example's results."""
    given = ", ".join(f"{name} = {format_value(v)}" for name, v in APPLE_ORANGE_VALUES.items())
    return (
        "The apple/orange example (Deep Learning from Scratch, ch. 5):\n"
        f"price = {APPLE_ORANGE}\nwith {given}\n\n"
    )


def format_value(value: float) -> str:
    """A number as ``compgraph grad`` prints it: at most 12 significant digits (``1.1``, ``nan``)."""
    return format_number(value, DIGITS)


def _free_name(expression: Expression) -> str:
    candidates = itertools.chain(OUTPUT_NAMES, (f"out{k}" for k in itertools.count(1)))
    return next(name for name in candidates if name not in expression.names)
