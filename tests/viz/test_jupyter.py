"""What Jupyter shows: drawings as SVG, steppers as HTML, traces as tables; no Graphviz needed.

The mime bundles are made by IPython's own display formatter, as a notebook makes them.
"""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import escape

import pytest

from compgraph import Variable, viz
from compgraph.viz import drawing as drawing_mod
from compgraph.viz import html as html_mod
from tests.viz.conftest import APPLE_ORANGE_EDGES, SVG, builtin_edge_labels
from tests.viz.test_drawing import hide_dot
from tests.viz.test_html import note_example, states

PREFIX = re.compile(r"cg\d+-[0-9a-f]{8}")

#: The stepper names the values between functions (the leaves are named by their nodes).
NAMED_EDGES = (APPLE_ORANGE_EDGES - {("200", "1.1"), ("450", "1.1"), ("650", "1.1")}) | {
    ("t = 200", "1.1"),
    ("t1 = 450", "1.1"),
    ("t2 = 650", "1.1"),
}


def bundle(obj) -> dict:
    """The mime bundle a notebook stores for ``obj`` as a cell's last value."""
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(obj)
    return data


def ids(text: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', text)


@pytest.fixture
def no_dot(monkeypatch):
    hide_dot(monkeypatch)


@pytest.fixture
def dot_fails(monkeypatch):
    """Graphviz present but failing: every run of ``dot`` raises."""

    def pipe(source, fmt):
        raise subprocess.CalledProcessError(1, ["dot", f"-T{fmt}"], stderr=b"dot: crashed")

    monkeypatch.setattr(drawing_mod, "graphviz_available", lambda: True)
    monkeypatch.setattr(drawing_mod, "pipe", pipe)


# --- drawings --------------------------------------------------------------------------------------------
def test_a_drawing_shows_as_svg_with_the_values_and_gradients_without_dot(ao, no_dot):
    data = bundle(viz.draw(ao["price"]))
    assert set(data) == {"image/svg+xml", "text/plain"}
    svg = data["image/svg+xml"]
    assert builtin_edge_labels(svg) == APPLE_ORANGE_EDGES  # 715 over 1, 2.2 under 100, 650 under 1.1 …
    assert data["text/plain"] == "<Drawing: 10 nodes, 9 edges>"


def test_an_inline_drawing_never_runs_graphviz_under_auto(ao, dot_fails):
    # the same picture with or without Graphviz: a notebook's outputs do not depend on it
    assert builtin_edge_labels(bundle(viz.draw(ao["price"]))["image/svg+xml"]) == APPLE_ORANGE_EDGES
    with pytest.warns(RuntimeWarning, match="Graphviz could not draw this graph"):
        assert "cg-graph" in viz.draw(ao["price"]).svg()  # .svg() under auto tries it, then falls back


@pytest.mark.parametrize("broken", ["dot_fails", "no_dot"])
def test_an_inline_drawing_asked_of_graphviz_falls_back_with_a_warning(ao, broken, request):
    request.getfixturevalue(broken)
    d = viz.draw(ao["price"], engine="dot")
    with pytest.warns(RuntimeWarning, match="using the built-in layout"):
        svg = d._repr_svg_()
    assert builtin_edge_labels(svg) == APPLE_ORANGE_EDGES
    with pytest.raises((RuntimeError, ImportError, subprocess.CalledProcessError)):
        d.svg()  # asked for explicitly, outside a display: the error itself


def test_two_inline_drawings_have_ids_of_their_own(ao, no_dot):
    first, second = (viz.draw(ao["price"])._repr_svg_() for _ in range(2))
    for svg in (first, second):
        prefix = PREFIX.match(ids(svg)[0]).group(0)
        assert all(i.startswith(prefix + "-") for i in ids(svg))
        assert len(ids(svg)) == len(set(ids(svg)))
        assert set(re.findall(r"url\(#([^)]+)\)", svg)) == {f"{prefix}-arrow"}  # its own arrowhead
    assert not set(ids(first)) & set(ids(second))
    assert ET.fromstring(first).get("class") == "cg-graph"
    assert 'id="cg-arrow"' in viz.draw(ao["price"]).svg(engine="builtin")  # files keep the plain ids


# --- steppers --------------------------------------------------------------------------------------------
def test_a_stepper_shows_as_html_with_its_buttons_and_steps(ao, no_dot):
    s = viz.stepper(ao["price"])
    data = bundle(s)
    assert set(data) == {"text/html", "text/plain"} and data["text/html"] == s.html
    html = s.html
    p = s.prefix
    assert PREFIX.fullmatch(p) and data["text/plain"] == f"<Stepper {p}: 7 states>"
    assert html.startswith(f'<div class="cg-stepper" id="{p}" tabindex="0">')
    assert f'<button class="cg-next" id="{p}-next" type="button">Next' in html
    assert f'<button class="cg-prev" id="{p}-prev" type="button" disabled>' in html
    steps = states(html, p)
    assert steps == s.states
    assert [st["engine"] for st in steps] == [None, 0, 1, 2, 3, 4, 5]  # forward, seed, 4 functions, end
    assert steps[2]["text"].splitlines()[0] == "Step 1 of 4: price = t2·tax"
    assert "downstream  ∂price/∂tax = 1 × 650 = 650" in steps[2]["text"]
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    groups = {g.get("id") for g in ET.fromstring(svg).iter(f"{SVG}g")}
    assert {st["node"] for st in steps[2:-1]} <= groups  # each step lights up a node of its own drawing
    assert builtin_edge_labels(svg) == NAMED_EDGES
    for line in [
        "∂price/∂apple = tax·apple_num = 2.2",
        "∂price/∂tax = apple·apple_num + orange·orange_num = 650",
    ]:
        assert line in html


def test_two_steppers_in_one_page_share_no_id_style_or_key(ao):
    a, b = viz.stepper(ao["price"]), viz.stepper(ao["price"])  # the same graph twice
    assert a.prefix != b.prefix and a.prefix.split("-")[1] == b.prefix.split("-")[1]
    page = a.html + b.html
    assert len(ids(page)) == len(set(ids(page)))
    for s in (a, b):
        assert all(i == s.prefix or i.startswith(s.prefix + "-") for i in ids(s.html))
        css = re.search(r"<style>(.*?)</style>", s.html, re.S).group(1)
        selectors = [sel.strip() for rule in re.findall(r"([^{}]+)\{", css) for sel in rule.split(",")]
        assert selectors and all(sel.startswith(f"#{s.prefix}") for sel in selectors)  # scoped
        script = re.findall(r"<script>(.*?)</script>", s.html, re.S)[0]
        assert "document.addEventListener" not in script and "window.addEventListener" not in script
        assert "root.addEventListener('keydown'" in script and "document.currentScript" in script


def test_the_page_is_the_stepper_under_a_heading():
    z = note_example()
    page = viz.to_html(z, title="z")
    fragment = viz.stepper(z, prefix="cg").html
    assert fragment.replace('tabindex="0">', 'tabindex="0" autofocus>', 1) in page  # one piece of HTML
    assert "<h1>z</h1>" in page and page.startswith("<!DOCTYPE html>")
    assert " autofocus>" in page  # the page's one stepper has the focus: the arrow keys work at once


def test_a_stepper_saves_as_the_page(tmp_path):
    z = note_example()
    s = viz.stepper(z)
    path = s.save(tmp_path / "z.html", title="z")
    assert path.read_text(encoding="utf-8") == viz.to_html(z, title="z")


def test_stepper_options_are_checked_and_need_no_dot(ao, no_dot):
    with pytest.raises(TypeError, match=r"compgraph\.viz\.stepper: unknown option 'labels'"):
        viz.stepper(ao["price"], labels=True)
    assert viz.stepper(ao["price"], grads=False).states[-1]["text"] == "Done: every gradient is known."
    assert ">t = 200</text>" not in viz.stepper(ao["price"], names=False).html


def test_prefixes_are_the_same_in_a_fresh_process():
    # a notebook executed again in a fresh kernel makes the same outputs
    code = (
        "from compgraph import Variable, viz; x = Variable(2.0, name='x'); y = x * x; y.name = 'y'; "
        "print(viz.draw(y)._repr_svg_().count('cg1-'), viz.stepper(y).prefix)"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in "ab"
    }
    (out,) = runs
    count, prefix = out.split()
    assert int(count) > 0 and prefix.startswith("cg2-")


# --- traces ------------------------------------------------------------------------------------------------
def test_a_trace_shows_as_its_table():
    t = viz.trace(note_example())
    html = bundle(t)["text/html"]
    assert html == f'<pre class="cg-trace">{escape(t.table())}</pre>\n'
    assert "∂z/∂t = 1 × 6 = 6" in html and "∂z/∂x = 2(x + y) = 6" in html


def test_unique_prefixes_count_and_hash():
    first, second = html_mod.unique_prefix("a"), html_mod.unique_prefix("a")
    assert first != second and first.split("-")[1] == second.split("-")[1]
    assert html_mod.unique_prefix("b").split("-")[1] != first.split("-")[1]


def test_a_stepper_of_a_constant_says_there_is_nothing_to_do():
    s = viz.stepper(Variable(2.0) * 3)
    assert s.states[-1]["text"] in ("Nothing to backpropagate.", "Done: every gradient is known.")
    assert json.loads(json.dumps(s.states)) == s.states
