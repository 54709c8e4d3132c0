"""Module calls: recorded by Module.__call__, drawn as labelled boxes that open on demand."""

import gc
import json
import re
import weakref

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import nn, viz
from compgraph.nn import module as module_mod
from compgraph.nn.module import module_calls
from tests.viz.conftest import build, edge, labels_of


class Mix(nn.Module):
    """tanh(x·w)·x + x: its input is used three times inside, its weight once."""

    def __init__(self, w=0.7):
        self.w = nn.Parameter(np.array(w))

    def forward(self, x):
        return F.tanh(x * self.w) * x + x


class Pair(nn.Module):
    """Two Mix modules one after the other, then a square."""

    def __init__(self):
        self.first = Mix(0.7)
        self.second = Mix(-0.4)

    def forward(self, x):
        return self.second(self.first(x)) ** 2


class Wrapper(nn.Module):
    """A module that returns its inner module's output as it is."""

    def __init__(self):
        self.inner = Mix()

    def forward(self, x):
        return self.inner(x)


class Identity(nn.Module):
    def forward(self, x):
        return x


class FirstOnly(nn.Module):
    def forward(self, a, b):
        return a * 2


class Layer(nn.Module):
    def __init__(self, rng):
        self.fc = nn.Linear(4, 4, rng=rng)

    def forward(self, x):
        return F.tanh(self.fc(x)) * 0.5 + x


class Block(nn.Module):
    def __init__(self, rng):
        self.a = Layer(rng)
        self.b = Layer(rng)

    def forward(self, x):
        return self.b(self.a(x)) + x


class Deep(nn.Module):
    """blocks h.0 … h.{n-1} of two Layers each: 9 functions a block, and a mean."""

    def __init__(self, n):
        rng = np.random.default_rng(0)
        self.h = nn.ModuleList(Block(rng) for _ in range(n))

    def forward(self, x):
        for block in self.h:
            x = block(x)
        return F.mean(x * x)


def mlp_loss():
    net = nn.MLP((3, 4, 4, 2), rng=0)
    x = cg.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), name="x")
    loss = F.softmax_cross_entropy(net(x), np.array([0, 1]))
    loss.name = "loss"
    return net, x, loss


def deep_loss(n):
    net = Deep(n)
    x = cg.Variable(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4), name="x")
    loss = net(x)
    loss.name = "loss"
    return net, loss


def box_labels(g):
    return labels_of(g, "module")


def function_nodes(g):
    return [n for n in g.nodes if n.kind in ("op", "chain", "module")]


# --- the record ----------------------------------------------------------------------------------
def test_each_call_is_recorded_under_its_output_innermost_first():
    net, x, _ = mlp_loss()
    y = net(x)
    calls = module_calls(y)
    assert [(c.name, c.kind) for c in calls] == [("fc3", "Linear"), ("", "MLP")]  # they share y
    assert [ref() for ref in calls[1].inputs] == [x] and [ref() for ref in calls[1].outputs] == [y]
    assert calls[1].start < calls[0].start < calls[0].end < calls[1].end  # one inside the other
    assert module_calls(x) == ()


def test_nothing_is_recorded_without_a_graph():
    net, x, _ = mlp_loss()
    with cg.no_grad():
        y = net(x)
    assert module_calls(y) == ()
    assert module_calls(Identity()(x)) == ()  # a leaf returned as it is was computed by no call


def test_calls_with_several_inputs_and_outputs_are_found_in_tuples_lists_and_dicts():
    class Split(nn.Module):
        def forward(self, pair, scale=None):
            a, b = pair
            return (a * scale["s"], [b + a])

    a, b, s = cg.Variable(1.0), cg.Variable(2.0), cg.Variable(3.0)
    p, (q,) = Split()((a, b), scale={"s": s})
    (call,) = module_calls(p)
    assert module_calls(q) == (call,)
    assert [ref() for ref in call.inputs] == [a, b, s]
    assert [ref() for ref in call.outputs] == [p, q]


