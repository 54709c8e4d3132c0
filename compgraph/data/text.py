"""Character-level text: a vocabulary, train/validation splits and the batches a language model needs.

nanoGPT's shakespeare_char preparation and its ``get_batch``: the vocabulary is the sorted
set of the text's characters, the first 90% of the characters train and the last 10%
validate, and a batch is ``batch_size`` windows of ``context`` ids, x, with the same windows
shifted by one character, y (the next character at every position). Besides random windows
there are sequential batches for truncated backprop through time and the validation
measure's batches, every non-overlapping window of a split.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from compgraph._checks import non_negative_int, number, one_of, positive_int
from compgraph._progress import has_tqdm
from compgraph.data.fetch import default_cache_dir, download

Batch = tuple[np.ndarray, np.ndarray]
SPLITS = ("train", "val")

#: char-rnn's public copy of Tiny Shakespeare (1,115,394 characters), and its checksum.
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


class CharVocab:
    """Characters ↔ ids: id i is ``chars[i]``; ``CharVocab.from_text`` sorts a text's characters.

    >>> vocab = CharVocab.from_text("hello")
    >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 0])
    ('ehlo', [1, 3, 2, 0], 'oe')
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str):
            raise TypeError(
                f"CharVocab: chars must be a str of distinct characters, got {type(chars).__name__}"
            )
        if len(set(chars)) != len(chars):
            repeated = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"CharVocab: chars must be distinct, but {repeated!r} appear more than once")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of ``text``: its distinct characters, sorted."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.from_text: text must be a str, got {type(text).__name__}")
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters, int64 (len(text),)."""
        try:
            return np.fromiter((self._ids[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            where = text.index(exc.args[0])
            raise ValueError(
                f"CharVocab.encode: character {exc.args[0]!r} (at index {where}) is not in the "
                f"vocabulary of {len(self)} characters; use text made of {self.chars[:40]!r}"
                + ("..." if len(self) > 40 else "")
            ) from None

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """The text of a 1-d sequence of ids."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(
                f"CharVocab.decode: expected a 1-d sequence of integer ids, got {ids.dtype} {ids.shape}"
            )
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise ValueError(
                f"CharVocab.decode: id {int(bad[0])} is outside the vocabulary's 0..{len(self) - 1}"
            )
        return "".join(self.chars[i] for i in ids.tolist())

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"


