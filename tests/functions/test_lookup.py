"""embedding and one_hot: values, accumulation of repeated ids, gradients, dtypes, errors."""

import doctest
import sys

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def test_embedding_picks_rows_for_ids_of_any_shape():
    W = np.arange(8.0).reshape(4, 2)
    ids = np.array([[3, 0, 1], [1, 1, 2]])
    y = F.embedding(ids, W)
    assert y.shape == (2, 3, 2)
    np.testing.assert_array_equal(y.data[0], [[6, 7], [0, 1], [2, 3]])
    np.testing.assert_array_equal(F.embedding(np.array(2), W).data, [4, 5])


def test_repeated_ids_accumulate_in_the_gradient():
    W = Variable(np.zeros((4, 2)))
    y = F.embedding(np.array([1, 3, 1, 1]), W)
    cg.backward(y, np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 20.0], [100.0, 200.0]]))
    np.testing.assert_array_equal(W.grad.data, [[0, 0], [111, 222], [0, 0], [3, 4]])


def test_embedding_gradient_and_second_order():
    W = np.random.default_rng(0).normal(size=(5, 3))
    ids = np.array([[0, 4, 4], [2, 0, 1]])
    assert cg.gradcheck(lambda w: F.embedding(ids, w), W)
    assert cg.gradcheck(lambda w: cg.grad(F.sum(F.embedding(ids, w) ** 3), [w], create_graph=True)[0], W)


def test_embedding_accepts_an_integer_variable_and_keeps_float32():
    W = Variable(np.ones((3, 2), np.float32))
    y = F.embedding(Variable(np.array([2, 2])), W)
    F.sum(y).backward()
    assert y.dtype == W.grad.dtype == np.float32
    np.testing.assert_array_equal(W.grad.data, [[0, 0], [0, 0], [2, 2]])


@pytest.mark.parametrize(
    ("ids", "W_shape", "error", "message"),
    [
        (np.array([0.0, 1.0]), (3, 2), TypeError, r"ids must hold integers, got float64.*astype"),
        (
            np.array([0, 3]),
            (3, 2),
            ValueError,
            r"ids must lie in \[0, 3\) \(W has 3 rows\), got values from 0 to 3",
        ),
        (np.array([-1]), (3, 2), ValueError, r"\[0, 3\).*from -1 to -1"),
        (np.array([0]), (3,), ValueError, r"W must be a \(vocabulary, dim\) table, got shape \(3,\)"),
        ([0, 1], (3, 2), TypeError, r"ids must be a Variable or a numpy.ndarray, got list"),
    ],
)
def test_embedding_errors(ids, W_shape, error, message):
    with pytest.raises(error, match=r"embedding: .*" + message):
        F.embedding(ids, Variable(np.zeros(W_shape)))


def test_one_hot_values_shape_and_dtype():
    y = F.one_hot(np.array([[2, 0], [1, 1]]), 3)
    assert y.shape == (2, 2, 3) and y.dtype == np.float32 and not y.requires_grad
    np.testing.assert_array_equal(y.data[0], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(F.one_hot(np.array([1]), 2, dtype=np.float64).data, [[0.0, 1.0]])
    assert F.one_hot(np.array([1]), 2, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize(
    ("t", "n", "error", "message"),
    [
        (np.array([0, 3]), 3, ValueError, r"t must lie in \[0, 3\) \(num_classes is 3\)"),
        (np.array([0.5]), 3, TypeError, r"t must hold integers"),
        (np.array([0]), 0, ValueError, r"num_classes must be at least 1"),
        (np.array([0]), 2.0, TypeError, r"num_classes must be an int"),
    ],
)
def test_one_hot_errors(t, n, error, message):
    with pytest.raises(error, match=r"one_hot: .*" + message):
        F.one_hot(t, n)


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.lookup"])
    assert result.attempted > 0 and result.failed == 0
