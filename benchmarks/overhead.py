"""Per-op overhead of recording and backpropagating: compgraph next to its peers.

    python benchmarks/overhead.py [--rounds 3] [--repeats 7] [--libs compgraph,torch,dezero,micrograd]

Three workloads, forward + backward + freeing the graph, timed in the same run for every
library that is installed:

- scalar chain: 10,000 ops on a 0-d float64 value (× constant, + constant, relu, repeated);
- 16x16 chain: 3,000 float32 ops, y = tanh(y @ W + b) repeated with shared W (16x16), b (16,);
- apple/orange graph: the seed's 5 leaves and 4 ops, backward, µs per whole graph.

Each library runs in its own process (loading several into one skews small-op timings), the
processes are interleaved over rounds so machine noise hits all alike, and BLAS uses the same
number of threads everywhere. A library's time only counts if its gradients match compgraph's.
Reported: median (min-max) over all repeats of all rounds, and the ratio to PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

SCALAR_OPS = 10_000
MATRIX_OPS = 3_000
LIBS = ("compgraph", "torch", "dezero", "micrograd")
WORKLOADS = {
    "scalar": ("scalar chain", "µs/op", SCALAR_OPS // 3 * 3),
    "matrix": ("16x16 chain", "µs/op", MATRIX_OPS // 3 * 3),
    "apple": ("apple/orange graph", "µs/graph", 1),
}


# --- one adapter per library: each returns the gradients it computed, for the cross-check ------
def _compgraph() -> tuple[str, dict[str, Callable[[], list[float]]]]:
    import numpy as np

    import compgraph as cg
    from compgraph import functions as F

    def scalar() -> list[float]:
        x = cg.Variable(0.5)
        y = x
        for _ in range(SCALAR_OPS // 3):
            y = F.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [x.grad.item()]

    W0, b0, x0 = _matrix_data(np)

    def matrix() -> list[float]:
        W, b = cg.Variable(W0), cg.Variable(b0)
        y = x0
        for _ in range(MATRIX_OPS // 3):
            y = F.tanh(y @ W + b)
        F.sum(y).backward()
        return [float(W.grad.data.sum()), float(b.grad.data.sum())]

    def apple() -> list[float]:
        a, an = cg.Variable(100.0), cg.Variable(2.0)
        o, on = cg.Variable(150.0), cg.Variable(3.0)
        tax = cg.Variable(1.1)
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad.item() for v in (a, an, o, on, tax)]

    return cg.__version__, {"scalar": scalar, "matrix": matrix, "apple": apple}


def _torch() -> tuple[str, dict[str, Callable[[], list[float]]]]:
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    def scalar() -> list[float]:
        x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(SCALAR_OPS // 3):
            y = torch.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [x.grad.item()]

    W0, b0, x0 = (torch.from_numpy(a) for a in _matrix_data(np))

    def matrix() -> list[float]:
        W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
        y = x0
        for _ in range(MATRIX_OPS // 3):
            y = torch.tanh(y @ W + b)
        y.sum().backward()
        return [float(W.grad.sum()), float(b.grad.sum())]

    def apple() -> list[float]:
        leaves = [torch.tensor(v, requires_grad=True) for v in (100.0, 2.0, 150.0, 3.0, 1.1)]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad.item() for v in leaves]

    return torch.__version__, {"scalar": scalar, "matrix": matrix, "apple": apple}


def _dezero() -> tuple[str, dict[str, Callable[[], list[float]]]]:
    import numpy as np

    # DeZero 0.0.13 uses np.int and friends, which NumPy 1.24 removed.
    for name, kind in (("int", int), ("float", float), ("bool", bool)):
        if name not in np.__dict__:
            setattr(np, name, kind)
    import dezero
    import dezero.functions as F
    from dezero import Variable

    def scalar() -> list[float]:
        x = Variable(np.array(0.5))
        y = x
        for _ in range(SCALAR_OPS // 3):
            y = F.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [float(x.grad.data)]

    W0, b0, x0 = _matrix_data(np)

    def matrix() -> list[float]:
        W, b = Variable(W0.copy()), Variable(b0.copy())
        y = x0
        for _ in range(MATRIX_OPS // 3):
            y = F.tanh(F.matmul(y, W) + b)
        F.sum(y).backward()
        return [float(W.grad.data.sum()), float(b.grad.data.sum())]

    def apple() -> list[float]:
        leaves = [Variable(np.array(v)) for v in (100.0, 2.0, 150.0, 3.0, 1.1)]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [float(v.grad.data) for v in leaves]

    return getattr(dezero, "__version__", "0.0.13"), {"scalar": scalar, "matrix": matrix, "apple": apple}


def _micrograd() -> tuple[str, dict[str, Callable[[], list[float]]]]:
    from importlib.metadata import version

    from micrograd.engine import Value

    sys.setrecursionlimit(100_000)  # its topological sort recurses once per node

    def scalar() -> list[float]:
        x = Value(0.5)
        y = x
        for _ in range(SCALAR_OPS // 3):
            y = (y * 1.0001 + 0.0001).relu()
        y.backward()
        return [x.grad]

    def apple() -> list[float]:
        leaves = [Value(v) for v in (100.0, 2.0, 150.0, 3.0, 1.1)]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad for v in leaves]

    return version("micrograd"), {"scalar": scalar, "apple": apple}


ADAPTERS = {"compgraph": _compgraph, "torch": _torch, "dezero": _dezero, "micrograd": _micrograd}


def _matrix_data(np):
    """The same float32 inputs for every library.

    W is orthogonal, so the gradient keeps its size through 1,000 layers: a decaying one would
    reach denormal floats, whose slow arithmetic would be timed instead of the libraries.
    """
    rng = np.random.default_rng(0)
    W = np.linalg.qr(rng.standard_normal((16, 16)))[0].astype(np.float32)
    b = (rng.standard_normal(16) * 0.01).astype(np.float32)
    x = (rng.standard_normal((16, 16)) * 0.5).astype(np.float32)
    return W, b, x


def _worker(lib: str, repeats: int, warmup: float) -> None:
    """Run inside a fresh process: time each workload, print JSON."""
    try:
        version, workloads = ADAPTERS[lib]()
    except ImportError as exc:
        print(json.dumps({"missing": str(exc)}))
        return
    result = {"version": version, "times": {}, "grads": {}}
    # A new process runs slower for its first seconds here (seen: 1.5x for about 2 s), so every
    # library gets the same busy warm-up before anything is timed.
    deadline = time.perf_counter() + warmup
    while time.perf_counter() < deadline:
        for fn in workloads.values():
            fn()
    for key, fn in workloads.items():
        ops = WORKLOADS[key][2]
        calls = 1 if ops > 1 else 2000
        result["grads"][key] = fn()  # warm-up, and the gradients for the cross-check
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - start) / calls / ops * 1e6)
        result["times"][key] = samples
    print(json.dumps(result))


def _close(a: list[float], b: list[float], rtol: float = 1e-3) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= rtol * max(abs(x), abs(y), 1e-12) for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per library, interleaved")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per process")
    parser.add_argument("--libs", default=",".join(LIBS), help="comma-separated subset of " + ", ".join(LIBS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for every library")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed work first")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.repeats, args.warmup)
        return 0

    libs = [lib for lib in args.libs.split(",") if lib]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    samples: dict[str, dict[str, list[float]]] = {lib: {} for lib in libs}
    info: dict[str, dict] = {}
    for r in range(args.rounds):
        for lib in libs:
            print(f"round {r + 1}/{args.rounds}: {lib}", file=sys.stderr)
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", lib, "--repeats", str(args.repeats),
                 "--warmup", str(args.warmup)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                info[lib] = {"missing": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            info[lib] = out
            for key, ts in out.get("times", {}).items():
                samples[lib].setdefault(key, []).extend(ts)

    reference = info.get("compgraph", {}).get("grads", {})
    print(
        f"\nPython {sys.version.split()[0]}, {args.threads} BLAS thread(s), "
        f"{args.rounds} rounds x {args.repeats} repeats; median (min-max)\n"
    )
    names = [f"{lib} {info[lib].get('version', '')}".strip() for lib in libs]
    print(f"{'workload':<28}" + "".join(f"{n:>26}" for n in names))
    for key, (label, unit, _) in WORKLOADS.items():
        row, ratio_row = f"{label + ' (' + unit + ')':<28}", f"{'  ratio to torch':<28}"
        torch_t = statistics.median(samples["torch"][key]) if samples.get("torch", {}).get(key) else None
        for lib in libs:
            ts = samples[lib].get(key)
            if "missing" in info.get(lib, {}):
                row += f"{'not installed':>26}"
                ratio_row += " " * 26
                continue
            if not ts:
                row += f"{'-':>26}"
                ratio_row += " " * 26
                continue
            grads = info[lib]["grads"][key]
            ok = lib == "compgraph" or not reference.get(key) or _close(grads, reference[key])
            med = statistics.median(ts)
            cell = f"{med:.2f} ({min(ts):.2f}-{max(ts):.2f})" if ok else "WRONG GRADIENTS"
            row += f"{cell:>26}"
            ratio_row += f"{(f'{med / torch_t:.2f}x' if ok and torch_t else ''):>26}"
        print(row)
        print(ratio_row)
    for lib in libs:
        if "missing" in info.get(lib, {}):
            print(f"\n{lib}: not measured ({info[lib]['missing']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
