"""An mkdocs hook: the site loads nothing from the network.

nbconvert's HTML template, which mkdocs-jupyter renders the tutorial with, puts two loaders in
every notebook page: a <script> that loads MathJax 2 from cdnjs to typeset the ``$...$`` math
when the page is viewed, and a module script that imports Mermaid from cdnjs when the page has
a Mermaid diagram (the tutorial has none). Here the math is typeset at build time instead, into
MathML, which browsers draw themselves (latex2mathml, pure Python, converts it), and both
loaders are removed from the page. Without latex2mathml installed the math is left to MathJax,
loaded from the CDN as nbconvert does, and the build says so.

tests/test_site.py checks that no built page refers to another host for a script, a style sheet
or a font, and that the tutorial's math is MathML.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("mkdocs.hooks.offline")

try:
    from latex2mathml.converter import convert as _to_mathml
except ImportError:  # the math stays TeX, for MathJax to typeset
    _to_mathml = None

# the <script> that loads MathJax with its x-mathjax-config script (nbconvert's base/mathjax
# macro, between its two comments), and the module script that looks for Mermaid diagrams
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MERMAID = re.compile(
    r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{'
    r'\s*const diagrams = document\.querySelectorAll\("\.jp-Mermaid.*?</script>',
    re.S,
)
# \text{apple\_num}: TeX needs the backslash; inside \text latex2mathml would keep it
_TEXT_ESCAPE = re.compile(r"(\\text\{[^}]*)\\([_&%$#])")


def mathml(tex: str, display: str) -> str:
    """The MathML of a TeX formula, ``display`` "inline" or "block"."""
    while _TEXT_ESCAPE.search(tex):
        tex = _TEXT_ESCAPE.sub(r"\1\2", tex)
    return _to_mathml(tex, display=display)


def _typeset_math_at_build_time() -> None:
    """Make nbconvert's Markdown renderer write MathML where it writes ``$...$`` for MathJax."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    IPythonRenderer.inline_math = lambda self, body: mathml(body, "inline")
    IPythonRenderer.block_math = lambda self, body: mathml(body, "block")
    IPythonRenderer.latex_environment = lambda self, name, body: mathml(
        f"\\begin{{{name}}}{body}\\end{{{name}}}", "block"
    )


def strip_network_loaders(html: str) -> str:
    """``html`` without nbconvert's Mermaid loader, and without its MathJax loader when the
    math has been typeset already."""
    html = _MERMAID.sub("", html)
    return _MATHJAX.sub("", html) if _to_mathml is not None else html


def on_config(config: Any) -> Any:
    if _to_mathml is not None:
        _typeset_math_at_build_time()
    else:
        log.info("latex2mathml is not installed: the tutorial's math will load MathJax from a CDN")
    return config


def on_post_page(output: str, page: Any, config: Any) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return strip_network_loaders(output)
    return output