def test_the_record_keeps_nothing_alive_and_goes_with_its_output():
    gc.disable()  # freed by reference counting alone: the record makes no cycle
    try:
        net, x, _ = mlp_loss()
        before = len(module_mod._calls)
        y = net(x)
        call = weakref.ref(module_calls(y)[0])
        out = weakref.ref(y)
        unused = cg.Variable(5.0)
        kept = weakref.ref(unused)
        w = FirstOnly()(x, unused)
        assert [ref() for ref in module_calls(w)[0].inputs] == [x, unused]
        del unused
        assert kept() is None  # an input the call did not use is not kept by the record
        del y
        assert out() is None and call() is None
        del w
        assert len(module_mod._calls) == before
    finally:
        gc.enable()


# --- boxes -------------------------------------------------------------------------------------------
def test_modules_true_draws_the_outermost_call_as_one_labelled_box():
    _, _, loss = mlp_loss()
    g = build(loss, modules=True)
    assert box_labels(g) == ["MLP"]
    assert labels_of(g, "op") == ["softmax CE"]
    (box,) = [n for n in g.nodes if n.kind == "module"]
    assert box.title == "MLP, 5 ops: linear ×3, relu ×2; 6 parameters; modules: fc1, fc2, fc3"
    assert labels_of(g, "leaf") == ["x"]  # the model's own weights are inside the box


def test_nested_modules_are_named_by_their_place_in_the_model():
    x = cg.Variable(0.3, name="x")
    y = Pair()(x)
    assert box_labels(build(y, modules=True)) == ["Pair"]
    g = build(y, expand="Pair")
    assert box_labels(g) == ["first: Mix", "second: Mix"]
    assert labels_of(g, "op") == ["**2"]
    assert labels_of(g, "leaf") == ["x"]


def test_expand_opens_one_box_and_the_boxes_around_it():
    _, _, loss = mlp_loss()
    g = build(loss, expand=("fc2",))
    assert box_labels(g) == ["fc1: Linear", "fc3: Linear"]
    assert labels_of(g, "op") == ["relu", "linear", "relu", "softmax CE"]
    assert labels_of(g, "leaf") == ["x", "fc2.W", "fc2.b"]  # an open box shows its weights
    g = build(loss, modules=True, expand="MLP")
    assert box_labels(g) == ["fc1: Linear", "fc2: Linear", "fc3: Linear"]


def test_a_box_edge_carries_the_sum_of_the_gradients_it_hides():
    x = cg.Variable(0.3, name="x")
    y = Mix()(x) + 2 * x
    y.name = "y"
    flat = build(y, modules=False)
    boxed = build(y, modules=True)
    assert box_labels(boxed) == ["Mix"]
    (box,) = [n.id for n in boxed.nodes if n.kind == "module"]
    hidden = {flat.function_nodes[f] for f, node in boxed.function_nodes.items() if node == box}
    (point,) = [n.id for n in flat.nodes if n.kind == "branch"]
    inside = [float(e.grad) for e in flat.edges if e.source == point and e.target in hidden]
    assert len(inside) == 3  # x·w, ·x and + x inside the box
    assert float(edge(boxed, "", "Mix").grad) == pytest.approx(sum(inside), rel=1e-5)
    (gx,) = cg.grad(y, [x])
    total = edge(boxed, "x", "").grad
    assert float(total) == pytest.approx(gx.item(), rel=1e-5)
    assert float(edge(boxed, "Mix", "+").value) == pytest.approx(float(edge(flat, "+", "+").value))


def test_a_wrapper_that_returns_its_inner_output_holds_the_inner_box():
    x = cg.Variable(0.3, name="x")
    y = Wrapper()(x)
    assert box_labels(build(y, modules=True)) == ["Wrapper"]
    assert box_labels(build(y, expand="Wrapper")) == ["inner: Mix"]
    assert labels_of(build(y, expand="inner"), "op") == ["×", "tanh", "×", "+"]


