"""batch_norm and layer_norm: values by hand and against PyTorch, gradients, second order, errors."""

import doctest
import sys

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def _stats(channels, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=channels), rng.uniform(0.5, 2.0, size=channels)


def test_training_normalises_each_channel_and_updates_the_running_statistics():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0]])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.0, 1.0])
    rm, rv = np.zeros(2), np.ones(2)
    y = F.batch_norm(x, gamma, beta, rm, rv, momentum=0.5, eps=1e-12)
    # channel 0: mean 3, biased variance 8/3; channel 1: mean 20, biased variance 200
    np.testing.assert_allclose(y.data[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(8 / 3))
    np.testing.assert_allclose(y.data[:, 1], (x[:, 1] - 20) / np.sqrt(200) + 1)
    # running = ½·running + ½·batch statistic, the variance unbiased (8/3·3/2 = 4, 200·3/2 = 300)
    np.testing.assert_allclose(rm, [1.5, 10.0])
    np.testing.assert_allclose(rv, [2.5, 150.5])


def test_images_are_normalised_over_the_batch_and_every_pixel():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(4, 3, 5, 5))
    y = F.batch_norm(x, np.ones(3), np.zeros(3), None, None).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)  # eps shrinks it a little


def test_eval_uses_the_running_statistics_and_leaves_them_alone():
    x = np.array([[1.0], [3.0]])
    rm, rv = np.array([2.0]), np.array([4.0])
    y = F.batch_norm(x, np.array([3.0]), np.array([1.0]), rm, rv, training=False, eps=1e-12)
    np.testing.assert_allclose(y.data, [[3 * -1 / 2 + 1], [3 * 1 / 2 + 1]])
    np.testing.assert_array_equal(rm, [2.0])
    np.testing.assert_array_equal(rv, [4.0])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 2)])
def test_batch_norm_gradients_and_second_order(shape, training):
    rng = np.random.default_rng(2)
    x, gamma, beta = rng.normal(size=shape), rng.normal(size=shape[1]), rng.normal(size=shape[1])
    rm, rv = _stats(shape[1])

    def bn(a, g, b):  # fresh running arrays each call: the function under test stays pure
        return F.batch_norm(a, g, b, rm.copy(), rv.copy(), training=training)

    assert cg.gradcheck(bn, x, gamma, beta)
    assert cg.gradcheck(
        lambda a, g, b: cg.grad(F.sum(bn(a, g, b) ** 3), [a, g, b], create_graph=True), x, gamma, beta
    )


def test_training_gradient_sums_to_zero_per_channel():
    # y does not change when x moves by a constant in one channel, so ∂L/∂x sums to 0 there
    x = Variable(np.random.default_rng(3).normal(size=(6, 2, 3, 3)))
    g = np.random.default_rng(4).normal(size=x.shape)
    cg.backward(F.batch_norm(x, np.ones(2), np.zeros(2), None, None), g)
    np.testing.assert_allclose(x.grad.data.sum(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batch_norm_keeps_float32_and_the_running_dtype():
    rng = np.random.default_rng(5)
    x = Variable(rng.normal(size=(4, 3, 2, 2)).astype(np.float32))
    gamma, beta = Variable(np.ones(3, np.float32)), Variable(np.zeros(3, np.float32))
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, gamma, beta, rm, rv)
    F.sum(y * y).backward()
    assert y.dtype == x.grad.dtype == gamma.grad.dtype == beta.grad.dtype == np.float32
    assert rm.dtype == rv.dtype == np.float32
    y = F.batch_norm(x, gamma, beta, rm, rv, training=False)
    assert y.dtype == np.float32


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(training):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, gamma, beta = rng.normal(size=(4, 3, 5, 2)), rng.normal(size=3), rng.normal(size=3)
    rm, rv = _stats(3, 7)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    g = rng.normal(size=x.shape)
    xs = [Variable(x), Variable(gamma), Variable(beta)]
    cg.backward(F.batch_norm(*xs, rm, rv, training=training, momentum=0.3), g)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    yt = torch.nn.functional.batch_norm(ts[0], rmt, rvt, ts[1], ts[2], training=training, momentum=0.3)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(rm, rmt.numpy(), atol=1e-12)
    np.testing.assert_allclose(rv, rvt.numpy(), atol=1e-12)
    for ours, theirs in zip(xs, ts):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x": np.zeros((2, 3, 4))}, ValueError, r"\(N, C\) or \(N, C, H, W\), got shape \(2, 3, 4\)"),
        ({"gamma": np.ones(2)}, ValueError, r"gamma must have shape \(3,\)"),
        ({"beta": np.ones((3, 1))}, ValueError, r"beta must have shape \(3,\)"),
        ({"running_mean": np.zeros(4)}, ValueError, r"running_mean must be a float array of shape \(3,\)"),
        ({"running_var": Variable(np.ones(3))}, TypeError, r"running_var must be a numpy.ndarray"),
        ({"running_mean": None}, ValueError, r"both running_mean and running_var, or neither"),
        (
            {"running_mean": None, "running_var": None, "training": False},
            ValueError,
            r"running_mean and running_var",
        ),
        ({"x": np.zeros((1, 3))}, ValueError, r"more than one value per channel"),
        ({"momentum": 1.5}, ValueError, r"momentum must lie in \[0, 1\]"),
    ],
)
def test_batch_norm_errors(kwargs, error, message):
    args = {
        "x": np.zeros((2, 3)),
        "gamma": np.ones(3),
        "beta": np.zeros(3),
        "running_mean": np.zeros(3),
        "running_var": np.ones(3),
    }
    args.update(kwargs)
    with pytest.raises(error, match=r"batch_norm: .*" + message):
        F.batch_norm(**args)


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.normalization"])
    assert result.attempted > 0 and result.failed == 0


