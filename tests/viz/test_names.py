"""What values are called in drawings, traces and the page: a Module's Parameters by their
place in it (fc1.W), a user's names as given (a non-str one through str()), and no labels option."""

import re

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn
from compgraph import viz
from compgraph.nn import Module, Parameter
from tests.viz.conftest import build, labels_of

MLP_NAMES = ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]


def mlp_loss(model=None):
    model = model or nn.MLP((3, 4, 2), rng=0)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    return F.softmax_cross_entropy(model(x), np.array([0, 1]))


def test_an_mlp_drawing_names_its_parameters(tmp_path):
    loss = mlp_loss()
    assert labels_of(build(loss), "leaf") == MLP_NAMES
    source = viz.render(loss, path=tmp_path / "mlp.dot").read_text(encoding="utf-8")
    for name in MLP_NAMES:
        assert f'label="{name}"' in source
    svg = viz.render(loss, path=tmp_path / "mlp.svg", engine="builtin").read_text(encoding="utf-8")
    assert all(f">{name}<" in svg for name in MLP_NAMES)
    assert not re.search(r">v\d*<", svg)  # no made-up leaf names left


def test_an_mlp_trace_names_its_parameters():
    t = viz.trace(mlp_loss())
    assert list(t.gradients) == MLP_NAMES
    table = t.table()
    assert "t = linear(c, fc1.W, fc1.b)" in table
    assert "∂z/∂fc2.b = (2,) float32" in table


def test_the_page_names_the_parameters():
    page = viz.to_html(mlp_loss())
    for name in MLP_NAMES:
        assert f"∂z/∂{name} = " in page


def test_nested_modules_and_a_users_name_show_in_the_drawing():
    class Head(Module):
        def __init__(self):
            self.fc = nn.Linear(4, 2, init="xavier", rng=1)
            self.scale = Parameter(np.ones(2, dtype=np.float32), name="temperature")

        def forward(self, x):
            return self.fc(x) * self.scale

    class Net(Module):
        def __init__(self):
            self.body = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU())
            self.head = Head()

        def forward(self, x):
            return self.head(self.body(x))

    y = F.sum(Net()(np.ones((2, 3), dtype=np.float32)))
    assert labels_of(build(y), "leaf") == ["body.0.W", "body.0.b", "head.fc.W", "head.fc.b", "temperature"]
    assert list(viz.trace(y).gradients) == ["body.0.W", "body.0.b", "head.fc.W", "head.fc.b", "temperature"]


def test_a_non_str_name_is_shown_through_str():
    x = cg.Variable(2.0, name=3)
    y = x * cg.Variable(5.0, name=0)  # 0 is a name too; only None and "" are none
    assert labels_of(build(y), "leaf") == ["3", "0"]
    assert viz.trace(y).gradients == {"3": 5.0, "0": 2.0}
    assert 'label="3"' in viz.to_dot(y)


def test_an_unnamed_leaf_is_still_made_up():
    y = cg.Variable(2.0) * cg.Variable(3.0, name="")
    assert labels_of(build(y), "leaf") == ["v", "v1"]


@pytest.mark.parametrize(
    "call",
    [
        lambda y, x, p: viz.render(y, labels={x: "x"}, path=p / "y.svg"),
        lambda y, x, p: viz.draw(y, labels={x: "x"}),
        lambda y, x, p: viz.to_html(y, label="x"),
    ],
)
def test_there_is_no_labels_option_and_the_error_says_how_to_name(call, tmp_path):
    x = cg.Variable(2.0)
    with pytest.raises(
        TypeError, match=r"unknown option 'labels?'; the options are values, .*set x.name = 'x'"
    ):
        call(x * x, x, tmp_path)
    assert not (tmp_path / "y.svg").exists()
