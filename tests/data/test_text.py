"""Character-level text: vocabulary, splits, random / sequential / evaluation batches, Tiny Shakespeare."""

import doctest
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from compgraph.data import CharCorpus, CharVocab, ShakespeareNotFoundError, shakespeare, text

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("COMPGRAPH_SHAKESPEARE_DIR") or ROOT.parent / "shared" / "data" / "shakespeare")
needs_shakespeare = pytest.mark.skipif(
    not (SHARED / "input.txt").is_file(), reason=f"no Tiny Shakespeare at {SHARED}/input.txt"
)


def _text(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("abcdefgh \n"), size=n))


def test_the_vocabulary_is_the_sorted_set_of_characters_and_round_trips():
    vocab = CharVocab.from_text("hello, world\n")
    assert vocab.chars == "\n ,dehlorw" and len(vocab) == 10
    ids = vocab.encode("hello, world\n")
    assert ids.dtype == np.int64 and ids.tolist() == [5, 4, 6, 6, 7, 2, 1, 9, 7, 8, 6, 3, 0]
    assert vocab.decode(ids) == "hello, world\n" and vocab.decode([]) == ""
    assert CharVocab(vocab.chars).encode("low").tolist() == [6, 7, 9]  # rebuilt from the saved string
    assert vocab.encode("").shape == (0,)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda v: v.encode("abz"),
            ValueError,
            r"character 'z' \(at index 2\) is not in the vocabulary of 3",
        ),
        (lambda v: v.decode([0, 3]), ValueError, r"id 3 is outside the vocabulary's 0..2"),
        (lambda v: v.decode([-1]), ValueError, "id -1 is outside"),
        (
            lambda v: v.decode([[0]]),
            ValueError,
            r"expected a 1-d sequence of integer ids, got int64 \(1, 1\)",
        ),
        (lambda v: v.decode([0.5]), ValueError, "integer ids, got float64"),
        (lambda v: CharVocab("abca"), ValueError, r"must be distinct, but \['a'\] appear more than once"),
        (lambda v: CharVocab(["a"]), TypeError, "chars must be a str"),
        (lambda v: CharVocab.from_text(b"abc"), TypeError, "text must be a str, got bytes"),
    ],
)
def test_vocabulary_errors_name_the_bad_value(call, error, match):
    with pytest.raises(error, match=match):
        call(CharVocab("abc"))


@pytest.mark.parametrize(("n", "n_train"), [(1000, 900), (25, 22), (11, 9)])
def test_the_first_90_percent_trains_and_the_rest_validates(n, n_train):
    s = _text(n)
    corpus = CharCorpus(s)
    assert len(corpus.train) == n_train == int(n * 0.9) and len(corpus.val) == n - n_train
    assert corpus.vocab.decode(corpus.train) + corpus.vocab.decode(corpus.val) == s
    assert corpus.split("train") is corpus.train and corpus.split("val") is corpus.val
    assert len(CharCorpus(s, train_fraction=0.5).train) == n // 2


def test_a_given_vocabulary_encodes_the_text_with_its_ids():
    vocab = CharVocab("zyxabc")
    corpus = CharCorpus("abcabcabcx", vocab=vocab)
    assert corpus.vocab is vocab and corpus.train.tolist() == [3, 4, 5, 3, 4, 5, 3, 4, 5]


def test_get_batch_draws_windows_as_nanogpt_does():
    corpus = CharCorpus(_text(2000))
    ids, T, B = corpus.train, 16, 12
    x, y = corpus.get_batch("train", B, T, rng=np.random.default_rng(7))
    starts = np.random.default_rng(7).integers(len(ids) - T, size=B)  # randint(len(data) - block_size)
    assert x.shape == y.shape == (B, T) and x.dtype == y.dtype == np.int64
    for row, i in enumerate(starts):
        np.testing.assert_array_equal(x[row], ids[i : i + T])
        np.testing.assert_array_equal(y[row], ids[i + 1 : i + 1 + T])
    again = corpus.get_batch("train", B, T, rng=7)  # a seed makes the same Generator
    np.testing.assert_array_equal(again[0], x)


