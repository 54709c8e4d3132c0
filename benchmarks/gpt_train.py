"""The default CharGPT run on Tiny Shakespeare in compgraph and in PyTorch: validation loss and time.

    python benchmarks/gpt_train.py [--steps 2000] [--libs compgraph,torch] [--data-dir DIR]

Both train ``compgraph train --data shakespeare``'s recipe (nanoGPT's CPU configuration: 4
layers, 4 heads, 128-dim embeddings, context 64, batch 12, AdamW lr 1e-3 with betas 0.9/0.99
and weight decay 0.1 on the matrices, 5% warm-up then cosine decay to 1e-4, gradient norm
clipped at 1.0) from the same initial weights on the same batches (batch k drawn from seed 0
and k), each library in its own process with 1 BLAS/OpenMP thread. Reported: the seconds the
training steps took (evaluation excluded), the final validation loss (the mean next-character
cross-entropy over every non-overlapping 64-character window of the last 10%, as
``val loss:`` prints), the ratio of times, the difference of losses, and a sample of text
from compgraph's model. Issue 12's targets: the losses within 0.03 nats, compgraph's time at
most 1.3x PyTorch's. The data: --data-dir, else $COMPGRAPH_SHAKESPEARE_DIR, else
../shared/data/shakespeare beside the repo.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy (or PyTorch) starts its thread pool

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

LOSS_TARGET, TIME_TARGET = 0.03, 1.3


def _corpus(data_dir: str):
    from compgraph.data import shakespeare

    return shakespeare(data_dir, download=False, progress=False)


def run_compgraph(data_dir: str, steps: int) -> dict:
    import compgraph.functions as F
    from compgraph import optim
    from compgraph.training import text as T

    corpus = _corpus(data_dir)
    model = T.build_language_model("gpt", len(corpus.vocab), seed=0)
    opt = optim.AdamW(optim.weight_decay_groups(model.parameters(), T.WEIGHT_DECAY), 1e-3, betas=T.BETAS)
    schedule = optim.WarmupCosineLR(opt, round(T.WARMUP_FRACTION * steps), steps, 1e-3 * T.MIN_LR_FRACTION)
    params = model.parameters()
    batches = corpus.random_batches("train", 12, T.CONTEXT, seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(batches)
        loss = F.softmax_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(params, T.CLIP)
        opt.step()
        schedule.step()
    seconds = time.perf_counter() - start
    val = T.validation_loss(model, corpus)
    prompt = corpus.vocab.encode("ROMEO:")[None, :]
    text = corpus.vocab.decode(model.eval().generate(prompt, 300, rng=0)[0])
    return {"seconds": seconds, "val_loss": val, "sample": text}


def run_torch(data_dir: str, steps: int) -> dict:
    import torch

    from benchmarks.gpt import torch_model
    from compgraph.training import text as T

    torch.set_num_threads(1)
    corpus = _corpus(data_dir)
    reference = torch_model(T.build_language_model("gpt", len(corpus.vocab), seed=0))
    params = list(reference.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": T.WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=T.BETAS)
    from compgraph.optim.schedule import warmup_cosine_lr

    warmup = round(T.WARMUP_FRACTION * steps)
    batches = corpus.random_batches("train", 12, T.CONTEXT, seed=0)
    vocab = len(corpus.vocab)
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = warmup_cosine_lr(step, 1e-3, warmup, steps, 1e-3 * T.MIN_LR_FRACTION)
        x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in next(batches))
        loss = torch.nn.functional.cross_entropy(reference(x).view(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, T.CLIP)
        opt.step()
    seconds = time.perf_counter() - start
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in corpus.eval_batches("val", T.CONTEXT, T.EVAL_BATCH):
            logits = reference(torch.from_numpy(x))
            targets = torch.from_numpy(y).reshape(-1)
            total += torch.nn.functional.cross_entropy(logits.view(-1, vocab), targets).item() * y.size
            count += y.size
    return {"seconds": seconds, "val_loss": total / count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--libs", default="compgraph,torch")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_dir = (
        args.data_dir
        or os.environ.get("COMPGRAPH_SHAKESPEARE_DIR")
        or str(ROOT.parent / "shared" / "data" / "shakespeare")
    )
    if args.child:
        result = (run_compgraph if args.child == "compgraph" else run_torch)(data_dir, args.steps)
        print(json.dumps(result))
        return 0
    results = {}
    for lib in args.libs.split(","):
        command = [
            sys.executable,
            __file__,
            "--child",
            lib,
            "--steps",
            str(args.steps),
            "--data-dir",
            data_dir,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{lib} failed:\n{done.stderr}", file=sys.stderr)
            return 1
        results[lib] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.steps} steps of the default CharGPT recipe, 1 thread each\n")
    print("| library | training time (s) | ms per step | val loss |")
    print("|---|---|---|---|")
    for lib, r in results.items():
        print(f"| {lib} | {r['seconds']:.1f} | {1e3 * r['seconds'] / args.steps:.1f} | {r['val_loss']:.4f} |")
    if {"compgraph", "torch"} <= results.keys():
        ours, theirs = results["compgraph"], results["torch"]
        ratio, gap = ours["seconds"] / theirs["seconds"], ours["val_loss"] - theirs["val_loss"]
        print(
            f"\ntime: {ratio:.2f}x PyTorch's (target <= {TIME_TARGET}x): "
            f"{'met' if ratio <= TIME_TARGET else 'NOT met'}"
        )
        print(
            f"val loss: {gap:+.4f} nats from PyTorch's (target within {LOSS_TARGET}): "
            f"{'met' if abs(gap) <= LOSS_TARGET else 'NOT met'}"
        )
    if "compgraph" in results:
        print(f"\ncompgraph's sample:\n{results['compgraph']['sample']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
