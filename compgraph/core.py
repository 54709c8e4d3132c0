"""The graph engine: Variable, Function, grad mode, and reverse-mode backpropagation.

A computation records its graph while it runs (define-by-run). Calling a Function on
Variables that need gradients makes it the ``creator`` of its outputs: it holds its inputs
strongly and its outputs weakly (an Op not at all), so a graph lives exactly as long as its
last output and holds no reference cycles. ``Variable.backward`` and ``grad`` walk the graph
back from the outputs in three steps:

1. seed: each output starts with the gradient ∂out/∂out = 1 (or the one given);
2. run a rule: the creator of the newest pending value (by generation, from a heap, so each
   function runs once, after every function that used its outputs) turns the gradients of its
   outputs into gradients of its inputs with its own local rule: one step of the chain rule;
3. accumulate: each input's gradient is added to what it already got, and its creator becomes
   pending.

Nothing is recursive, so a graph of any depth works. docs/engine.md walks through it.
"""

from __future__ import annotations

import copy
import itertools
import weakref
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from heapq import heappop, heappush
from typing import Any, TypeAlias

import numpy as np

from compgraph import notation
from compgraph.notation import Sym

#: ``observer(function, upstream_grads, input_grads)``: told of each step of a backward pass.
Observer: TypeAlias = "Callable[[Function, tuple[Any, ...], tuple[Any, ...]], None]"
#: What an op accepts as an operand: Variables, arrays (constants) and Python scalars (constants).
Operand: TypeAlias = "Variable | np.ndarray | int | float"

# Whether ops record the graph: per thread (and per asyncio task), like PyTorch's grad mode.
_grad_mode: ContextVar[bool] = ContextVar("compgraph_grad_enabled", default=True)
# The watcher of compgraph.anomaly.detect_anomaly(), told of every op and every backward step.
_anomaly: ContextVar[Any] = ContextVar("compgraph_anomaly", default=None)


@contextmanager
def _grad_mode_set(enabled: bool) -> Iterator[None]:
    token = _grad_mode.set(enabled)
    try:
        yield
    finally:
        _grad_mode.reset(token)


def no_grad() -> AbstractContextManager[None]:
    """Record nothing inside the block: ops run on their data and return plain Variables.

    >>> with no_grad():
    ...     y = Variable(2.0) * 3
    >>> y.creator is None
    True
    """
    return _grad_mode_set(False)


def enable_grad() -> AbstractContextManager[None]:
    """Record the graph inside the block, even within ``no_grad``."""
    return _grad_mode_set(True)


def is_grad_enabled() -> bool:
    """Whether ops called now (in this thread) record the graph."""
    return _grad_mode.get()


# --- in-place changes ---------------------------------------------------------------------------
# Every Variable has a stamp: the value of this clock when its data was set. A rule computes
# with its inputs' data at backward time, so an input stamped later than the op's output was
# changed in place after the forward pass, and the backward pass raises rather than use it.
_clock = 0


