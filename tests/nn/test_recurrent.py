"""nn.RNN, nn.LSTM, nn.GRU and their cells against PyTorch's, in float64: a PyTorch model's
state_dict loads and gives the same outputs and the same gradients of inputs, states and
every parameter."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.nn as nn
from compgraph.functions import recurrent as R
from compgraph.optim import SGD

torch = pytest.importorskip("torch")

T, N, IN, H, LAYERS = 5, 3, 4, 6, 2
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _pair(kind, **kwargs):
    """(torch model, compgraph model with its weights), float64."""
    torch.manual_seed(0)
    if kind == "lstm":
        ours, theirs = nn.LSTM, torch.nn.LSTM
    elif kind == "gru":
        ours, theirs = nn.GRU, torch.nn.GRU
    else:
        ours, theirs = nn.RNN, torch.nn.RNN
        kwargs["nonlinearity"] = kind[4:]
    reference = theirs(IN, H, LAYERS, dtype=torch.float64, **kwargs)
    model = ours(IN, H, LAYERS, dtype=np.float64, **kwargs)
    model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return reference, model


def _compare(theirs_out, our_out, torch_leaves, our_leaves):
    """Same outputs; the same gradients of a random weighting of all outputs."""
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(tuple(t.shape)) for t in theirs_out]
    for t, o in zip(theirs_out, our_out):
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    sum(((t * torch.from_numpy(w)).sum() for t, w in zip(theirs_out, weights))).backward()
    cg.backward(list(our_out), [w for w in weights])
    assert len(torch_leaves) == len(our_leaves)
    for t, o in zip(torch_leaves, our_leaves):
        assert o.grad is not None, o.name
        np.testing.assert_allclose(o.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=o.name)


def _flat_outputs(kind, out):
    y, state = out
    return (y, *state) if kind == "lstm" else (y, state)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("states", [True, False])
def test_outputs_and_gradients_equal_pytorchs(kind, batch_first, bias, states):
    reference, model = _pair(kind, bias=bias, batch_first=batch_first)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, IN) if batch_first else (T, N, IN))
    h0, c0 = rng.standard_normal((2, LAYERS, N, H))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    vx, vh0, vc0 = cg.Variable(x, "x"), cg.Variable(h0, "h0"), cg.Variable(c0, "c0")
    if not states:
        theirs, ours = reference(tx), model(vx)
        torch_leaves, our_leaves = [tx], [vx]
    elif kind == "lstm":
        theirs, ours = reference(tx, (th0, tc0)), model(vx, (vh0, vc0))
        torch_leaves, our_leaves = [tx, th0, tc0], [vx, vh0, vc0]
    else:
        theirs, ours = reference(tx, th0), model(vx, vh0)
        torch_leaves, our_leaves = [tx, th0], [vx, vh0]
    assert ours[0].shape == tuple(theirs[0].shape)
    torch_leaves += list(reference.parameters())
    our_leaves += model.parameters()
    _compare(_flat_outputs(kind, theirs), _flat_outputs(kind, ours), torch_leaves, our_leaves)


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_is_one_sequence_as_in_pytorch(kind):
    reference, model = _pair(kind)
    rng = np.random.default_rng(2)
    x, h0, c0 = rng.standard_normal((T, IN)), *rng.standard_normal((2, LAYERS, H))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    vx, vh0, vc0 = cg.Variable(x), cg.Variable(h0), cg.Variable(c0)
    if kind == "lstm":
        theirs, ours = reference(tx, (th0, tc0)), model(vx, (vh0, vc0))
        leaves = ([tx, th0, tc0], [vx, vh0, vc0])
    else:
        theirs, ours = reference(tx, th0), model(vx, vh0)
        leaves = ([tx, th0], [vx, vh0])
    assert ours[0].shape == (T, H)
    _compare(_flat_outputs(kind, theirs), _flat_outputs(kind, ours), *leaves)


def _cell_pair(kind, bias):
    torch.manual_seed(0)
    kwargs = {"bias": bias}
    if kind == "lstm":
        ours, theirs = nn.LSTMCell, torch.nn.LSTMCell
    elif kind == "gru":
        ours, theirs = nn.GRUCell, torch.nn.GRUCell
    else:
        ours, theirs = nn.RNNCell, torch.nn.RNNCell
        kwargs["nonlinearity"] = kind[4:]
    reference = theirs(IN, H, dtype=torch.float64, **kwargs)
    cell = ours(IN, H, dtype=np.float64, **kwargs)
    cell.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return reference, cell


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("states", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_equal_pytorchs(kind, bias, states, batched):
    reference, cell = _cell_pair(kind, bias)
    rng = np.random.default_rng(3)
    lead = (N,) if batched else ()
    x, h, c = rng.standard_normal(lead + (IN,)), *rng.standard_normal((2, *lead, H))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    vx, vh, vc = cg.Variable(x), cg.Variable(h), cg.Variable(c)
    if not states:
        theirs, ours, leaves = reference(tx), cell(vx), ([tx], [vx])
    elif kind == "lstm":
        theirs, ours, leaves = reference(tx, (th, tc)), cell(vx, (vh, vc)), ([tx, th, tc], [vx, vh, vc])
    else:
        theirs, ours, leaves = reference(tx, th), cell(vx, vh), ([tx, th], [vx, vh])
    if kind != "lstm":
        theirs, ours = (theirs,), (ours,)
    leaves[0].extend(reference.parameters())
    leaves[1].extend(cell.parameters())
    _compare(theirs, ours, *leaves)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_names_shapes_and_order_are_pytorchs(kind, bias):
    reference, model = _pair(kind, bias=bias)
    theirs = [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert [(k, v.shape) for k, v in model.state_dict().items()] == theirs
    reference, cell = _cell_pair(kind, bias)
    assert [(k, v.shape) for k, v in cell.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in reference.state_dict().items()
    ]
    assert [p.name for p in cell.parameters()] == [k for k, _ in reference.named_parameters()]


def test_lstm_weight_ih_is_four_gate_blocks_and_the_gru_three():
    assert nn.LSTM(3, 5).weight_ih_l0.shape == (20, 3)
    assert nn.GRU(3, 5, num_layers=2).weight_ih_l1.shape == (15, 5)
    assert nn.RNN(3, 5).weight_hh_l0.shape == (5, 5)


def test_initialisation_is_uniform_within_one_over_sqrt_hidden_as_pytorchs():
    model = nn.LSTM(30, 100, num_layers=2, rng=0)
    k = 1 / np.sqrt(100)
    values = np.concatenate([p.data.ravel() for p in model.parameters()])
    assert values.dtype == np.float32
    assert -k <= values.min() < -0.99 * k and 0.99 * k < values.max() <= k
    assert values.std() == pytest.approx(k / np.sqrt(3), rel=0.01)  # a uniform's std
    again = nn.LSTM(30, 100, num_layers=2, rng=0)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(model.parameters(), again.parameters()))
    assert not np.array_equal(model.weight_hh_l0.data, nn.LSTM(30, 100, rng=1).weight_hh_l0.data)


def test_float32_layers_compute_in_float32_and_train():
    lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    y, (h_n, c_n) = lstm(x)
    assert y.shape == (2, 5, 8) and h_n.shape == c_n.shape == (2, 2, 8)
    assert y.dtype == h_n.dtype == np.float32
    # the last step of the output is the last layer's h_n
    np.testing.assert_array_equal(y.data[:, -1], h_n.data[-1])
    opt = SGD(lstm.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        lstm.zero_grad()
        loss = cg.functions.mean_squared_error(lstm(x)[0], np.float32(0.5))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad.dtype == np.float32 for p in lstm.parameters())


def test_a_whole_stack_is_one_op_in_the_graph():
    y, (h_n, c_n) = nn.LSTM(2, 3, num_layers=3, rng=0)(np.zeros((4, 1, 2), np.float32))
    f = y.creator
    assert isinstance(f, R.Recurrence) and f.label == "lstm"
    assert h_n.creator is f and c_n.creator is f
    assert len(f.inputs) == 2 + 1 + 3 * 4  # x, h0, c0, four parameters per layer


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_functional_ops_pass_gradcheck(kind):
    rng = np.random.default_rng(4)
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    x, h0, c0 = rng.standard_normal((3, 2, 2)), *rng.standard_normal((2, 1, 2, 3)) * 0.5
    W_ih, W_hh, b_ih, b_hh = (rng.standard_normal(s) * 0.5 for s in [(G * 3, 2), (G * 3, 3), G * 3, G * 3])

    def f(x, h0, c0, *w):
        if kind == "lstm":
            return R.lstm(x, h0, c0, [w])
        return R.gru(x, h0, [w]) if kind == "gru" else R.rnn(x, h0, [w])

    assert cg.gradcheck(f, x, h0, c0, W_ih, W_hh, b_ih, b_hh)


def test_second_order_through_a_recurrent_layer_raises():
    lstm = nn.LSTM(2, 3, dtype=np.float64, rng=0)
    x = cg.Variable(np.ones((2, 1, 2)))
    y, _ = lstm(x)
    with pytest.raises(NotImplementedError, match="second-order gradients through recurrent layers"):
        cg.grad(cg.functions.sum(y), [x], create_graph=True)


def test_an_array_input_still_gives_every_weight_a_gradient():
    gru = nn.GRU(2, 3, dtype=np.float64, rng=0)
    y, _ = gru(np.ones((2, 1, 2)))
    cg.functions.sum(y).backward()
    assert all(p.grad is not None for p in gru.parameters())


def test_errors_name_the_layer_the_shapes_and_the_fix():
    lstm = nn.LSTM(4, 6, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM \(4 -> 6, num_layers=2\): expected input of shape "
                       r"\(T, N, 4\), or \(T, 4\) unbatched, got \(5, 3, 7\)"):
        lstm(np.zeros((5, 3, 7), np.float32))
    h0 = np.zeros((1, 3, 6), np.float32)
    shape = r"h0 must have shape \(2, 3, 6\) \(num_layers, batch, hidden_size\), got \(1, 3, 6\)"
    with pytest.raises(ValueError, match=shape):
        lstm(np.zeros((5, 3, 4), np.float32), (h0, h0))
    with pytest.raises(TypeError, match=r"the initial state must be a pair \(h0, c0\), got ndarray"):
        lstm(np.zeros((5, 3, 4), np.float32), h0)
    with pytest.raises(TypeError, match="holds float32 parameters but got float64 input"):
        lstm(np.zeros((5, 3, 4)))
    with pytest.raises(ValueError, match=r"N, T, 4"):
        nn.GRU(4, 6, batch_first=True)(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'; choose one of tanh, relu"):
        nn.RNN(4, 6, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"hidden_size"):
        nn.GRU(4, 0)
    with pytest.raises(TypeError, match="floating-point"):
        nn.LSTMCell(4, 6, dtype=np.int32)
    cell = nn.GRUCell(4, 6)
    with pytest.raises(ValueError, match=r"GRUCell \(4 -> 6\): h must have shape \(3, 6\), got \(2, 6\)"):
        cell(np.zeros((3, 4), np.float32), np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\)"):
        cell(np.zeros((3, 5), np.float32))


def test_a_named_layer_says_where_it_sits():
    class Model(nn.Module):
        def __init__(self):
            self.encoder = nn.LSTM(4, 6)

    model = Model()
    list(model.named_modules())
    with pytest.raises(ValueError, match="LSTM 'encoder'"):
        model.encoder(np.zeros((2, 2, 5), np.float32))
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["encoder.weight_ih_l0", "encoder.weight_hh_l0"]
