"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph.optim.optimizer import Optimizer, Params, hyperparameter


class SGD(Optimizer):
    """p ← p − lr·d, where d is the gradient g (+ weight_decay·p), or its momentum average.

    With momentum μ: buf ← μ·buf + (1 − dampening)·d (buf starts at the first d) and
    d ← buf, or d ← d + μ·buf with ``nesterov=True``. This is the form PyTorch uses; for a
    constant lr it equals the book's v ← μ·v − lr·g, p ← p + v.

    >>> import compgraph as cg
    >>> w = cg.Variable(np.array([1.0, 2.0]))
    >>> (w * w).sum().backward()
    >>> SGD([w], lr=0.1).step()
    >>> w.data
    array([0.8, 1.6])
    """

    group_options = ("lr", "weight_decay")

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(params, lr)
        self.momentum = hyperparameter("SGD", "momentum", momentum, 0.0, 1.0)
        self.dampening = hyperparameter("SGD", "dampening", dampening, 0.0, 1.0)
        self.weight_decay = hyperparameter("SGD", "weight_decay", weight_decay)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = state.get("momentum")
            if buf is None:
                buf = state["momentum"] = np.array(d, copy=True)  # a copy: d may be the user's g
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= self.lr * d
