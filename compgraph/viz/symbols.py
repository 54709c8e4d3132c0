"""How each operation reads: its label in a drawing (×, +, **2), and its formulas as text.

``label(f)`` is the text in a function's node: a symbol for the built-in ops, the ``label``
string attribute of a Function that defines one, else the class name. ``definition`` writes
an output as a formula of its inputs (``x + y``, ``t²``), ``local_derivatives`` the local
derivative of the output with respect to each input (``2t`` for t², the other factor for a
product), for elementwise ops; ``rule`` describes the backward rule of the others (``g @ Wᵀ``).

Formulas are short strings with a precedence (``Sym``), so composing them puts parentheses
only where needed: 2 times (x + y) reads ``2(x + y)``. Text longer than ``MAX_LENGTH`` gives
up (None), which keeps every formula, and the work to build it, small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compgraph.core import Function, Op
from compgraph.functions.activation import LogSoftmax, ReLU, Sigmoid, Softmax
from compgraph.functions.arithmetic import Add, Cast, Div, Mul, Neg, Pow, Sub
from compgraph.functions.loss import MeanSquaredError, SoftmaxCrossEntropy
from compgraph.functions.math import Clip, Cos, Exp, Log, Sin, Sqrt, Tanh
from compgraph.functions.matrix import Linear, MatMul
from compgraph.functions.reduce import Max, Min, Sum
from compgraph.functions.shape import BroadcastTo, GetItem, Reshape, ScatterAdd, SumTo, Transpose
from compgraph.viz.format import format_number

MAX_LENGTH = 80

SUM, NEG, PRODUCT, POWER, ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Sym:
    """A formula as text, with the precedence of its outermost operation."""

    text: str
    prec: int = ATOM


ONE, MINUS_ONE, ZERO = Sym("1"), Sym("−1", NEG), Sym("0")

LABELS: dict[type, str] = {
    Add: "+",
    Sub: "−",
    Mul: "×",
    Div: "÷",
    Neg: "−",
    Cast: "astype",
    Exp: "exp",
    Log: "log",
    Sin: "sin",
    Cos: "cos",
    Tanh: "tanh",
    Sqrt: "√",
    Clip: "clip",
    Sigmoid: "σ",
    ReLU: "relu",
    Softmax: "softmax",
    LogSoftmax: "log_softmax",
    Reshape: "reshape",
    Transpose: "ᵀ",
    BroadcastTo: "broadcast",
    SumTo: "sum_to",
    GetItem: "[ ]",
    ScatterAdd: "scatter_add",
    Sum: "Σ",
    Max: "max",
    Min: "min",
    MatMul: "matmul",
    Linear: "linear",
    SoftmaxCrossEntropy: "softmax CE",
    MeanSquaredError: "MSE",
}


def label(f: Function) -> str:
    """The text in ``f``'s node: its ``label`` attribute, a symbol, or the class name."""
    own = getattr(f, "label", None)
    if isinstance(own, str):
        return own
    if type(f) is Pow:
        return f"**{format_number(f.c)}"
    return LABELS.get(type(f), type(f).__name__)


# --- composing formulas ---------------------------------------------------------------------------
def wrap(s: Sym, prec: int) -> str:
    """``s`` as an operand of an operation of precedence ``prec``: parenthesized if looser."""
    return s.text if s.prec >= prec else f"({s.text})"


def _fits(text: str, prec: int) -> Sym | None:
    return Sym(text, prec) if len(text) <= MAX_LENGTH else None


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power(s: Sym, c: float) -> Sym | None:
    """sᶜ: ``x²``, ``(x + y)³``, ``x^0.5``."""
    if c == 1:
        return s
    if c == 0:
        return ONE
    if float(c).is_integer() and abs(c) < 100:
        return _fits(wrap(s, ATOM) + format_number(c).translate(_SUPERSCRIPT), POWER)
    return _fits(f"{wrap(s, ATOM)}^{format_number(c)}", POWER)


def _is_letter_power(text: str) -> bool:
    """A one-letter name, maybe with a superscript exponent: ``x``, ``t²`` (so ``2t²`` reads)."""
    return len(text) >= 1 and text[0].isalpha() and all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻" for ch in text[1:])


