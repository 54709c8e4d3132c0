"""Jacobians, Hessians and their products with vectors, as ``torch.autograd.functional`` has them.

Each takes a function ``f`` and the point ``inputs`` to evaluate it at: one array (or
Variable, or Python float) or a tuple of them, passed to ``f`` as that many arguments. ``f``
computes on the Variables it gets with compgraph ops and returns a Variable or a tuple of
Variables. The results are nested as torch nests them: a tuple where the inputs (or the
outputs) are a tuple, a bare array where they are single, and the Jacobian of output ``y``
with respect to input ``x`` has shape ``y.shape + x.shape``.

Results are NumPy arrays, cut off from any graph (torch's results are detached tensors).
With ``create_graph=True`` they are Variables instead, recorded on the graph, so they can be
differentiated again (``cg.grad``, or another call of these functions); inputs given as
Variables that require a gradient are then part of it too. Parts that don't depend on an input
are zeros (torch's default ``strict=False``; there is no ``strict``, ``vectorize`` or
``strategy`` option). All is reverse mode: ``jacobian`` runs one backward pass per output
element, ``hessian`` one per input element (through the recorded gradient).

>>> import compgraph.functions as F
>>> jacobian(lambda x: x**2, np.array([1.0, 3.0]))
array([[2., 0.],
       [0., 6.]])
>>> hessian(lambda x, y: F.sum(x * y), (np.array(1.0), np.array(2.0)))
((array(0.), array(1.)), (array(1.), array(0.)))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np

from compgraph import functions as F
from compgraph.core import Function, Variable, enable_grad, grad

#: One input: an array, a Variable or a Python float.
Input: TypeAlias = "np.ndarray | Variable | float"
#: What ``inputs`` (and ``v``) may be: one input, or a tuple of them.
Inputs: TypeAlias = "Input | tuple[Input, ...]"


class _Stack(Function):
    """``np.stack`` of its inputs along a new first axis; each gets its slice of the gradient."""

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.stack(xs)

    def backward(self, gy: Variable) -> tuple[Variable | None, ...]:
        return tuple(gy[k] if self.needs_grad(k) else None for k in range(len(self.inputs)))


def _a(x: Any) -> str:
    """``a float``, ``an ndarray``: the type of ``x`` with its article."""
    name = type(x).__name__
    return f"{'an' if name[0] in 'aeiou' or name == 'ndarray' else 'a'} {name}"


def _zeros(shape: tuple[int, ...], dtype: np.dtype, create_graph: bool) -> Any:
    z = np.zeros(shape, dtype)
    return Variable(z, requires_grad=False) if create_graph else z


def _result(g: Variable | None, shape: tuple[int, ...], dtype: np.dtype, create_graph: bool) -> Any:
    """A gradient ``grad`` returned, as handed to the user (zeros for None)."""
    if g is None:
        return _zeros(shape, dtype, create_graph)
    return g if create_graph else g.data


def _as_inputs(name: str, inputs: Any, create_graph: bool) -> tuple[bool, tuple[Variable, ...]]:
    """Whether ``inputs`` is a tuple, and the Variables ``f`` gets: new leaves, or, with
    ``create_graph``, nodes on the graph of given Variables that require a gradient."""
    is_tuple = isinstance(inputs, tuple)
    xs = []
    for i, x in enumerate(inputs if is_tuple else (inputs,)):
        where = f"inputs[{i}]" if is_tuple else "the input"
        if isinstance(x, Variable):
            if create_graph and x.requires_grad:
                xs.append(F.reshape(x, x.shape))  # a node of its own, as torch's view_as
                continue
            data = x.data
        elif isinstance(x, (np.ndarray, np.generic, float, int)) and not isinstance(x, bool):
            data = np.asarray(x)
        else:
            if isinstance(x, list):
                raise TypeError(
                    f"{name}: {where} is a list; pass several inputs as a tuple, one as an np.array"
                )
            raise TypeError(
                f"{name}: {where} is {_a(x)}; an input must be an ndarray, a Variable or a float "
                "(several inputs: a tuple of them)"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"{name}: {where} has {data.dtype} data; derivatives exist only for floating-point "
                "inputs. Convert it with .astype(np.float64)."
            )
        xs.append(Variable(data))
    return is_tuple, tuple(xs)


def _call(name: str, f: Callable[..., Any], xs: Sequence[Variable]) -> tuple[bool, tuple[Variable, ...]]:
    """``f(*xs)``, checked: whether it returned a tuple, and its outputs."""
    out = f(*xs)
    is_tuple = isinstance(out, tuple)
    outs = out if is_tuple else (out,)
    for j, y in enumerate(outs):
        if not isinstance(y, Variable):
            what = f"output {j} of f" if is_tuple else "f's output"
            raise TypeError(
                f"{name}: {what} is {_a(y)}, not a Variable. f must return a Variable "
                "or a tuple of Variables, computed from the Variables it is given with compgraph "
                "ops (F.exp, @, ...), not with NumPy on their .data"
                + ("; return a tuple, not a list" if isinstance(out, list) else "")
            )
    return is_tuple, outs


def _single_element(name: str, f: Callable[..., Any], xs: Sequence[Variable]) -> Variable:
    """``f(*xs)``, checked to be one Variable with one element."""
    is_tuple, outs = _call(name, f, xs)
    if is_tuple or outs[0].size != 1:
        got = f"a tuple of {len(outs)}" if is_tuple else f"a Variable of shape {outs[0].shape}"
        raise ValueError(
            f"{name}: f must return a single Variable with one element (a scalar), but it returned "
            f"{got}; reduce it to one number first, e.g. lambda x: F.sum(f(x))"
        )
    return outs[0]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _vectors(
    name: str, v: Any, like: Sequence[Variable], is_tuple: bool, what: str, create_graph: bool
) -> tuple[Any, ...]:
    """``v`` as one array per Variable of ``like`` (f's outputs or inputs: ``what``), each of
    its shape; ones when ``v`` is None and ``like`` is a single element."""
    shapes = ", ".join(str(y.shape) for y in like)
    if len(like) == 1 and not is_tuple:
        has, wanted = f"one {what}, of shape {shapes}", f"an array of shape {shapes}"
    else:
        has = f"{_plural(len(like), what)}, of shapes {shapes}"
        wanted = f"a tuple of {_plural(len(like), 'array')} of shapes {shapes}"
    if v is None:
        if len(like) != 1 or like[0].size != 1:
            raise ValueError(
                f"{name}: v can be left out only when f's {what} is a single element, but f has "
                f"{has}; pass v as {wanted}"
            )
        return (np.ones(like[0].shape, like[0].dtype),)
    vs = v if isinstance(v, tuple) else (v,)
    if len(vs) != len(like):
        raise ValueError(f"{name}: v has {_plural(len(vs), 'array')} but f has {has}; pass v as {wanted}")
    checked = []
    for i, (vi, y) in enumerate(zip(vs, like)):
        if isinstance(vi, Variable):
            vi = vi if create_graph else vi.data
        else:
            vi = np.asarray(vi)
        if vi.shape != y.shape:
            which = f"v[{i}]" if isinstance(v, tuple) else "v"
            of = f"{what} {i}" if len(like) > 1 or is_tuple else what
            raise ValueError(
                f"{name}: {which} has shape {vi.shape} but f's {of} has shape {y.shape}; pass v as {wanted}"
            )
        checked.append(vi)
    return tuple(checked)


def _nest(blocks: list[list[Any]], outer_tuple: bool, inner_tuple: bool) -> Any:
    """``blocks[o][i]`` as torch nests it: tuples only where f's outputs / inputs are tuples."""
    rows = [tuple(row) if inner_tuple else row[0] for row in blocks]
    return tuple(rows) if outer_tuple else rows[0]


def _jacobians(outs: Sequence[Variable], xs: Sequence[Variable], create_graph: bool) -> list[list[Any]]:
    """``J[o][i]``, ∂outs[o]/∂xs[i] of shape outs[o].shape + xs[i].shape: a backward pass per
    element of each output, with a one-hot grad_output."""
    blocks = []
    for y in outs:
        rows: list[list[Variable | None]] = [[] for _ in xs]
        for j in range(y.size if y.requires_grad else 0):
            one_hot = np.zeros(y.size, y.dtype)
            one_hot[j] = 1
            for row, g in zip(rows, grad(y, xs, one_hot.reshape(y.shape), create_graph)):
                row.append(g)
        blocks.append([_stacked(row, y.shape, x, create_graph) for row, x in zip(rows, xs)])
    return blocks


def _stacked(row: list[Variable | None], out_shape: tuple[int, ...], x: Variable, create_graph: bool) -> Any:
    """The gradients of x for each output element, as one array of shape out_shape + x.shape."""
    shape = out_shape + x.shape
    if all(g is None for g in row):  # none reached x (or the output has no elements)
        return _zeros(shape, x.dtype, create_graph)
    if not create_graph:
        return np.stack([np.zeros(x.shape, x.dtype) if g is None else g.data for g in row]).reshape(shape)
    parts = [Variable(np.zeros(x.shape, x.dtype), requires_grad=False) if g is None else g for g in row]
    return F.reshape(parts[0] if len(parts) == 1 else _Stack()(*parts), shape)


def jacobian(f: Callable[..., Any], inputs: Inputs, create_graph: bool = False) -> Any:
    """The Jacobian of ``f`` at ``inputs``, as ``torch.autograd.functional.jacobian``.

    For one input and one output, an array of shape ``out.shape + in.shape`` (entry [j, k] is
    ∂out[j]/∂in[k]); a tuple over the inputs when ``inputs`` is a tuple, a tuple over the
    outputs when ``f`` returns one, and a tuple (per output) of tuples (per input) for both.

    >>> jacobian(lambda x, y: x * y, (np.array([1.0, 2.0]), np.array(3.0)))
    (array([[3., 0.],
           [0., 3.]]), array([1., 2.]))
    """
    with enable_grad():
        in_tuple, xs = _as_inputs("jacobian", inputs, create_graph)
        out_tuple, outs = _call("jacobian", f, xs)
        return _nest(_jacobians(outs, xs, create_graph), out_tuple, in_tuple)


def hessian(f: Callable[..., Any], inputs: Inputs, create_graph: bool = False) -> Any:
    """The Hessian of scalar ``f`` at ``inputs``, as ``torch.autograd.functional.hessian``:
    the Jacobian of its gradient (recorded with create_graph).

    ``f`` must return one Variable with one element. For one input, an array of shape
    ``in.shape + in.shape``; for a tuple of inputs, a tuple of tuples: ``H[i][j]`` is
    ∂²f/∂in_i∂in_j, of shape ``in_i.shape + in_j.shape``.

    >>> hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    with enable_grad():
        in_tuple, xs = _as_inputs("hessian", inputs, create_graph)
        y = _single_element("hessian", f, xs)
        gradients = [_result(g, x.shape, x.dtype, True) for g, x in zip(_grads(y, xs), xs)]
        return _nest(_jacobians(gradients, xs, create_graph), in_tuple, in_tuple)


def _grads(y: Variable, xs: Sequence[Variable]) -> tuple[Variable | None, ...]:
    """∂y/∂xs, recorded (None where y does not depend on an input)."""
    return grad(y, xs, create_graph=True) if y.requires_grad else (None,) * len(xs)


def vjp(f: Callable[..., Any], inputs: Inputs, v: Any = None, create_graph: bool = False) -> tuple[Any, Any]:
    """``(f(inputs), vᵀJ)``: the vector-Jacobian product, as ``torch.autograd.functional.vjp``.

    ``v`` has the shape of ``f``'s output (a tuple of arrays if ``f`` returns a tuple); it may
    be left out when the output is a single element (then it is 1). The product has the shape
    of ``inputs``: one backward pass, weighted by ``v``.

    >>> vjp(lambda x: x**2, np.array([1.0, 3.0]), np.array([1.0, 0.5]))
    (array([1., 9.]), array([2., 3.]))
    """
    with enable_grad():
        in_tuple, xs = _as_inputs("vjp", inputs, create_graph)
        out_tuple, outs = _call("vjp", f, xs)
        vs = _vectors("vjp", v, outs, out_tuple, "output", create_graph)
        gs = grad(outs, xs, vs, create_graph)
        products = tuple(_result(g, x.shape, x.dtype, create_graph) for g, x in zip(gs, xs))
        values = outs if create_graph else tuple(y.data for y in outs)
        return _nest([list(values)], False, out_tuple), _nest([list(products)], False, in_tuple)


def _forward_product(
    outs: Sequence[Variable], xs: Sequence[Variable], vs: Sequence[Any], create_graph: bool
) -> tuple[Any, ...]:
    """J·v for each of ``outs`` by the double-vjp trick: u ↦ uᵀJ is linear in the dummy
    ``u``, so its vjp with ``v`` is J·v."""
    us = [Variable(np.zeros(y.shape, y.dtype)) if y.requires_grad else None for y in outs]
    live = [k for k, u in enumerate(us) if u is not None]  # a constant output's product is 0
    gs = grad([outs[k] for k in live], xs, [us[k] for k in live], True) if live else (None,) * len(xs)
    pairs = [(g, vi) for g, vi in zip(gs, vs) if g is not None]
    products: list[Variable | None] = [None] * len(outs)
    if pairs:
        found = grad([g for g, _ in pairs], [us[k] for k in live], [vi for _, vi in pairs], create_graph)
        for k, product in zip(live, found):
            products[k] = product
    return tuple(_result(p, y.shape, y.dtype, create_graph) for p, y in zip(products, outs))


def jvp(f: Callable[..., Any], inputs: Inputs, v: Any = None, create_graph: bool = False) -> tuple[Any, Any]:
    """``(f(inputs), J·v)``: the Jacobian-vector product, as ``torch.autograd.functional.jvp``.

    ``v`` has the shape of ``inputs`` (a tuple of arrays for a tuple of inputs); it may be left
    out when the input is a single element. The product has the shape of ``f``'s output.
    Computed in reverse mode by the double-vjp trick, as torch does: the vjp u ↦ uᵀJ, recorded
    with create_graph=True at a dummy u = 0, is linear in u, and its own vjp with ``v`` is J·v
    (so f's ops must be twice differentiable in the engine's sense: every built-in op is).

    >>> jvp(lambda x: x**2, np.array([1.0, 3.0]), np.array([1.0, 0.5]))
    (array([1., 9.]), array([2., 3.]))
    """
    with enable_grad():
        in_tuple, xs = _as_inputs("jvp", inputs, create_graph)
        vs = _vectors("jvp", v, xs, in_tuple, "input", create_graph)
        out_tuple, outs = _call("jvp", f, xs)
        products = _forward_product(outs, xs, vs, create_graph)
        values = outs if create_graph else tuple(y.data for y in outs)
        return _nest([list(values)], False, out_tuple), _nest([list(products)], False, out_tuple)


def hvp(f: Callable[..., Any], inputs: Inputs, v: Any = None, create_graph: bool = False) -> tuple[Any, Any]:
    """``(f(inputs), H·v)``: the Hessian-vector product, as ``torch.autograd.functional.hvp``.

    ``f`` must return one Variable with one element; ``v`` has the shape of ``inputs`` (it may
    be left out when the input is a single element); so does the product. H·v is the jvp of
    the gradient (recorded with create_graph), by the double-vjp trick as in ``jvp``: exact
    even where H is not symmetric, without forming H.

    >>> hvp(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    (array(2.), array([4., 2.]))
    """
    with enable_grad():
        in_tuple, xs = _as_inputs("hvp", inputs, create_graph)
        vs = _vectors("hvp", v, xs, in_tuple, "input", create_graph)
        y = _single_element("hvp", f, xs)
        gradients = [_result(g, x.shape, x.dtype, True) for g, x in zip(_grads(y, xs), xs)]
        products = _forward_product(gradients, xs, vs, create_graph)
        return (y if create_graph else y.data), _nest([list(products)], False, in_tuple)
