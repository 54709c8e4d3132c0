"""MyGrad: autograd on NumPy arrays."""

import mygrad as mg
from mygrad.nnet.activations import relu
from mygrad.nnet.layers import conv_nd, max_pool
from mygrad.nnet.losses import softmax_crossentropy

from benchmarks import workloads as W


def version() -> str:
    return mg.__version__


def apple():
    def run(check=False):
        leaves = [mg.tensor(v) for v in W.APPLE]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [float(v.grad) for v in leaves] if check else None

    return run


def scalar():
    def run(check=False):
        x = mg.tensor(0.5)
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = relu(y * 1.0001 + 0.0001)
        y.backward()
        return [float(x.grad)] if check else None

    return run


def matrix():
    W0, b0, x0 = W.matrix_data()

    def run(check=False):
        Wt, b = mg.tensor(W0.copy()), mg.tensor(b0.copy())
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = mg.tanh(mg.matmul(y, Wt) + b)
        mg.sum(y).backward()
        return [float(Wt.grad.sum()), float(b.grad.sum())] if check else None

    return run


def _sgd(params, loss, check):
    loss.backward()
    out = ([float(loss.data)] + [W.norm(p.grad) for p in params]) if check else None
    for p in params:
        p.data -= W.LR * p.grad
    return out


def mlp():
    d = W.mlp_data()
    params = [mg.tensor(d[k].copy()) for k in ("W1", "b1", "W2", "b2")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2 = params
        logits = mg.matmul(relu(mg.matmul(x, W1) + b1), W2) + b2
        return _sgd(params, softmax_crossentropy(logits, t), check)

    return step


def mlp_memory():
    return W.repeated(mlp())


def cnn():
    d = W.cnn_data()
    params = [mg.tensor(d[k].copy()) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    x, t = d["x"], d["t"]

    def step(check=False):
        W1, b1, W2, b2, W3, b3 = params
        h = relu(conv_nd(x, W1, stride=1) + b1.reshape(1, -1, 1, 1))
        h = max_pool(h, (2, 2), 2)
        h = relu(mg.matmul(h.reshape(len(x), -1), W2) + b2)
        return _sgd(params, softmax_crossentropy(mg.matmul(h, W3) + b3, t), check)

    return step


def deep():
    def run(check=False):
        x = mg.tensor(1.0)
        y = x
        for _ in range(W.DEEP_OPS):
            y = y + 1e-6
        y.backward()
        return [float(x.grad)] if check else None

    return run
