"""Optimizers with per-element step sizes: AdaGrad, RMSProp, Adam, AdamW."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from compgraph.core import Variable
from compgraph.optim.optimizer import Optimizer, Params, hyperparameter


def _zeros(state: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.zeros_like(like)
    return buf


class AdaGrad(Optimizer):
    """s ← s + g², p ← p − lr·g / (√s + eps): steps shrink where gradients have been large."""

    group_options = ("lr", "weight_decay")

    def __init__(self, params: Params, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.eps = hyperparameter("AdaGrad", "eps", eps)
        self.weight_decay = hyperparameter("AdaGrad", "weight_decay", weight_decay)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        s = _zeros(state, "sum", p)
        s += g * g
        p -= self.lr * g / (np.sqrt(s) + self.eps)


class RMSProp(Optimizer):
    """v ← α·v + (1 − α)·g², p ← p − lr·g / (√v + eps); with momentum μ the step is averaged too."""

    group_options = ("lr", "weight_decay")

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        self.alpha = hyperparameter("RMSProp", "alpha", alpha, 0.0, 1.0)
        self.eps = hyperparameter("RMSProp", "eps", eps)
        self.momentum = hyperparameter("RMSProp", "momentum", momentum, 0.0, 1.0)
        self.weight_decay = hyperparameter("RMSProp", "weight_decay", weight_decay)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = _zeros(state, "square_avg", p)
        v *= self.alpha
        v += (1.0 - self.alpha) * (g * g)
        d = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            buf = _zeros(state, "momentum", p)
            buf *= self.momentum
            buf += d
            d = buf
        p -= self.lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): moving averages m of g and v of g², bias-corrected.

    m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·g², and at step t
    p ← p − lr·m̂ / (√v̂ + eps) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). ``weight_decay`` adds
    weight_decay·p to g (L2 regularisation; see AdamW for the decoupled form).
    """

    group_options = ("lr", "weight_decay")

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = hyperparameter(name, "beta1", betas[0], 0.0, 1.0)
        self.beta2 = hyperparameter(name, "beta2", betas[1], 0.0, 1.0)
        self.eps = hyperparameter(name, "eps", eps)
        self.weight_decay = hyperparameter(name, "weight_decay", weight_decay)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        self._adam(p, g, state)

    def _adam(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2, t = self.beta1, self.beta2, state["step"]
        m, v = _zeros(state, "m", p), _zeros(state, "v", p)
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        # lr·m̂/(√v̂ + eps), the bias corrections applied as Python floats (no float64 promotion)
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - b2**t)
        denom += self.eps
        step = m / denom
        step *= self.lr / (1.0 - b1**t)
        p -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p ← p − lr·wd·p, then Adam.

    nanoGPT's configuration decays the matrices (every parameter with ndim >= 2, embeddings
    included) and not the biases or layer-norm weights, with two parameter groups:

    >>> import compgraph.nn as nn
    >>> model = nn.MLP((2, 8, 3), rng=0)
    >>> groups = weight_decay_groups(model.parameters(), 0.1)
    >>> opt = AdamW(groups, lr=1e-3, betas=(0.9, 0.99))
    >>> [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
    [(2, 0.1), (2, 0.0)]
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        super().__init__(params, lr, betas, eps, weight_decay)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        self._adam(p, g, state)


def weight_decay_groups(params: Iterable[Variable], weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups, as nanoGPT makes them: matrices decayed, vectors not.

    ``[{"params": those with ndim >= 2, "weight_decay": weight_decay},
    {"params": the rest (biases, norm weights), "weight_decay": 0.0}]``, in their order.
    """
    weight_decay = hyperparameter("weight_decay_groups", "weight_decay", weight_decay)
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Variable):
            raise TypeError(
                f"weight_decay_groups: parameter {i} is a {type(p).__name__}, expected a Parameter or "
                "Variable"
            )
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
