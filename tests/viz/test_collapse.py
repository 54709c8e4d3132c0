"""Long runs of a repeated pattern drawn as one node, with the gradients summed."""

import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.viz.conftest import build, chain, edge, labels_of


def test_a_long_run_of_one_op_is_drawn_as_one_node_with_the_end_values():
    x, y = chain(50)
    g = build(y)
    assert labels_of(g, "chain") == ["tanh ×50"] and labels_of(g, "op") == []
    (gx,) = cg.grad(y, [x])
    e = edge(g, "x", "tanh ×50")
    assert float(e.grad) == pytest.approx(gx.item(), rel=1e-5)
    assert float(edge(g, "tanh ×50", "z").value) == pytest.approx(y.item(), rel=1e-5)


def test_collapse_threshold_and_switching_it_off():
    _, y = chain(50)
    assert len(labels_of(build(y, collapse=None), "op")) == 50
    assert len(labels_of(build(y, collapse=0), "op")) == 50
    assert len(labels_of(build(y, collapse=60), "op")) == 50
    assert labels_of(build(y, collapse=50), "chain") == ["tanh ×50"]
    _, short = chain(5)
    assert labels_of(build(short), "op") == ["tanh"] * 5  # small graphs stay as they are


def test_a_repeated_pattern_with_a_shared_parameter_collapses_and_sums_its_gradient():
    x, w = Variable(0.3, name="x"), Variable(0.9, name="w")
    y = x
    for _ in range(20):
        y = F.tanh(y * w)
    g = build(y)
    assert labels_of(g, "chain") == ["(×, tanh) ×20"]
    gx, gw = cg.grad(y, [x, w])
    assert float(edge(g, "w", "(×, tanh) ×20").grad) == pytest.approx(gw.item(), rel=1e-5)
    assert float(edge(g, "x", "(×, tanh) ×20").grad) == pytest.approx(gx.item(), rel=1e-5)


def test_collapsed_runs_hide_their_constants_and_keep_other_ops():
    x = Variable(2.0, name="x")
    y = F.exp(F.exp(x * 0.01))
    for _ in range(12):
        y = y * 0.5
    g = build(y)
    assert labels_of(g, "chain") == ["× ×12"]
    assert labels_of(g, "op") == ["×", "exp", "exp"]
    assert labels_of(g, "const") == ["0.01"]  # the first product's; the run's are hidden
