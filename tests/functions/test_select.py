"""where masked_fill maximum minimum: values and gradients against PyTorch, ties, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.functions.oracle import against_torch
from tests.strategies import broadcast_pair

rng = np.random.default_rng(0)


@settings(max_examples=20, deadline=None)
@given(shapes=broadcast_pair(), condition_shape=broadcast_pair())
def test_where_broadcasts_as_torch_does(shapes, condition_shape):
    cond_shape = condition_shape[0]
    try:
        np.broadcast_shapes(cond_shape, *shapes)
    except ValueError:
        return
    c = rng.random(cond_shape) > 0.5
    x, y = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    np.testing.assert_array_equal(F.where(c, x, y).data, np.where(c, x, y))
    against_torch(lambda a, b: F.where(c, a, b), lambda a, b: torch.where(torch.tensor(c), a, b), x, y)
    assert cg.gradcheck(lambda a, b: F.where(c, a, b), x, y)


def test_where_second_order_and_constants():
    c = np.array([[True, False, True]])
    x, y = rng.normal(size=(2, 3)), rng.normal(size=(3,))
    assert cg.gradcheck(lambda a, b: cg.grad(F.sum(F.where(c, a, b) ** 3), [a, b], create_graph=True), x, y)
    v = Variable(x)
    (g,) = cg.grad(F.sum(F.where(Variable(c), v, 0.0)), [v])  # a Variable condition, a number
    np.testing.assert_array_equal(g.data, np.broadcast_to(c, (2, 3)).astype(float))


def test_where_keeps_float32_and_uses_the_condition_it_was_given():
    c = np.array([True, False])
    x = Variable(np.array([1.0, 2.0], np.float32))
    y = F.where(c, x, 0.0)
    assert y.dtype == np.float32
    c[:] = False  # the caller's array changes after the forward pass
    (g,) = cg.grad(F.sum(y), [x])
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.data, [1.0, 0.0])


def test_where_with_a_variable_comparison_as_condition():
    x = Variable(np.array([-1.0, 2.0]))
    y = F.where(x > 0, x, x * 0.1)
    np.testing.assert_allclose(y.data, [-0.1, 2.0])


@pytest.mark.parametrize("mask_shape", [(2, 3), (3,), (2, 1), ()])
def test_masked_fill_matches_torch(mask_shape):
    x = rng.normal(size=(2, 3))
    m = np.asarray(rng.random(mask_shape) > 0.5)
    for value in (-np.inf, 0.5):
        y = F.masked_fill(x, m, value)
        expected = torch.tensor(x).masked_fill(torch.tensor(m), value).numpy()
        np.testing.assert_array_equal(y.data, expected)
    against_torch(lambda a: F.masked_fill(a, m, 2.0), lambda a: a.masked_fill(torch.tensor(m), 2.0), x)
    assert cg.gradcheck(lambda a: F.masked_fill(a, m, -3.0), x)
    assert cg.gradcheck(lambda a: cg.grad(F.sum(F.masked_fill(a, m, 1.0) ** 3), [a], create_graph=True)[0], x)


def test_masked_fill_causal_mask_before_softmax_keeps_float32():
    scores = Variable(rng.normal(size=(3, 3)).astype(np.float32))
    causal = np.triu(np.ones((3, 3), bool), k=1)
    p = F.softmax(F.masked_fill(scores, causal, -np.inf), axis=-1)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p.data[causal], 0.0)
    (g,) = cg.grad(F.sum(p * np.arange(3.0, dtype=np.float32)), [scores])
    assert g.dtype == np.float32 and np.isfinite(g.data).all()
    np.testing.assert_array_equal(g.data[causal], 0.0)


@pytest.mark.parametrize("ours, theirs", [(F.maximum, torch.maximum), (F.minimum, torch.minimum)])
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2,))])
def test_maximum_minimum_match_torch_with_broadcasting(ours, theirs, shapes):
    x, y = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    np.testing.assert_array_equal(ours(x, y).data, theirs(torch.tensor(x), torch.tensor(y)).numpy())
    against_torch(ours, theirs, x, y)
    assert cg.gradcheck(ours, x, y)
    assert cg.gradcheck(lambda a, b: cg.grad(F.sum(ours(a, b) ** 3), [a, b], create_graph=True), x, y)


@pytest.mark.parametrize("ours, theirs", [(F.maximum, torch.maximum), (F.minimum, torch.minimum)])
def test_maximum_minimum_ties_split_the_gradient_and_nans_as_torch(ours, theirs):
    x = np.array([1.0, 2.0, np.nan, 3.0, 0.0, np.nan])
    y = np.array([1.0, 3.0, 1.0, np.nan, 0.0, np.nan])
    a, b = Variable(x), Variable(y)
    ga, gb = cg.grad(F.sum(ours(a, b)), [a, b])
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    theirs(ta, tb).sum().backward()
    np.testing.assert_array_equal(ours(x, y).data, theirs(torch.tensor(x), torch.tensor(y)).numpy())
    np.testing.assert_array_equal(ga.data, ta.grad.numpy())
    np.testing.assert_array_equal(gb.data, tb.grad.numpy())
    assert ga.data[0] == gb.data[0] == 0.5


def test_maximum_with_a_number_keeps_float32_and_is_relu():
    x = Variable(np.array([-1.0, 0.0, 2.0], np.float32))
    y = F.maximum(x, 0.0)
    assert y.dtype == np.float32
    (g,) = cg.grad(F.sum(y), [x])
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.data, [0.0, 0.5, 1.0])  # torch.maximum(x, 0) gives 0.5 at 0


ERRORS = [
    (
        lambda: F.where(np.ones(2), 1.0, 2.0),
        TypeError,
        r"where: condition must hold bools, got float64.*x > 0",
    ),
    (lambda: F.where([True], 1.0, 2.0), TypeError, "where: condition must be a bool array or Variable"),
    (
        lambda: F.where(np.ones(2, bool), np.ones(3), 0.0),
        ValueError,
        r"where: condition \(2,\), x \(3,\) and y \(\) do not broadcast",
    ),
    (lambda: F.masked_fill(np.ones(3), np.ones(3), 0.0), TypeError, "masked_fill: mask must hold bools"),
    (
        lambda: F.masked_fill(np.ones(3), np.ones((2, 3), bool), 0.0),
        ValueError,
        r"masked_fill: the mask's shape \(2, 3\) does not broadcast to x's shape \(3,\)",
    ),
    (
        lambda: F.masked_fill(np.ones(3), np.ones(2, bool), 0.0),
        ValueError,
        r"mask's shape \(2,\) does not broadcast to x's shape \(3,\)",
    ),
    (
        lambda: F.masked_fill(np.ones(3), np.ones(3, bool), Variable(1.0)),
        TypeError,
        r"value must be a number, got Variable; .*where\(mask, value, x\)",
    ),
    (lambda: F.maximum(np.ones(2), np.ones(3)), ValueError, r"Maximum: .*\(2,\) float64, \(3,\) float64"),
]


@pytest.mark.parametrize("call, kind, message", ERRORS)
def test_errors_name_the_function_the_shapes_and_the_fix(call, kind, message):
    with pytest.raises(kind, match=message):
        call()
