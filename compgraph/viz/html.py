"""The step-by-step stepper: the drawing, Previous/Next buttons and the text of each backward step.

One piece of HTML serves both uses: ``stepper(...)`` returns it as a fragment that Jupyter
shows inline (``_repr_html_``) and a page can embed, and ``to_html(...)`` wraps the same
fragment in a self-contained page. Nothing is fetched: the SVG (built-in layout), the styles
and a few lines of script are inline. It opens on the forward pass (values only); Next and
Previous (or the arrow keys, while the stepper has the focus) move through the backward
steps, highlighting the active function and the gradients it just computed; the last state
lists every leaf's gradient. Where a module call is drawn as one box (the ``modules`` and
``expand`` options), each step of an op inside it lights up the box, and the step's text and
the table name the op.

Several steppers live in one page without clashing: each fragment's ids start with its own
prefix, its styles are scoped to its root element, its script finds that root from itself
(``document.currentScript``, so HTML inserted after the page loaded works, as in JupyterLab's
output or a mkdocs-jupyter page) and its keys are heard only by that root. In Jupyter the
buttons need the notebook to be trusted (outputs you ran yourself are): untrusted output has
its scripts removed and shows the drawing with every gradient.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from html import escape
from pathlib import Path
from typing import Any

from compgraph._files import atomic_write
from compgraph.core import Variable
from compgraph.viz import graph as graph_mod
from compgraph.viz import tracing
from compgraph.viz.svg import svg_source

#: The prefix of the page's ids (``cg-next``, ``cg-n3``): a page holds one stepper.
PAGE_PREFIX = "cg"

# The page's own styles; the stepper's are scoped to its root (``#ROOT`` is replaced by its id).
_PAGE_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
"""

_CSS = """
#ROOT { font-family: Helvetica, Arial, sans-serif; color: #222; outline: none; }
#ROOT:focus-visible { outline: 2px solid #7aa7e0; outline-offset: 4px; }
#ROOT .cg-drawing { overflow: auto; border: 1px solid #ddd; padding: 0.5em; background: #fff; }
#ROOT .cg-drawing svg { max-width: 100%; height: auto; }
#ROOT .cg-controls { margin: 1em 0; }
#ROOT .cg-controls button { font-size: 1em; padding: 0.3em 1em; margin-right: 0.5em; }
#ROOT .cg-step { font-family: Menlo, Consolas, monospace; white-space: pre; background: #f7f7f7;
  padding: 0.8em; min-height: 5em; overflow: auto; }
#ROOT .cg-final { font-family: Menlo, Consolas, monospace; white-space: pre; background: #fff4f4;
  padding: 0.8em; border: 1px solid #d62728; margin-top: 0.5em; overflow: auto; }
#ROOT .cg-final[hidden] { display: none; }
#ROOT .cg-drawing .cg-pending .cg-grad { visibility: hidden; }
#ROOT .cg-drawing .cg-just .cg-line { stroke: #d62728; stroke-width: 3; }
#ROOT .cg-drawing .cg-just .cg-grad { font-weight: bold; }
#ROOT .cg-drawing .cg-active circle, #ROOT .cg-drawing .cg-active rect { fill: #ffe08a; stroke-width: 2.5; }
#ROOT details { margin-top: 1em; }
#ROOT pre { font-family: Menlo, Consolas, monospace; }
"""

