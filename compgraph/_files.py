"""Writing files atomically: the one way compgraph writes weights, checkpoints, plots, drawings
and downloads.

A write goes to a temporary file in the target's directory, is flushed to disk, then renamed
over the target: a crash or an error at any point leaves either the old file or the new one,
never a torn mix, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _mode_for(path: Path) -> int:
    """The permissions the new file gets: those of the file it replaces, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: it replaces ``path`` only if the block ends
    without an exception (which may be raised on purpose, e.g. on a bad checksum)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes the file private (0600)
        with os.fdopen(fd, "wb") as f:
            yield f
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


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically; return the path.

    On any failure the old file stays as it was.
    """
    with atomic_writer(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