def changed_in_place(*variables: Variable) -> None:
    """Record that these Variables' data changed in place (optimizers call it on each step).

    A graph recorded before the change then refuses to backpropagate through them, instead of
    giving gradients computed with the new values: ``loss.backward()`` after ``opt.step()``
    raises. Changes you make to ``.data`` yourself go unseen unless you call this (or run
    under ``detect_anomaly()``, which checks every saved value).
    """
    global _clock
    _clock += 1
    for v in variables:
        v._stamp = _clock


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

    __slots__ = ("data", "grad", "creator", "name", "generation", "requires_grad", "_stamp", "__weakref__")
    # Makes NumPy return NotImplemented from `ndarray + Variable`, so our reflected operator runs.
    __array_ufunc__ = None

    def __init__(self, data: Any, name: str | None = None, *, requires_grad: bool | None = None):
        if type(data) is not np.ndarray:
            data = _data_array(data)
        if requires_grad is None:
            requires_grad = data.dtype.kind == "f"
        elif requires_grad:
            if data.dtype.kind != "f":
                raise TypeError(
                    f"Variable{f' {name!r}' if name else ''} has {data.dtype} data and cannot require "
                    "a gradient: derivatives exist only for floating-point values. Convert it with "
                    "data.astype(np.float64), or leave requires_grad unset for labels and indices."
                )
            requires_grad = True
        else:
            requires_grad = False
        self.data: np.ndarray = data
        self.name = name
        self.grad: Variable | None = None
        self.creator: Function | None = None  # the function that computed it; None for a leaf
        self.generation = 0  # one more than its creator's: the backward pass runs newest first
        self.requires_grad: bool = requires_grad
        self._stamp = _clock  # when this value was set: see changed_in_place

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
        return _shape.transpose(self)

    def __len__(self) -> int:
        if not self.data.ndim:
            raise TypeError("len() of a 0-d Variable: it holds one number (read it with .item())")
        return len(self.data)

    def __iter__(self) -> Iterator[Variable]:
        """The rows ``x[0], x[1], …``, each a recorded slice as in ``x[i]``."""
        if not self.data.ndim:
            raise TypeError("iteration over a 0-d Variable: it holds one number (read it with .item())")
        return (self[i] for i in range(len(self.data)))

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self._one_number("float"))

    def __int__(self) -> int:
        return int(self._one_number("int"))

    def _one_number(self, to: str) -> Any:
        if self.data.size != 1:
            raise TypeError(
                f"{to}() of a Variable of shape {self.shape}: only a one-element Variable converts to "
                "a Python number (use .data for the array)"
            )
        return self.data.item()

    # A Variable is a node of the graph, hashed and compared by identity (the engine keys its
    # dicts by Variable): == between Variables is `is`. Comparing values has no gradient, so
    # < <= > >= give constant bool Variables, and == against a number or an array raises
    # rather than answer False for a Variable that holds exactly that value.
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other if isinstance(other, Variable) else _compare_values("==", self, other)

    def __ne__(self, other: object) -> bool:
        return self is not other if isinstance(other, Variable) else _compare_values("!=", self, other)

    def __lt__(self, other: Operand) -> Variable:
        return _constant(self.data < as_array(other))

    def __le__(self, other: Operand) -> Variable:
        return _constant(self.data <= as_array(other))

    def __gt__(self, other: Operand) -> Variable:
        return _constant(self.data > as_array(other))

    def __ge__(self, other: Operand) -> Variable:
        return _constant(self.data >= as_array(other))

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

        For a non-scalar Variable the seed of ones gives the gradients of ``self.sum()`` (as
        in DeZero; PyTorch asks for an explicit seed instead: pass one with ``backward(y, g)``).
        Gradients ACCUMULATE into the ``.grad`` of every leaf the graph reaches (call
        ``cleargrad()`` to reset); each ``.grad`` owns its array. Intermediate gradients are
        freed unless ``retain_grad`` (or the intermediate's own ``retain_grad()``).
        With ``create_graph`` the backward pass is itself recorded, so the gradients can be
        differentiated again.
        """
        _backward_into_grads((self,), (None,), retain_grad, create_graph, None)

    def cleargrad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def register_hook(self, fn: Callable[[Variable], Any]) -> HookHandle:
        """Call ``fn(gradient)`` when this Variable's gradient is complete in a backward pass.

        ``fn`` gets the gradient as a Variable and may return a replacement (a Variable or an
        array of the same shape), which is what flows on (and into ``.grad`` for a leaf); None
        keeps it. With ``create_graph=True`` the gradient is part of the recorded graph, and
        so is what ``fn`` computes from it. Returns a handle: ``handle.remove()`` unhooks.

        >>> x = Variable(3.0)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * x).backward()
        >>> x.grad
        Variable(60.0)
        """
        if not callable(fn):
            raise TypeError(f"register_hook: expected a function fn(grad), got {type(fn).__name__}")
        if not self.requires_grad:
            _check_differentiable(self, "register_hook: the Variable")
        return _hooks_for(self).add(fn)

    def retain_grad(self) -> None:
        """Keep this intermediate's gradient in ``.grad`` after each ``backward()`` (a leaf's is
        always kept); ``backward(retain_grad=True)`` keeps every intermediate's."""
        if not self.requires_grad:
            _check_differentiable(self, "retain_grad: the Variable")
        _hooks_for(self).retain = True

    def detach(self) -> Variable:
        """A new leaf sharing this Variable's data, cut from the graph."""
        return Variable(self.data, self.name, requires_grad=False)

    # --- ops as methods ----------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Variable:
        """``reshape(2, 3)`` or ``reshape((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _shape.reshape(self, shape)

    def transpose(self, *axes: int | Sequence[int] | None) -> Variable:
        """``transpose()``, ``transpose(1, 0)`` or ``transpose((1, 0))``."""
        if not axes or (len(axes) == 1 and axes[0] is None):
            return _shape.transpose(self)
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _shape.transpose(self, axes)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        """The sum over ``axis`` (all axes by default), as ``F.sum``."""
        return _reduce.sum(self, axis, keepdims)

    def astype(self, dtype: Any) -> Variable:
        """This Variable converted to ``dtype``, as ``F.astype`` (its gradient converted back)."""
        return _arithmetic.astype(self, dtype)

    def __add__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Add(), self, other)

    def __radd__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Add(), other, self)

    def __sub__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Sub(), self, other)

    def __rsub__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Sub(), other, self)

    def __mul__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Mul(), self, other)

    def __rmul__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Mul(), other, self)

    def __truediv__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Div(), self, other)

    def __rtruediv__(self, other: Operand) -> Variable:
        return _apply2(_arithmetic.Div(), other, self)

    def __neg__(self) -> Variable:
        return _apply1(_arithmetic.Neg(), self)

    def __pow__(self, exponent: int | float) -> Variable:
        return _arithmetic.pow(self, exponent)

    def __rpow__(self, base: Any) -> Variable:
        raise TypeError(
            "c ** x with a Variable exponent is not supported: ** takes a scalar exponent. "
            "Write exp(x * log(c)) instead."
        )

    def __matmul__(self, other: Operand) -> Variable:
        return _apply2(_matrix.MatMul(), self, other)

    def __rmatmul__(self, other: Operand) -> Variable:
        return _apply2(_matrix.MatMul(), other, self)

    def __getitem__(self, index: Any) -> Variable:
        return _shape.get_item(self, index)


def _constant(a: Any) -> Variable:
    return Variable(np.asarray(a), requires_grad=False)


def _compare_values(op: str, x: Variable, other: object) -> bool:
    if other is None or not isinstance(other, (np.ndarray, np.generic, int, float)):
        return op == "!="  # not a value: never equal (x == None, x in [None, "a"])
    raise TypeError(
        f"Variable {op} {type(other).__name__}: == and != compare Variables by identity (a Variable "
        f"is a graph node); compare values with x.data {op} value, or x.item() {op} value"
    )


def _data_array(data: Any) -> np.ndarray:
    """The array a Variable stores for ``data`` that is not an ndarray; a TypeError for what is
    not a number."""
    if isinstance(data, np.ndarray):  # a subclass
        return data
    if isinstance(data, (np.integer, np.floating)):  # np.float64 included: keep its dtype
        return np.asarray(data)
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return np.array(float(data))  # float64
    hint = "; wrap it with np.array(...) first" if isinstance(data, (list, tuple)) else ""
    raise TypeError(
        f"Variable data must be a numpy.ndarray or a Python int/float, got {type(data).__name__}{hint}"
    )


def _as_inputs(f: Function, inputs: tuple[Any, ...]) -> tuple[Variable, ...]:
    """The operands of ``f`` as Variables (see ``_as_input``)."""
    like = None  # the dtype of the first array operand
    for x in inputs:
        like = _dtype_of(x)
        if like is not None:
            break
    return tuple([_as_input(f, i, x, like) for i, x in enumerate(inputs)])


def _dtype_of(x: Any) -> np.dtype | None:
    if isinstance(x, Variable):
        return x.data.dtype
    return x.dtype if isinstance(x, np.ndarray) else None


def _as_input(f: Function, position: int, x: Any, like: np.dtype | None) -> Variable:
    """Operand ``x`` of ``f`` as a Variable: arrays and numbers become constants (no gradient).

    A Python number takes the dtype ``like`` of the arrays it meets, as NumPy's weak scalars
    do: ``x32 * 2.0`` stays float32 and ``labels + 1`` stays integer; a float meeting integers
    becomes float64, and a number meeting bools int64 or float64 (``mask * 2`` counts).

    Its constant is shared by every use: ``y * 1.0001`` in a loop converts 1.0001 once
    (converting costs as much as the product). A shared constant always holds its number: its
    data is a view of immutable bytes (not even its writeable flag can be set), and one whose
    ``.data`` was rebound is not reused.
    """
    if isinstance(x, Variable):
        return x
    if type(x) is float or type(x) is int:
        if like is None or (type(x) is float and like.kind != "f"):
            dtype = _FLOAT64
        elif like.kind == "b":  # an int meeting bools
            dtype = _INT64
        else:
            dtype = like
        hit = _numbers.get((x, dtype))  # (1 and 1.0 are one key: in one dtype, one array)
        if hit is not None and hit[0].data is hit[1]:
            return hit[0]
        a = np.frombuffer(np.array(x, dtype).tobytes(), dtype).reshape(())
        c = Variable(a, requires_grad=False)
        if x == x and x != 0:  # NaN is no key, and 0.0 == -0.0 would mix the signed zeros
            if len(_numbers) >= 4096:
                _numbers.clear()
            _numbers[x, dtype] = (c, a)
        return c
    if isinstance(x, (np.ndarray, np.integer, np.floating)):
        return Variable(np.asarray(x), requires_grad=False)
    raise TypeError(
        f"{type(f).__name__}: operand {position} is a {type(x).__name__}; expected a Variable, "
        "a numpy.ndarray or a Python int/float"
    )


_FLOAT64, _INT64 = np.dtype(np.float64), np.dtype(np.int64)
_numbers: dict[tuple[Any, np.dtype], tuple[Variable, np.ndarray]] = {}  # for _as_input


class Function:
    """An operation in the graph. Subclass it to add your own.

    Override ``forward(self, *xs)``, which receives ndarrays and returns an ndarray (or a tuple
    of them), and ``backward(self, *gys)``, which receives one gradient Variable per output
    and returns one gradient per input (a Variable, an ndarray, or None for "no gradient")
    with that input's shape; a gradient of the shape the input was broadcast to is summed back.
    ``self.inputs`` holds the input Variables and ``self.outputs`` weak references to the
    outputs. Call an instance on Variables, arrays or scalars; it returns a Variable, or a
    tuple of Variables for several outputs. Each call is a node of its own: calling an
    instance again runs a (shallow) copy of it, so state a ``forward`` keeps on ``self`` is
    per call.

    How it reads in drawings and traces: ``label`` (the text in its node; the class name by
    default), ``formula`` and ``local_derivatives`` (see ``compgraph.notation``) and
    ``grad_rules``.

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

    __slots__ = ("inputs", "outputs", "_output_specs", "__weakref__")

    inputs: tuple[Variable, ...]
    #: weak references to the outputs: call one to get the Variable (None once it is gone)
    outputs: tuple[weakref.ref, ...]
    #: True when ``forward`` uses only Python operators (+ - * / **): then 0-d inputs come as
    #: NumPy scalars, on which NumPy computes several times faster than on 0-d arrays.
    scalar_forward: bool = False
    #: How the backward rule turns the upstream gradient g into each input's, for traces of
    #: ops that are not elementwise: ``"g @ {1}ᵀ"`` ({0}, {1}: the inputs' names).
    grad_rules: tuple[str, ...] = ()

    def __call__(self, *inputs: Operand) -> Any:
        f = self
        if getattr(f, "inputs", None) is not None:  # called before: this call is a node of its own
            f = copy.copy(f)
        if len(inputs) == 2:
            return _apply2(f, inputs[0], inputs[1])
        if len(inputs) == 1:
            return _apply1(f, inputs[0])
        return _apply(f, inputs)

    @property
    def generation(self) -> int:
        """The newest generation among the inputs that need a gradient (its outputs' is one more)."""
        return max((x.generation for x in self.inputs if x.requires_grad), default=-1)

    def forward(self, *xs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """The outputs, from the inputs' arrays: one ndarray, or a tuple for several outputs."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, *xs)")

    def backward(self, *gys: Variable) -> Any:
        """One gradient per input, each of its input's shape, from one upstream gradient per
        output (Variables, so that a recorded backward pass can be differentiated again)."""
        raise NotImplementedError(f"{type(self).__name__} must define backward(self, *gys)")

    def needs_grad(self, i: int) -> bool:
        """Whether input ``i`` wants a gradient (constants don't: skip computing theirs)."""
        return self.inputs[i].requires_grad

    # --- how it reads in drawings and traces -------------------------------------------------
    @property
    def label(self) -> str:
        """The text in this function's node (the class name unless a subclass sets one)."""
        return type(self).__name__

    def formula(self, *xs: Sym) -> Sym | None:
        """Its output as a formula of its inputs' (None if too long): ``label(x, y)`` unless
        the op writes itself another way (``x + y``, ``x²``)."""
        return notation.call(self.label, *xs)

    def local_derivatives(self, *xs: Sym) -> tuple[Sym | None, ...] | None:
        """∂y/∂xᵢ for each input as formulas, for an elementwise op; None for other functions."""
        return None

    def describe_error(self, xs: Sequence[Variable], exc: Exception) -> str:
        """The message for a ValueError raised by ``forward``: the op, its inputs, the cause."""
        name, cause = type(self).__name__, str(exc)
        if not cause.startswith(name + ":"):  # the op's own checks name it already
            cause = f"{name}: {cause}"
        return f"{cause} (inputs: {', '.join(f'{x.shape} {x.dtype}' for x in xs)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# --- recording: the forward pass of every op ------------------------------------------------------
# Function.__call__ and Variable's operators come here. The usual one- and two-operand calls
# have their own few lines, which build no argument lists (a comprehension costs more than the
# arithmetic of a small op); all three end in _record.


def _apply2(f: Function, x0: Any, x1: Any) -> Any:
    """Run ``f`` on two operands and record it."""
    if type(x1) is not Variable:  # a constant takes the other operand's dtype
        x1 = _as_input(f, 1, x1, _dtype_of(x0))
    if type(x0) is not Variable:
        x0 = _as_input(f, 0, x0, _dtype_of(x1))
    f.inputs = (x0, x1)
    a, b = x0.data, x1.data
    if f.scalar_forward and not (a.ndim or b.ndim):
        a, b = a[()], b[()]  # NumPy scalars
    try:
        ys = f.forward(a, b)
    except ValueError as exc:
        raise ValueError(f.describe_error(f.inputs, exc)) from exc
    return _record(f, ys)


def _apply1(f: Function, x0: Any) -> Any:
    """Run ``f`` on one operand and record it."""
    if type(x0) is not Variable:
        x0 = _as_input(f, 0, x0, None)
    f.inputs = (x0,)
    a = x0.data
    try:
        ys = f.forward(a[()] if f.scalar_forward and not a.ndim else a)
    except ValueError as exc:
        raise ValueError(f.describe_error(f.inputs, exc)) from exc
    return _record(f, ys)


def _apply(f: Function, inputs: tuple[Any, ...]) -> Any:
    """Run ``f`` on any number of operands and record it."""
    for x in inputs:
        if type(x) is not Variable:
            inputs = _as_inputs(f, inputs)
            break
    f.inputs = inputs
    try:
        ys = f.forward(*[x.data for x in inputs])
    except ValueError as exc:
        raise ValueError(f.describe_error(inputs, exc)) from exc
    return _record(f, ys)


def _record(f: Function, ys: Any) -> Any:
    """The output Variable(s) around ``f``'s results ``ys``; made a node of the graph, with
    ``f`` as its creator, if some input needs a gradient and grad mode is on."""
    generation = -1  # the newest generation among the inputs that need a gradient
    if _grad_mode.get():
        for x in f.inputs:
            if x.requires_grad and x.generation > generation:
                generation = x.generation
    if type(ys) is tuple:
        out: Any = _record_several(f, ys, generation)
    else:
        out = _output(f, ys, generation)
        if out.creator is not None and not isinstance(f, Op):  # an Op's output is found from the graph
            f.outputs = (weakref.ref(out),)
    watch = _anomaly.get()
    if watch is not None:
        watch.recorded(f, out)
    return out


def _record_several(f: Function, ys: tuple[Any, ...], generation: int) -> tuple[Variable, ...]:
    if isinstance(f, Op):
        raise TypeError(
            f"{type(f).__name__}.forward returned {len(ys)} values: an Op has one output. "
            "Subclass Function (forward/backward) for a function with several outputs."
        )
    outs = tuple([_output(f, y, generation) for y in ys])
    if generation >= 0:
        f.outputs = tuple([weakref.ref(out) for out in outs])
        f._output_specs = tuple([(out.shape, out.dtype) for out in outs])  # zeros for a lost output
    return outs


def _output(f: Function, y: Any, generation: int) -> Variable:
    """The Variable around result ``y`` of ``f``, created by ``f`` if ``generation`` is not -1
    (and it is a float: a cast to int has no gradient)."""
    if type(y) is not np.ndarray:  # a 0-d result comes back as a NumPy scalar
        y = np.asarray(y) if isinstance(y, np.generic) else _output_array(f, y)
    out = Variable(y)  # a float output requires a gradient by default (an integer one never)
    if generation < 0 or not out.requires_grad:
        out.requires_grad = False
    else:
        out.creator = f
        out.generation = generation + 1
    return out


def _output_array(f: Function, y: Any) -> np.ndarray:
    if isinstance(y, (np.ndarray, np.generic, int, float)):
        return np.asarray(y)
    raise TypeError(
        f"{type(f).__name__}.forward returned a {type(y).__name__}; it must return an "
        "ndarray (or a tuple of ndarrays)"
    )


class Op(Function):
    """A single-output Function whose gradient rule is written once for arrays and Variables.

    Override ``vjp(self, gy, y, *xs)``: given the upstream gradient ``gy``, the output ``y``
    and the inputs ``xs``, return the gradient for each input. During a plain backward pass
    they are raw ndarrays, 0-d ones as NumPy scalars (no graph, no Variable overhead); when
    the backward pass is recorded (``create_graph=True``) they are Variables, so the same rule
    builds a differentiable graph. Write rules with operators, ``.reshape``/``.transpose``/
    ``.sum`` and the helpers made by ``dispatch``. All built-in ops are Ops.

    An Op keeps no reference to its output: the backward pass reaches it from its output and
    hands it to ``vjp``, so there is one object fewer per op to make, track and free (the
    largest saving of a small op). ``compgraph.viz.walk.walk(outputs).outputs_of`` maps every
    function of a graph to its outputs.
    """

    __slots__ = ()

    @property
    def outputs(self) -> tuple[weakref.ref, ...]:
        raise AttributeError(
            f"{type(self).__name__} is an Op: Ops keep no reference to their output (vjp receives it "
            "as y). compgraph.viz.walk.walk(outputs).outputs_of maps each function to its outputs."
        )

    def vjp(self, gy: Any, y: Any, *xs: Any) -> Any:
        """The gradient for each input (one value, or a tuple for several inputs), given the
        upstream gradient ``gy``, the output ``y`` and the inputs ``xs``: arrays in a plain
        backward pass, Variables in a recorded one."""
        raise NotImplementedError(f"{type(self).__name__} must define vjp(self, gy, y, *xs)")

    def backward(self, *gys: Variable) -> Any:
        """Not used by an Op (a TypeError): the engine calls ``vjp`` instead."""
        raise TypeError(
            f"{type(self).__name__} is an Op: the engine differentiates it through vjp(gy, y, *xs)"
        )


def _value(v: Variable) -> Any:
    """``v.data`` as a plain rule receives it: 0-d as a NumPy scalar, on which NumPy computes
    several times faster than on a 0-d array."""
    a = v.data
    return a if a.ndim else a[()]


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
def _backprop(
    outputs: Sequence[Variable],
    grad_outputs: Sequence[Any],
    keep: Container[Variable],
    create_graph: bool,
    observer: Observer | None = None,
) -> dict[Variable, Any]:
    """Run reverse mode from ``outputs``; return the gradient of every Variable still held.

    Gradients are raw arrays (0-d: NumPy scalars), or Variables when ``create_graph``. A
    value's gradient is dropped once its creator has used it, unless it is in ``keep``.
    ``observer(f, gys, gxs)`` is told of every step, in the order they run.
    """
    grads: dict[Variable, Any] = {}
    # the values whose creator is still to run, in a heap: the newest generation first, so
    # that a function runs after every function that used its outputs (ties: first come)
    pending: list[tuple[int, int, Variable]] = []
    queued: set[Function] = set()
    order = itertools.count()

    def accumulate(x: Variable, gx: Any) -> None:  # step 3: add up, and queue x's creator
        previous = grads.get(x)
        grads[x] = gx if previous is None else previous + gx
        f = x.creator
        if f is not None and f not in queued:
            queued.add(f)
            heappush(pending, (-x.generation, next(order), x))

    for y, gy in zip(outputs, grad_outputs):
        accumulate(y, _seed(y, gy, create_graph))  # step 1
    watch = _anomaly.get()
    token = _grad_mode.set(create_graph)  # a plain pass's rules run on arrays and record nothing
    try:
        while pending:
            y = heappop(pending)[2]
            f = y.creator
            if _hooks:  # a hook sees (and may replace) a value's gradient once it is complete
                _run_output_hooks(f, y, grads, create_graph)
            gys, gxs = _run_rule(f, y, grads, keep, create_graph)  # step 2
            if watch is not None:
                watch.stepped(f, y, gys, gxs)
            fitted = []
            stamp = y._stamp
            for x, gx in zip(f.inputs, gxs):
                if x._stamp > stamp:  # set after y was computed from it
                    raise _changed_error(f, x)
                if gx is None or not x.requires_grad:
                    gx = None
                else:
                    d = x.data
                    if gx.shape != d.shape or gx.dtype != d.dtype:
                        gx = _fit(f, x, gx)
                    accumulate(x, gx)
                fitted.append(gx)
            if observer is not None:  # it sees each input's gradient as it was added up
                observer(f, gys, tuple(fitted))
        if _hooks:
            for x in [x for x in grads if x.creator is None]:  # the leaves' gradients are complete now
                grads[x] = _hooked_gradient(x, grads[x], create_graph)
    finally:
        _grad_mode.reset(token)
    return grads


# --- hooks: register_hook and retain_grad ------------------------------------------------------
class HookHandle:
    """What ``Variable.register_hook`` returns: ``remove()`` takes the hook off again."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks: _Hooks, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        """Unhook (again: nothing happens)."""
        h = self._hooks
        h.fns.pop(self._key, None)
        v = h.variable()
        if not h.fns and not h.retain and v is not None and _hooks.get(id(v)) is h:
            del _hooks[id(v)]  # the backward pass skips its hook checks again once none is left


class _Hooks:
    """The hooks of one Variable, and whether ``retain_grad`` keeps its gradient."""

    __slots__ = ("variable", "fns", "retain")
    _keys = itertools.count()

    def __init__(self, v: Variable):
        key, table = id(v), _hooks  # the table itself: at exit the module's names become None
        self.variable = weakref.ref(v, lambda _: table.pop(key, None))
        self.fns: dict[int, Callable[[Variable], Any]] = {}  # in the order they were added
        self.retain = False

    def add(self, fn: Callable[[Variable], Any]) -> HookHandle:
        key = next(self._keys)
        self.fns[key] = fn
        return HookHandle(self, key)


#: The hooks of the Variables that have some, by id: a dict keyed by the Variables themselves
#: would keep them alive. The backward pass looks here only while it is not empty.
_hooks: dict[int, _Hooks] = {}


def _hooks_for(v: Variable) -> _Hooks:
    h = _hooks_of(v)
    if h is None:
        h = _hooks[id(v)] = _Hooks(v)
    return h


def _hooks_of(v: Variable) -> _Hooks | None:
    h = _hooks.get(id(v))
    return h if h is not None and h.variable() is v else None


class _Retained:
    """The Variables whose gradient ``retain_grad()`` keeps."""

    def __contains__(self, v: object) -> bool:
        h = _hooks.get(id(v))
        return h is not None and h.retain and h.variable() is v


_RETAINED = _Retained()


def _run_output_hooks(f: Function, y: Variable, grads: dict[Variable, Any], create_graph: bool) -> None:
    """Let the hooks of ``f``'s outputs replace their (now complete) gradients in ``grads``."""
    outs = (y,) if isinstance(f, Op) else [ref() for ref in f.outputs]
    for out in outs:
        if out is not None and out in grads:
            grads[out] = _hooked_gradient(out, grads[out], create_graph)


def _hooked_gradient(x: Variable, g: Any, create_graph: bool) -> Any:
    """``x``'s gradient ``g`` after each of its hooks has seen it (and maybe replaced it)."""
    h = _hooks_of(x)
    if h is None:
        return g
    for fn in list(h.fns.values()):
        new = fn(g if isinstance(g, Variable) else Variable(np.asarray(g), requires_grad=False))
        if new is None:
            continue
        new = _pass_gradient(new, create_graph)
        if new.shape != x.shape:
            raise ValueError(
                f"the hook {getattr(fn, '__qualname__', fn)!r} of {_label(x)}a Variable of shape "
                f"{x.shape} returned a gradient of shape {new.shape}; a hook must keep the shape"
            )
        g = new if new.dtype == x.dtype else new.astype(x.dtype)
    return g


def _changed_error(f: Function, x: Variable) -> RuntimeError:
    i = next(i for i, v in enumerate(f.inputs) if v is x)
    return RuntimeError(
        f"{type(f).__name__}: its input {i} {_label(x)}({x.shape} {x.dtype}) was changed in place "
        "after the forward pass (by an optimizer step or another changed_in_place), so the gradient "
        "would be computed with the new value. Call backward() before opt.step(), or run the "
        "forward pass again after it (detect_anomaly() shows where the op was called)."
    )


def _seed(y: Variable, gy: Any, create_graph: bool) -> Any:
    """The gradient a backward pass starts output ``y`` with: ones, or ``gy`` checked."""
    if not isinstance(y, Variable):
        raise TypeError(f"can only backpropagate from a Variable, got {type(y).__name__}")
    if not y.requires_grad:
        _check_differentiable(y, "the output")
    d = y.data
    if gy is None:  # ∂y/∂y = 1 (0-d: a NumPy scalar, made far faster than np.ones(()))
        g = np.ones(d.shape, d.dtype) if d.ndim else d.dtype.type(1)
    else:
        g = gy if isinstance(gy, Variable) and create_graph else np.asarray(as_array(gy), dtype=d.dtype)
        if g.shape != d.shape:
            raise ValueError(
                f"grad_output of shape {g.shape} given for an output of shape {d.shape}; they must match"
            )
        if not create_graph and not g.ndim:
            g = g[()]
    if create_graph and not isinstance(g, Variable):
        return Variable(np.asarray(g), requires_grad=False)
    return g


def _run_rule(
    f: Function, y: Variable, grads: dict[Variable, Any], keep: Container[Variable], create_graph: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Step 2, the one way the engine calls a rule: take the gradients of ``f``'s outputs out
    of ``grads`` (``y`` is one of them; kept ones stay) and return them with the gradients
    ``f``'s rule gives its inputs, one per input.

    An Op's ``vjp`` gets values (read now, 0-d as NumPy scalars) in a plain pass and Variables
    in a recorded one; a Function's ``backward`` gets Variables either way.
    """
    if isinstance(f, Op):
        gy = grads.get(y) if y in keep else grads.pop(y)
        if create_graph:
            gxs = f.vjp(gy, y, *f.inputs)
        else:
            gxs = f.vjp(gy, _value(y), *map(_value, f.inputs))
        gys: tuple[Any, ...] = (gy,)
    else:
        gys = _output_grads(f, grads, keep, create_graph)
        gxs = f.backward(*[g if isinstance(g, Variable) else Variable(g, requires_grad=False) for g in gys])
    if type(gxs) is not tuple:
        gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
    if len(gxs) != len(f.inputs):
        raise ValueError(
            f"{type(f).__name__}.backward returned {len(gxs)} gradient(s) for {len(f.inputs)} "
            "input(s); it must return one gradient per input (None where there is none)"
        )
    if create_graph or not isinstance(f, Op):
        gxs = tuple([_pass_gradient(g, create_graph) for g in gxs])
    return gys, gxs


def _pass_gradient(g: Any, create_graph: bool) -> Any:
    """A gradient a rule returned, as the pass adds it up: a Variable in a recorded pass (a
    rule may return arrays for constant parts), else an array (a Function returns Variables)."""
    if g is None:
        return None
    if create_graph:
        return g if isinstance(g, Variable) else Variable(np.asarray(g), requires_grad=False)
    return g.data if isinstance(g, Variable) else np.asarray(g)


def _output_grads(
    f: Function, grads: dict[Variable, Any], keep: Container[Variable], create_graph: bool
) -> tuple[Any, ...]:
    """The gradient of each output of Function ``f``: zeros for an output that got none (or is
    gone), as arrays or, when the pass is recorded, Variables."""
    gys = []
    for i, ref in enumerate(f.outputs):
        y = ref()
        g = None if y is None else grads.get(y) if y in keep else grads.pop(y, None)
        if g is None:
            shape, dtype = f._output_specs[i] if y is None else (y.shape, y.dtype)
            g = np.zeros(shape, dtype)
            if create_graph:
                g = Variable(g, requires_grad=False)
        gys.append(g)
    return tuple(gys)


def _fit(f: Function, x: Variable, gx: Any) -> Any:
    """Input ``x``'s gradient from ``f``'s rule summed back over the axes broadcasting added or
    stretched, in x's dtype: the engine does this once for every op (as PyTorch's does), so
    the rules of broadcasting ops are the plain math."""
    if gx.shape != x.data.shape:
        gx = _unbroadcast(f, x, gx)
    return gx if gx.dtype == x.data.dtype else gx.astype(x.data.dtype)


def _unbroadcast(f: Function, x: Variable, gx: Any) -> Any:
    """Sum a gradient back to x's shape; any shape x does not broadcast to is a bug in ``f``."""
    try:  # sum_to checks that x's shape broadcasts to the gradient's
        return _shape.sum_to(gx, x.shape) if isinstance(gx, Variable) else _shape.sum_to_array(gx, x.shape)
    except ValueError:
        raise ValueError(
            f"{type(f).__name__}.backward returned a gradient of shape {gx.shape} for input "
            f"{f.inputs.index(x)} of shape {x.shape}; each gradient must have its input's shape (or a "
            "shape the input broadcasts to, which is summed back)"
        ) from None


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
    raise ValueError(
        f"{role} {_label(v)}does not require a gradient: it is a constant "
        "(requires_grad=False) or was computed under no_grad() or from constants only, so "
        "no graph was recorded for it."
    )


class _Everything:
    """The container that holds every Variable: ``backward(retain_grad=True)`` keeps them all."""

    def __contains__(self, v: object) -> bool:
        return True


_EVERYTHING = _Everything()


class _Handout:
    """Gives out the gradients of one backward pass as Variables that own their arrays.

    A rule may pass one array on to several inputs (``x + y`` gives both its upstream
    gradient), and a seed may be the caller's own array: so that ``W.grad.data *= 0.5``
    changes W's gradient alone, a gradient whose memory another handed-out gradient (or a
    ``grad_outputs`` array) already uses is copied, as is a read-only one (a broadcast view).
    """

    def __init__(self, grad_outputs: Sequence[Any]):
        self.taken = set()  # the ids of the arrays that own the memory given out so far
        for g in grad_outputs:
            if g is not None:
                self.taken.add(id(_buffer(as_array(g))))

    def __call__(self, g: Any) -> Variable:
        if isinstance(g, Variable):  # a recorded pass: the gradient is a node of the new graph
            if id(_buffer(g.data)) in self.taken:
                with enable_grad():
                    g = g * 1  # a node of its own, with an array of its own
            self.taken.add(id(_buffer(g.data)))
            return g
        if type(g) is not np.ndarray:  # a NumPy scalar from a 0-d op: a new array is all its own
            return Variable(np.asarray(g), requires_grad=False)
        owner = id(_buffer(g))
        if not g.flags.writeable or owner in self.taken:
            return Variable(g.copy(), requires_grad=False)
        self.taken.add(owner)
        return Variable(g, requires_grad=False)


def _buffer(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself, or the base of a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _as_tuple(xs: Any) -> tuple[Any, ...]:
    return (xs,) if isinstance(xs, Variable) else tuple(xs)


def _grad_outputs(grad_outputs: Any, n: int) -> tuple[Any, ...]:
    if grad_outputs is None:
        return (None,) * n
    gouts = tuple(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else (grad_outputs,)
    if len(gouts) != n:
        raise ValueError(f"{len(gouts)} grad_outputs given for {n} outputs")
    return gouts


def backward(
    outputs: Variable | Sequence[Variable],
    grad_outputs: Any = None,
    *,
    retain_grad: bool = False,
    create_graph: bool = False,
    observer: Observer | None = None,
) -> None:
    """Backpropagate from several outputs at once, accumulating into the leaves' ``.grad``.

    ``grad_outputs`` weights each output (default: ones), as in ``grad``. Intermediate
    gradients are kept in their ``.grad`` only with ``retain_grad``. ``observer``, if given, is
    called as ``observer(function, upstream_grads, input_grads)`` after every step, in the
    order the steps run: the hook behind ``compgraph.viz``'s step-by-step traces. It sees each
    input's final gradient (summed back over broadcast axes; None for an input that gets none),
    as ndarrays (NumPy scalars for 0-d values), or as Variables with ``create_graph``.
    """
    outs = _as_tuple(outputs)
    _backward_into_grads(outs, _grad_outputs(grad_outputs, len(outs)), retain_grad, create_graph, observer)


def _backward_into_grads(
    outputs: Sequence[Variable],
    grad_outputs: Sequence[Any],
    retain_grad: bool,
    create_graph: bool,
    observer: Observer | None,
) -> None:
    keep = _EVERYTHING if retain_grad else _RETAINED if _hooks else ()
    grads = _backprop(outputs, grad_outputs, keep, create_graph, observer)
    handout = _Handout(grad_outputs)
    for x, g in grads.items():
        if x.creator is not None and x not in keep:
            continue
        if x.grad is None:
            x.grad = handout(g)
        elif create_graph:
            with enable_grad():
                x.grad = x.grad + g  # recorded: the sum is part of the new graph
        else:
            x.grad = Variable(x.grad.data + as_array(g), requires_grad=False)


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
    outs, ins = _as_tuple(outputs), _as_tuple(inputs)
    gouts = _grad_outputs(grad_outputs, len(outs))
    for i, x in enumerate(ins):
        if not isinstance(x, Variable):
            raise TypeError(f"grad: input {i} is a {type(x).__name__}, expected a Variable")
        _check_differentiable(x, f"grad: input {i}")
    # an output that is a constant reaches no input: it is left out
    reaching = [(y, g) for y, g in zip(outs, gouts) if not isinstance(y, Variable) or y.requires_grad]
    targets = set(ins)
    grads = _backprop([y for y, _ in reaching], [g for _, g in reaching], targets, create_graph, observer)
    handout = _Handout(gouts)
    return tuple(None if (g := grads.get(x)) is None else handout(g) for x in ins)


# Variable's operators and methods are ops of compgraph.functions, which builds on this module:
# the package's one circular import, made last, once Variable, Function and Op exist.
from compgraph.functions import arithmetic as _arithmetic  # noqa: E402
from compgraph.functions import matrix as _matrix  # noqa: E402
from compgraph.functions import reduce as _reduce  # noqa: E402
from compgraph.functions import shape as _shape  # noqa: E402
