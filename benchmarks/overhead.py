"""Per-op overhead of recording and backpropagating: compgraph next to its peers.

    python benchmarks/overhead.py [--rounds 3] [--repeats 5] [--libs compgraph,torch,dezero,micrograd]

The three small-graph workloads of the suite (the apple/orange graph, a 10,000-op scalar
chain, a 3,000-op 16x16 matmul/add/tanh chain), forward + backward + freeing the graph, each
library in its own process, ratios to PyTorch from the same run. Prints only; the whole suite,
which also writes benchmarks/RESULTS.md, is ``python -m benchmarks``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.runner import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a.startswith("--libs") for a in args):
        args += ["--libs", "compgraph,torch,dezero,micrograd"]
    sys.exit(main(["--workloads", "apple,scalar,matrix", "--output", "-", *args]))
