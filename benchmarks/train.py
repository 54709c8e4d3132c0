"""Time per training epoch on real MNIST digits: compgraph next to PyTorch, same recipes.

    python benchmarks/train.py [--rounds 2] [--epochs-mlp 20] [--epochs-cnn 10] [--libs compgraph,torch]
                               [--threads 1] [--warmup 3] [--data-dir DIR]

The issue's two recipes on the 10,000 MNIST test digits (first 8,000 train, last 2,000 test):

- MLP 784-100-10 ReLU, SGD lr 0.1, batch 100 (target: epoch within 1.2x of PyTorch's);
- SimpleConvNet (conv 30x5x5, ReLU, max-pool 2, affine 100, ReLU, affine 10), Adam lr 0.001,
  batch 100 (target: within 4x).

Both libraries start from the same initial weights (drawn with NumPy) and see the same batches
(epoch e shuffled by ``np.random.default_rng([0, e])``), so their accuracies should agree.
An epoch is timed from its first batch to its last optimizer step (batch gathering included,
evaluation excluded). Each library runs in its own process with the same number of BLAS
threads, after a warm-up of untimed training (a new process runs slower for ~2 s here); the
processes alternate over rounds so machine noise hits both alike. Reported: median (min-max)
of all epochs of all rounds, the ratio to PyTorch, and the test accuracy after training.
The data: --data-dir, else $COMPGRAPH_MNIST_DIR, else ../shared/data/mnist beside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBS = ("compgraph", "torch")
RECIPES = ("mlp", "cnn")
TARGETS = {"mlp": 1.2, "cnn": 4.0}
BATCH = 100


def _initial_weights(np, recipe: str) -> dict:
    """The same starting point for every library: He for layers under ReLU, Xavier for the output."""
    rng = np.random.default_rng(0)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    if recipe == "mlp":
        return {
            "fc1.W": normal((784, 100), np.sqrt(2 / 784)),
            "fc1.b": np.zeros(100, np.float32),
            "fc2.W": normal((100, 10), np.sqrt(2 / 110)),
            "fc2.b": np.zeros(10, np.float32),
        }
    return {
        "conv1.W": normal((30, 1, 5, 5), np.sqrt(2 / 25)),
        "conv1.b": np.zeros(30, np.float32),
        "fc1.W": normal((4320, 100), np.sqrt(2 / 4320)),
        "fc1.b": np.zeros(100, np.float32),
        "fc2.W": normal((100, 10), np.sqrt(2 / 110)),
        "fc2.b": np.zeros(10, np.float32),
    }


def _load_digits(data_dir: str):
    import numpy as np

    from compgraph.data import mnist

    digits = mnist(data_dir, train=False)
    return digits.x[:8000], digits.t[:8000], digits.x[8000:], digits.t[8000:], np


# --- one adapter per library: make(recipe) -> (train_epoch(epoch) -> None, accuracy() -> float) --------
def _compgraph(data_dir: str):
    import compgraph as cg
    import compgraph.functions as F
    import compgraph.nn as nn
    import compgraph.optim as optim

    x_train, t_train, x_test, t_test, np = _load_digits(data_dir)

    def make(recipe):
        if recipe == "mlp":
            model, x, xt = nn.MLP((784, 100, 10)), x_train.reshape(8000, -1), x_test.reshape(2000, -1)
            opt = optim.SGD(model.parameters(), lr=0.1)
        else:
            model, x, xt = nn.SimpleConvNet(), x_train, x_test
            opt = optim.Adam(model.parameters(), lr=0.001)
        model.load_state_dict(_initial_weights(np, recipe))

        def train_epoch(epoch):
            order = np.random.default_rng([0, epoch]).permutation(len(x))
            for start in range(0, len(x), BATCH):
                idx = order[start : start + BATCH]
                loss = F.softmax_cross_entropy(model(x[idx]), t_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

        def accuracy():
            with cg.no_grad():
                return float((model(xt).data.argmax(axis=1) == t_test).mean())

        return train_epoch, accuracy

    return cg.__version__, make


def _torch(data_dir: str):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    x_train, t_train, x_test, t_test, np = _load_digits(data_dir)
    X, T = torch.from_numpy(x_train), torch.from_numpy(t_train)
    X_test, T_test = torch.from_numpy(x_test), torch.from_numpy(t_test)

    def make(recipe):
        nn = torch.nn
        if recipe == "mlp":
            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
            layers = {"fc1": model[1], "fc2": model[3]}
        else:
            model = nn.Sequential(
                nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10),
            )  # fmt: skip
            layers = {"conv1": model[0], "fc1": model[4], "fc2": model[6]}
        with torch.no_grad():
            for name, value in _initial_weights(np, recipe).items():
                layer, kind = name.split(".")
                target = layers[layer].weight if kind == "W" else layers[layer].bias
                # compgraph's Linear W is (in, out); PyTorch's weight is (out, in)
                target.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
        opt = (
            torch.optim.SGD(model.parameters(), lr=0.1)
            if recipe == "mlp"
            else torch.optim.Adam(model.parameters(), lr=0.001)
        )
        loss_fn = torch.nn.functional.cross_entropy

        def train_epoch(epoch):
            order = torch.from_numpy(np.random.default_rng([0, epoch]).permutation(len(X)))
            for start in range(0, len(X), BATCH):
                idx = order[start : start + BATCH]
                loss = loss_fn(model(X[idx]), T[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

        def accuracy():
            with torch.no_grad():
                return float((model(X_test).argmax(dim=1) == T_test).float().mean())

        return train_epoch, accuracy

    return torch.__version__, make


ADAPTERS = {"compgraph": _compgraph, "torch": _torch}


def _worker(lib: str, data_dir: str, epochs: dict[str, int], warmup: float) -> None:
    """Run inside a fresh process: warm up, time each recipe's epochs, print JSON."""
    try:
        version, make = ADAPTERS[lib](data_dir)
    except ImportError as exc:
        print(json.dumps({"missing": str(exc)}))
        return
    deadline = time.perf_counter() + warmup
    while time.perf_counter() < deadline:  # untimed: the same busy warm-up for every library
        train_epoch, _ = make("mlp")
        train_epoch(0)
    result = {"version": version, "times": {}, "accuracy": {}}
    for recipe in RECIPES:
        if not epochs[recipe]:
            continue
        train_epoch, accuracy = make(recipe)
        times = []
        for epoch in range(epochs[recipe]):
            start = time.perf_counter()
            train_epoch(epoch)
            times.append(time.perf_counter() - start)
        result["times"][recipe] = times
        result["accuracy"][recipe] = accuracy()
    print(json.dumps(result))


