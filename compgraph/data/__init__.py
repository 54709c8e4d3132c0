"""Datasets and batching: ``from compgraph.data import DataLoader, spiral, mnist, shakespeare``.

>>> loader = DataLoader(spiral(seed=0), batch_size=30, shuffle=True, seed=0)
>>> x, t = next(iter(loader))
>>> x.shape, t.shape
((30, 2), (30,))
"""

from compgraph.data.dataset import ArrayDataset, DataLoader, Dataset
from compgraph.data.fetch import default_cache_dir, download
from compgraph.data.idx import read_idx
from compgraph.data.mnist_dataset import MNISTNotFoundError, mnist
from compgraph.data.synthetic import spiral
from compgraph.data.text import CharCorpus, CharVocab, ShakespeareNotFoundError, shakespeare

__all__ = [
    "ArrayDataset",
    "CharCorpus",
    "CharVocab",
    "DataLoader",
    "Dataset",
    "MNISTNotFoundError",
    "ShakespeareNotFoundError",
    "default_cache_dir",
    "download",
    "mnist",
    "read_idx",
    "shakespeare",
    "spiral",
]