def scale(c: float, s: Sym | None) -> Sym | None:
    """c·s written the way people do: ``2t``, ``2(x + y)``, ``2·t1``, ``−t⁻²``."""
    if s is None:
        return None
    if s == ONE:
        return Sym(format_number(c), ATOM if c >= 0 else NEG)
    if c == 1:
        return s
    if c == -1:
        return negate(s)
    number = format_number(abs(c))
    if _is_letter_power(s.text):
        body = number + s.text
    elif s.prec < PRODUCT:
        body = f"{number}({s.text})"
    else:
        body = f"{number}·{wrap(s, PRODUCT)}"
    return _fits(body if c >= 0 else "−" + body, PRODUCT if c >= 0 else NEG)


def negate(s: Sym | None) -> Sym | None:
    if s is None:
        return None
    if s == ONE:
        return MINUS_ONE
    if s == MINUS_ONE:
        return ONE
    if s.prec == NEG and s.text.startswith("−"):
        return Sym(s.text[1:], PRODUCT)
    return _fits("−" + wrap(s, PRODUCT), NEG)


def product(factors: Sequence[Sym | None]) -> Sym | None:
    """The product of factors, leaving out ones and gathering the signs of minus ones."""
    if any(s is None for s in factors):
        return None
    kept: list[Sym] = []
    negative = False
    for s in factors:
        if s == ZERO:
            return ZERO
        if s == MINUS_ONE:
            negative = not negative
        elif s != ONE:
            kept.append(s)
    if not kept:
        return MINUS_ONE if negative else ONE
    if len(kept) == 1:
        body = kept[0]
    else:
        # a leading minus of an inner factor becomes the product's sign
        texts = []
        for s in kept:
            if s.prec == NEG and s.text.startswith("−"):
                negative = not negative
                s = Sym(s.text[1:], PRODUCT)
            texts.append(wrap(s, PRODUCT))
        body = _fits("·".join(texts), PRODUCT)
    return negate(body) if negative else body


def total(terms: Sequence[Sym | None]) -> Sym | None:
    """The sum of terms: ``a + b − c``."""
    if not terms or any(s is None for s in terms):
        return None
    if len(terms) == 1:
        return terms[0]
    parts = [wrap(terms[0], SUM)]
    for s in terms[1:]:
        if s.prec == NEG and s.text.startswith("−"):
            parts.append("− " + wrap(Sym(s.text[1:], PRODUCT), PRODUCT))
        else:
            parts.append("+ " + wrap(s, SUM + 1))
    return _fits(" ".join(parts), SUM)


def _call(name: str, *args: Sym) -> Sym | None:
    return _fits(f"{name}({', '.join(a.text for a in args)})", ATOM)


# --- forward definitions ------------------------------------------------------------------------
Definition = Callable[[Function, Sequence[Sym]], "Sym | None"]

_DEFINITIONS: dict[type, Definition] = {
    Add: lambda f, x: _fits(f"{wrap(x[0], SUM)} + {wrap(x[1], NEG)}", SUM),
    Sub: lambda f, x: _fits(f"{wrap(x[0], SUM)} − {wrap(x[1], PRODUCT)}", SUM),
    Mul: lambda f, x: _fits(f"{wrap(x[0], PRODUCT)}·{wrap(x[1], POWER)}", PRODUCT),
    Div: lambda f, x: _fits(f"{wrap(x[0], PRODUCT)}/{wrap(x[1], POWER)}", PRODUCT),
    Neg: lambda f, x: _fits(f"−{wrap(x[0], POWER)}", NEG),
    Pow: lambda f, x: power(x[0], f.c),
    Cast: lambda f, x: _call(str(f.dtype), x[0]),
    Exp: lambda f, x: _call("exp", x[0]),
    Log: lambda f, x: _call("log", x[0]),
    Sin: lambda f, x: _call("sin", x[0]),
    Cos: lambda f, x: _call("cos", x[0]),
    Tanh: lambda f, x: _call("tanh", x[0]),
    Sqrt: lambda f, x: _fits("√" + wrap(x[0], ATOM), ATOM),
    Sigmoid: lambda f, x: _call("σ", x[0]),
    ReLU: lambda f, x: _call("relu", x[0]),
    Transpose: lambda f, x: _fits(wrap(x[0], ATOM) + "ᵀ", ATOM),
    Sum: lambda f, x: _call("Σ", x[0]),
    MatMul: lambda f, x: _fits(f"{wrap(x[0], PRODUCT)} @ {wrap(x[1], POWER)}", PRODUCT),
}


