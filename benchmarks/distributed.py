"""Data-parallel scaling: images per second of 1 and 2 (or more) MPI processes, same global batch.

    python benchmarks/distributed.py [--procs 1,2] [--models mlp,cnn] [--rounds 3]
                                     [--steps-mlp 300] [--steps-cnn 40] [--data-dir DIR] [--compile]

Each measurement is ``mpiexec -n P python benchmarks/distributed.py --worker ...``: every
process builds the model (float32), takes its shard of each global batch of 100 MNIST digits
(--data-dir, else $COMPGRAPH_MNIST_DIR, else ../shared/data/mnist beside the repo: the t10k
digits; synthetic digits of MNIST's shape when none are there), and trains as ``compgraph
train`` does: forward and backward on its shard, ``allreduce_gradients`` weighted by shard
size, the optimizer step (SGD 0.1 for the MLP 784-100-10, Adam 0.001 for the SimpleConvNet).
One BLAS thread per process. After 10 untimed steps, a timed run of steps; reported per step:
the wall time (rank 0), the time spent in ``allreduce_gradients`` (which includes waiting for
the slower process), and, measured apart after a barrier, one Allreduce of the gradients'
size alone. ``--compile``: each step's forward and backward through ``cg.compile``, as
``compgraph train --compile`` runs them. Process counts alternate over rounds so machine
noise hits them alike; the table gives the median of rounds and the speed-up over 1
process. Targets (2 processes, 2 cores): CNN >= 1.7x, MLP >= 1.4x.
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
BATCH = 100
TARGETS = {"mlp": 1.4, "cnn": 1.7}
WARMUP = 10


def _data(data_dir: str | None, model: str):
    import numpy as np

    from compgraph.data import mnist

    default = ROOT.parent / "shared" / "data" / "mnist"
    root = Path(data_dir or os.environ.get("COMPGRAPH_MNIST_DIR") or default)
    flat = model == "mlp"
    if (root / "t10k-images-idx3-ubyte.gz").is_file():
        digits = mnist(root, False, download=False, flatten=flat, progress=False)
        return digits.x[:8000], digits.t[:8000], f"MNIST t10k digits of {root}"
    rng = np.random.default_rng(0)
    shape = (8000, 784) if flat else (8000, 1, 28, 28)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, 8000), "synthetic digits (no MNIST found)"


def worker(model_name: str, steps: int, data_dir: str | None, compiled: bool = False) -> None:
    """One process of a measurement; rank 0 prints a JSON line."""
    import numpy as np
    from mpi4py import MPI

    import compgraph.distributed as dist
    import compgraph.functions as F
    from compgraph.memory import keep_freed_memory
    from compgraph.nn import MLP, SimpleConvNet
    from compgraph.optim import SGD, Adam

    keep_freed_memory()  # as compgraph train does
    x, t, source = _data(data_dir, model_name)
    if model_name == "mlp":
        model = MLP((784, 100, 10), rng=0)
        optimizer = SGD(model.parameters(), 0.1)
    else:
        model = SimpleConvNet(rng=0)
        optimizer = Adam(model.parameters(), 0.001)
    dp = dist.DataParallel(model)

    def loss_of(xs, ts):
        return F.softmax_cross_entropy(model(xs), ts)

    if compiled:
        from compgraph import compile

        loss_of = compile(loss_of, modules=(model,))
    params = model.parameters()
    batches = len(x) // BATCH
    reduce_seconds = 0.0

    def step(k: int) -> float:
        start = (k % batches) * BATCH
        xs, ts = dp.shard(x[start : start + BATCH], t[start : start + BATCH])
        optimizer.zero_grad()
        loss_of(xs, ts).backward()
        began = time.perf_counter()
        dp.allreduce_gradients()
        spent = time.perf_counter() - began
        optimizer.step()
        return spent

    for k in range(WARMUP):
        step(k)
    comm = dist._world()
    comm.Barrier()
    began = time.perf_counter()
    for k in range(WARMUP, WARMUP + steps):
        reduce_seconds += step(k)
    comm.Barrier()
    seconds = time.perf_counter() - began
    alone = []
    gradient = np.zeros(sum(p.size for p in params), np.float32)
    for _ in range(30):
        comm.Barrier()
        began = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, gradient)
        alone.append(time.perf_counter() - began)
    if dist.rank() == 0:
        result = {
            "model": model_name,
            "procs": dist.size(),
            "images_per_s": steps * BATCH / seconds,
            "step_ms": 1000 * seconds / steps,
            "allreduce_in_step_ms": 1000 * reduce_seconds / steps,
            "allreduce_alone_ms": 1000 * statistics.median(alone),
            "gradient_bytes": int(gradient.nbytes),
            "data": source,
            "compiled": compiled,
        }
        print(json.dumps(result), flush=True)


def _measure(procs: int, model: str, steps: int, data_dir: str | None, compiled: bool) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    command = [str(mpiexec), "-n", str(procs), sys.executable, __file__]
    command += ["--worker", model, "--steps", str(steps)]
    if data_dir:
        command += ["--data-dir", data_dir]
    if compiled:
        command += ["--compile"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", default="1,2")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-mlp", type=int, default=300)
    parser.add_argument("--steps-cnn", type=int, default=40)
    parser.add_argument("--data-dir")
    parser.add_argument("--compile", action="store_true", help="steps through cg.compile")
    parser.add_argument("--worker", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.data_dir, args.compile)
        return
    procs = [int(p) for p in args.procs.split(",")]
    for model in args.models.split(","):
        steps = args.steps_mlp if model == "mlp" else args.steps_cnn
        runs: dict[int, list[dict]] = {p: [] for p in procs}
        for _ in range(args.rounds):
            for p in procs:
                runs[p].append(_measure(p, model, steps, args.data_dir, args.compile))
        base = statistics.median(r["images_per_s"] for r in runs[procs[0]])
        how = "compiled steps" if args.compile else "eager steps"
        print(f"{model}: global batch {BATCH}, {steps} {how}, {runs[procs[0]][0]['data']}, "
              f"gradients {runs[procs[0]][0]['gradient_bytes'] / 1e6:.2f} MB")
        print("  procs  images/s (min-max)          speed-up  step ms  allreduce in step ms  alone ms")
        for p in procs:
            rates = [r["images_per_s"] for r in runs[p]]
            rate = statistics.median(rates)
            in_step = statistics.median(r["allreduce_in_step_ms"] for r in runs[p])
            alone = statistics.median(r["allreduce_alone_ms"] for r in runs[p])
            step_ms = statistics.median(r["step_ms"] for r in runs[p])
            print(f"  {p:5d}  {rate:8.0f} ({min(rates):.0f}-{max(rates):.0f})"
                  f"{rate / base:14.2f}x {step_ms:8.2f} {in_step:21.3f} {alone:9.3f}")
        if 2 in runs:
            ratio = statistics.median(r["images_per_s"] for r in runs[2]) / base
            verdict = "met" if ratio >= TARGETS[model] else "NOT met"
            print(f"  target {TARGETS[model]}x with 2 processes: {verdict} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
