"""Transformer layers and the character models: against PyTorch in float64, structure, tying,
initialisation, generation, dtypes and errors."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn
from compgraph.nn import language, transformer

torch = pytest.importorskip("torch")
tnn = torch.nn

# a small GPT that still has several heads, layers, a cropped context and a tied head
SMALL = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)


def _ids(shape, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


def _loss(logits, targets):
    """Mean next-token cross-entropy over (B, T, V) logits and (B, T) targets."""
    return F.softmax_cross_entropy(logits, targets)


# --- the same model in PyTorch, built from torch.nn's layers ----------------------------------


class TorchAttention(tnn.Module):
    def __init__(self, n_embd, n_head, bias):
        super().__init__()
        self.n_head = n_head
        self.c_attn = tnn.Linear(n_embd, 3 * n_embd, bias=bias, dtype=torch.float64)
        self.c_proj = tnn.Linear(n_embd, n_embd, bias=bias, dtype=torch.float64)

    def forward(self, x):
        B, T, C = x.shape
        heads = [t.reshape(B, T, self.n_head, -1).transpose(1, 2) for t in self.c_attn(x).chunk(3, dim=2)]
        y = tnn.functional.scaled_dot_product_attention(*heads, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class TorchBlock(tnn.Module):
    def __init__(self, n_embd, n_head, bias):
        super().__init__()
        f64 = dict(dtype=torch.float64)
        self.ln_1 = tnn.LayerNorm(n_embd, bias=bias, **f64)
        self.attn = TorchAttention(n_embd, n_head, bias)
        self.ln_2 = tnn.LayerNorm(n_embd, bias=bias, **f64)
        self.mlp = tnn.Module()
        self.mlp.c_fc = tnn.Linear(n_embd, 4 * n_embd, bias=bias, **f64)
        self.mlp.gelu = tnn.GELU()
        self.mlp.c_proj = tnn.Linear(4 * n_embd, n_embd, bias=bias, **f64)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        m = self.mlp
        return x + m.c_proj(m.gelu(m.c_fc(self.ln_2(x))))


class TorchGPT(tnn.Module):
    """CharGPT in PyTorch; ``tied=False`` gives the head its own copy of the table (lm_head)."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, bias=False, tied=True):
        super().__init__()
        f64 = dict(dtype=torch.float64)
        self.wte = tnn.Embedding(vocab_size, n_embd, **f64)
        self.wpe = tnn.Embedding(block_size, n_embd, **f64)
        self.h = tnn.ModuleList(TorchBlock(n_embd, n_head, bias) for _ in range(n_layer))
        self.ln_f = tnn.LayerNorm(n_embd, bias=bias, **f64)
        self.lm_head = None if tied else tnn.Linear(n_embd, vocab_size, bias=False, **f64)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.wte.weight.T if self.lm_head is None else self.lm_head(x)


def _torch_names(model):
    """compgraph name -> (torch name, whether the array is transposed) for each parameter."""
    names = {name: (name, False) for name in model.state_dict()}  # LayerNorm's and LSTM's are torch's
    for prefix, module in model.named_modules():
        dot = prefix + "." if prefix else ""
        if isinstance(module, nn.Linear):
            names[dot + "W"] = (dot + "weight", True)
            names[dot + "b"] = (dot + "bias", False)
        elif isinstance(module, nn.Embedding):
            names[dot + "W"] = (dot + "weight", False)
    return {name: names[name] for name in model.state_dict()}


def _to_torch(model, reference):
    """Load compgraph ``model``'s weights into the torch ``reference``; returns the name map."""
    names = _torch_names(model)
    state = {}
    for name, array in model.state_dict().items():
        torch_name, transposed = names[name]
        state[torch_name] = torch.from_numpy(array.T.copy() if transposed else array)
    if getattr(reference, "lm_head", None) is not None:
        state["lm_head.weight"] = state["wte.weight"].clone()
    reference.load_state_dict(state)
    return names


