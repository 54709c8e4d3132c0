"""Argument checks shared by the layers, the optimizers, the data and the training loop.

A value of the wrong kind raises TypeError, a value of the right kind but out of range
ValueError; each message names where the check ran (``where``), the argument, what was
expected and what came: ``Linear: in_features must be a positive int, got float 3.5``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    real = isinstance(value, (int, float, np.integer, np.floating))
    return real and not isinstance(value, (bool, np.bool_))


def _wrong_kind(where: str, name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{where}: {name} must be {expected}, got {type(value).__name__} {value!r}")


def _wrong_value(where: str, name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: {name} must be {expected}, got {value!r}")


def positive_int(where: str, name: str, value: Any) -> int:
    """``value`` as an int, which must be at least 1."""
    if not _is_int(value):
        raise _wrong_kind(where, name, "a positive int", value)
    if value < 1:
        raise _wrong_value(where, name, "a positive int", value)
    return int(value)


def non_negative_int(where: str, name: str, value: Any) -> int:
    """``value`` as an int, which must be at least 0."""
    if not _is_int(value):
        raise _wrong_kind(where, name, "a non-negative int", value)
    if value < 0:
        raise _wrong_value(where, name, "a non-negative int", value)
    return int(value)


def number(where: str, name: str, value: Any) -> float:
    """``value`` as a float: any real number (not a bool), checked for its kind only."""
    if not _is_real(value):
        raise _wrong_kind(where, name, "a number", value)
    return float(value)


def positive_number(where: str, name: str, value: Any) -> float:
    """``value`` as a float, which must be greater than 0 (and finite)."""
    if not _is_real(value):
        raise _wrong_kind(where, name, "a positive number", value)
    if not 0 < value < float("inf"):
        raise _wrong_value(where, name, "a positive number", value)
    return float(value)


def one_of(where: str, name: str, value: Any, options: Iterable[Any]) -> Any:
    """``value`` itself, which must be one of ``options``."""
    options = list(options)
    if value not in options:
        raise ValueError(f"{where}: unknown {name} {value!r}; choose one of {', '.join(map(str, options))}")
    return value


@contextlib.contextmanager
def wrong_kind_as_value_error() -> Iterator[None]:
    """Inside the block, a check's TypeError is raised as a ValueError with the same message.

    For callers that report every bad argument as a ValueError: a training config (which
    ``compgraph train`` answers with exit status 2, whatever came from a file or the command
    line), and DataLoader and spiral, whose callers have always caught ValueError.
    """
    try:
        yield
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
