"""MNIST from its original IDX files (gzip-compressed or raw), downloaded on request.

Downloads go to a temporary file next to the target, are checked against the published MD5
checksums, and only then take the file's name: an interrupted or corrupt download never
looks like data. Every file read is checked (magic number, dimensions, exact size, gzip CRC),
so a truncated or damaged file raises a ValueError instead of returning a wrong array.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compgraph._progress import has_tqdm
from compgraph.data.dataset import ArrayDataset
from compgraph.data.fetch import default_cache_dir, download
from compgraph.data.idx import read_idx

#: Mirrors of the original files (yann.lecun.com no longer serves them reliably).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: The MD5 checksums published for the gzip files.
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


class MNISTNotFoundError(FileNotFoundError):
    """MNIST file ``name`` (as .gz or raw) is not in ``root``, and no download was asked for."""

    def __init__(self, name: str, root: Path):
        super().__init__(
            f"MNIST file {name}.gz (or {name}) not found in {root}; pass download=True to fetch it, "
            "or root= the directory that holds it"
        )
        self.name, self.root = name, root


def _fetch(name: str, root: Path, mirrors: Sequence[str], progress: bool) -> Path:
    target = root / f"{name}.gz"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            if progress and not has_tqdm():  # no bar: at least say what is happening
                print(f"downloading {url}", file=sys.stderr)
            return download(url, target, md5=MD5[target.name], progress=progress)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            failures.append(f"{url}: {exc}")
    raise ConnectionError(f"could not download {target.name}:\n  " + "\n  ".join(failures))


def mnist(
    root: str | Path | None = None,
    train: bool = True,
    *,
    download: bool = False,
    flatten: bool = False,
    normalize: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    progress: bool = True,
) -> ArrayDataset:
    """The MNIST training set (60,000 digits; ``train=False``: the 10,000 test digits).

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (``t10k-...`` for the
    test set), each as ``.gz`` or raw, from ``root`` (default: ``default_cache_dir()/mnist``).
    With ``download=True`` missing files are fetched from ``mirrors`` and checked against
    their published MD5 sums. x is float32 (N, 1, 28, 28) scaled to [0, 1] (uint8 0-255
    with ``normalize=False``; (N, 784) with ``flatten=True``), t int64 (N,). A missing file
    (without ``download``) raises MNISTNotFoundError, a FileNotFoundError.

    >>> test = mnist("data/mnist", train=False)  # doctest: +SKIP
    >>> test.x.shape, test.t[:3]                  # doctest: +SKIP
    ((10000, 1, 28, 28), array([7, 2, 1]))
    """
    root = Path(root) if root is not None else default_cache_dir() / "mnist"
    prefix = "train" if train else "t10k"
    arrays = []
    for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        name = f"{prefix}-{kind}"
        found = next((p for p in (root / f"{name}.gz", root / name) if p.is_file()), None)
        if found is None:
            if not download:
                raise MNISTNotFoundError(name, root)
            found = _fetch(name, root, mirrors, progress)
        array = read_idx(found)
        if array.ndim != ndim or array.dtype != np.uint8:
            raise ValueError(
                f"{found}: expected {ndim}-d uint8 data for MNIST, got {array.dtype} {array.shape}"
            )
        arrays.append((found, array))
    (image_path, images), (label_path, labels) = arrays
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise ValueError(
            f"MNIST files do not match: {image_path} holds images {images.shape}, {label_path} labels "
            f"{labels.shape}; expected (N, 28, 28) and (N,)"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{label_path}: labels must be digits 0-9, found {labels.max()}")
    x = images[:, None]
    if normalize:
        x = x.astype(np.float32) / np.float32(255)
    if flatten:
        x = x.reshape(len(x), 28 * 28)  # not -1: that cannot be worked out for 0 images
    return ArrayDataset(np.ascontiguousarray(x), labels.astype(np.int64))