def test_a_call_that_computed_nothing_is_no_box():
    x = cg.Variable(0.3, name="x")
    t = F.tanh(x)
    y = Identity()(t) * 2
    assert box_labels(build(y, modules=True)) == []
    with pytest.raises(ValueError, match="'Identity' names no module call"):
        build(y, expand="Identity")


def test_functions_reached_from_two_calls_belong_to_the_one_that_ran_first():
    class Leaky(nn.Module):  # uses a value computed inside another call, not passed to it
        def forward(self, x):
            return x * self.seen

    class Inner(nn.Module):
        def forward(self, x):
            self.t = F.tanh(x)
            return self.t * 2

    x = cg.Variable(0.3, name="x")
    inner, leaky = Inner(), Leaky()
    a = inner(x)
    leaky.seen = inner.t
    y = leaky(x) + a
    g = build(y, modules=True)
    assert box_labels(g) == ["Inner", "Leaky"]  # tanh is Inner's: it ended before Leaky began
    (inner_box, leaky_box) = [n for n in g.nodes if n.kind == "module"]
    assert inner_box.title.startswith("Inner, 2 ops") and leaky_box.title == "Leaky, 1 op: ×"


def test_the_weights_of_a_box_stay_drawn_when_used_outside_it():
    emb = nn.Embedding(5, 3, rng=0)
    h = emb(np.array([1, 2]))
    y = F.sum(F.matmul(h, emb.W.T))  # the table is used again, outside the call
    g = build(y, modules=True)
    assert box_labels(g) == ["Embedding"]
    assert labels_of(g, "leaf") == ["W"]


def test_unknown_names_and_wrong_kinds_of_option_raise_clearly():
    _, _, loss = mlp_loss()
    message = r"expand='fc9' names no module call of this drawing; its module calls are: MLP, fc1, fc2, fc3"
    with pytest.raises(ValueError, match=message):
        build(loss, expand=("fc1", "fc9"))
    with pytest.raises(ValueError, match="modules=False draws none"):
        build(loss, modules=False, expand="MLP")
    with pytest.raises(TypeError, match="modules must be 'auto', True or False"):
        build(loss, modules="yes")
    with pytest.raises(TypeError, match="expand must be a module name or a tuple of them"):
        build(loss, expand=3)
    with pytest.raises(TypeError, match="expand must be"):
        build(loss, expand=["fc1", 2])


# --- "auto" ------------------------------------------------------------------------------------------
def test_auto_leaves_a_small_drawing_as_it_is():
    _, _, loss = mlp_loss()
    assert viz.to_dot(loss) == viz.to_dot(loss, modules=False)
    assert box_labels(build(loss)) == []
    _, loss = deep_loss(5)  # 48 functions: still drawn one by one
    assert len(function_nodes(build(loss))) == 48
    assert viz.to_dot(loss) == viz.to_dot(loss, modules=False)


def test_auto_collapses_a_large_drawing_and_opens_it_a_level_at_a_time():
    _, loss = deep_loss(12)  # 111 functions
    assert len(function_nodes(build(loss, modules=False))) == 111
    g = build(loss)
    # Deep (1 node), its 12 blocks and 3 ops (15), their 24 Layers and 12 + (39) fit in 50;
    # the Layers' Linears and 3 ops each would not
    assert box_labels(g)[:3] == ["h.0.a: Layer", "h.0.b: Layer", "h.1.a: Layer"]
    assert len(function_nodes(g)) == 24 + 12 + 3
    assert labels_of(g, "leaf") == ["x"]
    _, loss = deep_loss(60)
    g = build(loss)
    assert box_labels(g) == ["Deep"]  # its 60 blocks would make 63 nodes
    opened = box_labels(build(loss, expand="h.3"))
    assert opened[:5] == ["h.0: Block", "h.1: Block", "h.2: Block", "h.3.a: Layer", "h.3.b: Layer"]


