"""The graph engine: Variable, Function, grad mode, and reverse-mode backpropagation.

A computation records its graph while it runs (define-by-run). Each Function call on
Variables that need gradients creates one node that holds its inputs strongly and its outputs
weakly (an Op not at all), so a graph lives exactly as long as its last output and holds no
reference cycles. ``Variable.backward`` and ``grad`` walk the graph in reverse from the outputs,
visiting every function once, after all of its consumers: in decreasing generation order, from
a heap, never recursively.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from heapq import heapify, heappop, heappush
from typing import Any, TypeAlias

import numpy as np

#: ``observer(function, upstream_grads, input_grads)``: told of each step of a backward pass.
Observer: TypeAlias = "Callable[[Function, tuple[Any, ...], tuple[Any, ...]], None]"
#: What an op accepts as an operand: Variables, arrays (constants) and Python scalars (constants).
Operand: TypeAlias = "Variable | np.ndarray | int | float"


# Whether ops record the graph: per thread (and per asyncio task), like PyTorch's grad mode.
# Reading a ContextVar costs half as much as a threading.local attribute, and every op reads it.
_grad_mode: ContextVar[bool] = ContextVar("compgraph_grad_enabled", default=True)
_grad_enabled = _grad_mode.get


@contextmanager
def no_grad() -> Iterator[None]:
    """Record nothing inside the block: ops run on their data and return plain Variables.

    >>> with no_grad():
    ...     y = Variable(2.0) * 3
    >>> y.creator is None
    True
    """
    previous = _grad_enabled()
    _grad_mode.set(False)
    try:
        yield
    finally:
        _grad_mode.set(previous)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record the graph inside the block, even within ``no_grad``."""
    previous = _grad_enabled()
    _grad_mode.set(True)
    try:
        yield
    finally:
        _grad_mode.set(previous)


def is_grad_enabled() -> bool:
    """Whether ops called now (in this thread) record the graph."""
    return _grad_enabled()


