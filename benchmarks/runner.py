"""Run the workloads for every installed library, each in its own process, and report.

Timing workloads: one process per library and round runs them all, after a busy warm-up (a new
process runs slower for its first seconds on some machines). Memory workloads run once per
fresh process, which reports the wall time and the peak resident memory above its baseline.
Rounds interleave the libraries so machine noise hits all of them alike. A library's figure
counts only if its gradients match the reference (PyTorch, else NumPy by hand, else compgraph).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.libs import LIBS
from benchmarks.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NAMES = {"numpy": "NumPy by hand"}
#: Libraries that are not in the default run: compgraph through cg.compile (benchmarks/libs/compiled_lib.py)
EXTRA = {"compgraph-compiled": "compiled"}


# --- inside a worker process -------------------------------------------------------------------
def _adapter(lib: str):
    return importlib.import_module(f"benchmarks.libs.{EXTRA.get(lib, lib)}_lib")


def _factories(adapter) -> dict:
    """The workloads an adapter supports: its functions named like the workloads."""
    return {name: getattr(adapter, name) for name in WORKLOADS if callable(getattr(adapter, name, None))}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:120]


def _rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_mb()


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def time_worker(lib: str, names: list[str], repeats: int, warmup: float) -> dict:
    adapter = _adapter(lib)
    out: dict = {"version": adapter.version(), "results": {}}
    runs = {}
    factories = _factories(adapter)
    for name in names:
        if name in factories:
            try:
                run = factories[name]()
                out["results"][name] = {"grads": run(check=True)}
                runs[name] = run
            except Exception as exc:  # a peer failing a workload is a result, not a crash
                out["results"][name] = {"error": _error(exc)}
    deadline = time.perf_counter() + warmup
    while runs and time.perf_counter() < deadline:
        for run in runs.values():
            run()
    # repeats go round the workloads, so that a burst of noise on the machine spreads over all
    # of them instead of taking every sample of one
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            w = WORKLOADS[name]
            start = time.perf_counter()
            for _ in range(w.calls):
                run()
            samples[name].append((time.perf_counter() - start) / w.calls / w.per * w.scale)
    for name, values in samples.items():
        out["results"][name]["samples"] = values
    return out


def memory_worker(lib: str, name: str) -> dict:
    adapter = _adapter(lib)
    out: dict = {"version": adapter.version(), "results": {}}
    factory = _factories(adapter).get(name)
    if factory is None:
        return out
    try:
        run = factory()
        base = _rss_mb()
        start = time.perf_counter()
        grads = run(check=True)
        seconds = time.perf_counter() - start
        out["results"][name] = {"grads": grads, "samples": [seconds], "mb": [_peak_mb() - base]}
    except Exception as exc:
        out["results"][name] = {"error": _error(exc)}
    return out


# --- the parent --------------------------------------------------------------------------------
def _spawn(args: list[str], env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.runner", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {"missing": last}
    return json.loads(lines[-1])


def _close(a: list[float], b: list[float], rtol: float) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= rtol * max(abs(x), abs(y), 1e-12) for x, y in zip(a, b))


def _machine(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy

    return (
        f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, NumPy {numpy.__version__}; "
        f"{threads} BLAS/OpenMP thread(s) for every library"
    )


def collect(
    libs: list[str], names: list[str], rounds: int, repeats: int, warmup: float, threads: int
) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    timed = [n for n in names if not WORKLOADS[n].memory]
    memory = [n for n in names if WORKLOADS[n].memory]
    data: dict[str, dict] = {lib: {"results": {}} for lib in libs}

    def merge(lib: str, out: dict) -> None:
        if "missing" in out:
            data[lib].setdefault("missing", out["missing"])
            return
        data[lib]["version"] = out["version"]
        for name, res in out["results"].items():
            slot = data[lib]["results"].setdefault(name, {})
            for key, value in res.items():
                if key in ("samples", "mb"):
                    slot.setdefault(key, []).extend(value)
                else:
                    slot.setdefault(key, value)

    for r in range(rounds):
        for lib in libs:
            if "missing" in data[lib]:
                continue
            if timed:
                print(f"round {r + 1}/{rounds}: {lib} {', '.join(timed)}", file=sys.stderr)
                merge(lib, _spawn(["time", lib, ",".join(timed), str(repeats), str(warmup)], env))
            for name in memory:
                if "missing" in data[lib]:
                    break
                print(f"round {r + 1}/{rounds}: {lib} {name}", file=sys.stderr)
                merge(lib, _spawn(["memory", lib, name], env))
    return data


def _reference(data: dict, name: str) -> tuple[str, list[float]] | None:
    for lib in ("torch", "numpy", "compgraph"):
        grads = data.get(lib, {}).get("results", {}).get(name, {}).get("grads")
        if grads is not None:
            return lib, grads
    return None


def report(data: dict, names: list[str], libs: list[str], header: str) -> str:
    """The results as Markdown: one row per workload, a column per library, ratios to PyTorch."""
    cols = [f"{NAMES.get(lib, lib)} {data[lib].get('version', '')}".strip() for lib in libs]
    lines = [header, "", "| workload | " + " | ".join(cols) + " |", "|---" * (len(libs) + 1) + "|"]
    notes = []
    for name in names:
        w = WORKLOADS[name]
        ref = _reference(data, name)
        torch_res = data.get("torch", {}).get("results", {}).get(name, {})
        torch_med = statistics.median(torch_res["samples"]) if torch_res.get("samples") else None
        torch_mb = statistics.median(torch_res["mb"]) if torch_res.get("mb") else None
        unit = f"{w.unit}, MB peak" if w.memory else w.unit
        cells = []
        for lib in libs:
            d = data[lib]
            res = d["results"].get(name)
            if "missing" in d:
                cells.append("not installed")
            elif res is None:
                cells.append("–")
            elif "error" in res:
                cells.append(res["error"].split(":")[0])
                notes.append(f"- {NAMES.get(lib, lib)}, {w.title}: {res['error']}")
            elif ref and lib != ref[0] and not _close(res["grads"], ref[1], w.rtol):
                cells.append("wrong gradients")
                notes.append(
                    f"- {NAMES.get(lib, lib)}, {w.title}: gradients {res['grads']} vs {ref[0]} {ref[1]}"
                )
            else:
                ts = res["samples"]
                med = statistics.median(ts)
                cell = f"{med:.3g} ({min(ts):.3g}–{max(ts):.3g})"
                if torch_med:
                    cell += f" **{med / torch_med:.2f}x**"
                if w.memory:
                    mb = statistics.median(res["mb"])
                    cell += f"; {mb:.0f} MB" + (f" **{mb / torch_mb:.2f}x**" if torch_mb else "")
                cells.append(cell)
        lines.append(f"| {w.title} ({unit}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cells: median (min–max) over all repeats of all rounds; **ratio to PyTorch** from the same run.",
    ]
    missing = [f"- {lib}: {data[lib]['missing']}" for lib in libs if "missing" in data[lib]]
    if notes or missing:
        lines += ["", "Notes:", *notes, *missing]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("time", "memory"):  # a worker process
        if argv[0] == "time":
            out = time_worker(argv[1], argv[2].split(","), int(argv[3]), float(argv[4]))
        else:
            out = memory_worker(argv[1], argv[2])
        print(json.dumps(out))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--libs", default=",".join(LIBS), help="comma-separated, from: " + ", ".join(LIBS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="from: " + ", ".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=3, help="processes per library, interleaved")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per workload and process")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed work per process")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads, the same for all")
    parser.add_argument("--output", default=str(RESULTS), help="Markdown file to write ('-': none)")
    args = parser.parse_args(argv)
    libs = [lib for lib in args.libs.split(",") if lib]
    names = [n for n in args.workloads.split(",") if n]
    for item, known in ((libs, (*LIBS, *EXTRA)), (names, WORKLOADS)):
        unknown = [x for x in item if x not in known]
        if unknown:
            parser.error(f"unknown: {', '.join(unknown)} (choose from {', '.join(known)})")
    started = datetime.datetime.now()
    data = collect(libs, names, args.rounds, args.repeats, args.warmup, args.threads)
    command = "python -m benchmarks " + " ".join(argv) if argv else "python -m benchmarks"
    header = (
        f"# Benchmark results\n\n`{command}`, {started:%Y-%m-%d %H:%M}, "
        f"{args.rounds} rounds x {args.repeats} repeats.\n\nMachine: {_machine(args.threads)}."
    )
    text = report(data, names, libs, header)
    print(text)
    if args.output != "-":
        Path(args.output).write_text(text)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
