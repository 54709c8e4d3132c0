"""The drawing model as SVG, laid out by the built-in layered layout: no Graphviz needed.

Every node and edge is a group with an id (``cg-n3``, ``cg-e5``) and classes (``cg-node
cg-op``, ``cg-edge``; texts ``cg-value`` and ``cg-grad``), so a page can style or script
them: the step-by-step HTML page reveals the gradients one backward step at a time.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from compgraph.viz.dot import FLAG_COLOURS, GRAD_COLOUR, VALUE_COLOUR, legend_lines
from compgraph.viz.graph import Edge, Graph, Node
from compgraph.viz.layout import Layout, Point, layered

FONT = "Helvetica, Arial, sans-serif"
LABEL_SIZE = 12.0  # edge labels
LINE = 14.0  # line height of edge labels
_NODE_FONT = {
    "op": 15.0,
    "chain": 13.0,
    "module": 13.0,
    "leaf": 14.0,
    "output": 14.0,
    "const": 12.0,
    "cut": 12.0,
    "branch": 1.0,
}

STYLE = f"""
.cg-edge .cg-line {{ fill: none; stroke: #555; stroke-width: 1.2; }}
.cg-edge text {{ font-size: {LABEL_SIZE:g}px; paint-order: stroke; stroke: #fff; stroke-width: 3px;
  stroke-linejoin: round; }}
.cg-value {{ fill: {VALUE_COLOUR}; }}
.cg-grad {{ fill: {GRAD_COLOUR}; }}
.cg-node circle, .cg-node rect {{ fill: #fff; stroke: #333; stroke-width: 1.2; }}
.cg-chain rect {{ fill: #f3f3f3; }}
.cg-module rect {{ fill: #e6eef9; stroke: #2f5f9e; stroke-width: 2; }}
.cg-branch circle {{ fill: #444; stroke: none; }}
.cg-node text {{ fill: #111; }}
.cg-const text, .cg-cut text {{ fill: #666; }}
""" + "".join(
    f".cg-flag-{flag} {{ fill: {colour}; }}\n"
    f".cg-edge .cg-line.cg-flag-{flag} {{ stroke: {colour}; stroke-width: 1.8; fill: none; }}\n"
    f".cg-node.cg-flag-{flag} circle, .cg-node.cg-flag-{flag} rect "
    f"{{ stroke: {colour}; stroke-width: 2.4; }}\n"
    for flag, colour in FLAG_COLOURS.items()
)


def text_width(text: str, size: float) -> float:
    """An estimate of the width of ``text`` at font ``size`` (no font metrics needed)."""
    return max((len(line) for line in text.split("\n")), default=0) * size * 0.6


def _node_size(n: Node) -> tuple[float, float]:
    size = _NODE_FONT[n.kind]
    w = text_width(n.label, size)
    if n.kind == "op":
        d = max(30.0, w + 12.0)
        return d, d
    if n.kind in ("chain", "module"):
        return w + 20.0, 30.0
    if n.kind == "branch":
        return 6.0, 6.0
    return w + 6.0, (n.label.count("\n") + 1) * (size + 2.0) + 4.0


def _value_text(graph: Graph, e: Edge) -> str | None:
    if e.value is not None and graph.show_names and e.named:
        return f"{e.name} = {e.value}"
    return e.value


def _label_width(graph: Graph, e: Edge) -> float:
    texts = [t for t in (_value_text(graph, e), e.grad) if t]
    return max((text_width(t, LABEL_SIZE) for t in texts), default=0.0)


def _label_heights(graph: Graph, e: Edge) -> tuple[float, float]:
    value = _value_text(graph, e)
    up = (value.count("\n") + 1) * LINE + 4.0 if value else 0.0
    down = (e.grad.count("\n") + 1) * LINE + 4.0 if e.grad else 0.0
    return up, down


def layout(graph: Graph) -> Layout:
    """Positions for every node and edge of ``graph``."""
    nodes = [(n.id, *_node_size(n)) for n in graph.nodes]
    edges = [
        (e.id, e.source, e.target, _label_width(graph, e), *_label_heights(graph, e)) for e in graph.edges
    ]
    return layered(nodes, edges)


def _path(points: list[Point]) -> str:
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        dx = (x1 - x0) / 2
        d.append(f"C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(d)


def _flag_class(flags: tuple[str, ...]) -> str:
    return f" cg-flag-{flags[0]}" if flags else ""


def _edge_svg(graph: Graph, e: Edge, lay: Layout, prefix: str) -> str:
    step = "" if e.step is None else f' data-step="{e.step}"'
    title = e.name if e.value is None else f"{e.name} = {e.value}"
    flags = e.value_flags or e.grad_flags
    parts = [
        f'<g class="cg-edge" id="{prefix}-{e.id}"{step}><title>{escape(title)}</title>',
        f'<path class="cg-line{_flag_class(flags)}" d="{_path(lay.routes[e.id])}" '
        f'marker-end="url(#{prefix}-arrow)"/>',
    ]
    x, y = lay.anchors[e.id]
    value = _value_text(graph, e)
    if value is not None:
        lines = value.split("\n")
        for i, line in enumerate(lines):
            baseline = y - 5.0 - (len(lines) - 1 - i) * LINE
            parts.append(
                f'<text class="cg-value{_flag_class(e.value_flags)}" x="{x:.1f}" y="{baseline:.1f}" '
                f'text-anchor="middle">{escape(line)}</text>'
            )
    if e.grad is not None:
        for i, line in enumerate(e.grad.split("\n")):
            baseline = y + LABEL_SIZE + 2.0 + i * LINE
            parts.append(
                f'<text class="cg-grad{_flag_class(e.grad_flags)}" x="{x:.1f}" y="{baseline:.1f}" '
                f'text-anchor="middle">{escape(line)}</text>'
            )
    parts.append("</g>")
    return "".join(parts)


def _node_svg(n: Node, lay: Layout, prefix: str) -> str:
    x, y = lay.centres[n.id]
    w, h = _node_size(n)
    head = (
        f'<g class="cg-node cg-{n.kind}{_flag_class(n.flags)}" id="{prefix}-{n.id}">'
        f"<title>{escape(n.title or n.label)}</title>"
    )
    size = _NODE_FONT[n.kind]
    if n.kind == "branch":
        return head + f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/></g>'
    shape = ""
    if n.kind == "op":
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{w / 2:.1f}"/>'
    elif n.kind in ("chain", "module"):
        corner = 8 if n.kind == "chain" else 2  # a module's box has square corners, as in DOT
        shape = (
            f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{corner}"/>'
        )
    lines = n.label.split("\n")
    first = y + size * 0.35 - (len(lines) - 1) * (size + 2.0) / 2
    text = "".join(
        f'<text x="{x:.1f}" y="{first + i * (size + 2.0):.1f}" font-size="{size:g}" text-anchor="middle">'
        f"{escape(line)}</text>"
        for i, line in enumerate(lines)
    )
    return head + shape + text + "</g>"


def svg_source(graph: Graph, lay: Layout | None = None, scale: float = 1.0, prefix: str = "cg") -> str:
    """A standalone SVG document for ``graph`` (laid out here unless ``lay`` is given).

    ``scale`` enlarges the picture (its width and height), not the coordinates inside.
    ``prefix`` starts every id (``cg-n3``, the arrowhead ``cg-arrow``): SVGs shown inline in
    one page need different prefixes, or their ids and arrowhead references would clash.
    """
    lay = lay or layout(graph)
    legend = legend_lines(graph)
    width = max(lay.width, max((text_width(t, LABEL_SIZE) for _, t in legend), default=0.0) + 32.0)
    height = lay.height + (len(legend) * LINE + 8.0 if legend else 0.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cg-graph" width="{width * scale:.0f}" '
        f'height="{height * scale:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f"font-family={quoteattr(FONT)}>",
        f"<style>{STYLE}</style>",
        f'<defs><marker id="{prefix}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,1 L10,5 L0,9 z" fill="#555"/></marker></defs>',
    ]
    out.extend(_edge_svg(graph, e, lay, prefix) for e in graph.edges)
    out.extend(_node_svg(n, lay, prefix) for n in graph.nodes)
    if legend:
        out.append('<g class="cg-legend">')
        for i, (colour, text) in enumerate(legend):
            y = lay.height + LINE * (i + 1)
            out.append(
                f'<text x="16" y="{y:.1f}" font-size="{LABEL_SIZE - 1:g}" fill="{colour}">'
                f"{escape(text)}</text>"
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
