"""Module and Parameter: discovery order and names, modes, gradients, state dicts and their errors."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn
from compgraph.nn import Module, Parameter


class Block(Module):
    def __init__(self, n):
        self.W = Parameter(np.full((n, n), 2.0, dtype=np.float32))
        self.scale = 3.0  # plain attributes are ignored
        self.b = Parameter(np.zeros(n, dtype=np.float32))
        self.register_buffer("count", np.zeros(1, dtype=np.int64))

    def forward(self, x):
        return x @ self.W + self.b


class Net(Module):
    def __init__(self):
        self.first = Block(2)
        self.heads = [Block(2), Block(2)]
        self.gain = Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        y = self.first(x)
        return (self.heads[0](y) + self.heads[1](y)) * self.gain


def test_parameter_is_a_trainable_variable():
    p = Parameter(np.zeros(3, dtype=np.float32), name="w")
    assert isinstance(p, cg.Variable) and p.requires_grad and p.name == "w"
    assert repr(p) == "Parameter([0., 0., 0.], dtype=float32, name='w')"


@pytest.mark.parametrize(
    ("data", "error"),
    [(np.arange(3), "floating-point"), ([1.0, 2.0], "numpy.ndarray"), (2.0, "numpy.ndarray")],
)
def test_parameter_refuses_what_cannot_be_trained(data, error):
    with pytest.raises(TypeError, match=error):
        Parameter(data)


def test_parameters_are_found_in_attribute_order_with_dotted_names():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["first.W", "first.b", "heads.0.W", "heads.0.b", "heads.1.W", "heads.1.b", "gain"]
    assert net.parameters()[0] is net.first.W
    assert [name for name, _ in net.named_buffers()] == ["first.count", "heads.0.count", "heads.1.count"]
    assert [name for name, _ in net.named_modules()] == ["", "first", "heads.0", "heads.1"]


def test_order_does_not_depend_on_names():
    # attribute definition order, never alphabetical or hash order
    class Zebra(Module):
        def __init__(self):
            self.z = Parameter(np.zeros(1))
            self.a = Parameter(np.zeros(1))
            self.m = Parameter(np.zeros(1))

    assert [n for n, _ in Zebra().named_parameters()] == ["z", "a", "m"]


def test_a_shared_parameter_and_a_shared_module_are_listed_once():
    class Tied(Module):
        def __init__(self):
            self.encoder = Block(2)
            self.decoder = Block(2)
            self.decoder.W = self.encoder.W
            self.again = self.encoder  # the same module under a second name

    tied = Tied()
    assert [n for n, _ in tied.named_parameters()] == ["encoder.W", "encoder.b", "decoder.b"]
    assert list(tied.state_dict()) == [
        "encoder.W",
        "encoder.b",
        "encoder.count",
        "decoder.b",
        "decoder.count",
    ]


def test_a_module_that_refers_back_to_its_parent_does_not_loop():
    net = Net()
    net.first.parent = net
    assert len(net.parameters()) == 7


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_calling_runs_forward_and_backward_fills_every_gradient():
    net = Net()
    x = np.ones((1, 2), dtype=np.float32)
    y = net(x)
    # first: 1·2 + 1·2 = 4 per unit; each head: 4·2 + 4·2 = 16; sum of heads 32, times gain 1
    np.testing.assert_array_equal(y.data, [[32.0, 32.0]])
    F.sum(y).backward()
    assert all(p.grad is not None for p in net.parameters())
    np.testing.assert_array_equal(net.gain.grad.data, [64.0])
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        Module()(1)


def test_state_dict_holds_copies_of_parameters_and_buffers():
    net = Net()
    state = net.state_dict()
    assert list(state)[:3] == ["first.W", "first.b", "first.count"]
    assert state["first.count"].dtype == np.int64
    state["first.W"][0, 0] = 99.0
    assert net.first.W.data[0, 0] == 2.0


def test_load_state_dict_copies_values_in():
    source, target = Net(), Net()
    source.first.W.data[...] = 7.0
    source.first.count[...] = 5
    target.first.W.grad = cg.Variable(np.ones((2, 2), dtype=np.float32))
    state = source.state_dict()
    assert target.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(target.first.W.data, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(target.first.count, [5])
    assert target.first.W.grad is None  # a stale gradient would not belong to the new values
    state["first.W"][...] = 0.0
    assert target.first.W.data[0, 0] == 7.0  # not aliased


def test_load_state_dict_reports_every_difference_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    state = net.state_dict()
    del state["gain"]
    state["extra.W"] = np.zeros(1, dtype=np.float32)
    state["first.W"] = np.zeros((3, 2), dtype=np.float32)
    state["first.b"] = np.zeros(2, dtype=np.float64)
    state["heads.0.b"] = [0.0, 0.0]
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Net.load_state_dict" in message and "nothing was loaded" in message
    assert "missing: gain" in message
    assert "unexpected: extra.W" in message
    assert "first.W: shape (2, 2) in the model, (3, 2) in the state" in message
    assert "first.b: dtype float32 in the model, float64 in the state" in message
    assert "astype(np.float64)" in message
    assert "heads.0.b: expected a numpy.ndarray, got list" in message
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_non_strict_loading_returns_missing_and_unexpected_names():
    net = Net()
    state = {"first.W": np.zeros((2, 2), dtype=np.float32), "other": np.zeros(1)}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert unexpected == ["other"]
    assert missing[0] == "first.b" and "gain" in missing
    np.testing.assert_array_equal(net.first.W.data, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        net.load_state_dict({"first.W": np.zeros(3, dtype=np.float32)}, strict=False)


def test_load_state_dict_wants_a_mapping():
    with pytest.raises(TypeError, match="mapping of names to arrays, got list"):
        Net().load_state_dict([np.zeros(1)])


def test_astype_converts_parameters_and_float_buffers():
    bn = nn.BatchNorm(3)
    bn.astype(np.float64)
    assert {v.dtype for v in bn.state_dict().values()} == {np.dtype(np.float64)}
    net = Net().astype(np.float64)
    assert net.first.W.dtype == np.float64 and net.first.count.dtype == np.int64
    with pytest.raises(TypeError, match="floating-point"):
        net.astype(np.int32)


def test_register_buffer_wants_an_array():
    with pytest.raises(TypeError, match=r"register_buffer\('stats'\).*got list"):
        Module().register_buffer("stats", [1, 2])


def test_repr_shows_the_tree():
    net = nn.Sequential(nn.Linear(2, 4, rng=0), nn.ReLU(), nn.Linear(4, 1, bias=False, rng=0))
    assert repr(net) == (
        "Sequential(\n  (0): Linear(2 -> 4)\n  (1): ReLU()\n  (2): Linear(4 -> 1, bias=False)\n)"
    )


def test_parameters_carry_their_qualified_names():
    net = nn.MLP((3, 4, 2), rng=0)
    assert [p.name for p in net.parameters()] == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]
    assert net.fc1._qualified_name == "fc1"
    assert repr(net.fc2.b) == "Parameter([0., 0.], dtype=float32, name='fc2.b')"
    # named as soon as they are attached: no listing is needed before a drawing
    assert nn.Linear(2, 2).W.name == "W"


def test_nested_modules_give_the_full_path_whatever_the_build_order():
    class Encoder(Module):
        def __init__(self):
            self.fc1 = nn.Linear(3, 4, rng=0)

    class AutoEncoder(Module):
        def __init__(self):
            self.encoder = Encoder()
            self.decoder = nn.Sequential(nn.Linear(4, 3, rng=1))

    model = AutoEncoder()
    assert [p.name for p in model.parameters()] == [
        "encoder.fc1.W",
        "encoder.fc1.b",
        "decoder.0.W",
        "decoder.0.b",
    ]
    assert model.encoder.fc1._qualified_name == "encoder.fc1"
    # the names match the state dict's, and listing a sub-module does not shorten them
    assert [p.name for p in model.parameters()] == list(model.state_dict())
    assert [n for n, _ in model.encoder.named_parameters()] == ["fc1.W", "fc1.b"]
    assert model.encoder.fc1.W.name == "encoder.fc1.W"


def test_a_user_given_name_is_kept():
    class Custom(Module):
        def __init__(self):
            self.W = Parameter(np.ones((2, 2), dtype=np.float32), name="W")  # the same as its attribute
            self.b = Parameter(np.zeros(2, dtype=np.float32), name="bias")

    class Outer(Module):
        def __init__(self):
            self.inner = Custom()
            self.fc = nn.Linear(2, 2, rng=0)

    outer = Outer()
    assert [p.name for p in outer.parameters()] == ["W", "bias", "fc.W", "fc.b"]
    outer.fc.W.name = "weights"  # renamed by the user after it was attached: kept too
    outer.again = outer.fc
    list(outer.named_parameters())
    assert outer.fc.W.name == "weights"


def test_a_shared_parameter_keeps_the_name_of_its_first_place():
    class Tied(Module):
        def __init__(self):
            self.encoder = Block(2)
            self.decoder = Block(2)
            self.decoder.W = self.encoder.W
            self.again = self.encoder

    tied = Tied()
    assert tied.encoder.W.name == "encoder.W" and tied.decoder.b.name == "decoder.b"
    assert [p.name for p in tied.parameters()] == [n for n, _ in tied.named_parameters()]


def test_parameters_appended_to_a_list_are_named_when_listed():
    class Stack(Module):
        def __init__(self):
            self.layers = []
            for i in range(2):
                self.layers.append(nn.Linear(2, 2, rng=i))  # after the assignment

    stack = Stack()
    assert stack.layers[1].W.name == "W"
    assert [p.name for p in stack.parameters()] == ["layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
    list(stack.named_modules())
    assert stack.layers[1]._qualified_name == "layers.1"


def test_a_model_built_around_another_qualifies_its_names_further():
    mlp = nn.MLP((2, 3, 2), rng=0)

    class Wrapper(Module):
        def __init__(self, body):
            self.body = body

    wrapped = Wrapper(mlp)
    assert mlp.fc1.W.name == "body.fc1.W"
    # a layer reused on its own elsewhere keeps the longer name it has: names never shrink
    Wrapper(mlp.fc2)
    assert mlp.fc2.W.name == "body.fc2.W"
    assert [p.name for p in wrapped.parameters()] == list(wrapped.state_dict())


def test_a_module_list_names_its_items_by_position_as_pytorchs_does():
    import torch

    blocks = nn.ModuleList([nn.Linear(3, 3, rng=0), nn.Linear(3, 2, rng=1)])
    blocks.append(nn.Linear(2, 1, rng=2))
    reference = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)])
    ours = [n.split(".")[0] for n, _ in blocks.named_parameters()]
    theirs = [n.split(".")[0] for n, _ in reference.named_parameters()]
    assert ours == theirs == ["0", "0", "1", "1", "2", "2"]
    assert len(blocks) == 3 and blocks[-1] is list(blocks)[2]

    class Net(nn.Module):
        def __init__(self):
            self.blocks = blocks

    assert [n for n, _ in Net().named_parameters()][:2] == ["blocks.0.W", "blocks.0.b"]
    with pytest.raises(TypeError, match="ModuleList: item 3 is a int"):
        blocks.append(3)
    with pytest.raises(IndexError, match="ModuleList index 3 out of range for 3 modules"):
        blocks[3]
