"""MNIST: IDX parsing (gz and raw), corrupt files, the dataset, downloads from a local server."""

import functools
import gzip
import hashlib
import http.server
import os
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from compgraph.data import MNISTNotFoundError, default_cache_dir, download, mnist, mnist_dataset, read_idx

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("COMPGRAPH_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")


def _idx(array: np.ndarray, code: int) -> bytes:
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


def _digits(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def _write_set(root: Path, prefix: str, images, labels, gz=(True, True)):
    root.mkdir(parents=True, exist_ok=True)
    for (kind, array, code), zipped in zip(
        (("images-idx3-ubyte", images, 0x08), ("labels-idx1-ubyte", labels, 0x08)), gz
    ):
        data = _idx(array, code)
        name = f"{prefix}-{kind}"
        if zipped:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)


@pytest.mark.parametrize("zipped", [True, False])
@pytest.mark.parametrize(
    ("array", "code"),
    [
        (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08),
        (np.array([-5, 7, 1 << 20], dtype=np.int32), 0x0C),
        (np.array([[0.5, -1.25]], dtype=np.float64), 0x0E),
    ],
)
def test_read_idx_round_trips(tmp_path, array, code, zipped):
    data = _idx(array, code)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if zipped else data)
    out = read_idx(path)
    assert out.dtype == array.dtype and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda d: b"\x08\x08" + d[2:], r"not an IDX file \(magic number 0x0808"),
        (lambda d: d[:2] + b"\x07" + d[3:], "not an IDX file"),
        (lambda d: d[:6], r"truncated IDX header"),
        (lambda d: d[:-1], r"announces shape \(2, 3, 4\) of uint8 \(40 bytes\).*39 bytes.*truncated"),
        (lambda d: d + b"\x00", "followed by extra bytes"),
        (lambda d: b"", "not an IDX file"),
    ],
)
def test_broken_idx_files_are_refused(tmp_path, mangle, match):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(mangle(_idx(np.zeros((2, 3, 4), np.uint8), 0x08)))
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert "broken-idx3-ubyte" in str(info.value)


def test_truncated_or_corrupt_gzip_is_refused(tmp_path):
    packed = gzip.compress(_idx(np.arange(3000, dtype=np.int32), 0x0C))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"truncated\.gz: damaged gzip data.*download it again"):
        read_idx(truncated)
    flipped = bytearray(packed)
    flipped[-6] ^= 0xFF  # inside the CRC-32 trailer
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="damaged gzip data"):
        read_idx(corrupt)


def test_mnist_reads_a_directory_of_gz_and_raw_files(tmp_path):
    images, labels = _digits(5)
    _write_set(tmp_path, "train", images, labels, gz=(True, False))
    ds = mnist(tmp_path)
    assert ds.x.shape == (5, 1, 28, 28) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[:, 0], images / 255.0, rtol=1e-6)
    assert ds.t.dtype == np.int64
    np.testing.assert_array_equal(ds.t, labels)
    flat = mnist(tmp_path, flatten=True)
    assert flat.x.shape == (5, 784)
    raw = mnist(tmp_path, normalize=False)
    assert raw.x.dtype == np.uint8
    np.testing.assert_array_equal(raw.x[:, 0], images)


def test_mnist_test_split_uses_the_t10k_files(tmp_path):
    images, labels = _digits(3, seed=1)
    _write_set(tmp_path, "t10k", images, labels)
    np.testing.assert_array_equal(mnist(tmp_path, train=False).t, labels)
    with pytest.raises(
        FileNotFoundError, match=r"train-images-idx3-ubyte\.gz \(or .*\) not found.*download=True"
    ):
        mnist(tmp_path, train=True)


def test_a_missing_file_is_an_mnist_not_found_error_naming_the_file_and_the_directory(tmp_path):
    images, labels = _digits(2)
    _write_set(tmp_path, "t10k", images, labels)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTNotFoundError) as info:
        mnist(tmp_path, train=False)
    assert isinstance(info.value, FileNotFoundError)  # what callers caught before it existed
    assert (info.value.name, info.value.root) == ("t10k-labels-idx1-ubyte", tmp_path)
    assert str(info.value).startswith(
        f"MNIST file t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte) not found in {tmp_path}"
    )