def test_options_reach_every_entry_point(tmp_path):
    _, _, loss = mlp_loss()
    assert "MLP" in viz.draw(loss, modules=True).source
    viz.render(loss, path=tmp_path / "m.svg", engine="builtin", expand="MLP")
    assert "fc2: Linear" in (tmp_path / "m.svg").read_text(encoding="utf-8")
    assert "fc2: Linear" in viz.to_html(loss, expand="MLP")
    assert "modules" in viz.to_dot.__doc__ and "expand" in viz.to_dot.__doc__


# --- how boxes look, in the page and in traces --------------------------------------------------------
def test_a_box_has_its_own_style_in_dot_and_in_the_built_in_svg():
    _, _, loss = mlp_loss()
    dot = viz.to_dot(loss, modules=True)
    (line,) = [line for line in dot.splitlines() if 'label="MLP"' in line]
    assert 'shape=box, style="filled,bold"' in line and 'tooltip="MLP, 5 ops: linear ×3' in line
    svg = viz.draw(loss, modules=True).svg(engine="builtin")
    assert '<g class="cg-node cg-module" id=' in svg and "<title>MLP, 5 ops" in svg
    assert ".cg-module rect" in svg


def test_the_page_lights_up_the_box_for_each_step_inside_it():
    _, _, loss = mlp_loss()
    page = viz.to_html(loss, modules=True)
    data = re.search(r'<script type="application/json" id="cg-steps">(.*?)</script>', page, re.S).group(1)
    states = json.loads(data.replace("<\\/", "</"))
    box = re.search(r'<g class="cg-node cg-module" id="([^"]+)"', page).group(1)
    steps = [s for s in states if s["engine"] not in (None, 0) and s["node"] is not None]
    assert len(steps) == 6  # the loss and the MLP's five ops, each a step of its own
    assert [s["node"] for s in steps[1:]] == [box] * 5
    assert "Step 2 of 6: " in steps[1]["text"]


def test_a_trace_still_lists_every_op_inside_the_boxes():
    _, _, loss = mlp_loss()
    t = viz.trace(loss)
    assert [s.label for s in t.steps[1:]] == ["softmax CE", "linear", "relu", "linear", "relu", "linear"]


def test_a_gpt_is_drawn_as_its_blocks_and_their_layers():
    gpt = nn.CharGPT(11, block_size=8, n_layer=4, n_head=2, n_embd=8, rng=0)
    idx = np.arange(16).reshape(2, 8) % 11
    loss = F.softmax_cross_entropy(gpt(idx), (idx + 1) % 11)
    assert len(function_nodes(build(loss, modules=False, grads=False))) == 91
    g = build(loss, grads=False)
    labels = [n.label for n in function_nodes(g)]
    assert labels[:9] == [
        "wte: Embedding",
        "wpe: Embedding",
        "+",
        "h.0.ln_1: LayerNorm",
        "h.0.attn: CausalSelfAttention",
        "+",
        "h.0.ln_2: LayerNorm",
        "h.0.mlp: FeedForward",
        "+",
    ]
    assert len(labels) == 31 and labels[-4:] == ["ln_f: LayerNorm", "ᵀ", "matmul", "softmax CE"]
    assert labels_of(g, "leaf") == ["wte.W"]  # the tied table: used by wte and by the head
    opened = build(loss, grads=False, expand="h.1.attn")
    assert "h.1.attn.c_attn: Linear" in box_labels(opened) and "h.2: TransformerBlock" in box_labels(opened)


def test_boxes_work_with_max_depth_and_collapsed_runs():
    _, loss = deep_loss(12)
    g = build(loss, max_depth=3, modules=True)  # the loss's ops and h.11's +; the rest is cut
    assert box_labels(g) == ["Deep"] and labels_of(g, "cut") == ["⋯ t106", "⋯ t98"]
    g = build(loss, max_depth=3, expand="Deep")
    assert box_labels(g) == ["h.11: Block"] and labels_of(g, "op") == ["×", "Σ", "÷"]
    x = cg.Variable(0.5, name="x")
    y = Mix()(x)
    for _ in range(20):
        y = F.tanh(y)
    g = build(y, modules=True)
    assert box_labels(g) == ["Mix"] and labels_of(g, "chain") == ["tanh ×20"]
