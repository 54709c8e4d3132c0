"""What anomaly mode costs: a training step inside ``detect_anomaly()`` against a plain one.

    python benchmarks/anomaly.py [--repeats 30] [--libs compgraph,torch] [--workloads mlp,cnn]

The suite's MLP 784-100-10 and SimpleConvNet steps (batch 100: forward, backward, SGD update),
timed plain and in anomaly mode (``cg.detect_anomaly()``; PyTorch's
``torch.autograd.detect_anomaly()``), in alternating blocks of steps (20 MLP, 2 CNN steps, as
``python -m benchmarks`` times them) so machine noise hits both alike, with 1 BLAS/OpenMP
thread. Prints each step's median (min-max) and the ratio anomaly / plain per library;
issue 11's target for compgraph's MLP step is at most 2x.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy (or PyTorch) starts its thread pool

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

TARGET = 2.0  # compgraph's MLP step in anomaly mode / plain


def _steps(lib: str, workload: str):
    """(the step function, a context manager factory for anomaly mode) of one library."""
    if lib == "compgraph":
        import compgraph as cg
        from benchmarks.libs import compgraph_lib

        return getattr(compgraph_lib, workload)(), cg.detect_anomaly
    import torch

    from benchmarks.libs import torch_lib

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", "Anomaly Detection has been enabled")  # printed once per block
    return getattr(torch_lib, workload)(), torch.autograd.detect_anomaly


CALLS = {"mlp": 20, "cnn": 2}  # steps per timing, as in python -m benchmarks


def _time(step, mode, calls: int) -> float:
    """Seconds per step, over ``calls`` steps in one block of ``mode``."""
    with mode():
        start = time.perf_counter()
        for _ in range(calls):
            step()
        return (time.perf_counter() - start) / calls


def measure(lib: str, workload: str, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per step, plain and in anomaly mode, ``repeats`` of each, alternating."""
    step, anomaly = _steps(lib, workload)
    calls = CALLS.get(workload, 1)
    for _ in range(3):  # warm up both paths
        _time(step, nullcontext, calls)
        _time(step, anomaly, calls)
    plain, checked = [], []
    for _ in range(repeats):
        plain.append(_time(step, nullcontext, calls))
        checked.append(_time(step, anomaly, calls))
    return plain, checked


def _cell(seconds: list[float]) -> str:
    ms = [s * 1e3 for s in seconds]
    return f"{statistics.median(ms):.3g} ({min(ms):.3g}–{max(ms):.3g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--libs", default="compgraph,torch")
    parser.add_argument("--workloads", default="mlp,cnn")
    args = parser.parse_args(argv)
    print("| step | library | plain (ms) | anomaly mode (ms) | anomaly / plain |")
    print("|---|---|---|---|---|")
    ratios = {}
    for workload in args.workloads.split(","):
        for lib in args.libs.split(","):
            plain, checked = measure(lib, workload, args.repeats)
            ratio = statistics.median(checked) / statistics.median(plain)
            ratios[lib, workload] = ratio
            print(f"| {workload} | {lib} | {_cell(plain)} | {_cell(checked)} | **{ratio:.2f}x** |")
    if ("compgraph", "mlp") in ratios:
        ok = ratios["compgraph", "mlp"] <= TARGET
        print(f"\ncompgraph MLP step in anomaly mode: {ratios['compgraph', 'mlp']:.2f}x plain "
              f"(target <= {TARGET}x): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