class CharCorpus:
    """A text as ids, split into ``train`` (the first ``train_fraction``) and ``val`` (the rest).

    ``vocab`` defaults to the text's own (``CharVocab.from_text``); pass a saved one to
    encode a text with a model's vocabulary. ``train`` and ``val`` are int64 id arrays; the
    split falls at character ``int(len(text) * train_fraction)``, as in nanoGPT.

    >>> corpus = CharCorpus("abcdefghij" * 10)
    >>> len(corpus.vocab), len(corpus.train), len(corpus.val)
    (10, 90, 10)
    >>> x, y = corpus.get_batch("train", batch_size=2, context=4, rng=0)
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())
    ((2, 4), True)
    """

    def __init__(self, text: str, vocab: CharVocab | None = None, train_fraction: float = 0.9):
        if not isinstance(text, str):
            raise TypeError(f"CharCorpus: text must be a str, got {type(text).__name__}")
        train_fraction = number("CharCorpus", "train_fraction", train_fraction)
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"CharCorpus: train_fraction must be in (0, 1), got {train_fraction!r}")
        self.vocab = CharVocab.from_text(text) if vocab is None else vocab
        ids = self.vocab.encode(text)
        n = int(len(ids) * train_fraction)
        self.train, self.val = ids[:n], ids[n:]

    def split(self, name: str) -> np.ndarray:
        """The ids of split ``name``, "train" or "val"."""
        return getattr(self, one_of("CharCorpus", "split", name, SPLITS))

    def _ids(self, caller: str, split: str, context: int, at_least: int) -> tuple[np.ndarray, int]:
        context = positive_int(caller, "context", context)
        ids = self.split(split)
        if len(ids) < context + at_least:
            raise ValueError(
                f"{caller}: the {split} split has {len(ids)} characters, too few for a window of "
                f"context {context} and its next character; use a smaller context or a longer text"
            )
        return ids, context

    def get_batch(
        self, split: str, batch_size: int, context: int, rng: np.random.Generator | int | None
    ) -> Batch:
        """``batch_size`` random windows: x, y int64 (batch_size, context), y = x shifted by one.

        As nanoGPT's get_batch: each window starts at ``rng.integers(len(ids) - context)``,
        drawn from ``rng`` (a Generator, or a seed for ``np.random.default_rng``).
        """
        ids, context = self._ids("CharCorpus.get_batch", split, context, 1)
        batch_size = positive_int("CharCorpus.get_batch", "batch_size", batch_size)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        starts = rng.integers(len(ids) - context, size=batch_size)
        rows = starts[:, None] + np.arange(context + 1)
        windows = ids[rows]
        return windows[:, :-1], windows[:, 1:]

    def random_batches(
        self, split: str, batch_size: int, context: int, seed: int, start: int = 0
    ) -> Iterator[Batch]:
        """Random batches without end; batch k is ``get_batch(..., rng=default_rng([seed, k]))``.

        Each batch depends on the seed and its number only, so training resumed at step
        ``start`` sees the batches an uninterrupted run would.
        """
        seed = non_negative_int("CharCorpus.random_batches", "seed", seed)
        step = non_negative_int("CharCorpus.random_batches", "start", start)
        self._ids("CharCorpus.random_batches", split, context, 1)
        while True:
            yield self.get_batch(split, batch_size, context, np.random.default_rng([seed, step]))
            step += 1

    def sequential_batches(
        self, split: str, batch_size: int, context: int, drop_last: bool = False
    ) -> Iterator[Batch]:
        """One pass in consecutive windows, for truncated backprop through time.

        The split is cut into ``batch_size`` streams of equal length L = (len − 1) //
        batch_size (row b reads characters b·L .. (b + 1)·L, and the one after, as
        targets); batch k holds each stream's k-th window of ``context`` characters, so row b
        of a batch continues row b of the one before and a hidden state can be carried over.
        The last window is shorter unless ``drop_last``.
        """
        caller = "CharCorpus.sequential_batches"
        batch_size = positive_int(caller, "batch_size", batch_size)
        ids, context = self._ids(caller, split, context, 1)
        length = (len(ids) - 1) // batch_size
        if length < 1:
            raise ValueError(
                f"{caller}: the {split} split has {len(ids)} characters, too few for {batch_size} "
                "streams of at least one character and its target; use a smaller batch_size"
            )
        rows = np.arange(batch_size)[:, None] * length
        x = ids[rows + np.arange(length)]
        y = ids[rows + np.arange(1, length + 1)]
        end = length - length % context if drop_last else length
        for i in range(0, end, context):
            yield x[:, i : i + context], y[:, i : i + context]

    def eval_batches(self, split: str = "val", context: int = 64, batch_size: int = 64) -> Iterator[Batch]:
        """Every non-overlapping window of the split, in order, ``batch_size`` windows a batch.

        Window j is x = ids[j·context : (j + 1)·context] and y the same shifted by one: there
        are ``(len(ids) − 1) // context`` of them, the last batch has the rest, and the few
        characters after the last full window are not scored. Every window has ``context``
        targets, so the mean loss over all windows is the mean over the batches weighted by
        their number of rows.
        """
        caller = "CharCorpus.eval_batches"
        batch_size = positive_int(caller, "batch_size", batch_size)
        ids, context = self._ids(caller, split, context, 1)
        count = (len(ids) - 1) // context
        starts = np.arange(count) * context
        for i in range(0, count, batch_size):
            rows = starts[i : i + batch_size, None] + np.arange(context + 1)
            windows = ids[rows]
            yield windows[:, :-1], windows[:, 1:]

    def __repr__(self) -> str:
        return f"CharCorpus({len(self.vocab)} characters, train {len(self.train)}, val {len(self.val)})"


class ShakespeareNotFoundError(FileNotFoundError):
    """``input.txt`` is not in ``root``, and no download was asked for."""

    def __init__(self, root: Path):
        super().__init__(
            f"Tiny Shakespeare's input.txt not found in {root}; pass download=True to fetch it, or "
            "root= the directory that holds it"
        )
        self.root = root


def shakespeare(
    root: str | Path | None = None,
    *,
    download: bool = False,
    train_fraction: float = 0.9,
    url: str = SHAKESPEARE_URL,
    progress: bool = True,
) -> CharCorpus:
    """Tiny Shakespeare as a CharCorpus (65 characters; 1,003,854 train, 111,540 val).

    Reads ``input.txt`` (UTF-8) from ``root`` (default: ``default_cache_dir()/shakespeare``);
    any text there is used as it is. With ``download=True`` a missing file is fetched once
    from ``url`` (char-rnn's copy) and checked against its SHA-256. A missing file without
    ``download`` raises ShakespeareNotFoundError, a FileNotFoundError.

    >>> corpus = shakespeare("data/shakespeare")  # doctest: +SKIP
    >>> corpus.vocab.decode(corpus.train[:14])     # doctest: +SKIP
    'First Citizen:'
    """
    root = Path(root) if root is not None else default_cache_dir() / "shakespeare"
    path = root / "input.txt"
    if not path.is_file():
        if not download:
            raise ShakespeareNotFoundError(root)
        if progress and not has_tqdm():  # no bar: at least say what is happening
            print(f"downloading {url}", file=sys.stderr)
        try:
            _fetch(url, path, progress)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            raise ConnectionError(f"could not download Tiny Shakespeare from {url}: {exc}") from exc
    return CharCorpus(path.read_text(encoding="utf-8"), train_fraction=train_fraction)


def _fetch(url: str, path: Path, progress: bool) -> None:
    """fetch.download, which shakespeare()'s ``download`` flag hides inside that function."""
    download(url, path, sha256=SHAKESPEARE_SHA256, progress=progress)
