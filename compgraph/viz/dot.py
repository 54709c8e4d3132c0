"""The drawing model as Graphviz DOT text: left to right, values above gradients on each edge."""

from __future__ import annotations

from compgraph.viz import format as fmt
from compgraph.viz.graph import Edge, Graph, Node

FONT = "Helvetica,Arial,sans-serif"
#: Colours: forward values, gradients, and the highlights of flagged values.
VALUE_COLOUR = "#222222"
GRAD_COLOUR = "#d62728"
FLAG_COLOURS = {fmt.NONFINITE: "#9400d3", fmt.VANISHING_FLAG: "#1f77b4", fmt.EXPLODING_FLAG: "#ff7f0e"}
LEGEND_TEXT = {
    fmt.NONFINITE: "⚠ NaN or Inf",
    fmt.VANISHING_FLAG: "▼ vanishing gradient (max |g| ≤ {vanishing})",
    fmt.EXPLODING_FLAG: "▲ exploding gradient (max |g| ≥ {exploding})",
}

# Function nodes (the most common) take the default style; the others override it.
_DEFAULT_NODE = 'shape=circle, width=0.45, margin=0.02, fontsize=14, style=filled, fillcolor="#ffffff"'
_NODE_STYLE = {
    "op": "",
    "chain": 'shape=box, style="rounded,filled", fillcolor="#f3f3f3", fontsize=13',
    "module": 'shape=box, style="filled,bold", fillcolor="#e6eef9", color="#2f5f9e", fontsize=13',
    "leaf": 'shape=plaintext, style="", fontsize=14',
    "const": 'shape=plaintext, style="", fontsize=12, fontcolor="#555555"',
    "cut": 'shape=plaintext, style="", fontsize=12, fontcolor="#777777"',
    "output": 'shape=plaintext, style="", fontsize=14',
    "branch": 'shape=point, width=0.07, color="#444444"',
}


def quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def html(text: str) -> str:
    """Text escaped for a Graphviz HTML-like label, lines joined with <BR/>."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return "<BR/>".join(escaped.split("\n"))


def legend_lines(graph: Graph) -> list[tuple[str, str]]:
    """(colour, text) pairs for the legend: what the colours mean, then the flags present."""
    if not graph.has_grads:
        return []
    lines = [(VALUE_COLOUR, "forward value"), (GRAD_COLOUR, "gradient (backward)")]
    for flag in graph.legend:
        text = LEGEND_TEXT[flag].format(
            vanishing=fmt.format_number(graph.vanishing or 0, 3),
            exploding=fmt.format_number(graph.exploding or 0, 3),
        )
        lines.append((FLAG_COLOURS[flag], text))
    return lines


def edge_label(graph: Graph, e: Edge) -> str | None:
    """The edge's HTML-like label: the value (with the name if asked) over the gradient."""
    parts = []
    value = e.value
    if value is not None and graph.show_names and e.named:
        value = f"{e.name} = {value}"
    if value is not None:
        colour = FLAG_COLOURS[e.value_flags[0]] if e.value_flags else VALUE_COLOUR
        parts.append(f'<FONT COLOR="{colour}">{html(value)}</FONT>')
    if e.grad is not None:
        colour = FLAG_COLOURS[e.grad_flags[0]] if e.grad_flags else GRAD_COLOUR
        parts.append(f'<FONT COLOR="{colour}">{html(e.grad)}</FONT>')
    return "<" + "<BR/>".join(parts) + ">" if parts else None


def _node_line(n: Node) -> str:
    style = _NODE_STYLE[n.kind]
    attrs = [f'id="cg-{n.id}"', f"label={quote(n.label)}"] + ([style] if style else [])
    if n.title:
        attrs.append(f"tooltip={quote(n.title)}")
    if n.flags:
        colour = FLAG_COLOURS[n.flags[0]]
        attrs.append(f'color="{colour}", penwidth=2, fontcolor="{colour}"')
    return f"  {n.id} [{', '.join(attrs)}];"


def _edge_line(graph: Graph, e: Edge) -> str:
    attrs = [f'id="cg-{e.id}"']
    text = edge_label(graph, e)
    if text is not None:
        attrs.append(f"label={text}")
    tip = e.name if e.value is None else f"{e.name} = {e.value}"
    attrs.append(f"tooltip={quote(tip)}")
    flags = e.value_flags or e.grad_flags
    if flags:
        attrs.append(f'color="{FLAG_COLOURS[flags[0]]}", penwidth=2')
    return f"  {e.source} -> {e.target} [{', '.join(attrs)}];"


def dot_source(graph: Graph) -> str:
    """DOT text for ``graph``."""
    lines = [
        "digraph compgraph {",
        f'  graph [rankdir=LR, nodesep=0.35, ranksep=0.6, fontname="{FONT}", fontsize=11, labeljust=l];',
        f'  node [fontname="{FONT}", {_DEFAULT_NODE}];',
        f'  edge [fontname="{FONT}", fontsize=11, arrowsize=0.6, color="#555555"];',
    ]
    lines.extend(_node_line(n) for n in graph.nodes)
    lines.extend(_edge_line(graph, e) for e in graph.edges)
    legend = legend_lines(graph)
    if legend:
        rows = "<BR/>".join(f'<FONT COLOR="{colour}">{html(text)}</FONT>' for colour, text in legend)
        lines.append(f"  label=<{rows}>;")
    lines.append("}")
    return "\n".join(lines) + "\n"
