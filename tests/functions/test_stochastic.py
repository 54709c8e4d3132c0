"""dropout: inverted scaling, the mask kept for backward, train/eval, seeding, gradients, errors."""

import doctest
import sys

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.functions.stochastic import seed_dropout


def test_kept_units_are_scaled_and_dropped_ones_are_zero():
    x = np.arange(1.0, 10001.0)
    y = F.dropout(x, p=0.25, rng=np.random.default_rng(0)).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    # 10,000 draws: the dropped fraction is within 4 standard deviations (0.0043) of p
    assert abs(1 - kept.mean() - 0.25) < 0.018


def test_the_mean_is_kept_on_average():
    y = F.dropout(np.ones(100_000, np.float32), p=0.6, rng=np.random.default_rng(1)).data
    assert y.mean() == pytest.approx(1.0, abs=0.02)


def test_backward_drops_the_same_units_with_the_same_scale():
    x = Variable(np.random.default_rng(2).uniform(1, 2, size=(50, 4)))
    y = F.dropout(x, p=0.5, rng=np.random.default_rng(3))
    g = np.random.default_rng(4).normal(size=x.shape)
    cg.backward(y, g)
    mask = y.data / x.data  # 0 or 2
    assert set(np.unique(mask)) == {0.0, 2.0}
    np.testing.assert_allclose(x.grad.data, g * mask)


def test_gradient_and_second_order_with_a_fixed_mask():
    x = np.random.default_rng(5).normal(size=(3, 4))

    def f(v):  # a fresh generator with the same seed each call: the same mask every time
        return F.dropout(v, p=0.4, rng=np.random.default_rng(6))

    assert cg.gradcheck(f, x)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(f(v) ** 3), [v], create_graph=True)[0], x)


def test_not_training_or_p_zero_is_the_identity():
    x = Variable(np.arange(4.0))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    a = np.arange(3.0)
    y = F.dropout(a, 0.9, training=False)
    assert isinstance(y, Variable) and not y.requires_grad
    np.testing.assert_array_equal(y.data, a)


def test_p_one_drops_everything():
    x = Variable(np.ones(5))
    y = F.dropout(x, 1.0)
    F.sum(y).backward()
    np.testing.assert_array_equal(y.data, np.zeros(5))
    np.testing.assert_array_equal(x.grad.data, np.zeros(5))


def test_the_same_seed_gives_the_same_mask():
    a = F.dropout(np.ones(64), rng=np.random.default_rng(7)).data
    b = F.dropout(np.ones(64), rng=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    seed_dropout(8)
    c = F.dropout(np.ones(64)).data
    d = F.dropout(np.ones(64)).data
    seed_dropout(8)
    np.testing.assert_array_equal(F.dropout(np.ones(64)).data, c)
    assert not np.array_equal(c, d)  # the generator moves on between calls


def test_dropout_keeps_float32():
    x = Variable(np.ones((4, 4), np.float32))
    y = F.dropout(x, 0.3, rng=np.random.default_rng(9))
    F.sum(y).backward()
    assert y.dtype == x.grad.dtype == np.float32
    assert set(np.unique(y.data)) == {np.float32(0), np.float32(1 / 0.7)}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"p": 1.5}, ValueError, r"must lie in \[0, 1\], got 1.5"),
        ({"p": -0.1}, ValueError, r"must lie in \[0, 1\]"),
        ({"p": "0.5"}, TypeError, r"p must be a float"),
        ({"rng": 0}, TypeError, r"rng must be a numpy.random.Generator.*default_rng"),
    ],
)
def test_dropout_errors(kwargs, error, message):
    with pytest.raises(error, match=r"dropout: .*" + message):
        F.dropout(np.ones(3), **kwargs)


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.stochastic"])
    assert result.attempted > 0 and result.failed == 0
