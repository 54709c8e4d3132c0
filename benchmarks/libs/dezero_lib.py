"""DeZero 0.0.13, the book series' own framework."""

import numpy as np

# DeZero 0.0.13 uses np.int and np.float, which NumPy 1.24 removed.
for _name, _kind in (("int", int), ("float", float)):
    if _name not in np.__dict__:
        setattr(np, _name, _kind)

import dezero  # noqa: E402
import dezero.functions as F  # noqa: E402
from dezero import Variable  # noqa: E402

from benchmarks import workloads as W  # noqa: E402


def version() -> str:
    return getattr(dezero, "__version__", "0.0.13")


def apple():
    def run(check=False):
        leaves = [Variable(np.array(v)) for v in W.APPLE]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [float(v.grad.data) for v in leaves] if check else None

    return run


def scalar():
    def run(check=False):
        x = Variable(np.array(0.5))
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = F.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [float(x.grad.data)] if check else None

    return run


def matrix():
    W0, b0, x0 = W.matrix_data()

    def run(check=False):
        Wv, b = Variable(W0.copy()), Variable(b0.copy())
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = F.tanh(F.matmul(y, Wv) + b)
        F.sum(y).backward()
        return [float(Wv.grad.data.sum()), float(b.grad.data.sum())] if check else None

    return run


def _sgd(params, loss, check):
    for p in params:
        p.cleargrad()
    loss.backward()
    out = ([float(loss.data)] + [W.norm(p.grad.data) for p in params]) if check else None
    for p in params:
        p.data -= W.LR * p.grad.data
    return out


def mlp():
    d = W.mlp_data()
    params = [Variable(d[k].copy()) for k in ("W1", "b1", "W2", "b2")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2 = params
        logits = F.linear(F.relu(F.linear(x, W1, b1)), W2, b2)
        return _sgd(params, F.softmax_cross_entropy(logits, t), check)

    return step


def mlp_memory():
    return W.repeated(mlp())


def cnn():
    d = W.cnn_data()
    params = [Variable(d[k].copy()) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2, W3, b3 = params
        h = F.pooling(F.relu(F.conv2d(x, W1, b1)), 2, stride=2)
        h = F.relu(F.linear(F.reshape(h, (len(x), -1)), W2, b2))
        return _sgd(params, F.softmax_cross_entropy(F.linear(h, W3, b3), t), check)

    return step


def deep():
    def run(check=False):
        x = Variable(np.array(1.0))
        y = x
        for _ in range(W.DEEP_OPS):
            y = y + 1e-6
        y.backward()
        return [float(x.grad.data)] if check else None

    return run
