"""concatenate stack split expand_dims squeeze: values and gradients against PyTorch, errors."""

import numpy as np
import pytest
import torch

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from tests.functions.oracle import against_torch, second_order

rng = np.random.default_rng(1)
A, B, C = rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(2, 4))


@pytest.mark.parametrize("axis", [1, -1])
def test_concatenate_matches_torch_cat(axis):
    against_torch(lambda *v: F.concatenate(v, axis), lambda *t: torch.cat(t, axis), A, B, C)
    assert cg.gradcheck(lambda *v: F.concatenate(v, axis), A, B, C)
    second_order(lambda *v: F.concatenate(v, axis), A, B, C)


def test_concatenate_along_axis_0_and_of_one_array():
    against_torch(lambda a, b: F.concatenate([a, b]), lambda a, b: torch.cat([a, b]), A, A[:1])
    against_torch(lambda a: F.concatenate([a], 1), lambda a: torch.cat([a], 1), A)


def test_concatenate_gives_no_gradient_to_a_constant_and_casts_back():
    x = Variable(A.astype(np.float32))
    y = F.concatenate([x, np.ones((2, 2), np.float32)], axis=1)
    assert y.dtype == np.float32 and y.shape == (2, 5)
    (gx,) = cg.grad(F.sum(y), [x])
    assert gx.dtype == np.float32 and gx.shape == (2, 3)
    mixed = Variable(B.astype(np.float32))
    (g,) = cg.grad(F.sum(F.concatenate([mixed, A], 1)), [mixed])  # float64 result
    assert g.dtype == np.float32


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack_matches_torch(axis):
    against_torch(lambda *v: F.stack(v, axis), lambda *t: torch.stack(t, axis), A, A + 1, A * 2)
    assert cg.gradcheck(lambda *v: F.stack(v, axis), A, A + 1)
    second_order(lambda *v: F.stack(v, axis), A, A + 1)


def test_stack_of_0d_values_and_float32():
    y = F.stack([Variable(np.float32(1.0)), np.array(2.0, np.float32)])
    assert y.shape == (2,) and y.dtype == np.float32
    assert cg.gradcheck(lambda a, b: F.stack([a, b]), np.array(1.0), np.array(2.0))


@pytest.mark.parametrize("cut, axis", [(3, 1), ([1, 3], 1), ([2], 0), (1, 0), ([0, 1, 1, 9], 1), (2, -2)])
def test_split_matches_numpy_and_torch(cut, axis):
    x = rng.normal(size=(4, 6))
    pieces = F.split(x, cut, axis)
    assert isinstance(pieces, tuple)
    for p, q in zip(pieces, np.split(x, cut, axis), strict=True):
        np.testing.assert_array_equal(p.data, q)
    against_torch(lambda v: F.split(v, cut, axis), lambda t: torch.tensor_split(t, cut, axis), x)
    assert cg.gradcheck(lambda v: F.split(v, cut, axis), x)
    second_order(lambda v: F.split(v, cut, axis), x)


def test_split_pieces_left_unused_get_zero_gradient():
    x = Variable(np.arange(6.0))
    a, _, c = F.split(x, 3)
    del a  # a piece that is gone gets zeros
    (g,) = cg.grad(F.sum(c * 2.0), [x])
    np.testing.assert_array_equal(g.data, [0, 0, 0, 0, 2, 2])
    y = F.split(Variable(np.ones((2, 4), np.float32)), 2, axis=1)
    assert all(p.dtype == np.float32 and p.shape == (2, 2) for p in y)
    (g,) = cg.grad(F.sum(y[1]), [y[1].creator.inputs[0]])
    assert g.dtype == np.float32


@pytest.mark.parametrize("axis", [0, 1, 2, -1, (0, 3), (-1, 1)])
def test_expand_dims_matches_numpy_and_torch(axis):
    y = F.expand_dims(A, axis)
    assert y.shape == np.expand_dims(A, axis).shape
    if isinstance(axis, int):
        against_torch(lambda v: F.expand_dims(v, axis), lambda t: t.unsqueeze(axis), A)
    assert cg.gradcheck(lambda v: F.expand_dims(v, axis), A)


@pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 2)])
def test_squeeze_matches_numpy_and_torch(axis):
    x = rng.normal(size=(1, 3, 1, 1))
    y = F.squeeze(x, axis)
    assert y.shape == np.squeeze(x, axis).shape
    dim = () if axis is None else axis
    against_torch(lambda v: F.squeeze(v, axis), lambda t: t.squeeze(*([] if dim == () else [dim])), x)
    assert cg.gradcheck(lambda v: F.squeeze(v, axis), x)
    assert F.squeeze(x.astype(np.float32)).dtype == np.float32


ERRORS = [
    (lambda: F.concatenate([A, C], axis=0), ValueError, r"shapes \(2, 3\), \(2, 4\) differ outside axis 0"),
    (lambda: F.concatenate([A, A[0]]), ValueError, r"same number of axes.*\(2, 3\), \(3,\).*stack"),
    (lambda: F.concatenate([np.array(1.0)]), ValueError, r"at least one.*\(\)"),
    (lambda: F.concatenate([A, A], axis=2), ValueError, r"axis 2 is out of range.*\(2, 3\).*-2 to 1"),
    (lambda: F.concatenate([]), ValueError, "concatenate: xs is empty"),
    (lambda: F.concatenate(A), TypeError, r"concatenate: xs must be a list.*concatenate\(\[a, b\]\)"),
    (lambda: F.concatenate([A, 1.0]), TypeError, r"concatenate: xs\[1\] must be a Variable"),
    (lambda: F.concatenate([A, A], axis=1.0), TypeError, "axis must be an int, got float"),
    (lambda: F.stack([A, C]), ValueError, r"stack: .*one shape, got \(2, 3\), \(2, 4\); use concatenate"),
    (lambda: F.stack([A, A], axis=3), ValueError, r"stack: axis 3 is out of range.*\(2, 3\).*-3 to 2"),
    (lambda: F.split(np.zeros((5, 2)), 2), ValueError, r"axis 0 of shape \(5, 2\) has length 5.*\[2\]"),
    (lambda: F.split(np.zeros(4), 0), ValueError, "0 equal pieces"),
    (lambda: F.split(np.array(1.0), 1), ValueError, r"split: x is 0-d"),
    (lambda: F.split(A, 1, axis=2), ValueError, r"split: axis 2 is out of range for shape \(2, 3\)"),
    (lambda: F.expand_dims(A, 3), ValueError, r"expand_dims: axis 3 is out of range.*\(2, 3\)"),
    (lambda: F.expand_dims(A, (0, 0)), ValueError, r"expand_dims: axis \(0, 0\) names an axis twice"),
    (lambda: F.squeeze(A, 1), ValueError, r"squeeze: axis 1 of shape \(2, 3\) has length 3, not 1"),
    (lambda: F.squeeze(A, -3), ValueError, r"squeeze: axis -3 is out of range for shape \(2, 3\)"),
]


@pytest.mark.parametrize("call, kind, message", ERRORS)
def test_errors_name_the_function_the_shapes_and_the_fix(call, kind, message):
    with pytest.raises(kind, match=message):
        call()
