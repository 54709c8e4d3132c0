"""Weights on disk: the safetensors format (no pickle, no code on load), written atomically.

A write goes to a temporary file in the target's directory, is flushed to disk, then renamed
over the target: a crash or an error at any point leaves either the old file or the new one,
never a torn mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_INSTALL = "pip install 'compgraph[io]'"


def _safetensors(action: str):
    try:
        import safetensors.numpy
    except ImportError as exc:
        raise ImportError(
            f"{action} needs the safetensors package, which is not installed: {_INSTALL}"
        ) from exc
    return safetensors


def _mode_for(path: Path) -> int:
    """The permissions the new file gets: those of the file it replaces, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: on any failure the old file stays as it was."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes the file private (0600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # make the rename itself durable (POSIX; directories cannot be opened on Windows)
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_file(
    tensors: Mapping[str, np.ndarray], path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write named arrays (and string metadata) to ``path`` as safetensors, atomically.

    >>> save_file({"W": np.eye(2, dtype=np.float32)}, "w.safetensors")  # doctest: +SKIP
    """
    st = _safetensors("saving weights")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {type(name).__name__}")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"save_file: {name!r} is a {type(value).__name__}, expected a numpy.ndarray")
        arrays[name] = value if value.flags.c_contiguous else value.copy(order="C")  # keeps 0-d
    meta = None
    if metadata is not None:
        meta = {}
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"save_file: metadata must map str to str, got {key!r}: {type(value).__name__} "
                    "(encode other values with json.dumps)"
                )
            meta[key] = value
    atomic_write(path, st.numpy.save(arrays, metadata=meta))


def load_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The named arrays and the metadata stored in a safetensors file.

    A file that is not valid safetensors (truncated, corrupt, another format) raises a
    ValueError naming it.
    """
    st = _safetensors("loading weights")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with st.safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
    except st.SafetensorError as exc:
        raise ValueError(
            f"{path} is not a valid safetensors file ({exc}); it may be truncated or corrupt"
        ) from exc
    return tensors, metadata
