"""An LSTM training step, compgraph next to PyTorch: issue 12's target is at most 1.5x.

    python benchmarks/lstm.py [--repeats 20] [--libs compgraph,torch]

The issue's step: ``nn.LSTM(256, 256, num_layers=2)`` over a batch of 32 sequences of 64 time
steps (x (64, 32, 256), float32), mean squared error against a fixed target, backward, and
an SGD update (lr 0.1). Both libraries start from the same weights (PyTorch's, loaded into
compgraph with ``load_state_dict``) and see the same data; their first losses are checked to
agree. With 1 BLAS/OpenMP thread each, the libraries' steps alternate (one step each per
repeat, after 3 warm-up steps) so machine noise hits both alike. Prints each step's median
(min-max) in ms and the ratio compgraph / PyTorch.
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

TARGET = 1.5  # compgraph's step / PyTorch's
INPUT, HIDDEN, LAYERS, BATCH, STEPS, LR = 256, 256, 2, 32, 64, 0.1


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, BATCH, INPUT)).astype(np.float32)
    target = rng.standard_normal((STEPS, BATCH, HIDDEN)).astype(np.float32)
    return x, target


def _torch_model():
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return torch.nn.LSTM(INPUT, HIDDEN, LAYERS)


def torch_step(model):
    """PyTorch's step: returns a function that runs one and returns the loss."""
    import torch

    x, target = (torch.from_numpy(a) for a in _data())
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step() -> float:
        opt.zero_grad()
        y, _ = model(x)
        loss = torch.nn.functional.mse_loss(y, target)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def compgraph_step(state: dict[str, np.ndarray]):
    """compgraph's step from the same weights."""
    import compgraph.functions as F
    import compgraph.nn as nn
    from compgraph.optim import SGD

    model = nn.LSTM(INPUT, HIDDEN, LAYERS)
    model.load_state_dict(state)
    x, target = _data()
    opt = SGD(model.parameters(), lr=LR)

    def step() -> float:
        model.zero_grad()
        y, _ = model(x)
        loss = F.mean_squared_error(y, target)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def steps(libs: list[str]) -> dict:
    """One step function per library, all from the same initial weights."""
    reference = _torch_model()
    state = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}
    made = {}
    for lib in libs:
        made[lib] = torch_step(reference) if lib == "torch" else compgraph_step(state)
    return made


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(libs: list[str], repeats: int) -> dict[str, list[float]]:
    """Seconds per step for each library, alternating, after checking the first losses agree."""
    made = steps(libs)
    losses = {lib: step() for lib, step in made.items()}
    if len(set(round(v, 4) for v in losses.values())) > 1:
        raise SystemExit(f"the first losses differ: {losses}")
    for _ in range(2):  # warm up
        for step in made.values():
            step()
    times: dict[str, list[float]] = {lib: [] for lib in libs}
    for _ in range(repeats):
        for lib, step in made.items():
            times[lib].append(_timed(step))
    return times


def _cell(seconds: list[float]) -> str:
    ms = [s * 1e3 for s in seconds]
    return f"{statistics.median(ms):.1f} ({min(ms):.1f}–{max(ms):.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--libs", default="compgraph,torch")
    args = parser.parse_args(argv)
    libs = args.libs.split(",")
    times = measure(libs, args.repeats)
    print(f"LSTM step: {LAYERS} layers, input {INPUT}, hidden {HIDDEN}, batch {BATCH}, {STEPS} time steps, "
          "float32, forward + backward + SGD, 1 thread")
    print("| library | step (ms) |")
    print("|---|---|")
    for lib in libs:
        print(f"| {lib} | {_cell(times[lib])} |")
    if {"compgraph", "torch"} <= set(libs):
        ratio = statistics.median(times["compgraph"]) / statistics.median(times["torch"])
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"\ncompgraph / PyTorch: {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