def _as_data(data: Any) -> np.ndarray:
    """The array a Variable stores for ``data``; a TypeError for anything that is not a number."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        if isinstance(data, np.generic):  # np.float64 is a float subclass: keep its dtype
            return np.asarray(data)
        return np.array(data, dtype=np.float64)
    if isinstance(data, np.number) and not isinstance(data, np.complexfloating):
        return np.asarray(data)
    hint = ""
    if isinstance(data, (list, tuple)):
        hint = "; wrap it with np.array(...) first"
    raise TypeError(
        f"Variable data must be a numpy.ndarray or a Python int/float, got {type(data).__name__}{hint}"
    )


class Variable:
    """A value in the computational graph and, after a backward pass, its gradient.

    ``data`` is an ndarray (kept as given) or a Python int/float (stored as a 0-d float64
    array). A float Variable needs a gradient unless ``requires_grad=False``; integer data
    (labels, indices) never does.

    >>> x = Variable(3.0, name="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> x.grad
    Variable(6.0)
    """

    # _value: the value as gradient rules receive it, kept from the forward pass for an op's
    # output and a shared constant (0-d as a NumPy scalar); None: read ``data`` when needed
    __slots__ = ("data", "grad", "creator", "name", "generation", "requires_grad", "_value", "__weakref__")
    # Makes NumPy return NotImplemented from `ndarray + Variable`, so our reflected operator runs.
    __array_ufunc__ = None

    def __init__(self, data: Any, name: str | None = None, *, requires_grad: bool | None = None):
        if type(data) is float:
            data = np.array(data)  # float64
            is_float = True
        else:
            if type(data) is not np.ndarray:
                data = _as_data(data)
            is_float = data.dtype.kind == "f"
        if requires_grad is None:
            requires_grad = is_float
        elif not requires_grad:
            requires_grad = False
        elif is_float:
            requires_grad = True
        else:
            raise TypeError(
                f"Variable{f' {name!r}' if name else ''} has {data.dtype} data and cannot require a "
                "gradient: derivatives exist only for floating-point values. Convert it with "
                "data.astype(np.float64), or leave requires_grad unset for labels and indices."
            )
        self.data: np.ndarray = data
        self.name = name
        self.grad: Variable | None = None
        self.creator: Function | None = None
        self.generation = 0
        self.requires_grad: bool = requires_grad
        self._value = None

    # --- array-like attributes -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def T(self) -> Variable:
        """The transpose (all axes reversed)."""
        return _F.transpose(self)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.array(self.data, dtype=dtype, copy=copy)

    def __repr__(self) -> str:
        if self.data.ndim == 0:
            body = repr(self.data.item())
        else:
            body = np.array2string(self.data, separator=", ", prefix="Variable(")
        extra = ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self.name is not None:
            extra += f", name={self.name!r}"
        return f"Variable({body}{extra})"

    def item(self) -> Any:
        """The value of a one-element Variable as a Python scalar."""
        return self.data.item()

    # --- gradients ---------------------------------------------------------------------------
    def backward(self, retain_grad: bool = False, create_graph: bool = False) -> None:
        """Backpropagate from this Variable, seeding ones of its shape.

        Gradients ACCUMULATE into the ``.grad`` of every leaf the graph reaches (call
        ``cleargrad()`` to reset). Intermediate gradients are freed unless ``retain_grad``.
        With ``create_graph`` the backward pass is itself recorded, so the gradients can be
        differentiated again.
        """
        _backprop_into_grad((self,), (None,), retain_grad, create_graph)

    def cleargrad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> Variable:
        """A new leaf sharing this Variable's data, cut from the graph."""
        return Variable(self.data, self.name, requires_grad=False)

    # --- ops as methods ----------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Variable:
        """``reshape(2, 3)`` or ``reshape((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _F.reshape(self, shape)

    def transpose(self, *axes: int | Sequence[int] | None) -> Variable:
        """``transpose()``, ``transpose(1, 0)`` or ``transpose((1, 0))``."""
        if not axes or (len(axes) == 1 and axes[0] is None):
            return _F.transpose(self)
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _F.transpose(self, axes)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        return _F.sum(self, axis, keepdims)

    def astype(self, dtype: Any) -> Variable:
        return _F.astype(self, dtype)

    def __add__(self, other: Operand) -> Variable:
        return _apply2(_new(_Add), self, other)

    def __radd__(self, other: Operand) -> Variable:
        return _apply2(_new(_Add), other, self)

    def __sub__(self, other: Operand) -> Variable:
        return _apply2(_new(_Sub), self, other)

    def __rsub__(self, other: Operand) -> Variable:
        return _apply2(_new(_Sub), other, self)

    def __mul__(self, other: Operand) -> Variable:
        return _apply2(_new(_Mul), self, other)

    def __rmul__(self, other: Operand) -> Variable:
        return _apply2(_new(_Mul), other, self)

    def __truediv__(self, other: Operand) -> Variable:
        return _apply2(_new(_Div), self, other)

    def __rtruediv__(self, other: Operand) -> Variable:
        return _apply2(_new(_Div), other, self)

    def __neg__(self) -> Variable:
        return _apply1(_new(_Neg), self)

    def __pow__(self, exponent: int | float) -> Variable:
        return _F.pow(self, exponent)

    def __rpow__(self, base: Any) -> Variable:
        raise TypeError(
            "c ** x with a Variable exponent is not supported: ** takes a scalar exponent. "
            "Write exp(x * log(c)) instead."
        )

    def __matmul__(self, other: Operand) -> Variable:
        return _apply2(_new(_MatMul), self, other)

    def __rmatmul__(self, other: Operand) -> Variable:
        return _apply2(_new(_MatMul), other, self)

    def __getitem__(self, index: Any) -> Variable:
        return _F.get_item(self, index)


_new = object.__new__
_asarray = np.asarray


def _variable(data: np.ndarray) -> Variable:
    """A Variable around ``data`` that needs no gradient, made without the constructor's checks."""
    v = _new(Variable)
    v.data = data
    v.name = None
    v.grad = None
    v.creator = None
    v.generation = 0
    v.requires_grad = False
    v._value = None
    return v


def _as_variables(fn: Function, inputs: tuple) -> tuple[Variable, ...]:
    """``inputs`` with every non-Variable operand wrapped as a constant Variable."""
    if len(inputs) == 2:  # the commonest mixed case first: `v * 2.0`, `1.0 - v`
        x0, x1 = inputs
        if type(x1) is float and isinstance(x0, Variable):
            return x0, _scalar_constant(x1, x0.data.dtype)
        if type(x0) is float and isinstance(x1, Variable):
            return _scalar_constant(x0, x1.data.dtype), x1
    out = []
    like: Any = _UNSET
    for x in inputs:
        if isinstance(x, Variable):
            out.append(x)
        elif type(x) is np.ndarray:  # an array operand: a constant, kept as given
            out.append(_variable(x))
        else:
            if like is _UNSET:
                like = _dtype_of_first_array(inputs)
            out.append(_constant(x, like, fn, len(out)))
    return tuple(out)


_UNSET = object()


def _dtype_of_first_array(inputs: tuple) -> np.dtype | None:
    # A Python scalar takes the dtype of the arrays it meets, as NumPy's weak scalars do:
    # `x32 * 2.0` stays float32, `labels + 1` stays integer.
    for x in inputs:
        if isinstance(x, Variable):
            return x.data.dtype
        if isinstance(x, np.ndarray):
            return x.dtype
    return None


def _constant(x: Any, like: np.dtype | None, fn: Function, position: int) -> Variable:
    kind = type(x)
    if kind is float:
        return _scalar_constant(x, like)
    if kind is int:
        return _scalar_constant(x, like, integer=True)
    if isinstance(x, np.ndarray):
        return _variable(x)
    if isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_, complex)):
        return _variable(np.asarray(x))
    raise TypeError(
        f"{type(fn).__name__}: operand {position} is a {kind.__name__}; expected a Variable, "
        "a numpy.ndarray or a Python int/float"
    )


