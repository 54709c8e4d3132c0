"""One adapter per library. Each module has ``version()`` and ``WORKLOADS``: workload name ->
factory; the factory sets up (untimed) and returns ``run()``, which does the timed work once and
returns a few gradient values for the cross-check. Adapters are imported only in worker
processes, one library per process."""

LIBS = ("compgraph", "torch", "dezero", "micrograd", "mygrad", "numpy")
