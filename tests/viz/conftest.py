"""Shared graphs and checks for the drawing tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph.viz import graph
from tests.conftest import required

SVG = "{http://www.w3.org/2000/svg}"

#: The seed's apple/orange graph, edge by edge: (forward value, gradient).
APPLE_ORANGE_EDGES = {
    ("100", "2.2"),  # apple
    ("2", "110"),  # apple_num
    ("150", "3.3"),  # orange
    ("3", "165"),  # orange_num
    ("200", "1.1"),  # apple price
    ("450", "1.1"),  # orange price
    ("650", "1.1"),  # before tax
    ("1.1", "650"),  # tax
    ("715", "1"),  # price
}


def apple_orange() -> dict[str, cg.Variable]:
    """The book's example with Variables: price = (apple·apple_num + orange·orange_num)·tax."""
    v = {
        "apple": cg.Variable(100.0, name="apple"),
        "apple_num": cg.Variable(2.0, name="apple_num"),
        "orange": cg.Variable(150.0, name="orange"),
        "orange_num": cg.Variable(3.0, name="orange_num"),
        "tax": cg.Variable(1.1, name="tax"),
    }
    price = (v["apple"] * v["apple_num"] + v["orange"] * v["orange_num"]) * v["tax"]
    price.name = "price"
    v["price"] = price
    return v


@pytest.fixture
def ao() -> dict[str, cg.Variable]:
    return apple_orange()


def require(available: bool, variable: str, what: str) -> None:
    """Skip when ``what`` is missing, unless ``variable``=1 (CI) makes it a failure.

    The skip says "not installed", so COMPGRAPH_REQUIRE_DEPS=1 fails it too (tests/conftest.py).
    """
    if available:
        return
    if required(variable):
        pytest.fail(f"{what} is required here ({variable}=1) but is not installed")
    pytest.skip(f"{what} is not installed")


def builtin_edge_labels(svg: str) -> set[tuple[str, str]]:
    """(value, gradient) of each edge of an SVG written by the built-in layout."""
    root = ET.fromstring(svg)
    pairs = set()
    for g in root.iter(f"{SVG}g"):
        if "cg-edge" not in g.get("class", "").split():
            continue
        texts = {"value": [], "grad": []}
        for t in g.iter(f"{SVG}text"):
            kind = "grad" if "cg-grad" in t.get("class", "") else "value"
            texts[kind].append(t.text)
        pairs.add(("\n".join(texts["value"]), "\n".join(texts["grad"])))
    return pairs


def dot_edge_labels(svg: str, value_colour: str, grad_colour: str) -> set[tuple[str, str]]:
    """(value, gradient) of each edge of an SVG written by Graphviz from our DOT."""
    root = ET.fromstring(svg)
    pairs = set()
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "edge":
            continue
        texts = list(g.iter(f"{SVG}text"))
        value = "\n".join(t.text for t in texts if t.get("fill") == value_colour)
        grad = "\n".join(t.text for t in texts if t.get("fill") == grad_colour)
        pairs.add((value, grad))
    return pairs


def build(*outputs, **options) -> graph.Graph:
    """The drawing model of ``outputs``."""
    return graph.build(outputs, **options)


def labels_of(g, kind):
    """The labels of the nodes of one kind, in drawing order."""
    return [n.label for n in g.nodes if n.kind == kind]


def edge(g, source_label, target_label):
    """The one edge between the nodes with these labels."""
    nodes = {n.id: n for n in g.nodes}
    (e,) = [
        e for e in g.edges if nodes[e.source].label == source_label and nodes[e.target].label == target_label
    ]
    return e


def chain(n, op=F.tanh, start=0.5):
    """x and op(op(…op(x))), n times."""
    x = cg.Variable(start, name="x")
    y = x
    for _ in range(n):
        y = op(y)
    return x, y
