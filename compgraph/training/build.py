"""What a resolved TrainConfig builds: its (train, test) datasets and its model.

A new dataset or model goes here, with its name and defaults in ``config.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compgraph.data import ArrayDataset, default_cache_dir, mnist, spiral
from compgraph.nn import MLP, Module, SimpleConvNet
from compgraph.training.config import AUTO, TrainConfig

#: The spiral data's points per class, for the training set and (another draw) for the test set.
SPIRAL_POINTS = 300


def load_data(config: TrainConfig) -> tuple[ArrayDataset, ArrayDataset, str | None]:
    """The (train, test) datasets of a resolved config, inputs in its dtype, and a note on
    what was chosen.

    Either set coming out empty (MNIST files of no digits, a t10k split of one) is a ValueError.
    """
    train_set, test_set, note = _load(config)
    dtype = np.dtype(config.dtype or "float32")
    if train_set.x.dtype != dtype:
        train_set, test_set = (ArrayDataset(d.x.astype(dtype), d.t) for d in (train_set, test_set))
    return train_set, test_set, note


def _load(config: TrainConfig) -> tuple[ArrayDataset, ArrayDataset, str | None]:
    if config.data == "spiral":
        train_set = spiral(SPIRAL_POINTS, seed=config.seed)
        test_set = spiral(SPIRAL_POINTS, seed=config.seed + 1_000_003)  # an independent draw
        return train_set, test_set, None
    root = Path(config.data_dir) if config.data_dir else default_cache_dir() / "mnist"
    flat = config.model == "mlp"
    split = config.mnist_split
    if split == AUTO:
        split = "t10k" if not _has_files(root, "train") and _has_files(root, "t10k") else "full"
    if split == "full":
        train_set = mnist(root, True, download=config.download, flatten=flat, progress=config.progress)
        test_set = mnist(root, False, download=config.download, flatten=flat, progress=config.progress)
        for prefix, dataset in (("train", train_set), ("t10k", test_set)):
            if len(dataset) == 0:
                raise ValueError(
                    f"train: the MNIST {prefix} files in {root} hold no digits; point data_dir at "
                    "files that do (or delete them to download them again)"
                )
        return train_set, test_set, None
    digits = mnist(root, False, download=config.download, flatten=flat, progress=config.progress)
    cut = len(digits) * 4 // 5  # 8,000 of the 10,000
    rest = len(digits) - cut
    if cut == 0:
        raise ValueError(
            f"train: the t10k split needs at least 2 digits (80% to train on, 20% to test on), but "
            f"the t10k files in {root} hold {len(digits)}"
        )
    note = f"mnist: the {len(digits):,} t10k digits of {root}: first {cut:,} train, last {rest:,} test"
    return digits[:cut], digits[cut:], note


def _has_files(root: Path, prefix: str) -> bool:
    kinds = ("images-idx3-ubyte", "labels-idx1-ubyte")
    return all(any((root / f"{prefix}-{k}{ext}").is_file() for ext in (".gz", "")) for k in kinds)


def build_model(config: TrainConfig, train_set: ArrayDataset) -> Module:
    """The model of a resolved config, sized from the data, initialised from ``config.seed``."""
    classes = 10 if config.data == "mnist" else int(train_set.t.max()) + 1
    dtype = np.dtype(config.dtype or "float32")
    if config.model == "mlp":
        features = int(np.prod(train_set.x.shape[1:]))
        return MLP((features, *config.hidden, classes), dtype=dtype, rng=config.seed)
    return SimpleConvNet(
        tuple(train_set.x.shape[1:]), hidden=config.hidden[0], classes=classes, dtype=dtype, rng=config.seed
    )
