"""Transformer layers and the character models: against PyTorch in float64, structure, tying,
initialisation, generation, dtypes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import compgraph.functions as F
import compgraph.nn as nn
from compgraph.nn import transformer

torch = pytest.importorskip("torch")
tnn = torch.nn

# a small GPT that still has several heads, layers, a cropped context and a tied head
SMALL = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)


def _ids(shape, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


def _loss(logits, targets):
    """Mean next-token cross-entropy over (B, T, V) logits and (B, T) targets."""
    V = logits.shape[-1]
    return F.softmax_cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


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
    names = {}
    for prefix, module in model.named_modules():
        dot = prefix + "." if prefix else ""
        if isinstance(module, nn.Linear):
            names[dot + "W"] = (dot + "weight", True)
            names[dot + "b"] = (dot + "bias", False)
        elif isinstance(module, nn.Embedding):
            names[dot + "W"] = (dot + "weight", False)
        elif isinstance(module, transformer.LayerNorm):
            names[dot + "weight"] = (dot + "weight", False)
            names[dot + "bias"] = (dot + "bias", False)
    return names


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
