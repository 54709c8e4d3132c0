"""The built-in layered layout: left to right, no overlaps, labels near the lone end."""

import itertools

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Variable
from compgraph.viz import graph
from compgraph.viz.layout import NODE_GAP, _isotonic, bezier, layered
from compgraph.viz.svg import _node_size, layout


def check(g, lay):
    sizes = {n.id: _node_size(n) for n in g.nodes}
    for e in g.edges:  # every edge runs left to right
        assert lay.centres[e.source][0] < lay.centres[e.target][0]
        route = lay.routes[e.id]
        assert route[0][0] < route[-1][0]
    columns = {}
    for node_id, (x, y) in lay.centres.items():
        columns.setdefault(round(x, 3), []).append((y, node_id))
    for column in columns.values():  # nodes of a column do not overlap
        column.sort()
        for (y0, a), (y1, b) in itertools.pairwise(column):
            assert y1 - y0 >= (sizes[a][1] + sizes[b][1]) / 2 + NODE_GAP - 1e-6
    for x, y in lay.centres.values():
        assert 0 <= x <= lay.width and 0 <= y <= lay.height


def test_apple_orange_layout(ao):
    g = graph.build([ao["price"]])
    lay = layout(g)
    check(g, lay)
    by_label = {n.label: lay.centres[n.id] for n in g.nodes if n.kind != "op"}
    assert by_label["apple"][0] == by_label["orange"][0] < by_label["price"][0]
    assert by_label["tax"][0] > by_label["apple"][0]  # next to its multiplication, not at the start


def test_random_graphs_lay_out_cleanly():
    rng = np.random.default_rng(0)
    for _ in range(5):
        xs = [Variable(float(v), name=f"x{i}") for i, v in enumerate(rng.uniform(0.5, 1.5, 4))]
        values = list(xs)
        for _ in range(25):
            a, b = rng.choice(len(values), 2)
            op = [F.add, F.mul, F.sub][rng.integers(3)]
            values.append(op(values[a], values[b]))
        g = graph.build([values[-1], values[-2]])
        check(g, layout(g))


def test_long_edges_pass_through_hidden_points_in_each_column():
    x = Variable(1.0, name="x")
    y = F.exp(F.exp(F.exp(x))) + x
    g = graph.build([y])
    lay = layout(g)
    check(g, lay)
    longest = max(lay.routes.values(), key=len)
    assert len(longest) >= 4  # source, a point per crossed column, target


def test_two_edges_between_the_same_nodes_are_drawn_apart():
    lay = layered([("a", 10, 10), ("b", 10, 10)], [("e0", "a", "b", 5), ("e1", "a", "b", 5)])
    assert lay.routes["e0"] != lay.routes["e1"]
    assert lay.anchors["e0"] != lay.anchors["e1"]


def test_cycles_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        layered([("a", 1, 1), ("b", 1, 1)], [("e0", "a", "b", 0), ("e1", "b", "a", 0)])


def test_isotonic_heights_keep_order_and_spacing():
    ys = _isotonic([0.0, 0.0, 0.0], [10.0, 10.0])
    assert ys == pytest.approx([-10.0, 0.0, 10.0])
    assert _isotonic([0.0, 100.0], [10.0]) == pytest.approx([0.0, 100.0])


def test_labels_sit_on_the_curve():
    (x, y) = bezier((0.0, 0.0), (100.0, 50.0), 0.5)
    assert (x, y) == pytest.approx((50.0, 25.0))
    assert bezier((0.0, 0.0), (100.0, 50.0), 0.0) == (0.0, 0.0)


def test_a_large_graph_lays_out_quickly():
    x = Variable(0.1, name="x")
    y = x
    for i in range(2000):
        y = F.tanh(y) if i % 2 else F.sin(y)
    g = graph.build([y], collapse=None)
    lay = layout(g)
    assert len(lay.centres) == len(g.nodes) == 2002