_FLOAT64 = np.dtype(np.float64)
_constants: dict[tuple[Any, ...], Variable] = {}


def _scalar_constant(x: float, like: np.dtype | None, integer: bool = False) -> Variable:
    """A constant Variable for a Python scalar operand, in the dtype of the arrays it meets.

    Constants are shared: ``y * 1.0001`` in a loop converts 1.0001 once and makes one
    Variable for it (each conversion costs about as much as the multiplication). Their data
    is read-only and they never get a gradient; drawings still show a constant at each use.
    Floats meeting integer arrays become float64.
    """
    if like is None or (like.kind != "f" and not integer):
        like = _FLOAT64
    # 1.0 == 1 as keys: an integer array's constants get keys of their own, so that a float
    # meeting it (which becomes float64) never finds them
    key = (x, like) if like.kind == "f" else (x, like, int)
    v = _constants.get(key)
    if v is None:
        a = np.array(x, like)
        a.flags.writeable = False
        v = _variable(a)
        v._value = a[()]
        if x != 0:  # 0.0 == -0.0 as keys: zeros are not shared
            if len(_constants) >= 4096:
                _constants.clear()
            _constants[key] = v
    return v


def _shapes(xs: Sequence[Variable]) -> str:
    return ", ".join(f"{x.shape} {x.dtype}" for x in xs)


class Function:
    """An operation in the graph. Subclass it to add your own.

    Override ``forward(self, *xs)``, which receives ndarrays and returns an ndarray (or a tuple
    of them), and ``backward(self, *gys)``, which receives one gradient Variable per output
    and returns one gradient per input (a Variable, an ndarray, or None for "no gradient")
    with that input's shape; a gradient of the shape the input was broadcast to is summed back.
    ``self.inputs`` holds the input Variables. Call an instance on Variables, arrays or
    scalars; it returns a Variable, or a tuple of Variables for several outputs.

    >>> class Square(Function):
    ...     def forward(self, x):
    ...         return x ** 2
    ...     def backward(self, gy):
    ...         x, = self.inputs
    ...         return 2 * x * gy
    >>> x = Variable(3.0)
    >>> Square()(x).backward()
    >>> x.grad
    Variable(6.0)
    """

    # _out: a weak reference to the output, or a tuple of them for several (one object fewer
    # per op for the garbage collector to track than a 1-tuple); None for an Op
    __slots__ = ("inputs", "_out", "_output_specs", "__weakref__")

    inputs: tuple[Variable, ...]
    #: True when ``forward`` uses only Python operators (+ - * / **): then 0-d inputs are passed
    #: as NumPy scalars, on which NumPy computes several times faster than on 0-d arrays.
    scalar_forward: bool = False
    _keeps_output = True  # a weak reference to each output, for ``outputs``

    @property
    def outputs(self) -> tuple[weakref.ref, ...]:
        """Weak references to the outputs (call one to get the Variable, or None once it is gone)."""
        out = self._out
        return out if type(out) is tuple else (out,)

    @property
    def generation(self) -> int:
        """The newest generation among the inputs that need a gradient (its outputs' is one more)."""
        return max((x.generation for x in self.inputs if x.requires_grad), default=-1)

    def __call__(self, *inputs: Operand) -> Any:
        n = len(inputs)
        if n == 2:
            return _apply2(self, inputs[0], inputs[1])
        if n == 1:
            return _apply1(self, inputs[0])
        return _apply(self, inputs)

    def _as_array(self, y: Any) -> np.ndarray:
        if isinstance(y, (np.generic, int, float)):  # a 0-d result comes back as a NumPy scalar
            return np.asarray(y)
        raise TypeError(
            f"{type(self).__name__}.forward returned a {type(y).__name__}; it must return an "
            "ndarray (or a tuple of ndarrays)"
        )

    def forward(self, *xs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, *xs)")

    def backward(self, *gys: Variable) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define backward(self, *gys)")

    def describe_error(self, xs: Sequence[Variable], exc: Exception) -> str:
        """The message for a ValueError raised by ``forward``: the op, its inputs, the cause."""
        name, cause = type(self).__name__, str(exc)
        if not cause.startswith(name + ":"):  # the op's own checks name it already
            cause = f"{name}: {cause}"
        return f"{cause} (inputs: {_shapes(xs)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# --- recording: the hot path of every op ---------------------------------------------------------
