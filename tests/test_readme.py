"""The README's code runs and its comments tell the truth."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run_and_match_their_comments(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the tour writes drawings into the working directory
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["price"].item() == pytest.approx(715.0)
    assert namespace["tax"].grad.item() == pytest.approx(650.0)
    assert namespace["x"].item() == pytest.approx(1.0)
    assert namespace["H"].tolist() == [[6.0, 0.0], [0.0, 12.0]]
    svg = (tmp_path / "price.svg").read_text()
    assert "715" in svg and "650" in svg
    assert "∂price/∂tax = 1 × 650 = 650" in capsys.readouterr().out
    assert (tmp_path / "price.html").exists()
    assert namespace["accuracy"] >= 0.97


def test_readme_opens_with_the_install_and_test_commands():
    text = README.read_text()
    commands = re.findall(r"```sh\n(.*?)```", text, flags=re.S)[0].strip().splitlines()
    assert "compgraph grad --draw apple_orange.svg" in commands[0]
    assert commands[0].endswith("compgraph train")
    assert commands[1].endswith("-m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "test_command=$(grep" in ci  # CI runs the README's own line
