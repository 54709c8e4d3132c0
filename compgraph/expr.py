"""Arithmetic expressions, parsed safely into compgraph graphs: the language of ``compgraph grad``.

The language: numbers, names, ``+ - * / **`` (also ``× · ÷ −``), parentheses, unary minus,
and the functions exp, log, sin, cos, tanh, sqrt, sigmoid, relu of one argument. The text is
parsed with Python's ``ast`` and every node is checked against exactly that list: nothing is
ever passed to ``eval``. Anything else (attribute access, other calls, lambdas, subscripts,
comparisons, strings, …) is an ``ExpressionError`` that points at the offending part.

Exponents must be constants, at most ``MAX_EXPONENT`` in size. Parts without names are
computed once, when parsing (``x * (1/2)`` multiplies by 0.5). Parsing, checking and
evaluating are iterative, so long inputs work: a sum of 50,000 terms is parsed in batches
(Python's parser itself gives up on such depths); what Python's parser cannot read at all,
like 100,000 nested minus signs, is refused with a clear message.

>>> e = parse("(x + y) ** 2")
>>> e.names
('x', 'y')
>>> e.evaluate({"x": 1.0, "y": 2.0})
Variable(9.0)
"""

from __future__ import annotations

import ast
import gc
import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph.core import Variable

#: The functions an expression may call, each with one argument.
FUNCTIONS: dict[str, Callable[[Any], Variable]] = {
    "exp": F.exp,
    "log": F.log,
    "sin": F.sin,
    "cos": F.cos,
    "tanh": F.tanh,
    "sqrt": F.sqrt,
    "sigmoid": F.sigmoid,
    "relu": F.relu,
}
#: The largest exponent allowed, in absolute value.
MAX_EXPONENT = 1000
#: The longest expression accepted, in characters.
MAX_LENGTH = 1_000_000
_BATCH = 500  # terms handed to ast.parse at once when an expression is too long for one call

_BINARY: dict[type, tuple[str, Callable[[Any, Any], Variable]]] = {
    ast.Add: ("+", F.add),
    ast.Sub: ("-", F.sub),
    ast.Mult: ("*", F.mul),
    ast.Div: ("/", F.div),
}
_OTHER_OPERATORS = {
    ast.FloorDiv: ("//", "floor division (//)"),
    ast.Mod: ("%", "the remainder operator (%)"),
    ast.MatMult: ("@", "matrix multiplication (@)"),
    ast.LShift: ("<<", "shifts (<<)"),
    ast.RShift: (">>", "shifts (>>)"),
    ast.BitOr: ("|", "the bitwise operator |"),
    ast.BitAnd: ("&", "the bitwise operator &"),
    ast.BitXor: ("^", "^ (it is not a power in Python: write x ** 2)"),
}
_NOT_ALLOWED = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[i])",
    ast.Lambda: "lambda",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.List: "lists",
    ast.Tuple: "tuples (a comma)",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generators",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "unpacking (*)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}
