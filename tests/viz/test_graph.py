"""The drawing model: nodes, edges with values and gradients, names, branch points, depth limits,
collapsed runs and highlights."""

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Function, Variable
from tests.viz.conftest import APPLE_ORANGE_EDGES, build, chain, edge, labels_of


def test_apple_orange_has_the_seed_values_and_gradients_on_its_edges(ao):
    g = build(ao["price"])
    assert {(e.value, e.grad) for e in g.edges} == APPLE_ORANGE_EDGES
    assert labels_of(g, "leaf") == ["apple", "apple_num", "orange", "orange_num", "tax"]
    assert labels_of(g, "op") == ["×", "×", "+", "×"]
    assert labels_of(g, "output") == ["price"]
    assert edge(g, "tax", "×").grad == "650"


def test_backward_steps_are_recorded_per_edge(ao):
    g = build(ao["price"])
    assert edge(g, "×", "price").step == 0  # the seed
    assert edge(g, "tax", "×").step == 1  # the last multiplication runs first
    assert edge(g, "apple", "×").step == 3


def test_drawing_leaves_grad_untouched(ao):
    previous = Variable(5.0)
    ao["tax"].grad = previous
    build(ao["price"])
    assert ao["apple"].grad is None and ao["tax"].grad is previous


def test_a_value_used_twice_splits_at_a_branch_point_whose_gradients_add_up():
    x = Variable(3.0, name="x")
    g = build(x * x)
    (point,) = [n for n in g.nodes if n.kind == "branch"]
    into = [e for e in g.edges if e.target == point.id]
    out = [e for e in g.edges if e.source == point.id]
    assert [(e.value, e.grad) for e in into] == [("3", "6")]  # ∂(x·x)/∂x = 2x in total
    assert [(e.value, e.grad) for e in out] == [(None, "3"), (None, "3")]  # x from each factor


def test_constants_show_their_value_and_get_no_gradient():
    x = Variable(2.0, name="x")
    g = build(x * 2.5)
    (const,) = [n for n in g.nodes if n.kind == "const"]
    assert const.label == "2.5"
    e = edge(g, "2.5", "×")
    assert e.value is None and e.grad is None
    assert edge(g, "x", "×").grad == "2.5"


@pytest.mark.parametrize("shared", [True, False])
def test_a_constant_is_drawn_at_each_use_even_when_it_is_one_variable(shared):
    x, y = Variable(2.0, name="x"), Variable(3.0, name="y")
    if shared:
        c = Variable(2.5, requires_grad=False)
        z = x * c + y * c
        first, second = (v.creator.inputs[1] for v in z.creator.inputs)
        assert first is second
    else:
        z = x * 2.5 + y * 2.5
    g = build(z)
    consts = [n for n in g.nodes if n.kind == "const"]
    assert [n.label for n in consts] == ["2.5", "2.5"]
    assert not [n for n in g.nodes if n.kind == "branch"]
    into_products = [e for e in g.edges if e.source in {n.id for n in consts}]
    assert len(into_products) == 2 and len({e.target for e in into_products}) == 2
    assert edge(g, "x", "×").grad == "2.5" and edge(g, "y", "×").grad == "2.5"


def test_names_option_labels_intermediate_values_only(ao):
    g = build(ao["price"], names=True)
    assert g.show_names
    named = {e.name for e in g.edges if e.named}
    assert named == {"t", "t1", "t2"}  # leaves and the output are named at their nodes


def test_max_depth_cuts_the_graph_and_starts_from_the_cut_value():
    x = Variable(0.5, name="x")
    y = x
    for _ in range(5):
        y = F.tanh(y)
    g = build(y, max_depth=1)
    assert labels_of(g, "op") == ["tanh", "tanh"]
    (cut,) = [n for n in g.nodes if n.kind == "cut"]
    assert cut.label == "⋯ t2"
    e = next(e for e in g.edges if e.source == cut.id)
    assert float(e.value) == pytest.approx(np.tanh(np.tanh(np.tanh(0.5))), rel=1e-5)
    assert e.grad is not None


