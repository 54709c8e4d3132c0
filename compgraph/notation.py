"""Formulas as text, for drawings and traces: how an op writes its output and its derivatives.

Every op describes itself (``Function.label``, ``formula``, ``local_derivatives``,
``grad_rules``) with the helpers here, so that a new op is written in one place. A formula is a
short string with the precedence of its outermost operation (``Sym``), so composing formulas
puts parentheses only where needed: 2 times (x + y) reads ``2(x + y)``, and ``x·y`` needs none.
Text longer than ``MAX_LENGTH`` gives up (None), which keeps every formula, and the work to
build it, small.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_LENGTH = 80

#: Precedences, loosest first: a sum, a negation, a product, a power, an atom (a name, a call).
SUM, NEG, PRODUCT, POWER, ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Sym:
    """A formula as text, with the precedence of its outermost operation."""

    text: str
    prec: int = ATOM


ONE, MINUS_ONE, ZERO = Sym("1"), Sym("−1", NEG), Sym("0")

_EXPONENT = re.compile(r"e([+-])0*(\d)")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def format_number(x: Any, digits: int = 12) -> str:
    """A scalar as compact text: ``715``, ``3.3``, ``-2.5e-7``, ``nan``, ``inf``."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    v = float(x)
    if v != v:
        return "nan"
    if v in (np.inf, -np.inf):
        return "inf" if v > 0 else "-inf"
    text = f"{v:.{digits}g}"
    text = _EXPONENT.sub(lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)
    return "0" if text == "-0" else text


def fits(text: str, prec: int) -> Sym | None:
    """``text`` as a formula of precedence ``prec``, or None if it is too long to show."""
    return Sym(text, prec) if len(text) <= MAX_LENGTH else None


def wrap(s: Sym, prec: int) -> str:
    """``s`` as an operand of an operation of precedence ``prec``: parenthesized if looser."""
    return s.text if s.prec >= prec else f"({s.text})"


def infix(left: Sym, operator: str, right: Sym, prec: int, right_prec: int | None = None) -> Sym | None:
    """``left operator right`` at precedence ``prec``; the right operand binds tighter (so
    x − (y − z) keeps its parentheses) unless ``right_prec`` says otherwise."""
    r = prec + 1 if right_prec is None else right_prec
    return fits(f"{wrap(left, prec)}{operator}{wrap(right, r)}", prec)


def call(name: str, *args: Sym) -> Sym | None:
    """``name(a, b)``."""
    return fits(f"{name}({', '.join(a.text for a in args)})", ATOM)


def power(s: Sym, c: float) -> Sym | None:
    """sᶜ: ``x²``, ``(x + y)³``, ``x^0.5``."""
    if c == 1:
        return s
    if c == 0:
        return ONE
    if float(c).is_integer() and abs(c) < 100:
        return fits(wrap(s, ATOM) + format_number(c).translate(_SUPERSCRIPT), POWER)
    return fits(f"{wrap(s, ATOM)}^{format_number(c)}", POWER)


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
    return fits(body if c >= 0 else "−" + body, PRODUCT if c >= 0 else NEG)


def negate(s: Sym | None) -> Sym | None:
    """−s, with −(−s) written s."""
    if s is None:
        return None
    if s == ONE:
        return MINUS_ONE
    if s == MINUS_ONE:
        return ONE
    if s.prec == NEG and s.text.startswith("−"):
        return Sym(s.text[1:], PRODUCT)
    return fits("−" + wrap(s, PRODUCT), NEG)


def _unsigned(s: Sym) -> tuple[Sym, bool]:
    """``s`` without a leading minus, and whether it had one."""
    if s.prec == NEG and s.text.startswith("−"):
        return Sym(s.text[1:], PRODUCT), True
    return s, False


def product(factors: Sequence[Sym | None]) -> Sym | None:
    """The product of factors, leaving out ones and gathering the signs of minus ones."""
    if any(s is None for s in factors):
        return None
    if ZERO in factors:
        return ZERO
    negative = sum(s == MINUS_ONE for s in factors) % 2 == 1
    kept = [s for s in factors if s not in (ONE, MINUS_ONE)]
    if not kept:
        return MINUS_ONE if negative else ONE
    if len(kept) == 1:
        body = kept[0]
    else:  # a leading minus of an inner factor becomes the product's sign
        texts = []
        for s in kept:
            s, minus = _unsigned(s)
            negative ^= minus
            texts.append(wrap(s, PRODUCT))
        body = fits("·".join(texts), PRODUCT)
    return negate(body) if negative else body


def total(terms: Sequence[Sym | None]) -> Sym | None:
    """The sum of terms: ``a + b − c``."""
    if not terms or any(s is None for s in terms):
        return None
    if len(terms) == 1:
        return terms[0]
    parts = [wrap(terms[0], SUM)]
    for s in terms[1:]:
        s, minus = _unsigned(s)
        parts.append(f"− {wrap(s, PRODUCT)}" if minus else f"+ {wrap(s, SUM + 1)}")
    return fits(" ".join(parts), SUM)
