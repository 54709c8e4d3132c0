"""Downloads into a cache directory: streamed, checksummed, renamed into place only when verified."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from compgraph._files import atomic_writer
from compgraph._progress import progress_bar


def default_cache_dir() -> Path:
    """Where downloads go: $COMPGRAPH_CACHE, else $XDG_CACHE_HOME/compgraph, else ~/.cache/compgraph."""
    if os.environ.get("COMPGRAPH_CACHE"):
        return Path(os.environ["COMPGRAPH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compgraph"


def download(
    url: str,
    path: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` to ``path``, verifying the MD5 and/or SHA-256 checksum if given.

    The bytes go to a temporary file beside ``path`` and are renamed onto it only when
    complete and verified; on any failure ``path`` is left as it was. A progress bar is
    shown when tqdm is installed (``pip install 'compgraph[progress]'``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = {}
    if md5:
        hashes["MD5"] = (hashlib.md5(usedforsecurity=False), md5.lower())
    if sha256:
        hashes["SHA-256"] = (hashlib.sha256(), sha256.lower())
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_writer(path) as f:
        _copy(response, f, [h for h, _ in hashes.values()], path.name, progress)
        for name, (h, expected) in hashes.items():
            if h.hexdigest() != expected:  # raised inside the writer: the old file stays
                raise ValueError(
                    f"checksum mismatch for {url}: {name} {h.hexdigest()}, expected {expected}; the "
                    "download is corrupt or the server sent another file"
                )
    return path


def _copy(response: Any, f: BinaryIO, hashes: list[Any], desc: str, progress: bool) -> None:
    """Stream ``response`` into ``f`` in 64 KiB chunks, feeding each hash, with a bar if asked."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    options = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
    bar = progress_bar(total, desc, enabled=progress, **options)
    try:
        while chunk := response.read(1 << 16):
            f.write(chunk)
            for h in hashes:
                h.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