def test_nan_values_and_the_function_that_made_them_are_flagged():
    x = Variable(-1.0, name="x")
    with np.errstate(invalid="ignore"):
        y = F.log(x) * 2
    g = build(y)
    e = edge(g, "log", "×")
    assert e.value == "⚠ nan" and e.value_flags == ("nonfinite",)
    (log,) = [n for n in g.nodes if n.label == "log"]
    assert log.flags == ("nonfinite",)
    assert "nonfinite" in g.legend


def test_vanishing_and_exploding_gradients_are_flagged_with_their_thresholds():
    _x, y = chain(20, F.sigmoid)  # each step scales the gradient by at most 1/4
    g = build(y)
    e = edge(g, "x", "σ ×20")
    assert e.grad_flags == ("vanishing",) and e.grad.startswith("▼ ")
    big = Variable(1.0, name="big")
    g = build(big * 1e7)
    assert edge(g, "big", "×").grad_flags == ("exploding",)
    assert build(big * 1e7, exploding=1e8).legend == []
    assert build(big * 1e7, exploding=None).legend == []


def test_grad_outputs_weight_the_output():
    x = Variable(2.0, name="x")
    g = build(x * 3, grad_outputs=[np.array(2.0)])
    assert edge(g, "x", "×").grad == "6" and edge(g, "×", "z").grad == "2"
    with pytest.raises(ValueError, match="2 grad_outputs given for 1 outputs"):
        build(x * 3, grad_outputs=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(\)"):
        build(x * 3, grad_outputs=[np.ones(3)])


def test_without_grads_or_values_the_labels_are_left_out(ao):
    g = build(ao["price"], grads=False)
    assert all(e.grad is None and e.step is None for e in g.edges) and not g.has_grads
    g = build(ao["price"], values=False)
    assert all(e.value is None for e in g.edges) and all(e.grad for e in g.edges)


def test_tensors_show_shape_dtype_and_summary():
    W = Variable(np.full((3, 2), 0.5), name="W")
    x = Variable(np.ones((4, 3)), name="x")
    g = build(F.sum(x @ W))
    assert edge(g, "W", "matmul").value == "(3, 2) float64\nmean 0.5 [0.5, 0.5]"
    assert edge(g, "W", "matmul").grad == "(3, 2) float64\nmean 4 [4, 4]"
    assert edge(g, "matmul", "Σ").value == "(4, 2) float64\nmean 1.5 [1.5, 1.5]"


def test_constant_and_integer_outputs_draw_without_gradients():
    labels = Variable(np.array([1, 2]), name="labels")
    g = build(labels + 1)
    assert [n.label for n in g.nodes] == ["(2,) int64\nmean 2.5 [2, 3]"]
    x = Variable(2.0, name="x")
    g = build(x)
    assert [n.label for n in g.nodes] == ["x = 2"]


class Split(Function):
    """Two outputs: 2x and 3x."""

    def forward(self, x):
        return x * 2, x * 3

    def backward(self, gy0, gy1):
        return 2 * gy0 + 3 * gy1


def test_functions_with_several_outputs_and_custom_labels():
    x = Variable(1.0, name="x")
    a, b = Split()(x)
    g = build(a * b)
    assert labels_of(g, "op") == ["Split", "×"]
    assert sorted((e.value, e.grad) for e in g.edges if g.nodes[int(e.source[1:])].label == "Split") == [
        ("2", "3"),
        ("3", "2"),
    ]
    Split.label = "split"
    try:
        assert labels_of(build(a * b), "op") == ["split", "×"]
    finally:
        del Split.label


def test_bad_options_are_errors_that_say_what_is_expected():
    x = Variable(1.0)
    with pytest.raises(ValueError, match="max_depth must be >= 0"):
        build(x * 2, max_depth=-1)
    with pytest.raises(TypeError, match="max_depth must be an int or None, got str"):
        build(x * 2, max_depth="2")
    with pytest.raises(ValueError, match="collapse must be >= 2"):
        build(x * 2, collapse=1)
    with pytest.raises(TypeError, match="output 1 is a float"):
        build(x * 2, 3.0)
