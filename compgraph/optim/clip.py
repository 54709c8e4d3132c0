"""Gradient clipping, by global norm and by value. Gradients are replaced, never written to."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from compgraph.core import Variable
from compgraph.optim.optimizer import hyperparameter


def _with_grads(params: Iterable[Variable], caller: str) -> list[Variable]:
    out = []
    for i, p in enumerate(params):
        if not isinstance(p, Variable):
            raise TypeError(
                f"{caller}: parameter {i} is a {type(p).__name__}, expected a Parameter or Variable"
            )
        if p.grad is not None:
            out.append(p)
    return out


def clip_grad_norm(params: Iterable[Variable], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (computed in float64). Each clipped ``.grad`` is a new
    array: gradients may be shared between parameters or held by the caller.

    >>> import compgraph as cg
    >>> w = cg.Variable(np.array([3.0, 4.0]))
    >>> (w * w).sum().backward()             # grad (6, 8), norm 10
    >>> clip_grad_norm([w], 5.0), w.grad.data
    (10.0, array([3., 4.]))
    """
    max_norm = hyperparameter("clip_grad_norm", "max_norm", max_norm)
    params = _with_grads(params, "clip_grad_norm")
    total = 0.0
    for p in params:
        g = p.grad.data.astype(np.float64, copy=False).ravel()
        total += float(np.dot(g, g))
    norm = math.sqrt(total)
    if norm > max_norm:
        scale = max_norm / norm
        for p in params:
            p.grad = Variable(p.grad.data * scale, requires_grad=False)
    return norm


def clip_grad_value(params: Iterable[Variable], clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value] (new arrays, as above)."""
    clip_value = hyperparameter("clip_grad_value", "clip_value", clip_value)
    for p in _with_grads(params, "clip_grad_value"):
        p.grad = Variable(np.clip(p.grad.data, -clip_value, clip_value), requires_grad=False)
