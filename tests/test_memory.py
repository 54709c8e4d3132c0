"""compgraph.memory.keep_freed_memory: a training step's fresh arrays reuse freed pages."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from compgraph.memory import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: A step's pattern: fresh 4 MB arrays, written, dropped; then the page faults it took.
STEPS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from compgraph.memory import keep_freed_memory
    applied = keep_freed_memory() if sys.argv[1] == "keep" else None
    x = np.ones(1_000_000, np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        a = x * 2
        b = a + 1
        del a, b
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True, env=env or os.environ
    )
    applied, faults = done.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_freed_arrays_are_reused_instead_of_faulting_in_fresh_pages():
    _, plain = _faults("plain")
    applied, kept = _faults("keep")
    assert applied == "True"
    assert plain > 50 * 900  # each step faults in most of a new 4 MB array (1,000 pages)
    assert kept < plain / 20, (plain, kept)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_the_users_own_malloc_settings_are_left_alone():
    applied, _ = _faults("keep", {**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"})
    assert applied == "False"


def test_elsewhere_it_says_it_did_nothing(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert keep_freed_memory() is False