# The stepper's whole behaviour: show state k (0: forward pass; 1: the seed; 1 + j: backward
# step j; last: the final gradients). It looks up everything inside its own root, which it
# finds from the script element running it (the id is the fallback for hosts that run the
# script detached), and runs once per root.
_JS = """
(function () {
  var me = document.currentScript;
  var root = (me && me.closest && me.closest('.cg-stepper')) || document.getElementById('ROOT');
  if (!root || root.getAttribute('data-cg-ready')) { return; }
  root.setAttribute('data-cg-ready', '1');
  var one = function (cls) { return root.querySelector('.' + cls); };
  var steps = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var edges = Array.prototype.slice.call(root.querySelectorAll('.cg-drawing .cg-edge'));
  var nodes = root.querySelectorAll('.cg-drawing .cg-node');
  var prev = one('cg-prev'), next = one('cg-next'), info = one('cg-step');
  var final = one('cg-final'), counter = one('cg-counter');
  var last = steps.length - 1, k = 0;
  function show(state) {
    k = Math.max(0, Math.min(last, state));
    var s = steps[k];
    edges.forEach(function (e) {
      var at = e.getAttribute('data-step');
      var step = at === null ? null : parseInt(at, 10);
      e.classList.toggle('cg-pending', step !== null && (s.engine === null || step > s.engine));
      e.classList.toggle('cg-just', step !== null && step === s.engine);
    });
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].classList.toggle('cg-active', s.node !== null && nodes[i].id === s.node);
    }
    info.textContent = s.text;
    final.hidden = k !== last;
    prev.disabled = k === 0;
    next.disabled = k === last;
    counter.textContent = (k + 1) + ' / ' + steps.length;
    root.setAttribute('data-state', String(k));
  }
  prev.addEventListener('click', function () { show(k - 1); });
  next.addEventListener('click', function () { show(k + 1); });
  root.addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowRight') { show(k + 1); ev.preventDefault(); }
    if (ev.key === 'ArrowLeft') { show(k - 1); ev.preventDefault(); }
  });
  show(0);
})();
"""

_counter = itertools.count(1)


def unique_prefix(content: str) -> str:
    """An id prefix for one picture shown inline: ``cg3-1f2e4d5c``.

    The number counts the pictures made in this process, so two of the same graph differ;
    the hash of ``content`` tells apart those made by two processes (two notebooks open in
    one JupyterLab page). A fresh kernel running a notebook again makes the same prefixes, so
    a re-executed notebook's outputs do not change.
    """
    digest = hashlib.sha1(content.encode("utf-8")).hexdigest()[:8]
    return f"cg{next(_counter)}-{digest}"


def _states(t: tracing.Trace, graph: graph_mod.Graph, prefix: str) -> list[dict[str, Any]]:
    """The stepper's states: forward pass, seed, each backward step, final gradients."""
    states: list[dict[str, Any]] = [
        {
            "engine": None,
            "node": None,
            "text": "Forward pass: every edge shows the value flowing along it.\n"
            "Press Next (or →) to run the backward pass one step at a time.",
        }
    ]
    seeds = [s for s in t.steps if s.function is None]
    if seeds:
        lines = [cells_line for s in seeds for _, cells_line in tracing.cells(t, s)[1]]
        states.append(
            {
                "engine": 0,
                "node": None,
                "text": "Seed: the backward pass starts from the output with gradient 1.\n"
                + "\n".join(lines),
            }
        )
    count = len(t.steps) - len(seeds)
    for s in t.steps[len(seeds) :]:
        upstream, lines = tracing.cells(t, s)
        text = [f"Step {s.index} of {count}: {s.definition}"]
        text += [f"  upstream    {u}" for u in upstream]
        for local, down in lines:
            text.append(f"  local       {local}")
            text.append(f"  downstream  {down}")
        node = graph.function_nodes.get(s.function)
        states.append(
            {
                "engine": s.index,
                "node": None if node is None else f"{prefix}-{node}",
                "text": "\n".join(text),
            }
        )
    done = "Done: every gradient is known." if t.gradients else "Nothing to backpropagate."
    states.append({"engine": len(t.steps), "node": None, "text": done})
    return states


def _fragment(t: tracing.Trace, graph: graph_mod.Graph, prefix: str, *, autofocus: bool = False) -> str:
    """The stepper for ``graph`` (whose backward pass is ``t``) as one ``<div>``, its ids
    starting with ``prefix``. ``autofocus``: the root takes the focus when the page loads, so
    the arrow keys work at once (the page's single stepper)."""
    states = _states(t, graph, prefix)
    data = json.dumps(states, ensure_ascii=False).replace("</", "<\\/")
    final = "\n".join(tracing.gradient_lines(t)) or "(no leaf needs a gradient)"
    p = escape(prefix)
    focus = " autofocus" if autofocus else ""
    # The first state is written out too, so the stepper reads sensibly before its script runs.
    return f"""<div class="cg-stepper" id="{p}" tabindex="0"{focus}>
<style>{_CSS.replace("ROOT", prefix)}</style>
<div class="cg-drawing" id="{p}-drawing">
{svg_source(graph, scale=1.4, prefix=prefix)}</div>
<div class="cg-controls">
<button class="cg-prev" id="{p}-prev" type="button" disabled>&#8592; Previous</button>
<button class="cg-next" id="{p}-next" type="button">Next &#8594;</button>
<span class="cg-counter" id="{p}-counter">1 / {len(states)}</span>
</div>
<div class="cg-step" id="{p}-step">{escape(states[0]["text"])}</div>
<div class="cg-final" id="{p}-final" hidden>
<strong>Gradients</strong>
<div class="cg-gradients" id="{p}-gradients">{escape(final)}</div>
</div>
<details><summary>All steps as a table</summary>
<pre>{escape(t.table())}</pre>
</details>
<script type="application/json" id="{p}-steps">{data}</script>
<script>{_JS.replace("ROOT", prefix)}</script>
</div>
"""


