"""One adapter per library, imported only in worker processes (one library per process).

Each module has ``version()`` and one factory per workload it supports, named as in
``benchmarks.workloads.WORKLOADS``. A factory sets up (untimed) and returns ``run(check=False)``,
which does the timed work once; ``run(check=True)`` also returns a few gradient values for the
cross-check (computed outside the timed runs).
"""

LIBS = ("compgraph", "torch", "dezero", "micrograd", "mygrad", "numpy")
