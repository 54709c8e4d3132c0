"""Gradient clipping by global norm and by value."""

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Variable
from compgraph.optim import clip_grad_norm, clip_grad_value


def _with_grads(*grads):
    params = []
    for g in grads:
        p = Variable(np.zeros_like(np.asarray(g, dtype=np.float32)))
        p.grad = Variable(np.asarray(g, dtype=np.float32))
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_together():
    a, b = _with_grads([3.0, 0.0], [[0.0], [4.0]])  # global norm 5
    held = a.grad.data
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.data, [[0.0], [0.8]], rtol=1e-6)
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(held, [3.0, 0.0])  # the old array was replaced, not scaled


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones():
    a, b = _with_grads([0.3, 0.4], [0.0])
    b.grad = None
    before = a.grad
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(0.5)
    assert a.grad is before and b.grad is None


def test_clip_grad_norm_sums_in_float64():
    (a,) = _with_grads(np.full(4, 3e19))  # squares overflow float32
    assert clip_grad_norm([a], 1.0) == pytest.approx(6e19)
    np.testing.assert_allclose(a.grad.data, np.full(4, 0.5), rtol=1e-6)


def test_shared_gradient_arrays_are_clipped_once_each():
    a, b = Variable(np.array([1.0])), Variable(np.array([2.0]))
    F.sum((a + b) * 4.0).backward()  # both get the same array [4.0]
    assert clip_grad_norm([a, b], 2.0) == pytest.approx(np.sqrt(32))
    np.testing.assert_allclose(a.grad.data, [np.sqrt(2)])
    np.testing.assert_allclose(b.grad.data, [np.sqrt(2)])


def test_clip_grad_value_clips_each_element():
    (a,) = _with_grads([-3.0, 0.5, 2.0])
    held = a.grad.data
    clip_grad_value([a], 1.0)
    np.testing.assert_array_equal(a.grad.data, [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(held, [-3.0, 0.5, 2.0])


def test_clipping_arguments_are_checked():
    (a,) = _with_grads([1.0])
    with pytest.raises(ValueError, match=r"max_norm must be a finite number >= 0,"):
        clip_grad_norm([a], -1.0)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        clip_grad_value([np.zeros(1)], 1.0)
