"""micrograd: scalar-only autograd on Python floats (its backward sorts the graph recursively)."""

import sys
from importlib.metadata import version as _dist_version

from micrograd.engine import Value

from benchmarks import workloads as W


def version() -> str:
    return _dist_version("micrograd")


def apple():
    def run(check=False):
        leaves = [Value(v) for v in W.APPLE]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad for v in leaves] if check else None

    return run


def scalar():
    sys.setrecursionlimit(100_000)  # its topological sort recurses once per node

    def run(check=False):
        x = Value(0.5)
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = (y * 1.0001 + 0.0001).relu()
        y.backward()
        return [x.grad] if check else None

    return run


def deep():
    # left at Python's default recursion limit, as a user meets it
    def run(check=False):
        x = Value(1.0)
        y = x
        for _ in range(W.DEEP_OPS):
            y = y + 1e-6
        y.backward()
        return [x.grad] if check else None

    return run
