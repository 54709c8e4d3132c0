"""One adapter per library. Each module has ``version()`` and ``WORKLOADS``: workload name ->
factory; the factory sets up (untimed) and returns ``run(check=False)``, which does the timed
work once; ``run(check=True)`` also returns a few gradient values for the cross-check (computed
outside the timed runs). Adapters are imported only in worker
processes, one library per process."""

LIBS = ("compgraph", "torch", "dezero", "micrograd", "mygrad", "numpy")
