"""Drawings as DOT, SVG, PNG, PDF or HTML: through Graphviz when installed, else built in.

SVG and HTML always work: without Graphviz's ``dot`` program (or its Python package), or with
one that cannot be run, they use the built-in layered layout. PNG and PDF need Graphviz.

Shown inline (Jupyter, a page made from a notebook), a drawing uses the built-in layout
unless ``engine="dot"`` was asked for: the same picture on every machine whether Graphviz is
installed or not (a notebook's outputs do not change with it), the layout the stepper shows,
no program run to display it, and ids of its own, so that several drawings in one page do
not clash. With ``engine="dot"`` it is Graphviz's layout, or, where that fails, the built-in
one with a warning: showing a drawing never raises for want of Graphviz.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

from compgraph._files import atomic_write
from compgraph.core import Variable
from compgraph.viz import graph as graph_mod
from compgraph.viz.dot import dot_source
from compgraph.viz.graph import Graph
from compgraph.viz.html import to_html, unique_prefix
from compgraph.viz.svg import svg_source

ENGINES = ("auto", "dot", "builtin")
FORMATS = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".html": "html",
    ".htm": "html",
}

INSTALL_GRAPHVIZ = (
    "Install Graphviz's `dot` program with `sudo apt install graphviz` (Debian, Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install -c conda-forge graphviz`, and its Python "
    "package with `pip install 'compgraph[viz]'`. SVG and HTML need neither: save to a .svg or "
    ".html path to use the built-in layout."
)


def graphviz_available() -> bool:
    """Whether both the ``graphviz`` Python package and the ``dot`` program are installed."""
    return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None


def pipe(source: str, fmt: str) -> bytes:
    """Run ``dot`` on DOT ``source``, returning the ``fmt`` output (svg, png, pdf)."""
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(
            f"writing {fmt.upper()} through Graphviz needs the `graphviz` Python package. " + INSTALL_GRAPHVIZ
        ) from exc
    if shutil.which("dot") is None:
        raise RuntimeError(
            f"writing {fmt.upper()} needs Graphviz's `dot` program, which is not on PATH. " + INSTALL_GRAPHVIZ
        )
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:  # found on PATH but could not be run
        raise RuntimeError(f"Graphviz's `dot` program could not be run: {exc}. " + INSTALL_GRAPHVIZ) from exc


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"compgraph.viz: engine must be one of {', '.join(ENGINES)}, got {engine!r}")


class Drawing:
    """A drawing of a graph. ``.source`` is its DOT text, ``.svg()`` its SVG, ``.save(path)``
    writes a file; in Jupyter it shows inline as SVG (``_repr_svg_``).

    ``engine`` picks the layout: ``"dot"`` (Graphviz), ``"builtin"``, or ``"auto"`` (Graphviz
    when installed and working, else built in; inline: always built in).
    """

    def __init__(self, graph: Graph, options: dict[str, Any], engine: str = "auto"):
        _check_engine(engine)
        self.graph = graph
        self.engine = engine
        self._options = options  # what ``graph`` was built with, for the HTML page

    @property
    def source(self) -> str:
        """The DOT text."""
        return dot_source(self.graph)

    def _use_dot(self, engine: str | None) -> bool:
        engine = engine or self.engine
        _check_engine(engine)
        return engine == "dot" or (engine == "auto" and graphviz_available())

    def svg(self, engine: str | None = None) -> str:
        """The drawing as SVG text (``engine``: this drawing's unless given).

        "dot" raises where Graphviz is missing or fails; "auto" then warns and lays it out here.
        """
        engine = engine or self.engine
        if not self._use_dot(engine):
            return svg_source(self.graph)
        if engine == "dot":
            return pipe(self.source, "svg").decode("utf-8")
        return self._graphviz_or_builtin()

    def _graphviz_or_builtin(self, prefix: str = "cg") -> str:
        try:
            return pipe(self.source, "svg").decode("utf-8")
        except (ImportError, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            warnings.warn(
                f"compgraph.viz: Graphviz could not draw this graph ({exc}); using the built-in layout",
                RuntimeWarning,
                stacklevel=3,
            )
            return svg_source(self.graph, prefix=prefix)

    def _repr_svg_(self) -> str:
        """The inline picture: the built-in layout with ids of its own (Graphviz's only for
        ``engine="dot"``, falling back to the built-in layout with a warning); never raises
        for want of Graphviz."""
        if self.engine == "dot":
            return self._graphviz_or_builtin(unique_prefix(self.source))
        return svg_source(self.graph, prefix=unique_prefix(self.source))

    def save(self, path: str | os.PathLike[str], engine: str | None = None) -> Path:
        """Write the drawing; the suffix picks the format: .svg .png .pdf .dot/.gv .html.

        The file is written atomically: a failure at any point, while the content is made or
        written, leaves the old file as it was and no temporary file behind.
        """
        path = Path(path)
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(
                f"compgraph.viz: cannot tell the format of {str(path)!r} from its suffix; use one of "
                f"{', '.join(FORMATS)}"
            )
        data: str | bytes
        if fmt == "dot":
            data = self.source
        elif fmt == "svg":
            data = self.svg(engine)
        elif fmt == "html":  # the page's own model of the same graph: it names every value
            data = to_html(*self.graph.walk.outputs, **self._options)
        else:
            if (engine or self.engine) == "builtin":
                raise ValueError(
                    f"compgraph.viz: the built-in layout writes SVG and HTML only; {fmt.upper()} needs "
                    "Graphviz (engine='dot' or 'auto'). " + INSTALL_GRAPHVIZ
                )
            data = pipe(self.source, fmt)
        return atomic_write(path, data)

    def __repr__(self) -> str:
        return f"<Drawing: {len(self.graph.nodes)} nodes, {len(self.graph.edges)} edges>"


def draw(*outputs: Variable, engine: str = "auto", **options: Any) -> Drawing:
    """A drawing of the graph behind ``outputs``; options as for ``to_dot``."""
    _check_engine(engine)
    graph_mod.check_options("draw", options)
    return Drawing(graph_mod.build(outputs, **options), options, engine)
