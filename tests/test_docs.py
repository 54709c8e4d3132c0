"""The documentation's examples run, and print what the pages say they print."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def examples(page: Path) -> str:
    """The ``pycon`` blocks of a Markdown page, as one doctest text (a page shares its names)."""
    blocks = re.findall(r"```pycon\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(blocks)


@pytest.mark.parametrize("name", ["engine.md", "gradients.md"])
def test_every_example_of_the_page_runs_and_prints_what_it_shows(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may write a file
    text = examples(DOCS / name)
    assert text.count(">>>") >= 10
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(DOCS / name), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "\n".join(report)