# --- layer_norm: one op over the last axis, against torch.nn.functional.layer_norm ---------------
AFFINE = [(True, True), (True, False), (False, True), (False, False)]


def _layer_norm_inputs(shape, affine, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 3 + 1
    params = [rng.normal(size=shape[-1]) if given else None for given in affine]
    return x, params


@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_layer_norm_matches_torch_with_gradients(shape, affine):
    import torch

    x, params = _layer_norm_inputs(shape, affine)
    g = np.random.default_rng(1).normal(size=shape)
    ours = [Variable(a) if a is not None else None for a in [x, *params]]
    y = F.layer_norm(ours[0], ours[1], ours[2], eps=1e-3)
    cg.backward(y, g)
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None for a in [x, *params]]
    yt = torch.nn.functional.layer_norm(theirs[0], shape[-1:], theirs[1], theirs[2], eps=1e-3)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, t in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def _layer_norm_of(affine):
    """layer_norm as a function of its given inputs only, for gradcheck."""

    def f(x, *params):
        it = iter(params)
        return F.layer_norm(x, *(next(it) if given else None for given in affine))

    return f


@pytest.mark.parametrize("affine", AFFINE)
def test_layer_norm_gradcheck_and_second_order(affine):
    x, params = _layer_norm_inputs((3, 4), affine, seed=2)
    inputs = [x, *(p for p in params if p is not None)]
    f = _layer_norm_of(affine)
    assert cg.gradcheck(f, *inputs)
    # create_graph: the rule recomputes the statistics from x as ops, so it differentiates again
    assert cg.gradcheck(lambda *vs: cg.grad(F.sum(f(*vs) ** 3), list(vs), create_graph=True), *inputs)


def test_layer_norm_second_order_matches_torch():
    import torch

    x, (w, b) = _layer_norm_inputs((2, 3, 4), (True, True), seed=3)
    ours = [Variable(a) for a in (x, w, b)]
    gs = cg.grad(F.sum(F.layer_norm(*ours) ** 3), ours, create_graph=True)
    cg.backward(F.sum(gs[0] * gs[0]) + F.sum(gs[1] * gs[2]))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    gt = torch.autograd.grad(
        (torch.nn.functional.layer_norm(theirs[0], (4,), theirs[1], theirs[2]) ** 3).sum(),
        theirs,
        create_graph=True,
    )
    ((gt[0] * gt[0]).sum() + (gt[1] * gt[2]).sum()).backward()
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_norm_rows_have_zero_mean_and_unit_variance_and_gradients_sum_to_zero():
    x = Variable(np.array([[1.0, 3.0], [10.0, 10.0], [0.0, 4.0]]))
    y = F.layer_norm(x, eps=0.0 + 1e-12)
    np.testing.assert_allclose(y.data, [[-1, 1], [0, 0], [-1, 1]], atol=1e-6)
    cg.backward(y, np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]))
    np.testing.assert_allclose(x.grad.data.sum(axis=1), 0, atol=1e-12)  # shifting a row changes nothing


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_keeps_the_dtype(dtype):
    rng = np.random.default_rng(4)
    x, w, b = (Variable(rng.normal(size=s).astype(dtype)) for s in ((3, 2, 4), (4,), (4,)))
    y = F.layer_norm(x, w, b)
    F.sum(y * y).backward()
    assert y.dtype == dtype and x.grad.dtype == w.grad.dtype == b.grad.dtype == dtype
    (g,) = cg.grad(F.sum(F.layer_norm(x) ** 2), [x], create_graph=True)
    assert g.dtype == dtype


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"x": np.zeros(())},
            ValueError,
            r"x must have a non-empty last axis to normalise over, got shape \(\)",
        ),
        (
            {"x": np.zeros((2, 0))},
            ValueError,
            r"x must have a non-empty last axis to normalise over, got shape \(2, 0\)",
        ),
        (
            {"weight": np.ones(3)},
            ValueError,
            r"weight must have shape \(4,\), one value per feature of x \(2, 4\)",
        ),
        ({"bias": np.ones((1, 4))}, ValueError, r"bias must have shape \(4,\).* got \(1, 4\)"),
        ({"weight": [1.0] * 4}, TypeError, r"weight must be a Variable or a numpy.ndarray, got list"),
        ({"eps": 0.0}, ValueError, r"eps must be positive, got 0.0"),
    ],
)
def test_layer_norm_errors(kwargs, error, message):
    args = {"x": np.zeros((2, 4))}
    args.update(kwargs)
    with pytest.raises(error, match=r"^layer_norm: " + message):
        F.layer_norm(**args)
