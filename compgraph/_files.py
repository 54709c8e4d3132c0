"""Writing files atomically: the one way compgraph writes weights, checkpoints, plots, drawings
and downloads.

A write goes to a temporary file in the target's directory, is flushed to disk, then renamed
over the target: a crash or an error at any point leaves either the old file or the new one,
never a torn mix. An error or Ctrl-C removes the temporary file at once.

- Permissions: a new file gets what ``open(path, "w")`` would give it (0666 less the umask,
  and any default ACL of the directory): the temporary file is created with mode 0666 and
  the kernel applies the umask itself, so the process-wide umask is never read or changed
  (``os.umask`` would set it for every thread, for a moment). A replaced file keeps its
  permission bits.
- Temporary files are named ``.<target name>.<pid>.<8 hex digits>.tmp``. A process killed
  mid-write (SIGKILL, power loss) cannot remove its own; the next write of the same target
  removes those that are stale: on POSIX, those whose pid is not a running process;
  elsewhere (no safe way to ask), those unmodified for ``STALE_AFTER`` seconds. Only files
  of exactly that pattern, in the target's directory, are ever removed. (A pid is of this
  machine: keep concurrent writers on several machines out of one shared directory.)
- An error of the file system names the target, not the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Where a pid cannot be checked, a temporary file this many seconds old counts as stale.
STALE_AFTER = 24 * 3600


def _temp_pattern(name: str) -> re.Pattern[str]:
    """The names of the temporary files of a target called ``name``; group 1 is the pid."""
    return re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")


def _is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (POSIX only: os.kill(pid, 0) sends no signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: another user's process; else unknowable
        return True
    return True


def _is_stale(entry: os.DirEntry[str], pid: int) -> bool:
    if pid == os.getpid():  # another thread of this process may be writing it
        return False
    if os.name == "posix":
        return not _is_running(pid)
    return time.time() - entry.stat().st_mtime > STALE_AFTER


def remove_stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writes of ``path`` left behind; return them."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    pattern = _temp_pattern(path.name)
    prefix = f".{path.name}."
    removed = []
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            match = pattern.fullmatch(entry.name)
            with contextlib.suppress(OSError):  # gone already, or not ours to remove
                if match and entry.is_file(follow_symlinks=False) and _is_stale(entry, int(match[1])):
                    os.unlink(entry.path)
                    removed.append(directory / entry.name)
    return removed


def _about_target(exc: OSError, path: Path) -> OSError:
    """``exc`` told about ``path`` rather than the temporary file (same errno, same subclass)."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, str(path))  # OSError(errno, ...) picks the subclass


def _create_temp(path: Path, directory: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, mode 0666 less the umask: (fd, its path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # 1 in 4 billion: draw another name
            continue


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: it replaces ``path`` only if the block ends
    without an exception (which may be raised on purpose, e.g. on a bad checksum)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    remove_stale_temp_files(path)
    try:
        old_mode = path.stat().st_mode & 0o777
    except OSError:
        old_mode = None
    try:
        fd, tmp = _create_temp(path, directory)
    except OSError as exc:
        raise _about_target(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                if old_mode is not None:
                    os.chmod(fd if os.chmod in os.supports_fd else tmp, old_mode)
            except OSError as exc:
                raise _about_target(exc, path) from exc
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise _about_target(exc, path) from exc
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _about_target(exc, path) from exc
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
