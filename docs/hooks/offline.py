"""An mkdocs hook: the site loads nothing from the network, and the notebook links its pages.

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
import posixpath
import re
from typing import Any

from mkdocs.exceptions import PluginError

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


# a notebook heading's math in the table of contents, which mkdocs-jupyter takes from the
# Markdown source: "2. The chain rule, on $z = (x + y)^2$"
_TOC_ENTRY = re.compile(r'(<span class="md-ellipsis">)(.*?)(</span>)', re.S)
_INLINE_TEX = re.compile(r"\$([^$<]+)\$")


def typeset_toc(html: str) -> str:
    """``html`` with the TeX in its navigation entries typeset as MathML."""

    def entry(match: re.Match) -> str:
        text = _INLINE_TEX.sub(lambda m: mathml(m.group(1), "inline"), match.group(2))
        return match.group(1) + text + match.group(3)

    return _TOC_ENTRY.sub(entry, html)


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


_HEADING = re.compile(r"<h([1-6]) id=\"([^\"]+)\"[^>]*>(.*?)<a class=\"anchor-link\"", re.S)
_NS0 = re.compile(r"(</?)ns0:|\s+xmlns:ns0=\"[^\"]*\"")


def fix_notebook_headings(html: str, toc: Any) -> str:
    """The notebook page's headings and their table of contents, made to agree.

    mkdocs-jupyter's heading renderer re-serializes a heading through ElementTree, which
    writes MathML as ``<ns0:math>`` (no browser reads that as math), and its table of contents
    drops inline code (``4. `MulLayer` and `AddLayer`, by hand`` became "4. and , by hand",
    linking to an id no heading has). Each entry takes the id and text of the heading at its
    place in the page, in order; an entry with math keeps its TeX for ``typeset_toc``.
    """
    html = _NS0.sub(lambda m: m.group(1) or "", html)
    headings = _HEADING.findall(html)
    entries = []
    stack = list(toc)[::-1]
    while stack:
        item = stack.pop()
        entries.append(item)
        stack.extend(list(item.children)[::-1])
    if len(entries) == len(headings):
        for item, (_, anchor, inner) in zip(entries, headings):
            item.id = anchor
            if "$" not in item.title:
                item.title = re.sub(r"<[^>]+>", "", inner).strip()
    else:
        log.warning(f"{len(entries)} table of contents entries for {len(headings)} notebook headings")
    return html


_MD_LINK = re.compile(r'href="([^":#]+\.md)(#[^"]*)?"')


def link_pages(html: str, page: Any, files: Any) -> str:
    """A notebook's links to other pages (``[Training](training.md)``, which work on GitHub and
    in Jupyter) as links to those pages on the site: mkdocs rewrites them in Markdown pages but
    mkdocs-jupyter leaves them as they are. A link to no page of the site fails the build."""

    def url(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), target))
        found = files.get_file_from_path(path)
        if found is None:
            raise PluginError(f"{page.file.src_uri} links to {target}, which is no page of the site")
        return f'href="{found.url_relative_to(page.file)}{anchor}"'

    return _MD_LINK.sub(url, html)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return fix_notebook_headings(link_pages(html, page, files), page.toc)
    return html


def on_post_page(output: str, page: Any, config: Any) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = strip_network_loaders(output)
        return typeset_toc(output) if _to_mathml is not None else output
    return output