@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_files_of_no_digits_give_an_empty_dataset_of_the_right_shape(tmp_path, flatten, normalize):
    _write_set(tmp_path, "train", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    ds = mnist(tmp_path, flatten=flatten, normalize=normalize)
    assert len(ds) == 0 and ds.x.shape == ((0, 784) if flatten else (0, 1, 28, 28))
    assert ds.x.dtype == (np.float32 if normalize else np.uint8) and ds.t.shape == (0,)


def test_mnist_refuses_files_that_do_not_belong_together(tmp_path):
    images, labels = _digits(5)
    _write_set(tmp_path / "count", "train", images, labels[:4])
    with pytest.raises(ValueError, match=r"do not match.*images \(5, 28, 28\).*labels \(4,\)"):
        mnist(tmp_path / "count")
    _write_set(tmp_path / "label", "train", images, np.full(5, 12, np.uint8))
    with pytest.raises(ValueError, match="labels must be digits 0-9, found 12"):
        mnist(tmp_path / "label")
    (tmp_path / "kind").mkdir()
    (tmp_path / "kind" / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros(5, np.int32), 0x0C))
    with pytest.raises(ValueError, match="expected 3-d uint8 data for MNIST, got int32"):
        mnist(tmp_path / "kind")


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPGRAPH_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("COMPGRAPH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "compgraph"


@pytest.fixture
def server(tmp_path):
    """An HTTP server on localhost serving tmp_path/www; yields (base URL, directory)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verifies_checksums(server, tmp_path):
    base, www = server
    payload = os.urandom(200_000)
    (www / "blob.bin").write_bytes(payload)
    md5, sha = hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest()
    target = tmp_path / "cache" / "blob.bin"
    assert download(base + "blob.bin", target, md5=md5, sha256=sha.upper(), progress=False) == target
    assert target.read_bytes() == payload


def test_a_bad_checksum_leaves_nothing_behind(server, tmp_path):
    base, www = server
    (www / "blob.bin").write_bytes(b"not what you wanted")
    cache = tmp_path / "cache"
    with pytest.raises(
        ValueError, match=r"checksum mismatch for .*blob\.bin: SHA-256 [0-9a-f]{64}, expected 0+"
    ):
        download(base + "blob.bin", cache / "blob.bin", sha256="0" * 64, progress=False)
    assert list(cache.iterdir()) == []


def test_a_bad_checksum_keeps_the_old_file(server, tmp_path):
    base, www = server
    (www / "blob.bin").write_bytes(b"new but wrong")
    target = tmp_path / "blob.bin"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download(base + "blob.bin", target, md5="0" * 32, progress=False)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name != "www"] == ["blob.bin"]


def test_download_keeps_the_old_file_when_the_server_fails(server, tmp_path):
    base, _ = server
    target = tmp_path / "blob.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="404"):
        download(base + "missing.bin", target, progress=False)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name != "www"] == ["blob.bin"]


def test_download_from_a_file_url(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc" * 1000)
    target = download(
        source.as_uri(), tmp_path / "out" / "dst.bin", md5=hashlib.md5(b"abc" * 1000).hexdigest()
    )
    assert target.read_bytes() == b"abc" * 1000


def test_mnist_download_falls_through_mirrors_and_checks_the_published_md5(server, tmp_path, capsys):
    if not (SHARED / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test files are not in {SHARED}")
    base, www = server
    (www / "good").mkdir()
    (www / "bad").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED / name, www / "good" / name)
        (www / "bad" / name).write_bytes(gzip.compress(b"an impostor"))
    cache = tmp_path / "cache"
    ds = mnist(
        cache, train=False, download=True, mirrors=[base + "bad/", base + "nothing-here/", base + "good/"]
    )
    assert ds.x.shape == (10_000, 1, 28, 28)
    np.testing.assert_array_equal(ds.t[:5], [7, 2, 1, 0, 4])
    assert sorted(p.name for p in cache.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    # a second call reads the cache without downloading
    assert len(mnist(cache, train=False, download=True, mirrors=[])) == 10_000


def test_mnist_download_failure_lists_every_mirror(server, tmp_path):
    base, _ = server
    with pytest.raises(ConnectionError) as info:
        mnist(tmp_path / "cache", download=True, mirrors=[base + "a/", base + "b/"], progress=False)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert (
        f"{base}a/train-images-idx3-ubyte.gz" in message and f"{base}b/train-images-idx3-ubyte.gz" in message
    )


def test_the_published_checksums_match_the_real_files():
    if not (SHARED / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test files are not in {SHARED}")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert hashlib.md5((SHARED / name).read_bytes()).hexdigest() == mnist_dataset.MD5[name]
