"""A griffe extension for the API reference: doctests become code blocks, ``#:`` comments docstrings.

compgraph's docstrings are plain prose (``code``, - lists) with ``>>>`` examples, not Google or
NumPy sections, so mkdocstrings renders them as Markdown (``docstring_style: null``). In Markdown
a doctest is a paragraph; this wraps each one (a ``>>>`` line up to the next blank line, as
doctest reads it) in a ``pycon`` fence, and drops the ``# doctest:`` directives.

A module-level constant is documented the way Sphinx reads it: ``#:`` comment lines right
above its assignment (``#: The data sets compgraph train knows.``), which become its docstring.

A class's private bases (``LSTM(_Recurrent)``) are left out of its "Bases:" line: the reference
documents public names only, and a link to an undocumented base leads nowhere.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


def fence_doctests(text: str) -> str:
    """``text`` with every doctest example inside a ```pycon fence."""
    out: list[str] = []
    in_example = in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_example and not line.strip():
            out += ["```", ""]
            in_example = False
        elif not in_example and not in_fence and line.lstrip().startswith(">>>"):
            if out and out[-1].strip():
                out.append("")
            out.append("```pycon")
            in_example = True
        out.append(_DIRECTIVE.sub("", line) if in_example else line)
    if in_example:
        out.append("```")
    return "\n".join(out)


def comment_docstring(code: str, lineno: int) -> str | None:
    """The ``#:`` comment lines right above line ``lineno`` (1-based) of ``code``, or None."""
    lines = code.splitlines()
    found: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#:"):
        found.insert(0, lines[i].strip().removeprefix("#:").strip())
        i -= 1
    return "\n".join(found) or None


class DoctestBlocks(griffe.Extension):
    """Fence the doctests of every object's docstring, and read ``#:`` comments, as it is loaded."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        code = getattr(agent, "code", None)
        if attr.docstring is None and code and attr.lineno:
            text = comment_docstring(code, attr.lineno)
            if text is not None:
                attr.docstring = griffe.Docstring(text, lineno=attr.lineno - 1, parent=attr)

    def on_class_instance(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        cls.bases = [base for base in cls.bases if not str(base).split(".")[-1].startswith("_")]

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
