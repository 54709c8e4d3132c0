"""See the graph: drawings with values and gradients, and the backward pass step by step.

>>> import compgraph as cg
>>> from compgraph import viz
>>> x, y = cg.Variable(1.0, name="x"), cg.Variable(2.0, name="y")
>>> z = (x + y) ** 2
>>> z.name = "z"
>>> path = viz.render(z, path="z.svg")      # doctest: +SKIP
>>> print(viz.trace(z))                     # doctest: +SKIP

- ``to_dot(*outputs)``: Graphviz DOT text. ``draw(*outputs)``: a ``Drawing`` that shows
  inline in Jupyter and has ``.source`` (DOT), ``.svg()`` and ``.save(path)``.
  ``render(*outputs, path=...)``: write SVG, PNG, PDF, DOT or HTML, by the path's suffix.
- ``trace(*outputs)``: the backward pass, recorded step by step; ``print`` it for a table.
- ``stepper(*outputs)``: a ``Stepper``, the backward pass with Previous/Next buttons on the
  drawing, shown inline in Jupyter; ``.html`` is the fragment to embed in a page of your own.
- ``to_html(*outputs, path=...)``: the same stepper as one self-contained page.

In Jupyter nothing needs Graphviz or the network: a drawing shows as SVG (``image/svg+xml``)
laid out by the built-in layout (Graphviz's only with ``engine="dot"``), so a notebook's
outputs are the same on every machine; a stepper shows as HTML (``text/html``, buttons working
once the notebook is trusted) and a trace as its table. Each inline drawing and stepper has
ids of its own, so any number of them share a page; the arrow keys step the stepper that has
the focus.

A model's graph is drawn with its module calls as boxes (``h.0: TransformerBlock``) once it
grows past 50 functions; ``expand=("h.0",)`` opens one, ``modules=True``/``False`` forces
boxes or none. Traces and the page's steps list every op, also those inside boxes.

Gradients are computed for the drawing by a backward pass from the outputs (seeded with
ones, like ``y.backward()``): no ``.grad`` changes and no ``retain_grad`` is needed. SVG and
HTML need nothing beyond NumPy; PNG and PDF need Graphviz (``pip install 'compgraph[viz]'``
and the ``dot`` program from your system's packages).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compgraph.core import Variable
from compgraph.viz.collapse import COLLAPSE
from compgraph.viz.drawing import Drawing, draw, graphviz_available
from compgraph.viz.format import EXPLODING, VANISHING
from compgraph.viz.graph import check_options
from compgraph.viz.html import Stepper, stepper, to_html
from compgraph.viz.tracing import Step, Trace, trace


def to_dot(
    *outputs: Variable,
    values: bool = True,
    grads: bool = True,
    names: bool = False,
    max_depth: int | None = None,
    collapse: int | None = COLLAPSE,
    modules: bool | str = "auto",
    expand: str | Sequence[str] | None = None,
    vanishing: float | None = VANISHING,
    exploding: float | None = EXPLODING,
    grad_outputs: Any = None,
) -> str:
    """Graphviz DOT text for the graph behind ``outputs``, laid out left to right.

    Functions are circles labelled with their operation (× + − ÷ **2 exp matmul …; a Function
    with a ``label`` string attribute shows that). Each edge carries the forward value and,
    under it in red, the gradient flowing back along it (arrays: shape, dtype, mean [min, max]).

    - ``values``/``grads``: show the forward values / run a backward pass and show gradients.
    - ``names``: prefix each value with its variable's name (``t = 200``).
    - ``max_depth``: draw only functions at most this many steps from an output (0: the last
      one); the values coming from further back start from a ``⋯ name`` node.
    - ``collapse``: draw a run of at least this many functions repeating one pattern along a
      chain as a single node (``tanh ×998``); 0 or None draws every function.
    - ``modules``: draw each outermost module call (``Module.__call__``) as one box labelled
      ``h.0: TransformerBlock``, its tooltip listing what is inside (``21 ops: reshape ×6,
      linear ×4, …; 6 parameters; modules: h.0.ln_1, h.0.attn, …``). Values flow in and out
      of it as for a collapsed run, each edge in carrying the gradients its functions sent
      back, summed; the Parameters only it uses are not drawn. True: always; False: never;
      "auto" (default): only when the drawing would otherwise have more than 50 function
      nodes (small drawings are unchanged), then opened a level at a time (the model, its
      blocks, their layers) while at most 50 are drawn. A model, or a module in none, is
      named by its class (``MLP``).
    - ``expand``: names of boxes to open (``expand=("h.0", "h.0.attn")``); an open box shows
      the boxes of the modules it called and its other functions. Naming a box opens the boxes
      around it too; giving ``expand`` draws boxes under "auto" whatever the size. A name that
      is no module call of the drawing is a ValueError listing those there are.
    - ``vanishing``/``exploding``: gradients whose largest magnitude is ≤ ``vanishing``
      (default 1e-6, zeros included) or ≥ ``exploding`` (default 1e6) are marked ▼ / ▲;
      NaN and Inf are marked ⚠ (values too). None switches a check off.
    - ``grad_outputs``: weights for the outputs' gradients (default: ones).

    A value is labelled by its ``name``: a non-str name shows as ``str(name)``, a Module's
    Parameters carry their place in it (``fc1.W``), and unnamed values get made-up names (v, t,
    z). There is no separate labels option: an unknown option is a TypeError.

    >>> x = Variable(3.0, name="x")
    >>> "×" in to_dot(x * x)
    True
    """
    return draw(
        *outputs,
        values=values,
        grads=grads,
        names=names,
        max_depth=max_depth,
        collapse=collapse,
        modules=modules,
        expand=expand,
        vanishing=vanishing,
        exploding=exploding,
        grad_outputs=grad_outputs,
    ).source


def render(*outputs: Variable, path: str | os.PathLike[str], engine: str = "auto", **options: Any) -> Path:
    """Draw the graph behind ``outputs`` into ``path``; its suffix picks the format.

    .svg, .png, .pdf (through Graphviz when installed; SVG falls back to the built-in layout,
    PNG and PDF need Graphviz), .dot/.gv (DOT text), .html (the step-by-step page). Options
    as for ``to_dot``; ``engine`` is "auto", "dot" or "builtin". Returns the path written.
    """
    check_options("render", options)
    return draw(*outputs, engine=engine, **options).save(path)


__all__ = [
    "Drawing",
    "Step",
    "Stepper",
    "Trace",
    "draw",
    "graphviz_available",
    "render",
    "stepper",
    "to_dot",
    "to_html",
    "trace",
]