def definition(f: Function, inputs: Sequence[Sym]) -> Sym | None:
    """The output of single-output ``f`` as a formula of its inputs' formulas."""
    rule = _DEFINITIONS.get(type(f))
    if rule is not None:
        return rule(f, inputs)
    return _call(label(f), *inputs)


# --- local derivatives of elementwise ops ------------------------------------------------------
Local = Callable[[Function, Sequence[Sym]], "tuple[Sym | None, ...]"]


def _pow_local(f: Function, x: Sequence[Sym]) -> tuple[Sym | None, ...]:
    c = f.c
    if c == 0:
        return (ZERO,)
    return (scale(c, power(x[0], c - 1)),)


def _clip_local(f: Function, x: Sequence[Sym]) -> tuple[Sym | None, ...]:
    low = "-inf" if f.x_min is None else format_number(f.x_min)
    high = "inf" if f.x_max is None else format_number(f.x_max)
    return (_fits(f"[{low} ≤ {x[0].text} ≤ {high}]", ATOM),)


_LOCAL: dict[type, Local] = {
    Add: lambda f, x: (ONE, ONE),
    Sub: lambda f, x: (ONE, MINUS_ONE),
    Mul: lambda f, x: (x[1], x[0]),
    Div: lambda f, x: (
        _fits(f"1/{wrap(x[1], POWER)}", PRODUCT),
        _fits(f"−{wrap(x[0], PRODUCT)}/{wrap(x[1], ATOM)}²", NEG),
    ),
    Neg: lambda f, x: (MINUS_ONE,),
    Pow: _pow_local,
    Cast: lambda f, x: (ONE,),
    Exp: lambda f, x: (_call("exp", x[0]),),
    Log: lambda f, x: (_fits(f"1/{wrap(x[0], POWER)}", PRODUCT),),
    Sin: lambda f, x: (_call("cos", x[0]),),
    Cos: lambda f, x: (negate(_call("sin", x[0])),),
    Tanh: lambda f, x: (_fits(f"1 − tanh²({x[0].text})", SUM),),
    Sqrt: lambda f, x: (_fits(f"1/(2√{wrap(x[0], ATOM)})", PRODUCT),),
    Clip: _clip_local,
    Sigmoid: lambda f, x: (_fits(f"σ({x[0].text})(1 − σ({x[0].text}))", PRODUCT),),
    ReLU: lambda f, x: (_fits(f"[{x[0].text} > 0]", ATOM),),
}


def local_derivatives(f: Function, inputs: Sequence[Sym]) -> tuple[Sym | None, ...] | None:
    """∂y/∂xᵢ for each input of an elementwise op, as formulas; None for other functions."""
    rule = _LOCAL.get(type(f))
    return None if rule is None else rule(f, inputs)


def is_elementwise(f: Function) -> bool:
    """Whether ``f`` is an op whose local derivatives ``local_derivatives`` knows."""
    return type(f) in _LOCAL


_RULES: dict[type, tuple[str, ...]] = {
    MatMul: ("g @ {1}ᵀ", "{0}ᵀ @ g"),
    Linear: ("g @ {1}ᵀ", "{0}ᵀ @ g", "Σ g over the batch"),
    Sum: ("g broadcast back",),
    Max: ("g to the maximum",),
    Min: ("g to the minimum",),
    Reshape: ("g reshaped back",),
    Transpose: ("gᵀ",),
    BroadcastTo: ("g summed back",),
    SumTo: ("g broadcast back",),
    GetItem: ("g put back at the index",),
    Softmax: ("y·(g − Σ y·g)",),
    LogSoftmax: ("g − softmax·Σ g",),
    SoftmaxCrossEntropy: ("g·(softmax({0}) − onehot({1}))/N", "none"),
    MeanSquaredError: ("g·2({0} − {1})/N", "g·2({1} − {0})/N"),
}


def rule(f: Function, inputs: Sequence[Sym], position: int) -> str:
    """How ``f``'s backward turns the upstream gradient g into input ``position``'s gradient."""
    texts = _RULES.get(type(f))
    if texts is None or position >= len(texts):
        return "vjp rule" if isinstance(f, Op) else "backward()"
    return texts[position].format(*(s.text for s in inputs))
