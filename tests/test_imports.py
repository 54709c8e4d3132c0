"""The package's import structure: every module imports on its own, none is shadowed."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import compgraph

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(compgraph.__path__, prefix="compgraph.")
    if info.name != "compgraph.__main__"
)


def test_every_module_is_found():
    assert {"compgraph.core", "compgraph.functions.arithmetic", "compgraph.viz.tracing"} <= set(MODULES)


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_interpreter():
    # core and functions import each other (Variable's operators are ops): whichever module a
    # user imports first, the late import in core must find what it needs
    script = (
        "import importlib, sys\n"
        "name = sys.argv[1]\n"
        "importlib.import_module(name)\n"
        "import compgraph as cg\n"
        "x = cg.Variable(3.0)\n"
        "y = (x * x + 1 - x / 2) ** 2\n"
        "y.backward()\n"
        "assert abs(x.grad.item() - 2 * (9 + 1 - 1.5) * (6 - 0.5)) < 1e-12, x.grad\n"
    )
    failures = []
    for name in MODULES:
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True)
        if done.returncode != 0:
            failures.append(f"{name}:\n{done.stderr[-2000:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", MODULES)
def test_no_module_is_shadowed_by_a_name_its_package_exports(name):
    # `compgraph.functions.linear` used to be the function linear, not the module
    parent, _, last = name.rpartition(".")
    module = importlib.import_module(name)
    attribute = getattr(importlib.import_module(parent), last, module)
    assert attribute is module, f"{parent}.{last} is {attribute!r}, not the module {name}"
