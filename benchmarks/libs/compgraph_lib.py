"""compgraph."""

import compgraph as cg
import compgraph.functions as F
from benchmarks import workloads as W


def version() -> str:
    return cg.__version__


def apple():
    def run(check=False):
        leaves = [cg.Variable(v) for v in W.APPLE]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad.item() for v in leaves] if check else None

    return run


def scalar():
    def run(check=False):
        x = cg.Variable(0.5)
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = F.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [x.grad.item()] if check else None

    return run


def matrix():
    W0, b0, x0 = W.matrix_data()

    def run(check=False):
        Wv, b = cg.Variable(W0), cg.Variable(b0)
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = F.tanh(y @ Wv + b)
        F.sum(y).backward()
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


def mlp():
    d = W.mlp_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2 = params
        loss = F.softmax_cross_entropy(F.linear(F.relu(F.linear(x, W1, b1)), W2, b2), t)
        return _sgd(params, loss, check)

    return step


def mlp_memory():
    return W.repeated(mlp())


def cnn():
    d = W.cnn_data()
    params = [cg.Variable(d[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2, W3, b3 = params
        h = F.max_pool2d(F.relu(F.conv2d(x, W1, b1)), 2)
        h = F.relu(F.linear(F.flatten(h), W2, b2))
        return _sgd(params, F.softmax_cross_entropy(F.linear(h, W3, b3), t), check)

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
