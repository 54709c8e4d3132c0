"""compgraph through cg.compile: compgraph_lib's workloads, each function traced once (in the
untimed check run) and replayed in the timed ones."""

import compgraph as cg
from benchmarks.libs import compgraph_lib as eager


def version() -> str:
    return cg.__version__


def apple():
    return eager.apple(cg.compile)


def scalar():
    return eager.scalar(cg.compile)


def matrix():
    return eager.matrix(cg.compile)


def mlp():
    return eager.mlp(cg.compile)


def mlp_memory():
    return eager.mlp_memory(cg.compile)


def cnn():
    return eager.cnn(cg.compile)
