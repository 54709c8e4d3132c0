"""Progress bars: tqdm when it is installed (``pip install 'compgraph[progress]'``), else none."""

from __future__ import annotations

import importlib.util
from typing import Any


def has_tqdm() -> bool:
    """Whether tqdm (the optional progress bars) is installed."""
    return importlib.util.find_spec("tqdm") is not None


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, **options: Any) -> Any:
    """A tqdm bar over ``total`` items (``options`` go to tqdm), or None when ``enabled`` is
    false or tqdm is not installed; callers then report progress their own way."""
    if not enabled or not has_tqdm():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, **options)
