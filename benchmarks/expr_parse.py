"""How long ``compgraph grad`` takes on long expressions, up to the 1,000,000-character limit.

    python benchmarks/expr_parse.py [--repeats 3] [--sizes 100000,999999] [--compgraph DIR]

Issue 11 found ``compgraph grad`` taking 36 s on a sum of 500,000 terms (999,999 characters).
For each shape of expression and each length this prints the median seconds of ``parse`` alone
and of the whole command (``compgraph.cli.main(["grad", EXPR, "x=2", "y=3"])``: parse, evaluate,
backpropagate, print), and the microseconds per character. The last column divides the time
per character at each length by that at the smallest: about 1 when parsing is linear, growing
with the length when it is not. ``--compgraph DIR`` times the compgraph package of another
checkout (e.g. a ``git worktree`` of an older commit) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: Each shape, as the expression of about ``n`` characters (never over n).
SHAPES: dict[str, Callable[[int], str]] = {
    "x+x+…+x": lambda n: "+".join(["x"] * ((n + 1) // 2)),
    "1+1+…+x": lambda n: "1+" * ((n - 1) // 2) + "x",
    "x*y-x*y-…": lambda n: "x*y-" * ((n - 3) // 4) + "x*y",
    "x*x*…*x": lambda n: "*".join(["x"] * ((n + 1) // 2)),
}


def _seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _command(main: Callable[[list[str]], int], source: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main(["grad", source, "x=2", "y=3"])
    if status != 0:
        raise SystemExit(f"compgraph grad exited with {status} on a {len(source):,}-character expression")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="100000,999999", help="lengths in characters, comma-separated")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="which of: " + ", ".join(SHAPES))
    parser.add_argument("--compgraph", metavar="DIR", help="a checkout whose compgraph package to time")
    args = parser.parse_args(argv)
    root = Path(args.compgraph) if args.compgraph else Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))  # this checkout's compgraph, or the one asked for
    import compgraph
    from compgraph.cli import main as cli_main
    from compgraph.expr import parse

    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"compgraph from {Path(compgraph.__file__).parent}, median of {args.repeats}\n")
    print("| expression | characters | parse (s) | compgraph grad (s) | µs per character | vs smallest |")
    print("|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        first = None
        for n in sizes:
            source = SHAPES[shape](n)
            parse_s = _seconds(lambda source=source: parse(source), args.repeats)
            command_s = _seconds(lambda source=source: _command(cli_main, source), args.repeats)
            per_char = parse_s / len(source) * 1e6
            first = first or per_char
            print(
                f"| {shape} | {len(source):,} | {parse_s:.2f} | {command_s:.2f} | {per_char:.2f} | "
                f"{per_char / first:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