def _torch_grad(reference, torch_name, transposed):
    g = reference.get_parameter(torch_name).grad.numpy()
    return g.T if transposed else g


# --- structure, names, initialisation ---------------------------------------------------------


def test_parameter_names_and_shapes_follow_nanogpt():
    gpt = nn.CharGPT(65, rng=0)
    shapes = dict((name, p.shape) for name, p in gpt.named_parameters())
    assert list(shapes)[:4] == ["wte.W", "wpe.W", "h.0.ln_1.weight", "h.0.attn.c_attn.W"]
    assert shapes["wte.W"] == (65, 128) and shapes["wpe.W"] == (64, 128)
    assert shapes["h.3.attn.c_attn.W"] == (128, 384) and shapes["h.3.attn.c_proj.W"] == (128, 128)
    assert shapes["h.3.mlp.c_fc.W"] == (128, 512) and shapes["h.3.mlp.c_proj.W"] == (512, 128)
    assert shapes["ln_f.weight"] == (128,)
    assert not any(name.endswith((".b", ".bias")) for name in shapes)  # bias=False, as nanoGPT's runs
    assert len(shapes) == 2 + 4 * 6 + 1


@pytest.mark.parametrize("bias", [False, True])
def test_parameter_count_is_nanogpts(bias):
    config = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    ours = sum(p.size for p in nn.CharGPT(**config, bias=bias, rng=0).parameters())
    theirs = sum(p.numel() for p in TorchGPT(**config, bias=bias).parameters())
    assert ours == theirs
    # nanoGPT reports the count less the position table: 0.80M for its CPU configuration
    assert ours - 64 * 128 == (795_904 if not bias else 795_904 + 4 * (2 * 128 + 384 + 128 + 512 + 128) + 128)


def test_the_tied_table_is_one_parameter_listed_and_saved_once():
    gpt = nn.CharGPT(**SMALL, rng=0)
    params = gpt.parameters()
    assert sum(p is gpt.wte.W for p in params) == 1
    assert len({id(p) for p in params}) == len(params)
    assert list(gpt.state_dict()).count("wte.W") == 1
    assert not any("lm_head" in name for name in gpt.state_dict())


def test_initialisation_is_nanogpts():
    gpt = nn.CharGPT(65, n_embd=256, n_layer=4, bias=True, rng=0)
    params = dict(gpt.named_parameters())
    for name in ("wte.W", "wpe.W", "h.0.attn.c_attn.W", "h.2.mlp.c_fc.W"):
        assert params[name].data.std() == pytest.approx(0.02, rel=0.05), name
        assert abs(params[name].data.mean()) < 0.002, name
    scaled = 0.02 / math.sqrt(2 * 4)
    for name in ("h.0.attn.c_proj.W", "h.3.mlp.c_proj.W"):
        assert params[name].data.std() == pytest.approx(scaled, rel=0.05), name
    for name, p in params.items():
        if name.endswith(".b") or name.endswith("bias"):
            np.testing.assert_array_equal(p.data, 0.0)
        if name.endswith("weight"):
            np.testing.assert_array_equal(p.data, 1.0)
    assert all(p.dtype == np.float32 for p in params.values())


def test_initialisation_is_seeded():
    a, b = nn.CharGPT(**SMALL, rng=3), nn.CharGPT(**SMALL, rng=3)
    c = nn.CharGPT(**SMALL, rng=4)
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        np.testing.assert_array_equal(x, y)
        if name.endswith(".W"):
            assert not np.array_equal(x, z), name


def test_blocks_sit_in_a_module_list_named_h():
    gpt = nn.CharGPT(**SMALL, rng=0)
    assert isinstance(gpt.h, nn.ModuleList) and len(gpt.h) == 2
    assert all(isinstance(block, nn.TransformerBlock) for block in gpt.h)
    assert gpt.h[1].attn.c_attn.W.name == "h.1.attn.c_attn.W"
    assert "CharGPT(vocab_size=11" in repr(gpt) and "(ln_f): LayerNorm(8, eps=1e-05, bias=False)" in repr(gpt)


