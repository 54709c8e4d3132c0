"""ArrayDataset and DataLoader: batching, drop_last, seeded shuffling, generic datasets."""

import numpy as np
import pytest

from compgraph.data import ArrayDataset, DataLoader, Dataset


def _dataset(n=10):
    return ArrayDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def test_array_dataset_indexes_and_slices():
    ds = _dataset()
    x, t = ds[3]
    np.testing.assert_array_equal(x, [6.0, 7.0])
    assert t == 3 and len(ds) == 10
    head = ds[:4]
    assert isinstance(head, ArrayDataset) and len(head) == 4
    np.testing.assert_array_equal(head.t, [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("x", "t", "error", "match"),
    [
        (np.zeros((3, 2)), np.zeros(4), ValueError, r"same number of samples, got x \(3, 2\) and t \(4,\)"),
        ([1, 2], np.zeros(2), TypeError, "x must be a numpy.ndarray, got list"),
        (np.zeros(2), np.array(1), ValueError, "t needs a first"),
    ],
)
def test_array_dataset_checks_its_arrays(x, t, error, match):
    with pytest.raises(error, match=match):
        ArrayDataset(x, t)


def test_batches_in_order_with_a_smaller_last_one():
    loader = DataLoader(_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3
    assert [t.tolist() for _, t in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2) and batches[0][0].dtype == np.float32


def test_drop_last_drops_the_incomplete_batch():
    loader = DataLoader(_dataset(), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(t) for _, t in loader] == [4, 4]
    assert len(DataLoader(_dataset(8), batch_size=4, drop_last=True)) == 2


def test_batches_are_copies():
    ds = _dataset()
    x, _ = next(iter(DataLoader(ds, batch_size=2)))
    x[...] = -1
    assert ds.x[0, 0] == 0.0


def test_seeded_shuffling_is_reproducible_and_changes_every_epoch():
    ds = _dataset(100)
    a, b = DataLoader(ds, 10, shuffle=True, seed=3), DataLoader(ds, 10, shuffle=True, seed=3)
    first = np.concatenate([t for _, t in a])
    second = np.concatenate([t for _, t in a])
    assert sorted(first.tolist()) == list(range(100))  # every sample once per epoch
    assert not np.array_equal(first, np.arange(100)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(np.concatenate([t for _, t in b]), first)
    np.testing.assert_array_equal(
        first, np.random.default_rng([3, 0]).permutation(100)
    )  # the documented order
    np.testing.assert_array_equal(second, np.random.default_rng([3, 1]).permutation(100))
    assert a.epoch == 2


def test_set_epoch_replays_an_epoch():
    ds = _dataset(50)
    loader = DataLoader(ds, 7, shuffle=True, seed=0)
    epochs = [np.concatenate([t for _, t in loader]) for _ in range(3)]
    replay = DataLoader(ds, 7, shuffle=True, seed=0)
    replay.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([t for _, t in replay]), epochs[2])


def test_unseeded_shuffling_still_covers_every_sample():
    t = np.concatenate([t for _, t in DataLoader(_dataset(30), 4, shuffle=True)])
    assert sorted(t.tolist()) == list(range(30))


def test_a_dataset_with_only_getitem_is_stacked():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2

    batches = list(DataLoader(Squares(), batch_size=2))
    np.testing.assert_array_equal(batches[1][0], [[2, 4], [3, 9]])
    np.testing.assert_array_equal(batches[2][1], [0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive int"),
        ({"batch_size": 2, "seed": -1}, ValueError, "seed must be a non-negative int"),
    ],
)
def test_loader_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(_dataset(), **kwargs)


def test_loader_wants_a_dataset():
    with pytest.raises(TypeError, match=r"expected a Dataset \(e.g. ArrayDataset\(x, t\)\), got tuple"):
        DataLoader((np.zeros(3), np.zeros(3)), batch_size=1)


def test_base_dataset_names_what_is_missing():
    with pytest.raises(NotImplementedError, match="must define __len__"):
        len(Dataset())
