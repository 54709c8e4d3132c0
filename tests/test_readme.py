"""The README's code runs and its comments tell the truth."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run_and_match_their_comments():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["price"].item() == pytest.approx(715.0)
    assert namespace["tax"].grad.item() == pytest.approx(650.0)
    assert namespace["x"].item() == pytest.approx(1.0)


def test_readme_opens_with_the_install_and_test_commands():
    text = README.read_text()
    commands = re.findall(r"```sh\n(.*?)```", text, flags=re.S)[0].strip().splitlines()
    assert commands[0].endswith("examples/buy_apple_orange.py")
    assert commands[1].endswith("-m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "test_command=$(grep" in ci  # CI runs the README's own line
