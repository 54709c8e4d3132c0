"""The documentation site: every public name in the API reference with a docstring, a strict
build, nothing loaded from another host, and the tutorial's drawings and stepper working in a
real browser.

The first two tests read the sources and are quick. The rest build the site once (``mkdocs
build --strict`` into a temporary folder, ~5 s) and are marked slow; the browser tests need
Chromium and chromedriver, required in CI (COMPGRAPH_REQUIRE_BROWSER=1, see tests/conftest.py).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"
#: The modules whose public names the API reference documents, each on its page under docs/api/.
API_MODULES = {
    "compgraph": "compgraph.md",
    "compgraph.functions": "functions.md",
    "compgraph.nn": "nn.md",
    "compgraph.nn.init": "nn.md",
    "compgraph.optim": "optim.md",
    "compgraph.data": "data.md",
    "compgraph.training": "training.md",
    "compgraph.viz": "viz.md",
    "compgraph.distributed": "distributed.md",
    "compgraph.memory": "memory.md",
    "compgraph.naive": "naive.md",
}


def public_names(module_name: str) -> list[str]:
    """A module's ``__all__``, or (without one) the names it defines without a leading _."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module_name
    ]


def test_every_package_with_public_names_has_its_page():
    import compgraph

    packages = {"compgraph"} | {
        f"compgraph.{name}"
        for name in ("functions", "nn", "optim", "data", "training", "viz", "distributed")
    }
    assert packages <= set(API_MODULES)
    assert set(compgraph.__all__) >= {"Variable", "grad", "gradcheck", "hessian", "compile"}
    for module, page in API_MODULES.items():
        text = (API / page).read_text(encoding="utf-8")
        assert re.search(rf"^::: {re.escape(module)}$", text, flags=re.M), f"{page} does not show {module}"


