"""The step-by-step page: self-contained, and driven in a real headless browser."""

import json
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET

import pytest

from compgraph import Variable, viz
from tests.viz.conftest import SVG, require


def note_example():
    x, y = Variable(1.0, name="x"), Variable(2.0, name="y")
    z = (x + y) ** 2
    z.name = "z"
    return z


def states(page: str, prefix: str = "cg") -> list[dict]:
    """The step data of the stepper whose ids start with ``prefix``."""
    pattern = rf'<script type="application/json" id="{prefix}-steps"[^>]*>(.*?)</script>'
    return json.loads(re.search(pattern, page, re.S).group(1).replace("<\\/", "</"))


def test_the_page_is_one_file_that_fetches_nothing(tmp_path):
    page = viz.to_html(note_example(), path=tmp_path / "z.html")
    assert (tmp_path / "z.html").read_text(encoding="utf-8") == page
    lowered = page.lower()
    for outside in ["<link", " src=", "@import", "url(http", "cdn", "https://"]:
        assert outside not in lowered
    assert set(re.findall(r"http://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}  # the SVG namespace


def test_the_page_has_a_state_per_backward_step():
    page = viz.to_html(note_example())
    s = states(page)
    assert [st["engine"] for st in s] == [None, 0, 1, 2, 3]  # forward, seed, two steps, the end
    assert s[2]["text"].splitlines()[0] == "Step 1 of 2: z = t²"
    assert "downstream  ∂z/∂t = 1 × 6 = 6" in s[2]["text"]
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    ids = {g.get("id") for g in ET.fromstring(svg).iter(f"{SVG}g")}
    assert s[2]["node"] in ids and s[3]["node"] in ids
    assert "∂z/∂x = 2(x + y) = 6" in page  # the final gradients, shown at the end


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "COMPGRAPH_REQUIRE_BROWSER", "selenium (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    require(bool(chromium and chromedriver), "COMPGRAPH_REQUIRE_BROWSER", "Chromium and chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="compgraph-chromium-")
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_a_browser_steps_through_to_the_final_gradients(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path = tmp_path / "z.html"
    viz.to_html(note_example(), path=path)
    browser.get(path.as_uri())
    by_id = lambda name: browser.find_element(By.ID, name)  # noqa: E731
    grads = lambda: [t for t in browser.find_elements(By.CSS_SELECTOR, ".cg-grad") if t.is_displayed()]  # noqa: E731
    assert by_id("cg-counter").text == "1 / 5"
    assert not by_id("cg-prev").is_enabled() and not by_id("cg-final").is_displayed()
    assert grads() == []  # the forward pass: values only

    by_id("cg-next").click()  # the seed
    assert [t.text for t in grads()] == ["1"]
    by_id("cg-next").click()  # step 1: z = t²
    active = browser.find_elements(By.CSS_SELECTOR, ".cg-active")
    assert [a.find_element(By.TAG_NAME, "title").get_attribute("textContent") for a in active] == [
        "Pow(t) → z"
    ]
    just = browser.find_elements(By.CSS_SELECTOR, ".cg-just .cg-grad")
    assert [t.text for t in just] == ["6"]  # ∂z/∂t, just computed
    assert "∂z/∂t = 2t = 6" in by_id("cg-step").text

    clicks = 0
    while by_id("cg-next").is_enabled():
        by_id("cg-next").click()
        clicks += 1
    assert clicks == 2
    final = by_id("cg-final")
    assert final.is_displayed()
    assert by_id("cg-gradients").text.splitlines() == ["∂z/∂x = 2(x + y) = 6", "∂z/∂y = 2(x + y) = 6"]
    assert sorted(t.text for t in grads()) == ["1", "6", "6", "6"]

    by_id("cg").send_keys(Keys.ARROW_LEFT)  # the keys go to the stepper that has the focus
    assert by_id("cg-counter").text == "4 / 5" and not final.is_displayed()


def test_a_browser_shows_the_apple_orange_gradients(browser, tmp_path, ao):
    from selenium.webdriver.common.by import By

    path = viz.render(ao["price"], path=tmp_path / "price.html")
    browser.get(path.as_uri())
    while browser.find_element(By.ID, "cg-next").is_enabled():
        browser.find_element(By.ID, "cg-next").click()
    text = browser.find_element(By.ID, "cg-gradients").text
    assert text.splitlines() == [
        "∂price/∂apple = tax·apple_num = 2.2",
        "∂price/∂apple_num = tax·apple = 110",
        "∂price/∂orange = tax·orange_num = 3.3",
        "∂price/∂orange_num = tax·orange = 165",
        "∂price/∂tax = apple·apple_num + orange·orange_num = 650",
    ]


def test_missing_browser_skips_unless_required(monkeypatch):
    monkeypatch.delenv("COMPGRAPH_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require(False, "COMPGRAPH_REQUIRE_BROWSER", "Chromium")
    monkeypatch.setenv("COMPGRAPH_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="Chromium is required here"):
        require(False, "COMPGRAPH_REQUIRE_BROWSER", "Chromium")
    require(True, "COMPGRAPH_REQUIRE_BROWSER", "Chromium")


# How JupyterLab shows an HTML output: set as innerHTML (whose scripts never run), then each
# script replaced by a new one with the same text, which runs as it is inserted.
INSERT_AS_JUPYTERLAB_DOES = """
var box = document.createElement('div');
document.body.appendChild(box);
box.innerHTML = arguments[0];
box.querySelectorAll('script').forEach(function (old) {
  var s = document.createElement('script');
  if (old.type) { s.type = old.type; }
  s.textContent = old.textContent;
  old.parentNode.replaceChild(s, old);
});
"""


def test_a_browser_steps_two_inline_steppers_each_on_its_own(browser, tmp_path, ao):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    first, second = viz.stepper(note_example()), viz.stepper(ao["price"])
    path = tmp_path / "two.html"
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{first.html}</body></html>'
    )
    browser.get(path.as_uri())
    browser.execute_script(INSERT_AS_JUPYTERLAB_DOES, second.html)  # the second arrives after load
    by_id = lambda name: browser.find_element(By.ID, name)  # noqa: E731
    counters = lambda: (by_id(f"{first.prefix}-counter").text, by_id(f"{second.prefix}-counter").text)  # noqa: E731
    assert counters() == ("1 / 5", "1 / 7")  # both scripts ran, each on its own root

    by_id(f"{first.prefix}-next").click()
    by_id(f"{first.prefix}-next").click()
    assert counters() == ("3 / 5", "1 / 7")
    assert "∂z/∂t = 2t = 6" in by_id(f"{first.prefix}-step").text
    assert by_id(f"{second.prefix}-step").text.startswith("Forward pass")

    by_id(f"{second.prefix}-next").click()
    assert counters() == ("3 / 5", "2 / 7")
    shown = [
        t.text for t in by_id(second.prefix).find_elements(By.CSS_SELECTOR, ".cg-grad") if t.is_displayed()
    ]
    assert shown == ["1"]  # the second's seed; the first's gradients stay as they were
    assert len(by_id(first.prefix).find_elements(By.CSS_SELECTOR, ".cg-active")) == 1

    by_id(second.prefix).send_keys(Keys.ARROW_RIGHT)  # the keys go to the stepper with the focus
    assert counters() == ("3 / 5", "3 / 7")
    by_id(first.prefix).send_keys(Keys.ARROW_LEFT)
    assert counters() == ("2 / 5", "3 / 7")
    while by_id(f"{second.prefix}-next").is_enabled():
        by_id(f"{second.prefix}-next").click()
    assert (
        by_id(f"{second.prefix}-final").is_displayed() and not by_id(f"{first.prefix}-final").is_displayed()
    )
    assert (
        "∂price/∂tax = apple·apple_num + orange·orange_num = 650" in by_id(f"{second.prefix}-gradients").text
    )


def test_a_browser_hears_the_arrow_keys_on_the_page_at_once(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path = tmp_path / "z.html"
    viz.to_html(note_example(), path=path)
    browser.get(path.as_uri())
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()  # to whatever has the focus
    assert browser.find_element(By.ID, "cg-counter").text == "2 / 5"
