"""PyTorch (CPU), eager autograd."""

import os

import torch
import torch.nn.functional as TF

from benchmarks import workloads as W

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def version() -> str:
    return torch.__version__


def apple():
    def run(check=False):
        leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in W.APPLE]
        a, an, o, on, tax = leaves
        price = (a * an + o * on) * tax
        price.backward()
        return [v.grad.item() for v in leaves] if check else None

    return run


def scalar():
    def run(check=False):
        x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(W.SCALAR_OPS // 3):
            y = torch.relu(y * 1.0001 + 0.0001)
        y.backward()
        return [x.grad.item()] if check else None

    return run


def matrix():
    W0, b0, x0 = (torch.from_numpy(a) for a in W.matrix_data())

    def run(check=False):
        Wt, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
        y = x0
        for _ in range(W.MATRIX_OPS // 3):
            y = torch.tanh(y @ Wt + b)
        y.sum().backward()
        return [float(Wt.grad.sum()), float(b.grad.sum())] if check else None

    return run


def _params(d, names):
    return [torch.from_numpy(d[k]).clone().requires_grad_() for k in names]


def _sgd(params, loss, check):
    for p in params:
        p.grad = None
    loss.backward()
    out = ([loss.item()] + [W.norm(p.grad.numpy()) for p in params]) if check else None
    with torch.no_grad():
        for p in params:
            p -= W.LR * p.grad
    return out


def mlp():
    d = W.mlp_data()
    params = _params(d, ("W1", "b1", "W2", "b2"))
    x, t = torch.from_numpy(d["x"]), torch.from_numpy(d["t"])

    def step(check=False):
        W1, b1, W2, b2 = params
        logits = torch.relu(x @ W1 + b1) @ W2 + b2
        return _sgd(params, TF.cross_entropy(logits, t), check)

    return step


def mlp_memory():
    return W.repeated(mlp())


def cnn():
    d = W.cnn_data()
    params = _params(d, ("W1", "b1", "W2", "b2", "W3", "b3"))
    x, t = torch.from_numpy(d["x"]), torch.from_numpy(d["t"])

    def step(check=False):
        W1, b1, W2, b2, W3, b3 = params
        h = TF.max_pool2d(torch.relu(TF.conv2d(x, W1, b1)), 2)
        h = torch.relu(h.flatten(1) @ W2 + b2)
        return _sgd(params, TF.cross_entropy(h @ W3 + b3, t), check)

    return step


def deep():
    def run(check=False):
        x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(W.DEEP_OPS):
            y = y + 1e-6
        y.backward()
        return [x.grad.item()] if check else None

    return run
