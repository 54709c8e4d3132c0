"""Test-wide settings.

BLAS runs single-threaded in tests: the suite's matrices are small, and with several threads on a
loaded 2-core machine OpenBLAS was seen to slow the MNIST tests down 13x. Set before NumPy loads
(the variables are read once, when the BLAS library starts); a value you export wins.

A test whose dependency is missing skips, so that the suite runs anywhere; where the dependency
must be there (CI), an environment variable set to 1 makes that skip a failure instead:
COMPGRAPH_REQUIRE_DOT (Graphviz), COMPGRAPH_REQUIRE_BROWSER (Chromium and selenium), and
COMPGRAPH_REQUIRE_DEPS (every dependency, these two included). ``tests.viz.conftest.require``
checks its own variable before it skips; the hooks below check COMPGRAPH_REQUIRE_DEPS on every
skip whose reason says a dependency is missing: ``pytest.importorskip``'s "could not import ...",
"not installed" (``require``'s skips) or a "pip install" hint. A skip for absent data (the MNIST
files) says none of these and stays a skip.
"""

import os

import pytest

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REQUIRE_DEPS = "COMPGRAPH_REQUIRE_DEPS"


def required(variable: str) -> bool:
    """Whether ``variable``=1 makes a missing dependency a failure rather than a skip."""
    return os.environ.get(variable) == "1"


def _is_missing_dependency(reason: str) -> bool:
    return reason.startswith("could not import ") or "not installed" in reason or "pip install" in reason


def _skip_reason(report) -> str | None:
    """The reason of a skip report (not an xfail), without pytest's 'Skipped: ' prefix."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_if_a_dependency_is_missing(report) -> None:
    reason = _skip_reason(report)
    if reason is not None and _is_missing_dependency(reason) and required(REQUIRE_DEPS):
        report.outcome = "failed"
        report.longrepr = f"a dependency is required here ({REQUIRE_DEPS}=1) but is missing: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_if_a_dependency_is_missing(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    # a module-level importorskip skips the whole module at collection; failed, it is a
    # collection error, which stops the run (as any module that cannot be imported does)
    report = yield
    _fail_if_a_dependency_is_missing(report)
    return report