def test_bad_configurations_name_the_argument():
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be a multiple of n_head \(4\)"):
        nn.CharGPT(5, n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="CharGPT: dropout must lie in"):
        nn.CharGPT(5, dropout=1.0)
    with pytest.raises(TypeError, match="vocab_size must be a positive int"):
        nn.CharGPT(5.0)
    with pytest.raises(ValueError, match="unknown approximate 'fast'"):
        nn.GELU("fast")
    with pytest.raises(TypeError, match="normalized_shape"):
        nn.LayerNorm("8")


# --- against PyTorch in float64 ---------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_logits_and_every_gradient_match_pytorch(bias):
    gpt = nn.CharGPT(**SMALL, bias=bias, dtype=np.float64, rng=0)
    if bias:  # biases start at zero: give them values so that their gradients are tested
        rng = np.random.default_rng(1)
        for name, p in gpt.named_parameters():
            if name.endswith((".b", ".bias")):
                p.data = rng.normal(0, 0.1, p.shape)
    reference = TorchGPT(**SMALL, bias=bias)
    names = _to_torch(gpt, reference)
    idx, targets = _ids((3, 8), 11, seed=2), _ids((3, 8), 11, seed=3)

    logits = gpt(idx)
    loss = _loss(logits, targets)
    loss.backward()
    expected = reference(torch.from_numpy(idx))
    expected_loss = tnn.functional.cross_entropy(
        expected.reshape(-1, 11), torch.from_numpy(targets).reshape(-1)
    )
    expected_loss.backward()

    assert logits.shape == (3, 8, 11) and logits.dtype == np.float64
    np.testing.assert_allclose(logits.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    for name, p in gpt.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, _torch_grad(reference, *names[name]), rtol=1e-9, atol=1e-12, err_msg=name
        )


def test_the_tied_table_gets_the_sum_of_both_gradients():
    gpt = nn.CharGPT(**SMALL, dtype=np.float64, rng=0)
    untied = TorchGPT(**SMALL, tied=False)  # the head holds its own copy of the table
    _to_torch(gpt, untied)
    idx, targets = _ids((2, 5), 11, seed=4), _ids((2, 5), 11, seed=5)
    _loss(gpt(idx), targets).backward()
    out = untied(torch.from_numpy(idx))
    tnn.functional.cross_entropy(out.reshape(-1, 11), torch.from_numpy(targets).reshape(-1)).backward()
    from_embedding, from_head = untied.wte.weight.grad.numpy(), untied.lm_head.weight.grad.numpy()
    assert np.abs(from_embedding).max() > 0 and np.abs(from_head).max() > 0
    np.testing.assert_allclose(gpt.wte.W.grad.data, from_embedding + from_head, rtol=1e-9, atol=1e-12)


