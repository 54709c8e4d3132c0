"""Helpers for the op tests that take PyTorch as the oracle (float64 values and gradients)."""

import numpy as np
import torch

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def against_torch(ours, theirs, *arrays, rtol=1e-13, atol=1e-13):
    """``ours`` and ``theirs`` (the same function in PyTorch) give equal values and equal
    gradients of a randomly weighted sum of their outputs, in float64."""
    xs = [Variable(a) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ys, yts = ours(*xs), theirs(*ts)
    ys = ys if isinstance(ys, tuple) else (ys,)
    yts = yts if isinstance(yts, (tuple, list)) else (yts,)
    assert len(ys) == len(yts)
    rng = np.random.default_rng(0)
    loss, tloss = 0, 0
    for y, yt in zip(ys, yts):
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=rtol, atol=atol)
        w = rng.normal(size=y.shape)
        loss, tloss = loss + F.sum(y * w), tloss + (yt * torch.tensor(w)).sum()
    gs = cg.grad(loss, xs)
    tgs = torch.autograd.grad(tloss, ts)
    for g, tg in zip(gs, tgs):
        np.testing.assert_allclose(g.data, tg.numpy(), rtol=rtol, atol=atol)


def second_order(fn, *arrays):
    """gradcheck of the gradient of sum(fn(...)³), recorded with create_graph."""

    def gradient(*vs):
        ys = fn(*vs)
        ys = ys if isinstance(ys, tuple) else (ys,)
        loss = sum(F.sum(y**3) for y in ys)
        return cg.grad(loss, list(vs), create_graph=True)

    assert cg.gradcheck(gradient, *arrays)