# Function.__call__ and Variable's operators come here; one- and two-input calls build no
# argument lists. All three end in _record, which makes the output and the node.


def _apply2(f: Function, x0: Any, x1: Any) -> Any:
    """Run and record ``f`` on two operands."""
    if type(x1) is not Variable:
        # `v * 1.0001`: the shared constant looked up by _scalar_constant's key for a float meeting
        # float data, without the two calls (7% of the scalar chain); any other case goes there
        c = _constants.get((x1, x0.data.dtype)) if type(x0) is Variable and type(x1) is float else None
        if c is not None:
            x1 = c
        else:
            x0, x1 = _as_variables(f, (x0, x1))
    elif type(x0) is not Variable:
        x0, x1 = _as_variables(f, (x0, x1))
    a, b = x0.data, x1.data
    try:
        if not (a.ndim or b.ndim) and f.scalar_forward:
            ys = f.forward(a[()], b[()])
        else:
            ys = f.forward(a, b)
    except ValueError as exc:
        raise ValueError(f.describe_error((x0, x1), exc)) from exc
    f.inputs = (x0, x1)
    gen = -1  # the newest input that needs a gradient; -1: record nothing
    if _grad_enabled():
        if x0.requires_grad:
            gen = x0.generation
        if x1.requires_grad and x1.generation > gen:
            gen = x1.generation
    return _record(f, ys, gen)


def _apply1(f: Function, x0: Any) -> Any:
    """Run and record ``f`` on one operand."""
    if type(x0) is not Variable:
        (x0,) = _as_variables(f, (x0,))
    a = x0.data
    try:
        ys = f.forward(a[()] if not a.ndim and f.scalar_forward else a)
    except ValueError as exc:
        raise ValueError(f.describe_error((x0,), exc)) from exc
    f.inputs = (x0,)
    return _record(f, ys, x0.generation if x0.requires_grad and _grad_enabled() else -1)


def _apply(f: Function, inputs: tuple) -> Any:
    """Run and record ``f`` on any number of operands."""
    for x in inputs:
        if type(x) is not Variable:
            inputs = _as_variables(f, inputs)
            break
    try:
        ys = f.forward(*[x.data for x in inputs])
    except ValueError as exc:
        raise ValueError(f.describe_error(inputs, exc)) from exc
    f.inputs = inputs
    gen = -1
    if _grad_enabled():
        for x in inputs:
            if x.requires_grad and x.generation > gen:
                gen = x.generation
    return _record(f, ys, gen)


def _record(f: Function, ys: Any, gen: int) -> Any:
    """The output Variable(s) of ``f`` around its forward result ``ys``; a node of the graph
    if ``gen`` (the newest generation among inputs that need a gradient) is not -1."""
    if type(ys) is np.ndarray:
        value = ys if ys.ndim else None
    elif isinstance(ys, np.generic):  # a 0-d result comes back as a NumPy scalar
        value, ys = ys, _asarray(ys)
    elif type(ys) is tuple:
        return _outputs(f, ys, gen)
    else:
        ys = f._as_array(ys)
        value = None
    out = _new(Variable)  # _variable() inlined: this runs once per op
    out.data = ys
    out._value = value
    out.name = None
    out.grad = None
    if gen < 0:
        out.creator = None
        out.generation = 0
        out.requires_grad = False
        return out
    out.creator = f
    out.generation = gen + 1
    out.requires_grad = True
    if f._keeps_output:
        f._out = weakref.ref(out)
    return out


