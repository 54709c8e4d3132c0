"""compgraph._files: atomic writes keep the umask alone, keep a replaced file's mode, clean up
after killed writers, and name the target in their errors."""

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from compgraph import _files

ROOT = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(os.name != "posix", reason="pids and umask are POSIX")


@pytest.fixture
def umask_027(monkeypatch):
    """The process umask set to 027 for the test, and os.umask made to fail: a write that reads
    or sets the umask (process-wide, so racing other threads' new files) fails the test."""
    old = os.umask(0o027)

    def no_umask(mask):
        raise AssertionError(f"os.umask({mask:#o}) called: it changes the mask of every thread")

    monkeypatch.setattr(os, "umask", no_umask)
    yield 0o027
    monkeypatch.undo()
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped (so no process has it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@posix_only
def test_a_new_file_gets_0666_less_the_umask_without_touching_the_umask(tmp_path, umask_027):
    path = tmp_path / "w.bin"
    _files.atomic_write(path, b"data")
    assert path.read_bytes() == b"data"
    assert _mode(path) == 0o640  # 0o666 & ~0o027, as open(path, "w") would give
    assert os.listdir(tmp_path) == ["w.bin"]


@posix_only
def test_a_replaced_file_keeps_its_permission_bits(tmp_path, umask_027):
    path = tmp_path / "w.bin"
    path.write_bytes(b"old")
    path.chmod(0o751)  # bits the umask would have removed (o+x, o+r) and ones it would add (g+w)
    _files.atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o751
    path.chmod(0o600)
    with _files.atomic_writer(path) as f:
        f.write(b"newer")
    assert path.read_bytes() == b"newer" and _mode(path) == 0o600


@posix_only
def test_stale_temp_files_of_dead_writers_are_removed_on_the_next_save(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    names = {
        "dead": f".w.bin.{dead}.0123abcd.tmp",
        "live": f".w.bin.{live}.89abcdef.tmp",  # the writer may still be at work
        "mine": f".w.bin.{os.getpid()}.deadbeef.tmp",  # another thread of this process
        "other target": f".v.bin.{dead}.0123abcd.tmp",
        "not hex": f".w.bin.{dead}.0123ABCD.tmp",
        "not a temp name": ".w.bin.backup",
        "longer name": f".w.bin.{dead}.0123abcd.tmp.keep",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x" * 100)
    (tmp_path / f".w.bin.{dead}.fedcba98.tmp").mkdir()  # a directory is never removed
    _files.atomic_write(tmp_path / "w.bin", b"data")
    left = sorted(os.listdir(tmp_path))
    expected = [n for k, n in names.items() if k != "dead"] + [f".w.bin.{dead}.fedcba98.tmp", "w.bin"]
    assert left == sorted(expected)
    assert (tmp_path / "w.bin").read_bytes() == b"data"


@posix_only
def test_remove_stale_temp_files_returns_what_it_removed(tmp_path):
    dead = _dead_pid()
    for hex8 in ("00000000", "ffffffff"):
        (tmp_path / f".w.bin.{dead}.{hex8}.tmp").write_bytes(b"")
    removed = _files.remove_stale_temp_files(tmp_path / "w.bin")
    assert sorted(p.name for p in removed) == [f".w.bin.{dead}.00000000.tmp", f".w.bin.{dead}.ffffffff.tmp"]
    assert os.listdir(tmp_path) == []
    assert _files.remove_stale_temp_files(tmp_path / "missing-dir" / "w.bin") == []


@posix_only
def test_a_writer_killed_mid_write_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    code = (
        "import os, signal, sys\n"
        "from compgraph._files import atomic_writer\n"
        "with atomic_writer(sys.argv[1]) as f:\n"
        "    f.write(b'x' * 100_000)\n"
        "    f.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, timeout=60)
    assert done.returncode == -signal.SIGKILL
    (temp,) = [p for p in tmp_path.iterdir() if p.name != "w.bin"]
    assert temp.name.startswith(".w.bin.") and temp.name.endswith(".tmp") and temp.stat().st_size == 100_000
    assert target.read_bytes() == b"old"  # the killed write changed nothing
    _files.atomic_write(target, b"new")
    assert os.listdir(tmp_path) == ["w.bin"] and target.read_bytes() == b"new"


def test_a_target_that_is_a_directory_is_named_in_the_error(tmp_path):
    target = tmp_path / "weights.bin"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        _files.atomic_write(target, b"data")
    assert info.value.errno == errno.EISDIR
    assert info.value.filename == str(target) and info.value.filename2 is None
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == ["weights.bin"] and os.listdir(target) == []


def test_a_missing_directory_is_named_by_the_target_not_the_temp_file(tmp_path):
    target = tmp_path / "no" / "such" / "w.bin"
    with pytest.raises(FileNotFoundError) as info:
        _files.atomic_write(target, "text")
    assert info.value.errno == errno.ENOENT and info.value.filename == str(target)
    assert ".tmp" not in str(info.value)


def test_an_error_in_the_block_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="bad checksum"), _files.atomic_writer(target) as f:
        f.write(b"half")
        raise RuntimeError("bad checksum")
    assert os.listdir(tmp_path) == ["w.bin"] and target.read_bytes() == b"old"
