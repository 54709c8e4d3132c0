"""A self-contained HTML page that steps through the backward pass on the drawing.

One file, nothing fetched: the SVG (built-in layout), the styles and a few lines of script
are inline. It opens on the forward pass (values only); Next and Previous (or the arrow keys)
move through the backward steps, highlighting the active function and the gradients it
just computed; the last page lists every leaf's gradient. Where a module call is drawn as one
box (the ``modules`` and ``expand`` options), each step of an op inside it lights up the box,
and the step's text and the table name the op.
"""

from __future__ import annotations

import json
import os
from html import escape
from typing import Any

from compgraph._files import atomic_write
from compgraph.core import Variable
from compgraph.viz import graph as graph_mod
from compgraph.viz import tracing
from compgraph.viz.svg import svg_source

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
#cg-drawing { overflow: auto; border: 1px solid #ddd; padding: 0.5em; }
#cg-drawing svg { max-width: 100%; height: auto; }
#cg-controls { margin: 1em 0; }
#cg-controls button { font-size: 1em; padding: 0.3em 1em; margin-right: 0.5em; }
#cg-step { font-family: Menlo, Consolas, monospace; white-space: pre; background: #f7f7f7;
  padding: 0.8em; min-height: 5em; }
#cg-final { font-family: Menlo, Consolas, monospace; white-space: pre; background: #fff4f4;
  padding: 0.8em; border: 1px solid #d62728; }
#cg-drawing .cg-pending .cg-grad { visibility: hidden; }
#cg-drawing .cg-just .cg-line { stroke: #d62728; stroke-width: 3; }
#cg-drawing .cg-just .cg-grad { font-weight: bold; }
#cg-drawing .cg-active circle, #cg-drawing .cg-active rect { fill: #ffe08a; stroke-width: 2.5; }
details { margin-top: 1em; }
pre { font-family: Menlo, Consolas, monospace; }
"""

# The page's whole behaviour: show state k (0: forward pass; 1: the seed; 1 + j: backward
# step j; last: the final gradients).
_JS = """
(function () {
  var steps = JSON.parse(document.getElementById('cg-steps').textContent);
  var edges = Array.prototype.slice.call(document.querySelectorAll('#cg-drawing .cg-edge'));
  var nodes = document.querySelectorAll('#cg-drawing .cg-node');
  var prev = document.getElementById('cg-prev'), next = document.getElementById('cg-next');
  var info = document.getElementById('cg-step'), final = document.getElementById('cg-final');
  var counter = document.getElementById('cg-counter');
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
  }
  prev.addEventListener('click', function () { show(k - 1); });
  next.addEventListener('click', function () { show(k + 1); });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowRight') { show(k + 1); }
    if (ev.key === 'ArrowLeft') { show(k - 1); }
  });
  show(0);
})();
"""


def _states(t: tracing.Trace, graph: graph_mod.Graph) -> list[dict[str, Any]]:
    """The page's states: forward pass, seed, each backward step, final gradients."""
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
            {"engine": s.index, "node": None if node is None else f"cg-{node}", "text": "\n".join(text)}
        )
    done = "Done: every gradient is known." if t.gradients else "Nothing to backpropagate."
    states.append({"engine": len(t.steps), "node": None, "text": done})
    return states


def _page(graph: graph_mod.Graph, title: str | None) -> str:
    """The HTML text of the step-by-step page for ``graph``, built with its gradients."""
    t = tracing.from_record(graph.walk, graph.record)
    states = _states(t, graph)
    data = json.dumps(states, ensure_ascii=False).replace("</", "<\\/")
    heading = title or f"Backpropagation through {t.objective}, step by step"
    final = "\n".join(tracing.gradient_lines(t)) or "(no leaf needs a gradient)"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(heading)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(heading)}</h1>
<div id="cg-drawing">
{svg_source(graph, scale=1.4)}</div>
<div id="cg-controls">
<button id="cg-prev" type="button">&#8592; Previous</button>
<button id="cg-next" type="button">Next &#8594;</button>
<span id="cg-counter"></span>
</div>
<div id="cg-step"></div>
<div id="cg-final" hidden>
<strong>Gradients</strong>
<div id="cg-gradients">{escape(final)}</div>
</div>
<details><summary>All steps as a table</summary>
<pre>{escape(t.table())}</pre>
</details>
<script type="application/json" id="cg-steps">{data}</script>
<script>{_JS}</script>
</body>
</html>
"""


def to_html(*outputs: Variable, path: str | os.PathLike[str] | None = None, **options: Any) -> str:
    """A self-contained HTML page that steps through the backward pass from ``outputs``.

    Options as for ``to_dot`` (``names`` defaults to True here: the steps refer to values by
    name). Writes the page to ``path`` when given, atomically; returns its text.
    """
    graph_mod.check_options("to_html", options, ("title",))
    title = options.pop("title", None)
    options.pop("grads", None)
    text = _page(graph_mod.build(outputs, **{"names": True, **options}), title)
    if path is not None:
        atomic_write(path, text)
    return text