def _default_data_dir() -> str:
    return os.environ.get("COMPGRAPH_MNIST_DIR") or str(ROOT.parent / "shared" / "data" / "mnist")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="processes per library, alternating")
    parser.add_argument("--epochs-mlp", type=int, default=20, help="MLP epochs per round (0: skip)")
    parser.add_argument("--epochs-cnn", type=int, default=10, help="CNN epochs per round (0: skip)")
    parser.add_argument("--libs", default=",".join(LIBS), help="comma-separated subset of " + ", ".join(LIBS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for every library")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed training first")
    parser.add_argument("--data-dir", default=_default_data_dir(), help="directory of the t10k MNIST files")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    epochs = {"mlp": args.epochs_mlp, "cnn": args.epochs_cnn}
    if args.worker:
        _worker(args.worker, args.data_dir, epochs, args.warmup)
        return 0
    if not Path(args.data_dir, "t10k-images-idx3-ubyte.gz").is_file():
        print(f"MNIST t10k files not found in {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2

    libs = [lib for lib in args.libs.split(",") if lib]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    times: dict[str, dict[str, list[float]]] = {lib: {} for lib in libs}
    accuracy: dict[str, dict[str, list[float]]] = {lib: {} for lib in libs}
    info: dict[str, dict] = {}
    for r in range(args.rounds):
        for lib in libs:
            print(f"round {r + 1}/{args.rounds}: {lib}", file=sys.stderr)
            command = [sys.executable, __file__, "--worker", lib, "--data-dir", args.data_dir,
                       "--epochs-mlp", str(args.epochs_mlp), "--epochs-cnn", str(args.epochs_cnn),
                       "--warmup", str(args.warmup)]  # fmt: skip
            proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                info[lib] = {"missing": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            info[lib] = out
            for recipe, ts in out.get("times", {}).items():
                times[lib].setdefault(recipe, []).extend(ts)
                accuracy[lib].setdefault(recipe, []).append(out["accuracy"][recipe])

    print(
        f"\nPython {sys.version.split()[0]}, {args.threads} BLAS thread(s), {args.rounds} round(s); "
        f"epochs per round: MLP {args.epochs_mlp}, CNN {args.epochs_cnn}\n"
    )
    names = [f"{lib} {info.get(lib, {}).get('version', '')}".strip() for lib in libs]
    print(f"{'':<26}" + "".join(f"{n:>28}" for n in names) + f"{'ratio':>10}{'target':>8}")
    for recipe in RECIPES:
        if not epochs[recipe]:
            continue
        medians = {lib: statistics.median(times[lib][recipe]) for lib in libs if times[lib].get(recipe)}
        row = f"{recipe.upper() + ' epoch (s)':<26}"
        for lib in libs:
            ts = times[lib].get(recipe)
            cell = f"{medians[lib]:.3f} ({min(ts):.3f}-{max(ts):.3f})" if ts else "not measured"
            row += f"{cell:>28}"
        if "compgraph" in medians and "torch" in medians:
            ratio = medians["compgraph"] / medians["torch"]
            row += f"{ratio:>9.2f}x{f'<= {TARGETS[recipe]}x':>8}"
        print(row)
        row = f"{recipe.upper() + ' test accuracy':<26}"
        for lib in libs:
            accs = accuracy[lib].get(recipe)
            row += f"{', '.join(f'{a:.4f}' for a in accs) if accs else '-':>28}"
        print(row)
    for lib in libs:
        if "missing" in info.get(lib, {}):
            print(f"\n{lib}: not measured ({info[lib]['missing']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