def test_every_start_is_drawn_and_the_last_target_is_the_last_character():
    corpus = CharCorpus("abcdefghijklmnopqrst", train_fraction=0.5)  # train: 10 characters
    x, y = corpus.get_batch("train", 500, 4, rng=0)
    assert sorted(set(x[:, 0].tolist())) == list(range(6))  # starts 0 .. len - context - 1
    assert y.max() == corpus.train[-1]
    x, y = corpus.get_batch("train", 3, 9, rng=0)  # context len − 1: one possible window
    assert x.tolist() == [list(range(9))] * 3 and y.tolist() == [list(range(1, 10))] * 3


def test_random_batches_depend_on_the_seed_and_the_step_only():
    corpus = CharCorpus(_text(500))
    batches = corpus.random_batches("train", 4, 8, seed=3)
    first = [next(batches) for _ in range(5)]
    for k, (x, y) in enumerate(first):
        ex, ey = corpus.get_batch("train", 4, 8, rng=np.random.default_rng([3, k]))
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    resumed = next(corpus.random_batches("train", 4, 8, seed=3, start=3))
    np.testing.assert_array_equal(resumed[0], first[3][0])
    other = next(corpus.random_batches("train", 4, 8, seed=4))
    assert not np.array_equal(other[0], first[0][0])


@pytest.mark.parametrize(("n", "batch_size", "context"), [(1000, 4, 16), (900, 3, 7), (200, 1, 10)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sequential_batches_run_parallel_streams_in_consecutive_windows(n, batch_size, context, drop_last):
    corpus = CharCorpus(_text(n), train_fraction=0.5)
    ids = corpus.train
    length = (len(ids) - 1) // batch_size
    batches = list(corpus.sequential_batches("train", batch_size, context, drop_last=drop_last))
    assert all(x.shape == y.shape and x.shape[0] == batch_size for x, y in batches)
    assert all(x.shape[1] == context for x, _ in batches[:-1])
    covered = length - length % context if drop_last else length
    assert sum(x.shape[1] for x, _ in batches) == covered
    xs, ys = np.concatenate([x for x, _ in batches], axis=1), np.concatenate([y for _, y in batches], axis=1)
    for b in range(batch_size):  # row b of each batch continues row b of the one before
        np.testing.assert_array_equal(xs[b], ids[b * length : b * length + covered])
        np.testing.assert_array_equal(ys[b], ids[b * length + 1 : b * length + covered + 1])


def test_sequential_batches_of_an_exact_fit_have_no_short_window():
    corpus = CharCorpus("abcdefghi" + "j" * 11, train_fraction=0.5)  # train: 10 ids, 9 targets
    batches = list(corpus.sequential_batches("train", 3, 3))
    assert [x.shape for x, _ in batches] == [(3, 3)]
    assert batches[0][0].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert batches[0][1].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize(("n", "context", "batch_size"), [(1000, 16, 5), (1001, 10, 64), (210, 10, 2)])
def test_eval_batches_visit_every_non_overlapping_window_of_the_split_once(n, context, batch_size):
    corpus = CharCorpus(_text(n), train_fraction=0.5)
    ids = corpus.val
    count = (len(ids) - 1) // context
    batches = list(corpus.eval_batches("val", context, batch_size))
    assert [len(x) for x, _ in batches] == [min(batch_size, count - i) for i in range(0, count, batch_size)]
    xs, ys = np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])
    assert xs.shape == (count, context)
    np.testing.assert_array_equal(xs.ravel(), ids[: count * context])
    np.testing.assert_array_equal(ys.ravel(), ids[1 : count * context + 1])
    assert list(CharCorpus(_text(n)).eval_batches(context=context)) != []  # val and 64 by default


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda c: c.get_batch("test", 2, 4, 0),
            ValueError,
            "unknown split 'test'; choose one of train, val",
        ),
        (
            lambda c: c.get_batch("val", 2, 10, 0),
            ValueError,
            "the val split has 10 characters, too few for .* context 10",
        ),
        (lambda c: c.get_batch("train", 0, 4, 0), ValueError, "batch_size must be a positive int, got 0"),
        (lambda c: c.get_batch("train", 2, 4.0, 0), TypeError, "context must be a positive int"),
        (lambda c: next(c.random_batches("train", 2, 4, seed=-1)), ValueError, "seed must be a non-negative"),
        (
            lambda c: next(c.random_batches("train", 2, 90, seed=0)),
            ValueError,
            "train split has 90 characters",
        ),
        (lambda c: next(c.sequential_batches("val", 10, 2)), ValueError, "too few for 10 streams"),
        (lambda c: next(c.eval_batches("val", 10)), ValueError, "the val split has 10 characters"),
        (
            lambda c: CharCorpus("abc", train_fraction=1.0),
            ValueError,
            r"train_fraction must be in \(0, 1\), got 1.0",
        ),
        (lambda c: CharCorpus(b"abc"), TypeError, "text must be a str, got bytes"),
    ],
)
def test_corpus_errors_name_the_bad_value_and_the_fix(call, error, match):
    corpus = CharCorpus(_text(100))
    with pytest.raises(error, match=match):
        call(corpus)


