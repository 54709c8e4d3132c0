"""compgraph through cg.compile: the same workloads as compgraph_lib, each traced once (in the
untimed check run) and replayed in the timed ones."""

import compgraph as cg
import compgraph.functions as F
from benchmarks import workloads as W
from benchmarks.libs.compgraph_lib import _sgd


def version() -> str:
    return cg.__version__ + " compiled"


def _price(a, an, o, on, tax):
    return (a * an + o * on) * tax


def apple():
    price_fn = cg.compile(_price)

    def run(check=False):
        leaves = [cg.Variable(v) for v in W.APPLE]
        price_fn(*leaves).backward()
        return [v.grad.item() for v in leaves] if check else None

    return run


def scalar():
    def chain(x):
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = F.relu(y * 1.0001 + 0.0001)
        return y

    chain_fn = cg.compile(chain)

    def run(check=False):
        x = cg.Variable(0.5)
        chain_fn(x).backward()
        return [x.grad.item()] if check else None

    return run


def matrix():
    W0, b0, x0 = W.matrix_data()

    def chain(Wv, b):
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = F.tanh(y @ Wv + b)
        return F.sum(y)

    chain_fn = cg.compile(chain)

    def run(check=False):
        Wv, b = cg.Variable(W0), cg.Variable(b0)
        chain_fn(Wv, b).backward()
        return [float(Wv.grad.data.sum()), float(b.grad.data.sum())] if check else None

    return run


def mlp():
    d = W.mlp_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2")]
    x, t = d["x"], d["t"]
    W1, b1, W2, b2 = params
    loss_fn = cg.compile(
        lambda x, t: F.softmax_cross_entropy(F.linear(F.relu(F.linear(x, W1, b1)), W2, b2), t)
    )

    def step(check=False):
        return _sgd(params, loss_fn(x, t), check)

    return step


def mlp_memory():
    return W.repeated(mlp())


def cnn():
    d = W.cnn_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    x, t = d["x"], d["t"]
    W1, b1, W2, b2, W3, b3 = params

    def loss(x, t):
        h = F.max_pool2d(F.relu(F.conv2d(x, W1, b1)), 2)
        h = F.relu(F.linear(F.flatten(h), W2, b2))
        return F.softmax_cross_entropy(F.linear(h, W3, b3), t)

    loss_fn = cg.compile(loss)

    def step(check=False):
        return _sgd(params, loss_fn(x, t), check)

    return step
