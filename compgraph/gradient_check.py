"""Numerical gradients by central differences, and a checker that compares them with backprop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compgraph.core import Variable, grad


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when backprop and numerical gradients disagree."""


def _total(out: Any) -> float:
    """The sum of all elements of ``f``'s output (a Variable, an array, or a tuple of them)."""
    if isinstance(out, (tuple, list)):
        return float(np.sum([_total(o) for o in out]))
    return float(np.sum(out.data if isinstance(out, Variable) else out))


def numerical_grad(f: Callable[..., Any], *arrays: Any, eps: float = 1e-6) -> list[np.ndarray]:
    """Central-difference gradients of ``sum(f(*arrays))``, one float64 ndarray per input.

    Each element is moved by ±eps in turn (2·size calls of ``f``), in float64 copies of the
    inputs. ``f`` receives ndarrays, which ops treat as constants: no graph is recorded.

    >>> [g] = numerical_grad(lambda x: x * x, np.array([1.0, 3.0]))
    >>> np.round(g, 6)
    array([2., 6.])
    """
    xs = []
    for i, a in enumerate(arrays):
        a = a.data if isinstance(a, Variable) else np.asarray(a)
        if a.dtype.kind not in "fiu" or a.dtype.kind in "iu":
            raise TypeError(
                f"numerical_grad: input {i} has {a.dtype} data; only floating-point inputs can be "
                "perturbed (pass integer labels through a closure: lambda x: f(x, labels))"
            )
        xs.append(np.array(a, dtype=np.float64))
    grads = []
    for x in xs:
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)  # views into x and g
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = _total(f(*xs))
            flat[k] = original - eps
            minus = _total(f(*xs))
            flat[k] = original
            gflat[k] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check ``f``'s backprop gradients against central differences, in float64.

    The outputs are weighted by fixed random numbers before summing, so a wrong gradient can't
    hide behind a constant sum (the sum of a softmax is always 1). Returns True, or raises
    ``GradcheckError`` naming the input, the worst element and both values.
    """
    arrays = [np.array(a.data if isinstance(a, Variable) else a, dtype=np.float64) for a in inputs]
    rng = np.random.default_rng(seed)
    variables = [Variable(a) for a in arrays]
    out = f(*variables)
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    weights = [rng.uniform(0.5, 1.5, size=o.shape) for o in outs]

    def weighted(*xs: np.ndarray) -> Any:
        # f gets Variables, so an f that itself calls grad() (a second-order check) works too
        ys = f(*[Variable(x) for x in xs])
        ys = tuple(ys) if isinstance(ys, (tuple, list)) else (ys,)
        return tuple(y.data * w for y, w in zip(ys, weights))

    analytic = grad(outs, variables, grad_outputs=[w.astype(o.dtype) for w, o in zip(weights, outs)])
    numeric = numerical_grad(weighted, *arrays, eps=eps)
    for i, (a, n, x) in enumerate(zip(analytic, numeric, arrays)):
        a = np.zeros_like(x) if a is None else a.data
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and excess.max() > 0:
            k = np.unravel_index(np.argmax(excess), excess.shape)
            where = f"[{', '.join(map(str, k))}]" if k else ""
            raise GradcheckError(
                f"gradcheck: the gradient for input {i} (shape {x.shape}) is wrong: at element "
                f"{where or '()'} backprop gives {a[k]!r} but central differences give {n[k]!r} "
                f"(|difference| {abs(a[k] - n[k]):.3g} > atol {atol} + rtol {rtol} × |numerical|)"
            )
    return True
