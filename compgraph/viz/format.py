"""Numbers and arrays as short text, and the flags that mark suspicious values.

Scalars print as the number with 6 significant digits (3 for float16), so rounding noise
disappears: 715.0000000000001 prints as 715 and 3.3000000000000003 as 3.3. Arrays print as
their shape, dtype and a summary (mean, min, max).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compgraph.notation import format_number  # its home is notation; importable here as before

#: Significant digits shown per float dtype in drawings and traces: short, and enough to hide
#: rounding noise (the CLI prints its results with 12).
DIGITS = {np.dtype(np.float64): 6, np.dtype(np.float32): 6, np.dtype(np.float16): 3}
#: Gradients whose largest magnitude is at or below this are flagged as vanishing (zeros too).
VANISHING = 1e-6
#: Gradients whose largest magnitude is at or above this (or not finite) are flagged as exploding.
EXPLODING = 1e6

NONFINITE, VANISHING_FLAG, EXPLODING_FLAG = "nonfinite", "vanishing", "exploding"
#: The sign put before a flagged label, so the flag shows without colour too.
MARKS = {NONFINITE: "⚠", VANISHING_FLAG: "▼", EXPLODING_FLAG: "▲"}


def format_array(a: Any) -> str:
    """A value as label text: the number for one element, else shape, dtype and a summary.

    The summary line reads ``mean 0.5 [-1, 2]`` (mean, then [min, max] of the finite
    elements) and counts NaN and Inf elements when there are any.
    """
    a = np.asarray(a)
    if a.ndim == 0:
        return format_number(a.item(), DIGITS.get(a.dtype, 6))
    head = f"{a.shape} {a.dtype}"
    if a.size == 0:
        return f"{head} (empty)"
    if a.dtype.kind == "b":
        return f"{head}, {int(np.count_nonzero(a))} true"
    if a.dtype.kind not in "iuf":
        return head
    finite, low, high = a, a.min(), a.max()
    if a.dtype.kind == "f" and not (math.isfinite(low) and math.isfinite(high)):
        finite = a[np.isfinite(a)]  # min and max carry any NaN or Inf: only then is this copy made
        low, high = (finite.min(), finite.max()) if finite.size else (low, high)
    parts = []
    if finite.size:
        mean, low, high = (format_number(v, 4) for v in (finite.mean(), low, high))
        parts.append(f"mean {mean} [{low}, {high}]")
    if finite.size < a.size:
        nan = int(np.count_nonzero(np.isnan(a)))
        inf = a.size - finite.size - nan
        parts.append(", ".join(s for s in (f"{nan} nan" if nan else "", f"{inf} inf" if inf else "") if s))
    return head + "\n" + " ".join(parts)


def value_flags(a: Any) -> tuple[str, ...]:
    """``("nonfinite",)`` when a float value holds NaN or Inf, else ``()``."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return ()
    finite = math.isfinite(a.item()) if a.ndim == 0 else bool(np.isfinite(a).all())
    return () if finite else (NONFINITE,)


def grad_flags(
    g: Any, vanishing: float | None = VANISHING, exploding: float | None = EXPLODING
) -> tuple[str, ...]:
    """The flags of a gradient: non-finite, vanishing (max |g| ≤ vanishing) or exploding.

    Pass ``vanishing=None`` or ``exploding=None`` to switch that check off.
    """
    g = np.asarray(g)
    if g.dtype.kind != "f" or g.size == 0:
        return ()
    largest = abs(g.item()) if g.ndim == 0 else float(np.abs(g).max())
    if not math.isfinite(largest):  # max propagates NaN
        return (NONFINITE,)
    if vanishing is not None and largest <= vanishing:
        return (VANISHING_FLAG,)
    if exploding is not None and largest >= exploding:
        return (EXPLODING_FLAG,)
    return ()


def marked(text: str, flags: tuple[str, ...]) -> str:
    """``text`` with the mark of its first flag in front (``⚠ nan``, ``▼ 1e-9``)."""
    return f"{MARKS[flags[0]]} {text}" if flags else text
