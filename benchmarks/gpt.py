"""One CharGPT training step in compgraph against the same model in PyTorch.

    python benchmarks/gpt.py [--repeats 20] [--calls 2] [--profile 10] [--gelu tanh]

nanoGPT's CPU configuration for Tiny Shakespeare (4 layers, 4 heads, 128-dim embeddings,
context 64, batch 12, vocabulary 65, no biases, no dropout), float32, 1 BLAS/OpenMP thread each.
A step is forward, the mean next-token cross-entropy, backward and an AdamW update (lr 1e-3,
betas 0.9/0.99, weight decay 0.1 on matrices only, as nanoGPT's configure_optimizers); no
gradient clipping or schedule. Both models start from the same weights and see the same
random batches (token ids drawn uniformly: the values do not change the time), and the first
step's losses are checked to agree. Steps are timed in alternating blocks of ``--calls`` steps
so machine noise hits both alike; prints each library's median (min-max) ms per step and the
ratio. Issue 12's target: compgraph at most 1.3x PyTorch. ``--profile N`` also runs N
compgraph steps under cProfile and prints the top functions by their own time. ``--gelu tanh``
times both models with the tanh approximation of GELU instead of nanoGPT's exact one (a
diagnostic: how much of the difference is GELU's).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy (or PyTorch) starts its thread pool

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

TARGET = 1.3  # compgraph's step / PyTorch's
CONFIG = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
BATCH = 12
LR, BETAS, WEIGHT_DECAY = 1e-3, (0.9, 0.99), 0.1


def batches(seed: int = 0):
    """Endless (inputs, targets) pairs of (BATCH, block_size) token ids, the same for both libraries."""
    rng = np.random.default_rng(seed)
    shape = (BATCH, CONFIG["block_size"])
    while True:
        yield rng.integers(0, CONFIG["vocab_size"], shape), rng.integers(0, CONFIG["vocab_size"], shape)


def compgraph_step(model):
    """A function running one compgraph training step on the next batch; returns the loss."""
    import compgraph.functions as F
    import compgraph.optim as optim

    opt = optim.AdamW(optim.weight_decay_groups(model.parameters(), WEIGHT_DECAY), lr=LR, betas=BETAS)
    data = batches()

    def step() -> float:
        idx, targets = next(data)
        logits = model(idx)
        loss = F.softmax_cross_entropy(logits, targets)  # over (B, T, V) logits
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def torch_model(model, gelu: str = "none"):
    """CharGPT in PyTorch (torch.nn layers, scaled_dot_product_attention), with ``model``'s weights."""
    import torch
    from torch import nn

    C, H = CONFIG["n_embd"], CONFIG["n_head"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            self.c_fc, self.gelu = nn.Linear(C, 4 * C, bias=False), nn.GELU(gelu)
            self.mlp_proj = nn.Linear(4 * C, C, bias=False)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(C, 2))
            y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(CONFIG["vocab_size"], C)
            self.wpe = nn.Embedding(CONFIG["block_size"], C)
            self.h = nn.ModuleList(Block() for _ in range(CONFIG["n_layer"]))
            self.ln_f = nn.LayerNorm(C, bias=False)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.T  # the tied head

    reference = GPT()
    rename = {
        "attn.c_attn.W": "c_attn.weight",
        "attn.c_proj.W": "attn_proj.weight",
        "mlp.c_fc.W": "c_fc.weight",
        "mlp.c_proj.W": "mlp_proj.weight",
        "W": "weight",
    }
    state = {}
    for name, array in model.state_dict().items():
        for ours, theirs in rename.items():
            if name.endswith(ours):
                name = name[: -len(ours)] + theirs
                array = array.T if ours != "W" else array  # Linear's W is (in, out), torch's (out, in)
                break
        state[name] = torch.from_numpy(np.ascontiguousarray(array))
    reference.load_state_dict(state)
    return reference


def torch_step(reference):
    import torch

    torch.set_num_threads(1)
    params = list(reference.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS)
    data = batches()

    def step() -> float:
        idx, targets = (torch.from_numpy(a) for a in next(data))
        logits = reference(idx)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, CONFIG["vocab_size"]), targets.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _time(step, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls


def measure(steps: dict, repeats: int, calls: int) -> dict[str, list[float]]:
    """Seconds per step of each library, ``repeats`` blocks of ``calls`` steps, alternating."""
    for step in steps.values():  # warm up: first-call costs, allocator, optimizer state
        _time(step, 3)
    times: dict[str, list[float]] = {lib: [] for lib in steps}
    for _ in range(repeats):
        for lib, step in steps.items():
            times[lib].append(_time(step, calls))
    return times


def profile(step, n: int, top: int = 25) -> None:
    """Run ``n`` steps under cProfile; print the ``top`` functions by their own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def _cell(seconds: list[float]) -> str:
    ms = [s * 1e3 for s in seconds]
    return f"{statistics.median(ms):.3g} ({min(ms):.3g}–{max(ms):.3g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed blocks per library")
    parser.add_argument("--calls", type=int, default=2, help="steps per timed block")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also profile N compgraph steps")
    parser.add_argument("--gelu", choices=("none", "tanh"), default="none", help="GELU's approximation")
    args = parser.parse_args(argv)

    import compgraph.nn as nn

    model = nn.CharGPT(**CONFIG, rng=0)
    for block in model.h:
        block.mlp.gelu.approximate = args.gelu
    steps = {"compgraph": compgraph_step(model), "torch": torch_step(torch_model(model, args.gelu))}
    first = {lib: step() for lib, step in steps.items()}  # the same weights and batch: the same loss
    if abs(first["compgraph"] - first["torch"]) > 1e-4 * abs(first["torch"]):
        print(f"first-step losses differ: {first}; not timing different models", file=sys.stderr)
        return 1
    times = measure(steps, args.repeats, args.calls)
    ratio = statistics.median(times["compgraph"]) / statistics.median(times["torch"])
    print(
        f"CharGPT training step, {CONFIG}, batch {BATCH}, GELU approximate={args.gelu!r}, float32, 1 thread"
    )
    print(f"first-step loss {first['compgraph']:.6f} (compgraph), {first['torch']:.6f} (PyTorch)")
    print("| library | step (ms) | / PyTorch |")
    print("|---|---|---|")
    for lib, seconds in times.items():
        relative = statistics.median(seconds) / statistics.median(times["torch"])
        print(f"| {lib} | {_cell(seconds)} | {relative:.2f}x |")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"\ncompgraph / PyTorch: {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    if args.profile:
        profile(steps["compgraph"], args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