def _page(t: tracing.Trace, graph: graph_mod.Graph, title: str | None) -> str:
    """The self-contained page for ``graph``: a heading and the stepper, its ids ``cg-…``."""
    heading = title or f"Backpropagation through {t.objective}, step by step"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(heading)}</title>
<style>{_PAGE_CSS}</style>
</head>
<body>
<h1>{escape(heading)}</h1>
{_fragment(t, graph, PAGE_PREFIX, autofocus=True)}</body>
</html>
"""


def _graph(outputs: tuple[Variable, ...], options: dict[str, Any]) -> graph_mod.Graph:
    options.pop("grads", None)  # stepping through the backward pass needs the gradients
    return graph_mod.build(outputs, **{"names": True, **options})


class Stepper:
    """The backward pass of a graph, step by step, as HTML that shows inline in Jupyter.

    ``.html`` is an embeddable fragment: one ``<div class="cg-stepper">`` with its styles and
    script, its ids starting with ``.prefix``. ``.save(path)`` writes it as a page (as
    ``to_html`` does). ``.trace`` is the recorded backward pass, one state per step of it
    (``.states``: the forward pass, the seed, each step, the end).
    """

    def __init__(self, graph: graph_mod.Graph, prefix: str | None = None):
        self.graph = graph
        self.trace = tracing.from_record(graph.walk, graph.record)
        self.prefix = prefix or unique_prefix(self.trace.table())
        self.html = _fragment(self.trace, graph, self.prefix)
        self.states = _states(self.trace, graph, self.prefix)

    def _repr_html_(self) -> str:
        return self.html

    def save(self, path: str | os.PathLike[str], title: str | None = None) -> Path:
        """Write the stepper as a self-contained page (``title``: its heading), atomically."""
        return atomic_write(path, _page(self.trace, self.graph, title))

    def __repr__(self) -> str:
        return f"<Stepper {self.prefix}: {len(self.states)} states>"


def stepper(*outputs: Variable, prefix: str | None = None, **options: Any) -> Stepper:
    """The backward pass from ``outputs``, step by step, to show inline (Jupyter) or embed.

    Options as for ``to_dot`` (``names`` defaults to True here: the steps refer to values by
    name). ``prefix`` starts the fragment's ids (default: a unique one, ``cg3-1f2e4d5c``); two
    steppers in one page need different prefixes.

    >>> import compgraph as cg
    >>> x = cg.Variable(3.0, name="x")
    >>> y = x * x
    >>> y.name = "y"
    >>> s = stepper(y)
    >>> len(s.states), "Next" in s._repr_html_()
    (4, True)
    """
    graph_mod.check_options("stepper", options)
    return Stepper(_graph(outputs, options), prefix)


def to_html(*outputs: Variable, path: str | os.PathLike[str] | None = None, **options: Any) -> str:
    """A self-contained HTML page that steps through the backward pass from ``outputs``.

    Options as for ``to_dot`` (``names`` defaults to True here: the steps refer to values by
    name), and ``title`` for its heading. The page is ``stepper(...)``'s fragment under a
    heading, its ids starting ``cg-``. Writes the page to ``path`` when given, atomically;
    returns its text.
    """
    graph_mod.check_options("to_html", options, ("title",))
    title = options.pop("title", None)
    graph = _graph(outputs, options)
    text = _page(tracing.from_record(graph.walk, graph.record), graph, title)
    if path is not None:
        atomic_write(path, text)
    return text
