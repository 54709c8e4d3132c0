"""compgraph's benchmark suite: the same workloads in compgraph and its peers, side by side.

Run ``python -m benchmarks`` (``--help`` for options). Each library runs in its own process;
results go to the terminal and to ``benchmarks/RESULTS.md``.
"""
