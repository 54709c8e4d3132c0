"""Formulas (compgraph.notation) and the ops' own labels, formulas, local derivatives and
gradient rules: parentheses only where needed, ones and signs simplified."""

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Variable
from compgraph import notation as nt
from compgraph.notation import ATOM, MINUS_ONE, NEG, ONE, PRODUCT, SUM, Sym


def creator(y):
    return y.creator


X, T, T1 = Sym("x"), Sym("t"), Sym("t1")
XY = Sym("x + y", SUM)


@pytest.mark.parametrize(
    ("c", "s", "text"),
    [
        (2, T, "2t"),
        (2, T1, "2·t1"),
        (2, XY, "2(x + y)"),
        (3, Sym("t²", 4), "3t²"),
        (-1, Sym("t⁻²", 4), "−t⁻²"),
        (0.5, Sym("x^-0.5", 4), "0.5·x^-0.5"),
        (1, T, "t"),
        (2, ONE, "2"),
    ],
)
def test_scale_writes_coefficients_the_way_people_do(c, s, text):
    assert nt.scale(c, s).text == text


def test_product_drops_ones_and_gathers_signs():
    assert nt.product([ONE, Sym("2t", PRODUCT)]).text == "2t"
    assert nt.product([Sym("tax"), Sym("apple_num")]).text == "tax·apple_num"
    assert nt.product([MINUS_ONE, MINUS_ONE]) == ONE
    assert nt.product([Sym("−1", NEG), T]).text == "−t"
    assert nt.product([XY, T]).text == "(x + y)·t"
    assert nt.product([T, None]) is None
    assert nt.product([T, nt.ZERO]) == nt.ZERO


def test_total_writes_minus_for_negative_terms():
    assert nt.total([X, nt.negate(T)]).text == "x − t"
    assert nt.total([X]) == X
    assert nt.total([X, None]) is None


def test_formulas_longer_than_the_limit_give_up():
    long = Sym("a" * 50)
    assert nt.product([long, long]) is None


def test_labels_definitions_and_local_derivatives_of_the_ops():
    x, y = Variable(2.0, name="x"), Variable(3.0, name="y")
    cases = [
        (x + y, "+", "x + y", ["1", "1"]),
        (x - y, "−", "x − y", ["1", "−1"]),
        (x * y, "×", "x·y", ["y", "x"]),
        (x / y, "÷", "x/y", ["1/y", "−x/y²"]),
        (-x, "−", "−x", ["−1"]),
        (x**2, "**2", "x²", ["2x"]),
        (x**3, "**3", "x³", ["3x²"]),
        (x**-1, "**-1", "x⁻¹", ["−x⁻²"]),
        (x**0.5, "**0.5", "x^0.5", ["0.5·x^-0.5"]),
        (F.exp(x), "exp", "exp(x)", ["exp(x)"]),
        (F.log(x), "log", "log(x)", ["1/x"]),
        (F.sin(x), "sin", "sin(x)", ["cos(x)"]),
        (F.cos(x), "cos", "cos(x)", ["−sin(x)"]),
        (F.tanh(x), "tanh", "tanh(x)", ["1 − tanh²(x)"]),
        (F.sqrt(x), "√", "√x", ["1/(2√x)"]),
        (F.sigmoid(x), "σ", "σ(x)", ["σ(x)(1 − σ(x))"]),
        (F.relu(x), "relu", "relu(x)", ["[x > 0]"]),
        (F.clip(x, 0, 1), "clip", "clip(x)", ["[0 ≤ x ≤ 1]"]),
    ]
    for y_, label, definition, local in cases:
        f = creator(y_)
        inputs = [Sym(v.name) if v.name else Sym(str(v.item())) for v in f.inputs]
        assert f.label == label
        assert f.formula(*inputs).text == definition
        assert [s.text for s in f.local_derivatives(*inputs)] == local


def test_other_ops_have_rules_not_local_derivatives():
    W = Variable(np.ones((2, 2)), name="W")
    f = creator(W @ W)
    assert f.local_derivatives(Sym("W"), Sym("W")) is None
    assert f.grad_rules[0].format("a", "W") == "g @ Wᵀ"
    assert creator(F.sum(W)).grad_rules[0].format("W") == "g broadcast back"
    assert creator(W.reshape(4)).formula(Sym("W")).text == "reshape(W)"
    assert f.formula(Sym("a"), Sym("W")).text == "a @ W"
    assert ATOM > PRODUCT
