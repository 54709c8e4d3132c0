"""The documentation's examples run, and print what the pages say they print.

Every Markdown page under docs/ is read: its ``pycon`` blocks run as one doctest (a page shares
its names), every ``compgraph ...`` line of its ``sh`` blocks parses with the command's own
parser (the cheap ones also run), and every script or module a ``python`` line names exists.
A page includes other files with pymdownx.snippets (``--8<-- "README.md:section"``); those are
expanded first, as the site's build does. The docstrings' examples, which the API reference
shows, run too.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import pkgutil
import re
import shlex
from pathlib import Path

import pytest

import compgraph
from compgraph import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
#: Pages whose examples take more than a few seconds: run with ``pytest -m slow``.
SLOW_PAGES: set[str] = set()


def expand_snippets(text: str) -> str:
    """``text`` with each ``--8<-- "FILE"`` or ``--8<-- "FILE:section"`` line replaced by what
    pymdownx.snippets puts there (paths from the repository's root, as mkdocs.yml sets)."""

    def include(match: re.Match) -> str:
        name, _, section = match.group(1).partition(":")
        lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
        if section:
            start = next(i for i, line in enumerate(lines) if f"--8<-- [start:{section}]" in line)
            end = next(i for i, line in enumerate(lines) if f"--8<-- [end:{section}]" in line)
            lines = lines[start + 1 : end]
        return "\n".join(lines)

    return re.sub(r'^--8<-- "([^"]+)"$', include, text, flags=re.M)


def page_text(name: str) -> str:
    return expand_snippets((DOCS / name).read_text(encoding="utf-8"))


def doctest_text(text: str) -> str:
    """The ``pycon`` blocks of a Markdown text as one doctest text, each line where it is on the
    page (every other line blank), so that a failure names the page's line."""
    lines = text.splitlines()
    keep = [False] * len(lines)
    inside = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            inside = line.strip() == "```pycon"
        else:
            keep[i] = inside
    return "\n".join(line if k else "" for line, k in zip(lines, keep)) + "\n"


def blocks(text: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` in a Markdown text."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def shell_lines(text: str) -> list[str]:
    """The commands of a text's ``sh`` blocks, comments dropped, one per line."""
    lines = []
    for block in blocks(text, "sh"):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command:
                lines.append(command)
    return lines


def compgraph_argvs(line: str) -> list[list[str]]:
    """The argument lists given to ``compgraph`` in one shell line (after ``&&``, ``mpiexec``
    or a ``.venv/bin/`` prefix too)."""
    argvs = []
    for part in re.split(r"&&|;", line):
        words = shlex.split(part)
        for i, word in enumerate(words):
            if word.split("/")[-1] == "compgraph" and (i == 0 or words[0] == "mpiexec"):
                argvs.append(words[i + 1 :])
                break
    return argvs


def run_doctests(text: str, name: str) -> tuple[int, int, str]:
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(DOCS / name), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append)
    return runner.failures, runner.tries, "\n".join(report)


def test_every_page_is_found():
    for name in ["index.md", "engine.md", "gradients.md", "training.md", "sequence.md", "performance.md"]:
        assert name in PAGES


@pytest.mark.parametrize(
    "name", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PAGES else p for p in PAGES]
)
def test_every_example_of_the_page_runs_and_prints_what_it_shows(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may write a file
    text = doctest_text(page_text(name))
    failures, tries, report = run_doctests(text, name)
    assert failures == 0, report
    if name in ("engine.md", "gradients.md", "training.md", "sequence.md"):
        assert tries >= 10


def test_a_failing_example_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    failures, tries, report = run_doctests(">>> 1 + 1\n3\n", "made-up.md")
    assert (failures, tries) == (1, 1) and "Expected:\n    3\nGot:\n    2" in report


def _parse(argv: list[str], where: Path) -> None:
    """Parse ``argv`` as the command would, with every file it expects to exist made (empty)."""
    for i, word in enumerate(argv):
        if argv[i - 1] == "--resume" or (i == 1 and argv[0] == "sample"):
            (where / word).touch()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args, _ = cli._parse(cli.build_parser(), argv)
    except SystemExit as exc:
        pytest.fail(f"compgraph {shlex.join(argv)}: does not parse: {stderr.getvalue()} ({exc})")
    assert args.command in ("grad", "train", "sample")


@pytest.mark.parametrize("name", PAGES + ["../README.md"])
def test_every_command_of_the_page_parses(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = page_text(name)
    for line in shell_lines(text):
        for argv in compgraph_argvs(line):
            _parse([a.replace("~", str(tmp_path)) for a in argv], tmp_path)
        words = shlex.split(line.split("&&")[0].split(";")[0])
        if words[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(words[2]) is not None or (ROOT / words[2]).is_dir(), line
        elif words[0] == "python" and words[1].endswith(".py"):
            assert (ROOT / words[1]).is_file(), f"{name}: {line}: no such script"


def test_the_command_lines_are_found():
    argvs = [argv for line in shell_lines(page_text("training.md")) for argv in compgraph_argvs(line)]
    assert ["train"] in argvs and ["train", "--data", "mnist", "--model", "cnn"] in argvs
    assert compgraph_argvs("mpiexec -n 2 compgraph train --data mnist") == [["train", "--data", "mnist"]]
    assert compgraph_argvs("python3 -m venv .venv && .venv/bin/compgraph train") == [["train"]]


def _main(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue() + err.getvalue()


def test_the_cheap_commands_of_the_pages_run(tmp_path, monkeypatch):
    """Every ``compgraph grad`` line, and the spiral ``compgraph train`` lines, in page order
    (a ``--resume`` finds the file an earlier line saved)."""
    monkeypatch.chdir(tmp_path)
    ran = 0
    for name in ["index.md", "training.md", "../README.md"]:
        for line in shell_lines(page_text(name)):
            for argv in compgraph_argvs(line):
                cheap = argv[0] == "grad" or (argv[0] == "train" and "--data" not in argv)
                if cheap:
                    status, output = _main([*argv, "--quiet", "--no-plot"] if argv[0] == "train" else argv)
                    assert status == 0, f"{name}: compgraph {shlex.join(argv)}:\n{output}"
                    ran += 1
    assert ran >= 6


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(compgraph.__path__, "compgraph.")]
    return ["compgraph"] + [n for n in names if not n.endswith("__main__")]


def test_every_docstring_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may write a file
    failed = {}
    tried = 0
    for name in _modules():
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, report=False)
        tried += result.attempted
        if result.failed:
            failed[name] = result.failed
    assert not failed, f"docstring examples failed (run python -m doctest on them): {failed}"
    assert tried >= 150
