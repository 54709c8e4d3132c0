"""DOT text: left to right, operation symbols, values over gradients, escaping, huge graphs."""

import re

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Function, Variable
from compgraph.viz import to_dot
from compgraph.viz.dot import GRAD_COLOUR, VALUE_COLOUR, html, quote


def test_apple_orange_dot_reads_like_the_note(ao):
    text = to_dot(ao["price"])
    assert text.startswith("digraph compgraph {") and text.rstrip().endswith("}")
    assert "rankdir=LR" in text
    assert text.count(' label="×"') == 3 and text.count(' label="+"') == 1
    assert f'<FONT COLOR="{VALUE_COLOUR}">715</FONT><BR/><FONT COLOR="{GRAD_COLOUR}">1</FONT>' in text
    assert f'<FONT COLOR="{VALUE_COLOUR}">1.1</FONT><BR/><FONT COLOR="{GRAD_COLOUR}">650</FONT>' in text
    assert 'label="apple", shape=plaintext' in text and 'label="price", shape=plaintext' in text
    assert "gradient (backward)" in text  # the legend


def test_operation_symbols():
    x = Variable(2.0, name="x")
    text = to_dot(F.exp(-(x**2)) / x - F.log(x))
    for symbol in ["**2", "−", "exp", "÷", "log"]:
        assert f'label="{symbol}"' in text
    W = Variable(np.ones((2, 2)), name="W")
    assert 'label="matmul"' in to_dot(F.sum(W @ W))
    assert 'label="σ"' in to_dot(F.sigmoid(x)) and 'label="relu"' in to_dot(F.relu(x))


def test_without_gradients_there_is_no_gradient_colour_and_no_legend(ao):
    text = to_dot(ao["price"], grads=False)
    assert GRAD_COLOUR not in text and "gradient (backward)" not in text


def test_names_option_prefixes_intermediate_values(ao):
    text = to_dot(ao["price"], names=True)
    assert ">t = 200<" in text and ">t2 = 650<" in text and ">apple = 100<" not in text


def test_labels_are_escaped():
    class Weird(Function):
        label = 'a<b>&"c"'

        def forward(self, x):
            return x

        def backward(self, gy):
            return gy

    x = Variable(1.0, name='x"<y>')
    text = to_dot(Weird()(x))
    assert 'label="a<b>&\\"c\\""' in text
    assert 'label="x\\"<y>"' in text
    assert quote('a\\b"\nc') == '"a\\\\b\\"\\nc"'
    assert html('<x & "y">\nz') == "&lt;x &amp; &quot;y&quot;&gt;<BR/>z"


def test_highlights_colour_the_edges_and_the_legend_explains_them():
    x = Variable(-1.0, name="x")
    with np.errstate(invalid="ignore"):
        text = to_dot(F.log(x))
    assert "⚠ nan" in text and "⚠ NaN or Inf" in text
    text = to_dot(Variable(1.0, name="big") * 1e7)
    assert "▲ 1e7" in text and "▲ exploding gradient (max |g| ≥ 1e6)" in text


@pytest.mark.slow
def test_a_100000_node_chain_exports_to_dot():
    x = Variable(0.5, name="x")
    y = x
    for _ in range(100_000):
        y = F.tanh(y)
    text = to_dot(y, collapse=None)
    assert text.count(" -> ") == 100_001
    assert len(re.findall(r'label="tanh"', text)) == 100_000
    assert 'label="tanh ×100000"' in to_dot(y)