_ALLOWED = "numbers, names, + - * / **, parentheses and the functions " + ", ".join(FUNCTIONS)
_NUMBER = re.compile(r"(\d[\d_]*)?(\.[\d_]*)?([eE][+-]?\d[\d_]*)?$")
#: A comment sign, or a control character (Unicode category Cc, but tab) or line or paragraph
#: separator (Zl, Zp): the characters that would end the one line an expression is.
_REFUSED = re.compile("[#\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
#: The tokens a long expression is split at (``_Compiler.compile_terms``): numbers, names,
#: and operators or other single characters; a match's ``lastgroup`` is its kind. Simpler
#: than Python's tokenizer and ten times faster than its pure-Python ``tokenize`` module;
#: what it reads differently (strings, say) is not allowed anyway, and ast.parse of the
#: pieces says so.
_TOKEN = re.compile(
    r"(?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*|//|<<|>>|\S)"
)
_TRANSLATE = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-"})
# control characters shown as one visible character each, so the caret line stays aligned
_VISIBLE = {i: "�" for i in range(32)} | {9: " ", 10: "⏎", 13: "⏎"}


class ExpressionError(ValueError):
    """A bad expression or value; ``str()`` shows the message and marks the offending part.

    ``source`` is the text, ``start``/``end`` the span (character offsets) of the part.
    """

    def __init__(self, message: str, source: str = "", start: int | None = None, end: int | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.start = start
        self.end = end

    def __str__(self) -> str:
        if self.start is None or not self.source:
            return self.message
        start = max(0, min(self.start, len(self.source)))
        end = max(start + 1, min(self.end if self.end is not None else start + 1, len(self.source) + 1))
        # show a window around the part when the source is long
        left = max(0, start - 40)
        right = min(len(self.source), max(end, start + 1) + 40)
        shown = self.source[left:right].translate(_VISIBLE)
        prefix = "…" if left else ""
        suffix = "…" if right < len(self.source) else ""
        caret = " " * (len(prefix) + start - left) + "^" * max(1, min(end, right) - start)
        return f"{self.message}\n    {prefix}{shown}{suffix}\n    {caret}"


# Instructions of the compiled program, run on a stack: (kind, argument, start, end).
_VAR, _CONST, _BIN, _NEG, _POW, _CALL, _KEEP = range(7)


@dataclass
class Expression:
    """A parsed expression: its source, the names it uses (first use first), and a program."""

    source: str
    names: tuple[str, ...]
    program: list[tuple[int, Any, int, int]] = field(repr=False)
    first_use: dict[str, tuple[int, int]] = field(repr=False)

    def evaluate(self, values: Mapping[str, Any]) -> Variable:
        """The expression's value as a Variable whose graph leads back to the named values.

        ``values`` maps each name to a number (made a float64 Variable with that name) or to
        a Variable (used as it is). A name without a value is an ExpressionError.
        """
        for name in self.names:
            if name not in values:
                start, end = self.first_use[name]
                raise ExpressionError(f"no value given for {name}", self.source, start, end)
        leaves: dict[str, Any] = {}
        for name in self.names:
            v = values[name]
            if not isinstance(v, Variable):
                v = Variable(float(v), name=name)
            leaves[name] = v
        stack: list[Any] = []
        for kind, arg, _, _ in self.program:
            if kind == _VAR:
                stack.append(leaves[arg])
            elif kind == _CONST:
                stack.append(arg)
            elif kind == _BIN:
                b = stack.pop()
                stack.append(_BINARY[arg][1](stack.pop(), b))
            elif kind == _NEG:
                stack.append(F.neg(stack.pop()))
            elif kind == _POW:
                stack.append(F.pow(stack.pop(), arg))
            elif kind == _CALL:
                stack.append(FUNCTIONS[arg](stack.pop()))
        (result,) = stack
        return result if isinstance(result, Variable) else Variable(result, requires_grad=False)


@contextmanager
def paused_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for the block (as it was, after it).

    Parsing and evaluating a long expression makes millions of objects (AST nodes, program
    steps, Variables) that hold no reference cycles, so the collector's passes over them find
    nothing, and took a third of the time at the length limit. Reference counting still frees
    everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(source: str) -> Expression:
    """Parse and check ``source``; an ExpressionError points at what is wrong."""
    if not isinstance(source, str):
        raise TypeError(f"parse: the expression must be a str, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(source):,} characters long; the limit is {MAX_LENGTH:,}"
        )
    refused = _REFUSED.search(source)
    if refused:
        i, ch = refused.start(), refused[0]
        if ch == "#":
            raise ExpressionError("comments (#) are not allowed", source, i, i + 1)
        raise ExpressionError(
            f"the character {ch!r} is not allowed: write the expression on one line", source, i, i + 1
        )
    text = source.translate(_TRANSLATE)  # one character for one: offsets stay the same
    stripped = text.lstrip(" \t")
    if not stripped.strip():
        raise ExpressionError("the expression is empty")
    compiler = _Compiler(source)
    with paused_cycle_collection():
        try:
            tree = ast.parse(stripped, mode="eval")
        except (RecursionError, MemoryError):
            compiler.compile_long(text)
        except SyntaxError as exc:
            raise compiler.syntax_error(exc, _Unit(stripped, len(text) - len(stripped), 0)) from None
        else:
            compiler.compile_tree(tree, _Unit(stripped, len(text) - len(stripped), 0))
    return Expression(source, tuple(compiler.first_use), compiler.program, compiler.first_use)


def parse_assignment(text: str) -> tuple[str, float]:
    """``"x=2.5"`` as ``("x", 2.5)``: a name, ``=``, a number (also nan, inf, −3)."""
    name, sep, value = text.partition("=")
    name, value = unicodedata.normalize("NFKC", name.strip()), value.strip().translate(_TRANSLATE)
    if not sep:
        raise ExpressionError(f"{text!r} is not name=value (for example x=2)", text, 0, len(text))
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExpressionError(
            f"{name!r} is not a valid name (letters, digits and _)", text, 0, max(1, text.index("="))
        )
    start = text.index("=") + 1
    try:
        number = float(value)
    except ValueError:
        raise ExpressionError(
            f"{value!r} is not a number (for example {name}=2.5)", text, start, len(text)
        ) from None
    if math.isinf(number) and "inf" not in value.lower():
        raise ExpressionError(f"{value} is out of the range of float64 numbers", text, start, len(text))
    return name, number


def parse_values(texts: Iterable[str]) -> dict[str, float]:
    """``["x=1", "y=2.5"]`` as ``{"x": 1.0, "y": 2.5}``; an ExpressionError for a bad or repeated one."""
    values: dict[str, float] = {}
    for text in texts:
        name, value = parse_assignment(text.strip())
        if name in values:
            raise ExpressionError(f"{name} is given twice")
        values[name] = value
    return values


@dataclass
class _Unit:
    """A piece of source handed to ast.parse: its text, and where it sits in the whole."""

    text: str
    base: int  # offset of text[prefix:] in the whole source
    prefix: int  # characters of text that are not from the source (a placeholder)
    _chars: list[int] | None = field(default=None, repr=False)  # character offset of each byte

    def __post_init__(self) -> None:
        self._ascii = self.text.isascii()
        self._shift = self.base - self.prefix

    def span(self, node: ast.AST) -> tuple[int, int]:
        if self._ascii:  # the common case, once per node: ast columns are character offsets
            return node.col_offset + self._shift, node.end_col_offset + self._shift
        return self.where(node.col_offset), self.where(node.end_col_offset)

    def where(self, col: int | None) -> int:
        """The offset in the whole source of ast column ``col`` (which counts UTF-8 bytes)."""
        if col is None:
            return self.base
        if not self._ascii:
            if self._chars is None:
                self._chars = []
                for i, ch in enumerate(self.text):
                    self._chars.extend([i] * len(ch.encode("utf-8")))
                self._chars.append(len(self.text))
            col = self._chars[col]
        return self.base + col - self.prefix


class _Compiler:
    """Checks parsed trees and turns them into one stack program, folding constant parts."""

    def __init__(self, source: str):
        self.source = source
        self.program: list[tuple[int, Any, int, int]] = []
        self.first_use: dict[str, tuple[int, int]] = {}
        self.placeholder = ""

    def error(self, message: str, unit: _Unit, node: ast.AST) -> ExpressionError:
        start, end = unit.span(node)
        return ExpressionError(message, self.source, start, end)

    def syntax_error(self, exc: SyntaxError, unit: _Unit) -> ExpressionError:
        message = exc.msg or "invalid syntax"
        if "too many nested parentheses" in message:
            message += " (Python's parser allows up to 200)"
        if "leading zeros" in message:
            message = "malformed number: " + message
        if "invalid decimal literal" in message or "invalid digit" in message:
            message = "malformed number: " + message
        if "Exceeds the limit" in message:
            message = "malformed number: an integer may have at most 4300 digits"
        if not exc.offset or exc.offset < 1 or exc.lineno != 1:
            if message == "invalid syntax":  # Python reports no place when the input stops early
                end = len(self.source.rstrip())
                return ExpressionError(
                    "cannot parse the expression: it ends too early", self.source, end, end + 1
                )
            return ExpressionError(f"cannot parse the expression: {message}", self.source, None)
        start = unit.base + exc.offset - 1 - unit.prefix
        end = start + 1
        if exc.end_offset and exc.end_lineno == 1 and exc.end_offset > exc.offset:
            end = unit.base + exc.end_offset - 1 - unit.prefix
        start = min(max(start, 0), len(self.source))
        return ExpressionError(
            f"cannot parse the expression: {message}", self.source, start, max(end, start + 1)
        )

    # --- one tree ------------------------------------------------------------------------------
    def compile_tree(self, tree: ast.Expression, unit: _Unit) -> None:
        """Check ``tree`` and append its program; iterative (trees can be thousands deep)."""
        # Each result: (constant value or None, index of the node's first instruction).
        results: list[tuple[Any, int]] = []
        stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
        while stack:
            node, ready = stack.pop()
            children = [] if ready else self.children(node, unit)
            if children:
                stack.append((node, True))
                stack.extend([(child, False) for child in reversed(children)])
            else:  # a leaf, or a node whose operands are in
                self.emit(node, unit, results)
        (value, start) = results.pop()
        if value is not None:
            del self.program[start:]
            self.program.append((_CONST, value, *unit.span(tree.body)))

    def children(self, node: ast.AST, unit: _Unit) -> list[ast.AST]:
        """The operands of an allowed node; an ExpressionError for any other node."""
        if isinstance(node, ast.BinOp):
            if type(node.op) in _OTHER_OPERATORS:
                symbol, what = _OTHER_OPERATORS[type(node.op)]
                start, end = self.operator_span(node, symbol, unit)
                raise ExpressionError(
                    f"not allowed: {what} (an expression uses {_ALLOWED})", self.source, start, end
                )
            if not isinstance(node.op, (*_BINARY, ast.Pow)):
                raise self.error(f"not allowed: this operator (an expression uses {_ALLOWED})", unit, node)
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return [node.operand]
            what = {ast.UAdd: "unary + (drop it)", ast.Not: "not", ast.Invert: "~"}.get(type(node.op), "this")
            raise self.error(f"not allowed: {what} (an expression uses {_ALLOWED})", unit, node)
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name):
                raise self.error(f"only the functions {', '.join(FUNCTIONS)} can be called", unit, func)
            if func.id not in FUNCTIONS:
                raise self.error(
                    f"unknown function {func.id}(): the functions are {', '.join(FUNCTIONS)}", unit, func
                )
            if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                raise self.error(f"{func.id}() takes exactly one argument, as in {func.id}(x)", unit, node)
            return [node.args[0]]
        if isinstance(node, (ast.Constant, ast.Name)):
            return []
        what = _NOT_ALLOWED.get(type(node), type(node).__name__)
        raise self.error(f"not allowed: {what} (an expression uses {_ALLOWED})", unit, node)

    def operator_span(self, node: ast.BinOp, symbol: str, unit: _Unit) -> tuple[int, int]:
        start, _ = unit.span(node)
        left_end = unit.where(node.left.end_col_offset)
        right_start = unit.where(node.right.col_offset)
        found = self.source.translate(_TRANSLATE).find(symbol, left_end, right_start)
        if found < 0:
            return start, unit.where(node.end_col_offset)
        return found, found + len(symbol)

    def emit(self, node: ast.AST, unit: _Unit, results: list[tuple[Any, int]]) -> None:
        """Append ``node``'s instruction once its operands' are in; fold constant operands."""
        span = unit.span(node)
        program = self.program
        if isinstance(node, ast.Constant):
            results.append((self.number(node, unit), len(program)))
            program.append((_CONST, results[-1][0], *span))
        elif isinstance(node, ast.Name):
            if node.id == self.placeholder and self.placeholder:
                results.append((None, len(program)))
                program.append((_KEEP, None, *span))
            elif node.id in FUNCTIONS:
                raise self.error(f"{node.id} is a function: call it, as in {node.id}(x)", unit, node)
            else:
                self.first_use.setdefault(node.id, span)
                results.append((None, len(program)))
                program.append((_VAR, node.id, *span))
        elif isinstance(node, ast.BinOp):
            (b, _), (a, start) = results.pop(), results.pop()
            if isinstance(node.op, ast.Pow):
                if b is None:
                    raise self.error(
                        "the exponent must be a number: x ** y is not supported (write exp(y * log(x)))",
                        unit,
                        node.right,
                    )
                c = float(b)
                if not math.isfinite(c) or abs(c) > MAX_EXPONENT:
                    raise self.error(
                        f"the exponent {c:g} is too large: at most {MAX_EXPONENT} in size", unit, node.right
                    )
                del program[len(program) - 1 :]  # the exponent's constant
                self.fold_or_emit(a, start, _POW, c, span, results, lambda x: F.pow(x, c))
            else:
                name, fn = _BINARY[type(node.op)]
                if a is not None and b is not None:
                    self.fold(start, lambda: fn(a, b), span, results)
                else:
                    results.append((None, start))
                    program.append((_BIN, type(node.op), *span))
        elif isinstance(node, ast.UnaryOp):
            (a, start) = results.pop()
            self.fold_or_emit(a, start, _NEG, None, span, results, F.neg)
        elif isinstance(node, ast.Call):
            (a, start) = results.pop()
            name = node.func.id
            self.fold_or_emit(a, start, _CALL, name, span, results, FUNCTIONS[name])

    def fold_or_emit(self, a, start, kind, arg, span, results, fn) -> None:
        if a is not None:
            self.fold(start, lambda: fn(a), span, results)
        else:
            results.append((None, start))
            self.program.append((kind, arg, *span))

    def fold(self, start: int, compute: Callable[[], Variable], span, results) -> None:
        """Replace the constant operands' instructions by the computed constant."""
        with np.errstate(all="ignore"):
            value = compute().data
        del self.program[start:]
        results.append((value, start))
        self.program.append((_CONST, value, *span))

    def number(self, node: ast.Constant, unit: _Unit) -> np.ndarray:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.error(f"{value!r} is not a number", unit, node)
        if isinstance(value, (str, bytes)):
            raise self.error(f"not allowed: strings (an expression uses {_ALLOWED})", unit, node)
        if isinstance(value, complex):
            raise self.error("complex numbers are not supported", unit, node)
        start, end = unit.span(node)
        text = self.source[start:end]
        if not _NUMBER.match(text):
            raise self.error(
                f"malformed number {text!r}: write decimal numbers like 2, 0.5 or 1e-3", unit, node
            )
        try:
            number = float(value)
        except OverflowError:
            raise self.error(f"the number {text} is too large for float64", unit, node) from None
        if math.isinf(number):
            raise self.error(f"the number {text} is too large for float64", unit, node)
        return np.array(number)

    # --- expressions too deep for one ast.parse call --------------------------------------------
    def compile_long(self, text: str) -> None:
        """Compile a long flat sum (or product) in batches of terms.

        Python builds ``a + b + c + …`` as a tree as deep as it is long, and its parser stops
        at a depth of a few thousand. The top-level terms are found from the tokens
        (``_TOKEN``) and parsed a few hundred at a time, each batch continuing the previous
        one's result through a placeholder name, so the program is the one a single parse
        would give.
        """
        k = 0
        while f"_cg{k}" in text:
            k += 1
        self.placeholder = f"_cg{k}"
        self.compile_terms(text, 0, len(text), 0)

    def too_deep(self) -> ExpressionError:
        return ExpressionError(
            "the expression is nested too deeply for Python's parser (for example thousands of "
            "nested minus signs or function calls); simplify it",
            self.source,
        )

    def compile_terms(self, text: str, lo: int, hi: int, level: int) -> None:
        """Compile text[lo:hi], split at top-level + and - (level 0) or * and / (level 1)."""
        operators = ("+", "-") if level == 0 else ("*", "/")
        # (the span of the operator before the term, None for the first; the term's start, end)
        terms: list[tuple[tuple[int, int] | None, int, int]] = []
        depth, begin, operator = 0, lo, None
        previous = None
        for t in _TOKEN.finditer(text, lo, hi):
            symbol = t[0]
            if symbol in "([{":
                depth += 1
            elif symbol in ")]}":
                depth -= 1
            elif depth == 0 and symbol in operators and _is_operand(previous):
                terms.append((operator, begin, t.start()))
                operator, begin = t.span(), t.end()
            previous = t
        terms.append((operator, begin, hi))
        if len(terms) == 1:
            if level == 0:
                self.compile_terms(text, lo, hi, 1)
                return
            raise self.too_deep()
        i = 0
        while i < len(terms):
            batch = terms[i : i + _BATCH]
            try:
                self.compile_batch(text, batch, first=i == 0)
                i += len(batch)
                continue
            except (RecursionError, MemoryError):
                pass
            # one term is too deep: compile the batch's terms one at a time
            for operator, begin, end in batch:
                try:
                    self.compile_batch(text, [(operator, begin, end)], first=i == 0)
                except (RecursionError, MemoryError):
                    if level == 1:
                        raise self.too_deep() from None
                    self.compile_terms(text, begin, end, 1)
                    if i:
                        op = ast.Add if text[operator[0]] == "+" else ast.Sub
                        self.program.append((_BIN, op, *operator))
                i += 1

    def compile_batch(self, text: str, batch: list, first: bool) -> None:
        """Compile the terms of ``batch`` (see compile_terms), the first ones or a continuation."""
        operator, begin, _ = batch[0]
        end = batch[-1][2]
        if first:
            piece = text[begin:end]
            start = begin + len(piece) - len(piece.lstrip(" \t"))  # ast.parse refuses an indent
            unit = _Unit(text[start:end], start, 0)
        else:
            start = operator[0]
            head = self.placeholder + " "
            unit = _Unit(head + text[start:end], start, len(head))
        try:
            tree = ast.parse(unit.text, mode="eval")
        except SyntaxError as exc:
            raise self.syntax_error(exc, unit) from None
        mark = len(self.program)
        try:
            self.compile_tree(tree, unit)
        except (RecursionError, MemoryError):
            del self.program[mark:]
            raise


def _is_operand(token: re.Match[str] | None) -> bool:
    """Whether a + or - after ``token`` (a match of ``_TOKEN``) is binary (after an operand)
    rather than a sign."""
    if token is None:
        return False
    if token.lastgroup == "name":
        return not keyword.iskeyword(token[0]) or token[0] in ("None", "True", "False")
    return token.lastgroup == "number" or token[0] in (")", "]", "}")