def test_a_block_matches_pytorch_on_its_own():
    block = nn.TransformerBlock(12, 3, bias=True, dtype=np.float64, rng=0)
    reference = TorchBlock(12, 3, bias=True)
    names = _to_torch(block, reference)
    x = np.random.default_rng(0).normal(size=(2, 6, 12))
    y = block(cg.Variable(x))
    xt = torch.from_numpy(x).requires_grad_()
    expected = reference(xt)
    np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = np.random.default_rng(1).normal(size=y.shape)
    F.sum(y * gy).backward()
    expected.backward(torch.from_numpy(gy))
    for name, p in block.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, _torch_grad(reference, *names[name]), rtol=1e-9, atol=1e-12, err_msg=name
        )


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [(8, {}), (8, {"bias": False}), (8, {"elementwise_affine": False}), ((3, 8), {"eps": 1e-3})],
)
def test_layer_norm_matches_pytorch(shape, kwargs):
    ln = nn.LayerNorm(shape, **kwargs, dtype=np.float64)
    reference = tnn.LayerNorm(shape, **kwargs, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for p in ln.parameters():  # away from the initial ones and zeros
        p.data = rng.normal(size=p.shape)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in ln.state_dict().items()})
    x = rng.normal(size=(2, 3, 8)) * 3 + 1
    xv, xt = cg.Variable(x), torch.from_numpy(x).requires_grad_()
    y, expected = ln(xv), reference(xt)
    np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = rng.normal(size=x.shape)
    F.sum(y * gy).backward()
    expected.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in ln.named_parameters():
        np.testing.assert_allclose(p.grad.data, getattr(reference, name).grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_pytorch(approximate):
    x = np.random.default_rng(0).normal(size=(4, 5)) * 3
    xv, xt = cg.Variable(x), torch.from_numpy(x).requires_grad_()
    y, expected = nn.GELU(approximate)(xv), tnn.GELU(approximate)(xt)
    np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    F.sum(y).backward()
    expected.sum().backward()
    np.testing.assert_allclose(xv.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_attention_dropout_drops_weights_and_is_off_in_eval():
    attn = nn.CausalSelfAttention(8, 2, dropout=0.5, dtype=np.float64, rng=0)
    x = np.random.default_rng(0).normal(size=(2, 5, 8))
    a, b = attn(x).data, attn(x).data
    assert not np.allclose(a, b)  # fresh masks each call
    attn.eval()
    reference = TorchAttention(8, 2, bias=True)
    _to_torch(attn, reference)
    np.testing.assert_allclose(attn(x).data, reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_the_dropout_path_without_dropping_is_plain_attention():
    # p = 0 never takes the dropout path; a tiny p takes it and (almost surely) drops nothing
    attn = nn.CausalSelfAttention(8, 2, dropout=1e-12, dtype=np.float64, rng=0)
    x = cg.Variable(np.random.default_rng(0).normal(size=(2, 5, 8)))
    y = attn(x)
    attn.eval()
    np.testing.assert_allclose(y.data, attn(x).data, rtol=1e-10)  # the scale is 1/(1 - 1e-12)


# --- dtypes and input errors -------------------------------------------------------------------


def test_a_float32_model_refuses_float64_input_as_the_layers_do():
    block = nn.TransformerBlock(8, 2)
    with pytest.raises(TypeError, match=r"LayerNorm 'ln_1' \(8.*float32 parameters but got float64"):
        block(np.zeros((1, 2, 8)))
    with pytest.raises(TypeError, match="float32 parameters but got float64"):
        nn.LayerNorm(8)(np.zeros((2, 8)))
    with pytest.raises(TypeError, match=r"CausalSelfAttention.*float32 parameters but got float64"):
        nn.CausalSelfAttention(8, 2)(np.zeros((1, 2, 8)))
    gpt = nn.CharGPT(**SMALL, rng=0)
    assert gpt(_ids((1, 3), 11)).dtype == np.float32
    assert gpt.astype(np.float64)(_ids((1, 3), 11)).dtype == np.float64


def test_input_errors_name_the_shapes():
    gpt = nn.CharGPT(**SMALL, rng=0)
    with pytest.raises(ValueError, match=r"9 tokens is longer than block_size 8.*idx\[:, -8:\]"):
        gpt(_ids((1, 9), 11))
    with pytest.raises(TypeError, match="idx must hold integer token ids, got float64"):
        gpt(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"idx must be \(B, T\) token ids.*got shape \(3,\)"):
        gpt(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"must lie in \[0, 11\)"):
        gpt(np.full((1, 2), 11))
    with pytest.raises(
        ValueError, match=r"CausalSelfAttention.*expected input of shape \(B, T, 8\), got \(2, 4\)"
    ):
        nn.CausalSelfAttention(8, 2)(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"LayerNorm.*last axes are \(3, 8\), got shape \(2, 8\)"):
        nn.LayerNorm((3, 8))(np.zeros((2, 8), dtype=np.float32))


# --- generation --------------------------------------------------------------------------------


def test_generate_is_deterministic_for_a_seed_and_keeps_the_prompt():
    gpt = nn.CharGPT(**SMALL, rng=0).eval()
    prompt = _ids((2, 3), 11)
    a = gpt.generate(prompt, 20, rng=7)
    b = gpt.generate(prompt, 20, rng=np.random.default_rng(7))
    c = gpt.generate(prompt, 20, rng=8)
    assert a.shape == (2, 23) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :3], prompt)
    assert not np.array_equal(a, c)
    assert ((a >= 0) & (a < 11)).all()
    np.testing.assert_array_equal(gpt.generate(prompt, 0), prompt)


def test_generate_with_top_k_one_is_greedy():
    gpt = nn.CharGPT(**SMALL, dtype=np.float64, rng=0).eval()
    idx = _ids((3, 2), 11)
    out = gpt.generate(idx, 12, top_k=1, rng=0)
    for t in range(2, out.shape[1]):  # each token is the argmax given what came before
        context = out[:, max(0, t - 8) : t]
        np.testing.assert_array_equal(out[:, t], gpt(context).data[:, -1].argmax(axis=1))


def test_generate_draws_only_from_the_top_k():
    gpt = nn.CharGPT(**SMALL, rng=0).eval()
    for p in gpt.parameters():
        p.data = p.data * 50  # a peaked but not one-hot distribution
    idx = np.zeros((64, 1), dtype=np.int64)
    first = gpt.generate(idx, 1, top_k=3, rng=0)[:, 1]
    top3 = np.argsort(gpt(idx).data[0, -1])[-3:]
    assert set(first.tolist()) <= set(top3.tolist())
    logits = np.array([[0.0, 1.0, 2.0, 3.0]])
    draws = [language._sample(logits, 1.0, 2, np.random.default_rng(s))[0] for s in range(200)]
    assert set(draws) == {2, 3}
    frac = np.mean(np.array(draws) == 3)
    assert frac == pytest.approx(1 / (1 + np.exp(-1)), abs=0.1)  # e³/(e² + e³) ≈ 0.73


def test_generate_low_temperature_is_greedy_and_high_spreads_out():
    logits = np.array([[0.0, 0.5, 1.0]])
    cold = {int(language._sample(logits, 1e-3, None, np.random.default_rng(s))[0]) for s in range(50)}
    hot = {int(language._sample(logits, 1e3, None, np.random.default_rng(s))[0]) for s in range(50)}
    assert cold == {2} and hot == {0, 1, 2}


def test_generate_crops_the_context_to_block_size():
    gpt = nn.CharGPT(**SMALL, rng=0).eval()
    long_prompt = _ids((2, 30), 11, seed=9)  # longer than block_size 8: forward alone refuses it
    out = gpt.generate(long_prompt, 5, rng=1)
    assert out.shape == (2, 35)
    # only the last 8 tokens matter: a prompt that differs before them gives the same tokens
    other = long_prompt.copy()
    other[:, :22] = (other[:, :22] + 1) % 11
    np.testing.assert_array_equal(gpt.generate(other, 5, rng=1)[:, 30:], out[:, 30:])


def test_generate_records_no_graph():
    gpt = nn.CharGPT(**SMALL, rng=0).eval()
    calls = []
    original = cg.core.Function.__call__

    def spy(self, *inputs):
        y = original(self, *inputs)
        calls.append(any(v.creator is not None for v in (y if isinstance(y, tuple) else (y,))))
        return y

    cg.core.Function.__call__ = spy
    try:
        gpt.generate(_ids((1, 2), 11), 3, rng=0)
    finally:
        cg.core.Function.__call__ = original
    assert calls and not any(calls)
    assert all(p.grad is None for p in gpt.parameters())
    assert cg.is_grad_enabled()


def test_generate_checks_its_arguments():
    gpt = nn.CharGPT(**SMALL, rng=0)
    idx = _ids((1, 2), 11)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        gpt.generate(idx, 3, temperature=0)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        gpt.generate(idx, 3, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        gpt.generate(idx, -1)


class TorchCharLSTM(tnn.Module):
    def __init__(self, vocab_size, n_embd, hidden_size, num_layers):
        super().__init__()
        f64 = dict(dtype=torch.float64)
        self.embedding = tnn.Embedding(vocab_size, n_embd, **f64)
        self.lstm = tnn.LSTM(n_embd, hidden_size, num_layers, batch_first=True, **f64)
        self.head = tnn.Linear(hidden_size, vocab_size, **f64)

    def forward(self, idx, state=None):
        y, state = self.lstm(self.embedding(idx), state)
        return self.head(y), state


LSTM_CONFIG = dict(vocab_size=11, n_embd=6, hidden_size=7, num_layers=2)


def test_char_lstm_shapes_and_names():
    model = nn.CharLSTM(**LSTM_CONFIG, rng=0)
    logits, (h, c) = model(_ids((3, 5), 11))
    assert logits.shape == (3, 5, 11) and h.shape == c.shape == (2, 3, 7)
    assert logits.dtype == np.float32
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["embedding.W", "lstm.weight_ih_l0"] and names[-2:] == ["head.W", "head.b"]
    assert model.lstm.batch_first


def test_char_lstm_matches_pytorch_through_two_windows():
    model = nn.CharLSTM(**LSTM_CONFIG, dtype=np.float64, rng=0)
    reference = TorchCharLSTM(**LSTM_CONFIG)
    names = _to_torch(model, reference)
    idx, targets = _ids((3, 10), 11, seed=1), _ids((3, 10), 11, seed=2)
    # truncated BPTT: the second window starts from the first's state, detached
    logits, state = model(idx[:, :5])
    expected, expected_state = reference(torch.from_numpy(idx[:, :5]))
    np.testing.assert_allclose(logits.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    state = tuple(s.detach() for s in state)
    expected_state = tuple(s.detach() for s in expected_state)
    logits, (h, c) = model(idx[:, 5:], state)
    expected, (h_t, c_t) = reference(torch.from_numpy(idx[:, 5:]), expected_state)
    np.testing.assert_allclose(logits.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.data, h_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.data, c_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    _loss(logits, targets[:, 5:]).backward()
    tnn.functional.cross_entropy(
        expected.reshape(-1, 11), torch.from_numpy(targets[:, 5:]).reshape(-1)
    ).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, _torch_grad(reference, *names[name]), rtol=1e-9, atol=1e-12, err_msg=name
        )


def test_char_lstm_state_carries_over():
    model = nn.CharLSTM(**LSTM_CONFIG, dtype=np.float64, rng=0)
    idx = _ids((2, 9), 11)
    whole, _ = model(idx)
    first, state = model(idx[:, :4])
    rest, _ = model(idx[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first.data, rest.data], axis=1), whole.data, rtol=1e-12)
    fresh, _ = model(idx[:, 4:])  # without the state, the second window reads differently
    assert not np.allclose(fresh.data, rest.data)


def test_char_lstm_generates_as_the_gpt_does():
    model = nn.CharLSTM(**LSTM_CONFIG, dtype=np.float64, rng=0)
    prompt = _ids((2, 3), 11)
    a = model.generate(prompt, 10, rng=5)
    assert a.shape == (2, 13)
    np.testing.assert_array_equal(a, model.generate(prompt, 10, rng=5))
    np.testing.assert_array_equal(a[:, :3], prompt)
    greedy = model.generate(prompt, 6, top_k=1)
    for t in range(3, greedy.shape[1]):  # stepping with the state is reading the whole prefix
        np.testing.assert_array_equal(greedy[:, t], model(greedy[:, :t])[0].data[:, -1].argmax(axis=1))
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        model.generate(prompt, 3, temperature=-1.0)


@pytest.mark.parametrize("module", [transformer, language])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
