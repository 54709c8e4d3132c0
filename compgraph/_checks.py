"""Argument checks shared by the layers, the optimizers, the data and the training loop.

A value of the wrong kind raises TypeError, a value of the right kind but out of range
ValueError; each message names where the check ran (``where``), the argument and what came.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    real = isinstance(value, (int, float, np.integer, np.floating))
    return real and not isinstance(value, (bool, np.bool_))


def positive_int(where: str, name: str, value: Any) -> int:
    """``value`` as an int, which must be at least 1."""
    if not _is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(where: str, name: str, value: Any) -> int:
    """``value`` as an int, which must be at least 0."""
    if not _is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{where}: {name} must be 0 or more, got {value!r}")
    return int(value)


def positive_number(where: str, name: str, value: Any) -> float:
    """``value`` as a float, which must be greater than 0 (and finite)."""
    if not _is_real(value):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    if not 0 < value < float("inf"):
        raise ValueError(f"{where}: {name} must be a positive number, got {value!r}")
    return float(value)


def one_of(where: str, name: str, value: Any, options: Iterable[Any]) -> Any:
    """``value`` itself, which must be one of ``options``."""
    options = list(options)
    if value not in options:
        raise ValueError(f"{where}: unknown {name} {value!r}; choose one of {', '.join(map(repr, options))}")
    return value
