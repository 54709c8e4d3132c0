"""How the process gets memory for arrays: ``keep_freed_memory`` for training runs on Linux.

A training step makes fresh arrays of the same sizes every step (activations, gradients).
glibc's malloc serves a request above its mmap threshold (128 KiB at first, rising to the
largest block freed so far) with a new mapping, and gives memory at the top of the heap back
to the system once more than the trim threshold is free there; either way the next step's
arrays land on fresh pages, and the kernel must fault in and zero every 4 KiB of them. For
the SimpleConvNet at batch 100 that is a fifth of the step (17.0 -> 13.7 ms measured), and
more with two processes, which fault at once (``mpiexec -n 2``: kernel time 5.0 -> 1.4 s of
a benchmark run). ``keep_freed_memory`` raises both thresholds, so freed blocks stay in the
process and are reused. The cost: the process keeps its peak memory instead of returning it.

It changes the whole process, so nothing calls it at import: ``compgraph train`` does (it
owns its process), and scripts may. Setting glibc's own ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` variables does the same for any program, PyTorch's included.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["keep_freed_memory"]

#: mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's variables for the same settings: a user who set one has chosen, and is left alone
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its moving threshold on 64-bit systems
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Let glibc's malloc keep freed blocks for reuse: blocks up to ``mmap_threshold`` bytes
    come from the heap, and up to ``trim_threshold`` bytes free at its top are kept.

    Returns whether the settings were applied: False off glibc (macOS, Windows, musl), and
    when the environment already sets glibc's ``MALLOC_*_`` variables (the user's choice).

    >>> keep_freed_memory()  # on Linux with glibc        # doctest: +SKIP
    True
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _GLIBC_VARIABLES):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_set = mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    return bool(mmap_set) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
