"""matmul (2-D, 1-D and batched) and linear: values, gradients, errors."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable

SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3,)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),
]


@pytest.mark.parametrize(("s0", "s1"), SHAPES)
def test_matmul_matches_numpy_and_gradients(s0, s1):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=s0), rng.normal(size=s1)
    np.testing.assert_allclose(F.matmul(a, Variable(b)).data, a @ b)
    assert cg.gradcheck(F.matmul, a, b)


def test_matmul_second_order():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    assert cg.gradcheck(lambda x, w: cg.grad(F.sum((x @ w) ** 2), [x, w], create_graph=True), a, b)


def test_a_batch_of_rows_against_one_matrix_is_one_product_to_second_order():
    # (…, k) @ (k, n) and linear on (…, k) run as one (N, k) matrix product, also when recorded
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 2))
    assert cg.gradcheck(lambda x, w: cg.grad(F.sum((x @ w) ** 2), [x, w], create_graph=True), a, b)
    bias = rng.normal(size=2)
    assert cg.gradcheck(
        lambda x, w, c: cg.grad(F.sum(F.linear(x, w, c) ** 2), [x, w], create_graph=True), a, b, bias
    )
    x = np.asfortranarray(a[:, ::-1])  # not C-contiguous: reshape copies
    np.testing.assert_allclose(F.linear(x, b, bias).data, x @ b + bias)


def test_matmul_of_scalars_is_refused_clearly():
    with pytest.raises(ValueError, match="at least one axis"):
        F.matmul(Variable(2.0), Variable(3.0))


def test_matmul_mismatch_suggests_a_transpose():
    with pytest.raises(ValueError, match=r"last axis \(3\).*second-to-last axis \(2\).*transpose"):
        F.matmul(np.ones((2, 3)), Variable(np.ones((2, 3))))


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3), (3,)])
def test_linear_matches_numpy_and_gradients(with_bias, x_shape):
    rng = np.random.default_rng(2)
    x, W, b = rng.normal(size=x_shape), rng.normal(size=(3, 5)), rng.normal(size=5)
    expected = x @ W + (b if with_bias else 0)
    args = (x, W, b) if with_bias else (x, W)
    np.testing.assert_allclose(F.linear(*args).data, expected)
    assert cg.gradcheck(F.linear, *args)


def test_linear_keeps_float32():
    x = np.ones((2, 3), dtype=np.float32)
    W = Variable(np.ones((3, 4), dtype=np.float32))
    b = Variable(np.zeros(4, dtype=np.float32))
    y = F.linear(x, W, b)
    F.sum(y).backward()
    assert y.dtype == W.grad.dtype == b.grad.dtype == np.float32


def test_linear_shape_error_explains_the_layout():
    with pytest.raises(ValueError, match=r"Linear: x of shape \(2, 3\).*W of shape \(4, 5\)"):
        F.linear(np.ones((2, 3)), Variable(np.ones((4, 5))))


def test_linear_second_order():
    rng = np.random.default_rng(3)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    assert cg.gradcheck(lambda *v: cg.grad(F.sum(F.linear(*v) ** 2), v, create_graph=True), x, W, b)


def test_linear_refuses_a_weight_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"Linear: .*W of shape \(2, 3, 4\): W must be"):
        F.linear(np.ones((5, 3)), Variable(np.ones((2, 3, 4))))