def _outputs(f: Function, ys: tuple, gen: int) -> tuple[Variable, ...]:
    """Record the outputs of a function that returned several."""
    if not f._keeps_output:
        raise TypeError(
            f"{type(f).__name__}.forward returned {len(ys)} values: an Op has one output. "
            "Subclass Function (forward/backward) for a function with several outputs."
        )
    outs = tuple(_variable(y if type(y) is np.ndarray else f._as_array(y)) for y in ys)
    if gen >= 0:
        for out in outs:
            out.creator = f
            out.generation = gen + 1
            out.requires_grad = True
        f._out = tuple(weakref.ref(out) for out in outs)
        f._output_specs = tuple((out.shape, out.dtype) for out in outs)
    return outs


class Op(Function):
    """A single-output Function whose gradient rule is written once for arrays and Variables.

    Override ``vjp(self, gy, y, *xs)``: given the upstream gradient ``gy``, the output ``y``
    and the inputs ``xs``, return the gradient for each input. During a plain backward pass
    they are raw ndarrays (no graph, no Variable overhead); when the backward pass is recorded
    (``create_graph=True``) they are Variables, so the same rule builds a differentiable graph.
    Write rules with operators, ``.reshape``/``.transpose``/``.sum`` and the helpers made by
    ``dispatch``. All built-in ops are Ops.

    An Op keeps no reference to its output (the engine finds it from the graph and hands it
    to ``vjp``): one object fewer per op to allocate, track and free. So ``outputs`` is a
    Function's, not an Op's; ``compgraph.viz.walk`` finds every function's outputs.
    """

    __slots__ = ()
    _keeps_output = False
    _out = None  # read by the backward pass: an Op's only output is the value it came from

    @property
    def outputs(self) -> tuple[weakref.ref, ...]:
        raise AttributeError(
            f"{type(self).__name__} is an Op: Ops keep no reference to their output (vjp receives "
            "it as y). compgraph.viz.walk(outputs).outputs_of maps each function to its outputs."
        )

    def vjp(self, gy: Any, y: Any, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define vjp(self, gy, y, *xs)")

    def backward(self, *gys: Variable) -> Any:
        raise TypeError(
            f"{type(self).__name__} is an Op: the engine differentiates it through vjp(gy, y, *xs)"
        )

    def needs_grad(self, i: int) -> bool:
        """Whether input ``i`` wants a gradient (constants don't: skip computing theirs)."""
        return self.inputs[i].requires_grad


def as_array(x: Any) -> Any:
    """The data of a Variable; anything else as it is (for masks in ``Op.vjp`` rules)."""
    return x.data if isinstance(x, Variable) else x


def dispatch(array_fn: Callable[..., Any], variable_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``f(x, *args)`` that applies ``variable_fn`` to a Variable, ``array_fn`` otherwise.

    This is how an ``Op.vjp`` rule calls a function that has no operator (exp, sum_to, ...)
    and still works on arrays and on Variables.
    """

    def apply(x: Any, *args: Any) -> Any:
        if isinstance(x, Variable):
            return variable_fn(x, *args)
        return array_fn(x, *args)

    return apply


# --- backpropagation ---------------------------------------------------------------------------
def _label(v: Variable) -> str:
    return f"{v.name!r} " if v.name else ""


def _check_differentiable(v: Variable, role: str) -> None:
    if v.requires_grad:
        return
    if v.data.dtype.kind != "f":
        raise TypeError(
            f"{role} {_label(v)}has {v.dtype} data and cannot have a gradient: derivatives exist "
            "only for floating-point values. Convert it with .astype(np.float64) first."
        )
    if v.creator is None:
        raise ValueError(
            f"{role} {_label(v)}does not require a gradient: it is a constant "
            "(requires_grad=False) or was computed under no_grad() or from constants only, so "
            "no graph was recorded for it."
        )


def _given_seed(y: Variable, gy: Any, raw: bool) -> Any:
    """The gradient given for output ``y``, checked, as the pass uses it."""
    g = gy.data if isinstance(gy, Variable) and raw else gy
    if not isinstance(g, Variable):
        g = np.asarray(g, dtype=y.dtype)
    if g.shape != y.shape:
        raise ValueError(
            f"grad_output of shape {g.shape} given for an output of shape {y.shape}; they must match"
        )
    if not raw and not isinstance(g, Variable):
        g = _variable(g)
    return g


def _backprop(
    outputs: Sequence[Variable],
    grad_outputs: Sequence[Any],
    targets: set[Variable] | None,
    retain_grad: bool,
    create_graph: bool,
    observer: Observer | None = None,
) -> dict[Variable, Any]:
    """Run reverse mode from ``outputs``; return the gradient of every Variable still held.

    Gradients are raw arrays, or Variables when ``create_graph``. Intermediate gradients are
    dropped once their creator has used them, unless ``retain_grad`` or they are ``targets``.
    ``observer(f, gys, gxs)`` is told of every step, in the order they run.
    """
    raw = not create_graph
    grads: dict[Variable, Any] = {}
    # pending: the values whose creators are still to run, newest generation first (a function
    # is found from its output; an Op keeps no reference to its output)
    starts: list[Variable] = []
    seen: set[Function] = set()
    owned: set[int] = set()  # ids of the arrays this pass allocated for leaves' sums
    for i, y in enumerate(outputs):
        gy = grad_outputs[i]
        if not isinstance(y, Variable):
            raise TypeError(f"can only backpropagate from a Variable, got {type(y).__name__}")
        if targets is not None and not y.requires_grad:
            continue  # grad(): a constant output reaches no input
        if y.data.dtype.kind != "f":
            raise TypeError(
                f"cannot backpropagate from {_label(y)}with {y.dtype} data: derivatives exist only "
                "for floating-point values"
            )
        if not y.requires_grad:
            _check_differentiable(y, "the output")
        if gy is None:  # ones
            d = y.data
            g = np.ones(d.shape, d.dtype) if d.ndim else d.dtype.type(1)
            if not raw:
                g = _variable(_asarray(g))
        else:
            g = _given_seed(y, gy, raw)
        previous = grads.get(y)
        grads[y] = g if previous is None else previous + g
        f = y.creator
        if f is not None and f not in seen:
            seen.add(f)
            starts.append(y)

    free = not retain_grad
    pop = free and targets is None  # drop every intermediate gradient once it is used
    # a recorded pass records whatever the grad mode; a plain one runs rules on arrays, which
    # record nothing (user-defined backwards and observers see Variables: recording is off
    # around them)
    mode = _grad_mode.set(create_graph) if create_graph or observer is not None else None
    # the one pending value when nothing else waits (a chain, a single output) needs no heap
    heap: list[tuple[int, int, Variable]] = []
    if len(starts) == 1:
        follow: Variable | None = starts[0]
    else:
        follow = None
        heap = [(-y.generation, i, y) for i, y in enumerate(starts)]
        heapify(heap)
    count = len(starts)
    try:
        while heap or follow is not None:
            if follow is not None:
                y, follow = follow, None
            else:
                y = heappop(heap)[2]
            f = y.creator
            refs = f._out  # None for an Op (one output, kept by no reference)
            if refs is None or type(refs) is not tuple:  # one output: y
                gy = grads.pop(y) if pop or (free and y not in targets) else grads[y]
                xs = f.inputs
                if raw and refs is None:
                    # the rule gets values as the forward pass computed them (kept in _value),
                    # 0-d ones as NumPy scalars, on which NumPy computes several times faster
                    # than on 0-d arrays; a leaf's and an array operand's are read now
                    yd = y._value
                    if yd is None:
                        yd = _data_value(y)
                    n = len(xs)
                    if n == 2:
                        x0, x1 = xs
                        a, b = x0._value, x1._value
                        if a is None:
                            a = _data_value(x0)
                        if b is None:
                            b = _data_value(x1)
                        gxs = f.vjp(gy, yd, a, b)
                    elif n == 1:
                        a = xs[0]._value
                        if a is None:
                            a = _data_value(xs[0])
                        gxs = f.vjp(gy, yd, a)
                    else:
                        gxs = f.vjp(gy, yd, *[_data_value(x) if x._value is None else x._value for x in xs])
                elif raw:
                    gxs = _user_backward_raw(f, (gy,))
                elif refs is None:
                    gxs = f.vjp(gy, y, *xs)
                else:
                    gxs = f.backward(gy)
            else:
                gys = _gather_outputs(f, grads, free, targets, raw)
                xs = f.inputs
                gxs = _user_backward_raw(f, gys) if raw else f.backward(*gys)
            if type(gxs) is not tuple:
                gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
            if len(gxs) != len(xs):
                raise ValueError(
                    f"{type(f).__name__}.backward returned {len(gxs)} gradient(s) for {len(xs)} "
                    "input(s); it must return one gradient per input (None where there is none)"
                )
            if not raw:  # a rule may return arrays for constant parts: recorded gradients are Variables
                gxs = tuple(_as_variable_grad(g) for g in gxs)
            if observer is not None:  # it sees each input's final gradient (None: no gradient)
                gxs = tuple(_final_grad(f, xs, i, gx) for i, gx in enumerate(gxs))
                observer(f, gys if type(refs) is tuple else (gy,), gxs)
            i = -1  # a counter, not zip(xs, gxs): a zip costs more than the rest of a short loop
            for x in xs:
                i += 1
                gx = gxs[i]
                if gx is None or not x.requires_grad:
                    continue
                xd = x.data
                if gx.shape != xd.shape:
                    gx = _unbroadcast(f, gx, xs, x)
                if gx.dtype is not xd.dtype and gx.dtype != xd.dtype:
                    gx = gx.astype(xd.dtype)
                g = grads.get(x)
                if g is None:
                    grads[x] = gx
                    c = x.creator
                    if c is not None and c not in seen:
                        seen.add(c)
                        if follow is None and not heap:
                            follow = x
                        else:
                            if follow is not None:
                                heappush(heap, (-follow.generation, count, follow))
                                follow = None
                            heappush(heap, (-x.generation, count + 1, x))
                            count += 2
                elif id(g) in owned:
                    g += gx
                else:
                    g = g + gx
                    grads[x] = g
                    if raw and x.creator is None and type(g) is np.ndarray:
                        # a leaf's sum is seen by no rule: later terms can be added in place
                        owned.add(id(g))
    finally:
        if mode is not None:
            _grad_mode.reset(mode)
    return grads


def _data_value(x: Variable) -> Any:
    """For a value the forward pass kept nothing of (a leaf, an array operand): its data as a
    gradient rule receives it, read now, 0-d as a NumPy scalar."""
    v = x.data
    return v if v.ndim else v[()]


def _as_variable_grad(g: Any) -> Any:
    return g if g is None or isinstance(g, Variable) else _variable(np.asarray(g))


def _final_grad(f: Function, xs: tuple[Variable, ...], i: int, gx: Any) -> Any:
    """Input ``i``'s gradient as the engine will use it: summed back, cast, None if not needed."""
    x = xs[i]
    if gx is None or not x.requires_grad:
        return None
    if gx.shape != x.data.shape:
        gx = _unbroadcast(f, gx, xs, x)
    return gx if gx.dtype == x.data.dtype else gx.astype(x.data.dtype)


def _unbroadcast(f: Function, gx: Any, xs: tuple[Variable, ...], x: Variable) -> Any:
    """Sum a gradient over the axes that broadcasting added or stretched, back to x's shape.

    The engine does this once for every op (as PyTorch's does), so gradient rules of
    broadcasting ops are written as plain math. Any other shape is a bug in the backward.
    """
    shape = x.data.shape
    try:  # sum_to checks that ``shape`` broadcasts to the gradient's
        return _F.sum_to(gx, shape) if isinstance(gx, Variable) else _sum_to_array(gx, shape)
    except ValueError:
        raise ValueError(
            f"{type(f).__name__}.backward returned a gradient of shape {gx.shape} for input "
            f"{xs.index(x)} of shape {shape}; each gradient must have its input's shape (or a "
            "shape the input broadcasts to, which is summed back)"
        ) from None


def _gather_outputs(f: Function, grads: dict, free: bool, targets: set | None, raw: bool) -> tuple[Any, ...]:
    """The upstream gradients of a multi-output function; zeros for outputs that got none."""
    gys = []
    for ref, (shape, dtype) in zip(f._out, f._output_specs):
        y = ref()
        g = None
        if y is not None:
            g = grads.pop(y, None) if free and (targets is None or y not in targets) else grads.get(y)
        if g is None:
            g = np.zeros(shape, dtype) if raw else _variable(np.zeros(shape, dtype))
        gys.append(g)
    return tuple(gys)


def _user_backward_raw(f: Function, gys: tuple[Any, ...]) -> tuple[Any, ...]:
    """Call a user-defined backward (which works on Variables) during a plain backward pass."""
    mode = _grad_mode.set(False)  # the pass is not recorded
    try:
        result = f.backward(*[_variable(np.asarray(g)) for g in gys])
    finally:
        _grad_mode.reset(mode)
    if type(result) is not tuple:
        result = tuple(result) if isinstance(result, list) else (result,)
    return tuple(
        g.data if isinstance(g, Variable) else (None if g is None else np.asarray(g)) for g in result
    )


def _as_grad(g: Any) -> Variable:
    """A gradient as it reaches ``.grad``: a Variable around a writeable ndarray."""
    if type(g) is np.ndarray:
        if not g.flags.writeable:  # a broadcast view: users may update a gradient in place
            g = g.copy()
    elif isinstance(g, Variable):
        return g
    else:
        g = _asarray(g)  # a NumPy scalar from a 0-d op
    return _variable(g)


def _backprop_into_grad(
    outputs: Sequence[Variable],
    grad_outputs: Sequence[Any],
    retain_grad: bool,
    create_graph: bool,
    observer: Observer | None = None,
) -> None:
    grads = _backprop(outputs, grad_outputs, None, retain_grad, create_graph, observer)
    for x, g in grads.items():
        if x.creator is None or retain_grad:
            g = _as_grad(g)
            if x.grad is None:
                x.grad = g
            elif create_graph:
                with enable_grad():
                    x.grad = x.grad + g  # recorded: the sum is part of the new graph
            else:
                x.grad = _variable(x.grad.data + g.data)


def backward(
    outputs: Variable | Sequence[Variable],
    grad_outputs: Any = None,
    *,
    retain_grad: bool = False,
    create_graph: bool = False,
    observer: Observer | None = None,
) -> None:
    """Backpropagate from several outputs at once, accumulating into the leaves' ``.grad``.

    ``grad_outputs`` weights each output (default: ones), as in ``grad``. ``observer``, if
    given, is called as ``observer(function, upstream_grads, input_grads)`` after every step, in
    the order the steps run: the hook behind ``compgraph.viz``'s step-by-step traces. It sees
    each input's final gradient (summed back over broadcast axes; None for an input that gets
    none), as ndarrays (NumPy scalars for 0-d values), or as Variables with ``create_graph``.
    """
    outs = (outputs,) if isinstance(outputs, Variable) else tuple(outputs)
    gouts = _grad_outputs(grad_outputs, len(outs))
    _backprop_into_grad(outs, gouts, retain_grad, create_graph, observer)


def _grad_outputs(grad_outputs: Any, n: int) -> tuple[Any, ...]:
    if grad_outputs is None:
        return (None,) * n
    gouts = tuple(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else (grad_outputs,)
    if len(gouts) != n:
        raise ValueError(f"{len(gouts)} grad_outputs given for {n} outputs")
    return gouts


def grad(
    outputs: Variable | Sequence[Variable],
    inputs: Variable | Sequence[Variable],
    grad_outputs: Any = None,
    create_graph: bool = False,
    *,
    observer: Observer | None = None,
) -> tuple[Variable | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    Returns one gradient per input (None for an input the outputs don't reach). ``grad_outputs``
    weights each output (default: ones). With ``create_graph`` the result can be differentiated
    again. ``observer`` is told of every step, as in ``backward``.

    >>> x = Variable(2.0)
    >>> (gx,) = grad(x ** 3, [x], create_graph=True)
    >>> gx, grad(gx, [x])[0]
    (Variable(12.0), Variable(12.0))
    """
    outs = (outputs,) if isinstance(outputs, Variable) else tuple(outputs)
    ins = (inputs,) if isinstance(inputs, Variable) else tuple(inputs)
    gouts = _grad_outputs(grad_outputs, len(outs))
    for i, x in enumerate(ins):
        if not isinstance(x, Variable):
            raise TypeError(f"grad: input {i} is a {type(x).__name__}, expected a Variable")
        _check_differentiable(x, f"grad: input {i}")
    grads = _backprop(outs, gouts, set(ins), False, create_graph, observer)
    return tuple(None if (g := grads.get(x)) is None else _as_grad(g) for x in ins)


# Variable's operators and methods are ops from `functions`, which builds on this module; it is
# imported last, once Variable and Function exist. Operators make their op objects without a
# constructor call (these ops have no parameters) and go straight to the recording code.
from compgraph import functions as _F  # noqa: E402
from compgraph.functions.arithmetic import Add as _Add  # noqa: E402
from compgraph.functions.arithmetic import Div as _Div  # noqa: E402
from compgraph.functions.arithmetic import Mul as _Mul  # noqa: E402
from compgraph.functions.arithmetic import Neg as _Neg  # noqa: E402
from compgraph.functions.arithmetic import Sub as _Sub  # noqa: E402
from compgraph.functions.matrix import MatMul as _MatMul  # noqa: E402
from compgraph.functions.shape import sum_to_array as _sum_to_array  # noqa: E402
