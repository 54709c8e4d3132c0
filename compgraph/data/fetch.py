"""Downloads into a cache directory: streamed, checksummed, renamed into place only when verified."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path


def default_cache_dir() -> Path:
    """Where downloads go: $COMPGRAPH_CACHE, else $XDG_CACHE_HOME/compgraph, else ~/.cache/compgraph."""
    if os.environ.get("COMPGRAPH_CACHE"):
        return Path(os.environ["COMPGRAPH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compgraph"


def _progress(total: int | None, desc: str, enabled: bool):
    """A tqdm bar when tqdm is installed and ``enabled``, else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    hashes = {}
    if md5:
        hashes["MD5"] = (hashlib.md5(usedforsecurity=False), md5.lower())
    if sha256:
        hashes["SHA-256"] = (hashlib.sha256(), sha256.lower())
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            bar = _progress(int(length) if length and length.isdigit() else None, path.name, progress)
            try:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    for h, _ in hashes.values():
                        h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            f.flush()
            os.fsync(f.fileno())
        for name, (h, expected) in hashes.items():
            if h.hexdigest() != expected:
                raise ValueError(
                    f"checksum mismatch for {url}: {name} {h.hexdigest()}, expected {expected}; the "
                    "download is corrupt or the server sent another file"
                )
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def has_tqdm() -> bool:
    """Whether tqdm (the optional progress bars) is installed."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True
