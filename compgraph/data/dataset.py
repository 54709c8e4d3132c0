"""Datasets and the DataLoader that cuts them into (x, t) batches, shuffled reproducibly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from compgraph._checks import non_negative_int, positive_int, wrong_kind_as_value_error

Batch = tuple[np.ndarray, np.ndarray]


class Dataset:
    """Samples ``(x, t)`` by index. Subclasses define ``__len__`` and ``__getitem__``.

    ``get_batch(indices)`` stacks the samples; a dataset that can slice its arrays directly
    (like ArrayDataset) overrides it to be fast.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def get_batch(self, indices: np.ndarray) -> Batch:
        """The samples at ``indices``, stacked along a new first axis."""
        xs, ts = zip(*(self[int(i)] for i in indices))
        return np.stack(xs), np.asarray(ts)


class ArrayDataset(Dataset):
    """Inputs ``x`` and targets ``t`` as two arrays with the same first axis.

    ``ds[i]`` is the pair ``(x[i], t[i])``; ``ds[a:b]`` is a new ArrayDataset of those rows.

    >>> ds = ArrayDataset(np.zeros((5, 2), np.float32), np.arange(5))
    >>> len(ds), ds[4][1], len(ds[:3])
    (5, np.int64(4), 3)
    """

    def __init__(self, x: np.ndarray, t: np.ndarray):
        for name, value in (("x", x), ("t", t)):
            if not isinstance(value, np.ndarray):
                raise TypeError(f"ArrayDataset: {name} must be a numpy.ndarray, got {type(value).__name__}")
            if value.ndim == 0:
                raise ValueError(f"ArrayDataset: {name} needs a first (sample) axis, got a 0-d array")
        if len(x) != len(t):
            raise ValueError(
                f"ArrayDataset: x and t must hold the same number of samples, got x {x.shape} and t {t.shape}"
            )
        self.x, self.t = x, t

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ArrayDataset(self.x[index], self.t[index])
        return self.x[index], self.t[index]

    def get_batch(self, indices: np.ndarray) -> Batch:
        return self.x[indices], self.t[indices]

    def __repr__(self) -> str:
        return f"ArrayDataset(x {self.x.shape} {self.x.dtype}, t {self.t.shape} {self.t.dtype})"


class DataLoader:
    """Batches ``(x, t)`` of a dataset, one pass per iteration (an epoch).

    With ``shuffle`` each epoch visits the samples in a new random order; with a ``seed``
    that order is reproducible: epoch e uses
    ``np.random.default_rng([seed, e]).permutation(len(dataset))``, so training resumed at
    epoch e sees the same batches as an uninterrupted run (``set_epoch``). Batches are
    copies; the last one is smaller unless ``drop_last``.

    >>> ds = ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    >>> [t.tolist() for _, t in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
    ):
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"DataLoader: expected a Dataset (e.g. ArrayDataset(x, t)), got {type(dataset).__name__}"
            )
        with wrong_kind_as_value_error():
            batch_size = positive_int("DataLoader", "batch_size", batch_size)
            if seed is not None:
                seed = non_negative_int("DataLoader", "seed", seed)
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), seed
        self.epoch = 0
        self._rng = np.random.default_rng() if seed is None else None

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its shuffled order depends on it)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch``, in the order they are batched."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self.seed is None else np.random.default_rng([self.seed, epoch])
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Batch]:
        order = self.order(self.epoch)
        self.epoch += 1
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield self.dataset.get_batch(order[start : start + self.batch_size])