def test_every_public_name_has_a_docstring():
    """As the API reference reads them: griffe, with the site's extension (``#:`` comments
    above a constant are its docstring)."""
    griffe = pytest.importorskip("griffe")
    extensions = griffe.load_extensions(f"{ROOT}/docs/hooks/doctest_blocks.py:DoctestBlocks")
    package = griffe.load("compgraph", extensions=extensions, search_paths=[str(ROOT)], resolve_aliases=True)
    missing = []
    for module in API_MODULES:
        path = module.removeprefix("compgraph").lstrip(".")
        for name in public_names(module):
            obj = package[f"{path}.{name}" if path else name]
            if obj.docstring is None or not obj.docstring.value.strip():
                missing.append(f"{module}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once for this module's tests."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_jupyter")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # material's notice about its successor
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    return out


@pytest.mark.slow
def test_the_site_builds_with_every_page_and_every_public_name(site):
    from mkdocstrings import Inventory

    assert (site / "index.html").is_file()
    for page in ["tutorial", "engine", "training", "sequence", "gradients", "performance", "distributed"]:
        assert (site / page / "index.html").is_file(), page
    with open(site / "objects.inv", "rb") as f:
        documented = set(Inventory.parse_sphinx(f))
    missing = [
        f"{module}.{name}"
        for module in API_MODULES
        for name in public_names(module)
        if f"{module}.{name}" not in documented
    ]
    assert not missing, f"public names missing from the API reference: {missing}"
    # a class's bases name public classes only (LSTM's _Recurrent is not documented)
    nn_page = re.sub(r"<[^>]+>", "", (site / "api" / "nn" / "index.html").read_text(encoding="utf-8"))
    assert "Bases: Module" in nn_page and "_Recurrent" not in nn_page


# what makes a browser fetch from another host: a script, a style sheet, a font, an import
_FETCHES = [
    r"<script[^>]+src=[\"']?(?:https?:)?//",
    r"<link[^>]+href=[\"']?(?:https?:)?//",
    r"@import\s+(?:url\()?[\"']?(?:https?:)?//",
    r"url\([\"']?(?:https?:)?//",
    r"import\([\"'](?:https?:)?//",
    r"<img[^>]+src=[\"']?(?:https?:)?//",
    r"<iframe[^>]+src=[\"']?(?:https?:)?//",
]


@pytest.mark.slow
def test_no_page_loads_anything_from_another_host(site):
    pytest.importorskip("latex2mathml")  # without it the tutorial's math is left to MathJax from a CDN
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for pattern in _FETCHES:
            found = re.search(pattern, html)
            where = html[found.start() :][:120] if found else ""
            assert found is None, f"{page.relative_to(site)} fetches from the network: {where!r}"
        assert "fonts.googleapis" not in html and "<!-- Load mathjax -->" not in html


@pytest.mark.slow
def test_the_tutorial_math_is_mathml_and_its_drawings_are_inline(site):
    pytest.importorskip("latex2mathml")  # the hook typesets the math at build time with it
    html = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    content = html[html.index('class="jupyter-wrapper"') :]
    assert content.count("<math") >= 10
    assert "\\frac" not in content and "\\partial" not in content  # no TeX left for MathJax
    assert "$z = (x + y)^2$" not in html  # nor in the table of contents
    assert "<ns0:" not in html  # MathML a browser reads: no ElementTree namespace prefixes
    ids = set(re.findall(r'id="([^"]+)"', html))
    broken = [link for link in re.findall(r'href="#([^"]+)"', html) if link not in ids]
    assert not broken, f"links to headings the page does not have: {broken}"
    assert "MulLayer and AddLayer, by hand" in html  # the contents keep a heading's code words
    # the notebook's links to other pages (training.md) lead to those pages on the site
    assert not re.findall(r'href="[^"]*\.md[#"]', content)
    for page in ("training", "sequence", "engine", "gradients"):
        assert f'href="../{page}/"' in content and (site / page / "index.html").is_file()
    drawings = tutorial_drawings(content)
    assert any("715" in svg and "650" in svg for svg in drawings)  # viz.draw's apple/orange graph
    assert 'class="cg-stepper"' in content and "Next" in content


def tutorial_drawings(html: str) -> list[str]:
    """The SVG drawings of the tutorial's outputs: nbconvert writes an ``image/svg+xml`` output
    as an <img> with a data URI."""
    import base64

    found = re.findall(r'<img[^>]+src="data:image/svg\+xml;base64,([^"]+)"', html)
    return [base64.b64decode(data).decode("utf-8") for data in found]


@pytest.fixture(scope="module")
def browser():
    from tests.viz.test_html import browser as make_browser

    yield from make_browser.__wrapped__()


@pytest.mark.slow
def test_a_browser_shows_the_tutorials_drawings_and_steps_its_stepper(site, browser):
    from selenium.webdriver.common.by import By

    browser.get((site / "tutorial" / "index.html").as_uri())
    images = browser.find_elements(By.CSS_SELECTOR, '.jupyter-wrapper img[src^="data:image/svg+xml"]')
    assert images, "the tutorial's drawings are not on the page"
    for image in images:  # each drawing decoded and drawn
        width = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        assert width > 100
    stepper = browser.find_element(By.CSS_SELECTOR, ".cg-stepper")
    drawn = stepper.find_elements(By.CSS_SELECTOR, ".cg-drawing svg")
    assert drawn and drawn[0].size["width"] > 100, "the stepper's drawing is not shown"
    labels = " ".join(t.text for t in stepper.find_elements(By.CSS_SELECTOR, "svg text"))
    assert "715" in labels  # the apple/orange graph's price
    step = stepper.find_element(By.CSS_SELECTOR, ".cg-step")
    next_button = stepper.find_element(By.CSS_SELECTOR, "button.cg-next")
    previous = stepper.find_element(By.CSS_SELECTOR, "button.cg-prev")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", next_button)
    assert not previous.is_enabled()  # it starts from the forward pass
    final = stepper.find_element(By.CSS_SELECTOR, ".cg-final")
    assert not final.is_displayed()
    seen = [step.text]
    while next_button.is_enabled():
        next_button.click()
        assert step.text != seen[-1], "Next did not advance the stepper"
        seen.append(step.text)
        if len(seen) == 3:  # the first backward step lights up the output's op
            assert stepper.find_elements(By.CSS_SELECTOR, ".cg-active"), "no node lit up"
        assert len(seen) < 50
    assert len(seen) >= 4 and previous.is_enabled()
    assert final.is_displayed() and "∂price/∂tax = apple·apple_num + orange·orange_num = 650" in final.text
    previous.click()
    assert step.text == seen[-2]
