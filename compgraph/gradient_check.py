"""Numerical gradients by central differences, and a checker that compares them with backprop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compgraph.core import Variable, grad
from compgraph.notation import format_number


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when backprop and numerical gradients disagree."""


def _total(out: Any) -> float:
    """The sum of all elements of ``f``'s output (a Variable, an array, or a tuple of them)."""
    if isinstance(out, (tuple, list)):
        return float(np.sum([_total(o) for o in out]))
    return float(np.sum(out.data if isinstance(out, Variable) else out))


def numerical_grad(f: Callable[..., Any], *arrays: Any, eps: float = 1e-6) -> tuple[np.ndarray, ...]:
    """Central-difference gradients of ``sum(f(*arrays))``: a tuple of float64 ndarrays, one per input.

    Each element is moved by ±eps in turn (2·size calls of ``f``), in float64 copies of the
    inputs. ``f`` receives ndarrays, which ops treat as constants: no graph is recorded.

    >>> (g,) = numerical_grad(lambda x: x * x, np.array([1.0, 3.0]))
    >>> np.round(g, 6)
    array([2., 6.])
    """
    xs = []
    for i, a in enumerate(arrays):
        a = a.data if isinstance(a, Variable) else np.asarray(a)
        if a.dtype.kind != "f":
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
    return tuple(grads)


def _as_outputs(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


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
    ``GradcheckError`` naming the first wrong input and its worst partial derivative
    ∂out[j]/∂in[k], with both values (found by one backward pass per output element).

    >>> gradcheck(lambda x: x * x, np.array([1.0, 3.0]))
    True
    """
    arrays = [np.array(a.data if isinstance(a, Variable) else a, dtype=np.float64) for a in inputs]
    rng = np.random.default_rng(seed)
    variables = [Variable(a) for a in arrays]
    outs = _as_outputs(f(*variables))
    weights = [rng.uniform(0.5, 1.5, size=o.shape) for o in outs]

    def weighted(*xs: np.ndarray) -> Any:
        # f gets Variables, so an f that itself calls grad() (a second-order check) works too
        ys = _as_outputs(f(*[Variable(x) for x in xs]))
        return tuple(y.data * w for y, w in zip(ys, weights))

    analytic = grad(outs, variables, grad_outputs=[w.astype(o.dtype) for w, o in zip(weights, outs)])
    numeric = numerical_grad(weighted, *arrays, eps=eps)
    for i, (a, n, x) in enumerate(zip(analytic, numeric, arrays)):
        a = np.zeros_like(x) if a is None else a.data
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and excess.max() > 0:
            k = int(np.argmax(excess))
            worst_sum = (k, float(n.reshape(-1)[k]), float(a.reshape(-1)[k]))
            raise GradcheckError(_mismatch(f, arrays, i, eps, atol, rtol, worst_sum, seed))
    return True


def _values(f: Callable[..., Any], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """``f``'s outputs at ``arrays``, each flattened to a new float64 vector."""
    return [np.array(y.data, dtype=np.float64).reshape(-1) for y in _as_outputs(f(*map(Variable, arrays)))]


def _partials(
    f: Callable[..., Any], arrays: list[np.ndarray], i: int, eps: float
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, ...]]]:
    """Every ∂out_o[j]/∂in_i[k] of input ``i``, as one (out_o.size, in_i.size) matrix per output
    ``o``: by central differences, by backprop (a one-hot grad_output per j), and the shapes."""
    x = arrays[i]
    columns: list[list[np.ndarray]] = []
    flat = x.reshape(-1)  # a view: perturbs x in place
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = _values(f, arrays)
        flat[k] = original - eps
        minus = _values(f, arrays)
        flat[k] = original
        columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    variables = [Variable(a) for a in arrays]
    outs = _as_outputs(f(*variables))
    numeric, backprop = [], []
    for o, y in enumerate(outs):
        numeric.append(np.stack([c[o] for c in columns], axis=1) if columns else np.zeros((y.size, 0)))
        rows = []
        for j in range(y.size):
            one_hot = np.zeros(y.size, y.dtype)
            one_hot[j] = 1
            (g,) = grad(y, [variables[i]], grad_outputs=one_hot.reshape(y.shape))
            rows.append(np.zeros(x.size) if g is None else np.asarray(g.data, np.float64).reshape(-1))
        backprop.append(np.stack(rows) if rows else np.zeros((0, x.size)))
    return numeric, backprop, [y.shape for y in outs]


def _element(name: str, shape: tuple[int, ...], flat_index: int) -> str:
    """``out[1, 2]`` for element ``flat_index`` of an array of ``shape`` (``out`` when 0-d)."""
    if not shape:
        return name
    return f"{name}[{', '.join(str(int(k)) for k in np.unravel_index(flat_index, shape))}]"


def _mismatch(
    f: Callable[..., Any],
    arrays: list[np.ndarray],
    i: int,
    eps: float,
    atol: float,
    rtol: float,
    worst_sum: tuple[int, float, float],
    seed: int,
) -> str:
    """The message for a wrong gradient of input ``i``: its worst partial derivative, or, if
    none is off by itself, ``worst_sum``: the derivative of the weighted sum that detected the
    error (the element's flat index, its numerical and its backprop value)."""
    x, num = arrays[i], format_number
    numeric, backprop, shapes = _partials(f, arrays, i, eps)
    worst = None  # (excess, output, j, k, numerical, backprop)
    for o, (n, a) in enumerate(zip(numeric, backprop)):
        if n.size:
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            j, k = np.unravel_index(np.argmax(excess), excess.shape)
            if worst is None or excess[j, k] > worst[0]:
                worst = (excess[j, k], o, int(j), int(k), float(n[j, k]), float(a[j, k]))
    head = f"gradcheck: the gradient for input {i} (shape {x.shape}) is wrong: "
    tolerance = f"atol {num(atol, 6)} + rtol {num(rtol, 6)}"
    partial = ""
    if worst is not None:
        _, o, j, k, n, a = worst
        out_name = "out" if len(shapes) == 1 else f"out{o}"
        partial = f"∂{_element(out_name, shapes[o], j)}/∂{_element(f'in{i}', x.shape, k)}"
        if worst[0] > 0:
            return (
                f"{head}{partial} is {num(n, 6)} by central differences but backprop gives {num(a, 6)} "
                f"(|difference| {num(abs(a - n), 3)} > {tolerance} × {num(abs(n), 6)})"
            )
        partial = (
            f"; every partial derivative is within tolerance on its own (the worst, {partial}, is "
            f"{num(n, 6)} by central differences and {num(a, 6)} by backprop), so small errors add up"
        )
    k, n, a = worst_sum
    return (
        f"{head}with the outputs weighted by random numbers (seed {seed}) and summed, "
        f"∂sum/∂{_element(f'in{i}', x.shape, k)} is {num(n, 6)} "
        f"by central differences but backprop gives {num(a, 6)} (|difference| {num(abs(a - n), 3)} > "
        f"{tolerance} × {num(abs(n), 6)}){partial}"
    )