def test_shakespeare_reads_input_txt_from_a_directory(tmp_path):
    (tmp_path / "input.txt").write_text("To be, or not to be" * 5, encoding="utf-8")
    corpus = shakespeare(tmp_path)
    assert corpus.vocab.chars == " ,Tbenort" and len(corpus.train) == 85


def test_a_missing_file_is_a_file_not_found_error_naming_the_directory(tmp_path, monkeypatch):
    with pytest.raises(
        ShakespeareNotFoundError, match=f"input.txt not found in {tmp_path}; pass download=True"
    ):
        shakespeare(tmp_path)
    monkeypatch.setenv("COMPGRAPH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as info:
        shakespeare()
    assert info.value.root == tmp_path / "cache" / "shakespeare"


def test_download_fetches_once_and_verifies_the_checksum(tmp_path, monkeypatch):
    source = tmp_path / "served.txt"
    source.write_bytes(b"O Romeo, Romeo!\n" * 20)
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    root = tmp_path / "data"
    corpus = shakespeare(root, download=True, url=source.as_uri(), progress=False)
    assert (root / "input.txt").read_bytes() == source.read_bytes() and len(corpus.vocab) == 9
    source.unlink()  # a second call reads the file it has
    assert len(shakespeare(root, download=True, url=source.as_uri(), progress=False).train) == 288


def test_a_download_with_the_wrong_checksum_leaves_nothing(tmp_path):
    source = tmp_path / "served.txt"
    source.write_text("not Shakespeare\n")
    with pytest.raises(ConnectionError, match=r"could not download Tiny Shakespeare .* checksum mismatch"):
        shakespeare(tmp_path / "data", download=True, url=source.as_uri(), progress=False)
    assert not (tmp_path / "data" / "input.txt").exists()


@needs_shakespeare
def test_the_shared_tiny_shakespeare_is_char_rnns_file_as_nanogpt_splits_it():
    data = (SHARED / "input.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == text.SHAKESPEARE_SHA256
    corpus = shakespeare(SHARED)
    assert len(corpus.vocab) == 65 and corpus.vocab.chars[:13] == "\n !$&',-.3:;?"
    assert (len(corpus.train), len(corpus.val)) == (1003854, 111540)  # nanoGPT's prepare.py
    assert corpus.vocab.decode(corpus.train[:14]) == "First Citizen:"
    assert sum(len(x) for x, _ in corpus.eval_batches("val", 64, 512)) == 111539 // 64


def test_doctests():
    assert doctest.testmod(text).failed == 0
