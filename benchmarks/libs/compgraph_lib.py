"""compgraph."""

import compgraph as cg
import compgraph.functions as F
from benchmarks import workloads as W


def version() -> str:
    return cg.__version__


def _eager(fn):
    return fn


# Each workload is written once, as the function that computes its output; ``wrap`` is how it
# runs: as it is (eager), or through cg.compile (benchmarks/libs/compiled_lib.py).
def _price(a, an, o, on, tax):
    return (a * an + o * on) * tax


def apple(wrap=_eager):
    price = wrap(_price)

    def run(check=False):
        leaves = [cg.Variable(v) for v in W.APPLE]
        price(*leaves).backward()
        return [v.grad.item() for v in leaves] if check else None

    return run


def _scalar_chain(x):
    y = x
    for _ in range(W.SCALAR_OPS // 3):
        y = F.relu(y * 1.0001 + 0.0001)
    return y


def scalar(wrap=_eager):
    chain = wrap(_scalar_chain)

    def run(check=False):
        x = cg.Variable(0.5)
        chain(x).backward()
        return [x.grad.item()] if check else None

    return run


def matrix(wrap=_eager):
    W0, b0, x0 = W.matrix_data()

    def _chain(Wv, b):
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = F.tanh(y @ Wv + b)
        return F.sum(y)

    chain = wrap(_chain)

    def run(check=False):
        Wv, b = cg.Variable(W0), cg.Variable(b0)
        chain(Wv, b).backward()
        return [float(Wv.grad.data.sum()), float(b.grad.data.sum())] if check else None

    return run


def _sgd(params, loss, check):
    for p in params:
        p.cleargrad()
    loss.backward()
    out = ([loss.item()] + [W.norm(p.grad.data) for p in params]) if check else None
    for p in params:
        p.data -= W.LR * p.grad.data
    return out


def mlp(wrap=_eager):
    d = W.mlp_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2")]
    x, t = d["x"], d["t"]
    W1, b1, W2, b2 = params
    loss = wrap(lambda x, t: F.softmax_cross_entropy(F.linear(F.relu(F.linear(x, W1, b1)), W2, b2), t))

    def step(check=False):
        return _sgd(params, loss(x, t), check)

    return step


def mlp_memory(wrap=_eager):
    return W.repeated(mlp(wrap))


def cnn(wrap=_eager):
    d = W.cnn_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    x, t = d["x"], d["t"]
    W1, b1, W2, b2, W3, b3 = params

    def _loss(x, t):
        h = F.max_pool2d(F.relu(F.conv2d(x, W1, b1)), 2)
        h = F.relu(F.linear(F.flatten(h), W2, b2))
        return F.softmax_cross_entropy(F.linear(h, W3, b3), t)

    loss = wrap(_loss)

    def step(check=False):
        return _sgd(params, loss(x, t), check)

    return step


def deep():
    def run(check=False):
        x = cg.Variable(1.0)
        y = x
        for _ in range(W.DEEP_OPS):
            y = y + 1e-6
        y.backward()
        return [x.grad.item()] if check else None

    return run
