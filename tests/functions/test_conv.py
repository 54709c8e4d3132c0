"""conv2d, im2col and col2im: values by hand and against a loop, gradients, second order, errors."""

import doctest
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable


def conv_by_loops(x, W, b, stride, pad):
    """The definition, one output pixel at a time (float64)."""
    (SH, SW), (PH, PW) = stride, pad
    N, _, H, Wd = x.shape
    OC, _, KH, KW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    OH, OW = (H + 2 * PH - KH) // SH + 1, (Wd + 2 * PW - KW) // SW + 1
    y = np.zeros((N, OC, OH, OW))
    for n in range(N):
        for o in range(OC):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * SH : i * SH + KH, j * SW : j * SW + KW]
                    y[n, o, i, j] = (window * W[o]).sum() + (0 if b is None else b[o])
    return y


@st.composite
def conv_cases(draw, max_side=6):
    """Small random conv problems: shapes, kernel, stride and padding (as ints or pairs)."""
    N, C, OC = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, KH - 2 * PH), max_side))
    W = draw(st.integers(max(1, KW - 2 * PW), max_side))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = SH if SH == SW and draw(st.booleans()) else (SH, SW)
    pad = PH if PH == PW and draw(st.booleans()) else (PH, PW)
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return (N, C, H, W), (OC, C, KH, KW), bias, stride, pad, seed


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _arrays(x_shape, W_shape, bias, seed):
    rng = np.random.default_rng(seed)
    x, W = rng.normal(size=x_shape), rng.normal(size=W_shape)
    b = rng.normal(size=W_shape[0]) if bias else None
    return x, W, b


def test_conv2d_by_hand():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    # each 2x2 window summed: 0+1+4+5, 2+3+6+7, ...
    np.testing.assert_array_equal(F.conv2d(x, np.ones((1, 1, 2, 2)), stride=2).data, [[[[10, 18], [42, 50]]]])
    # a 3x3 kernel over a 2x2 image of ones padded by 1: each window holds all four ones
    y = F.conv2d(np.ones((1, 1, 2, 2)), np.ones((2, 1, 3, 3)), np.array([0.5, -1.0]), pad=1)
    np.testing.assert_array_equal(y.data, [[np.full((2, 2), 4.5), np.full((2, 2), 3.0)]])


@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_conv2d_matches_the_definition(case):
    x_shape, W_shape, bias, stride, pad, seed = case
    x, W, b = _arrays(x_shape, W_shape, bias, seed)
    y = F.conv2d(x, W, b, stride=stride, pad=pad)
    np.testing.assert_allclose(y.data, conv_by_loops(x, W, b, _pair(stride), _pair(pad)), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(case=conv_cases(max_side=5))
def test_conv2d_gradients(case):
    x_shape, W_shape, bias, stride, pad, seed = case
    x, W, b = _arrays(x_shape, W_shape, bias, seed)
    if bias:
        assert cg.gradcheck(lambda a, w, c: F.conv2d(a, w, c, stride=stride, pad=pad), x, W, b)
    else:
        assert cg.gradcheck(lambda a, w: F.conv2d(a, w, stride=stride, pad=pad), x, W)


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), ((1, 2), (0, 1))])
def test_conv2d_second_order(stride, pad):
    x, W, b = _arrays((2, 2, 5, 4), (3, 2, 3, 2), True, 7)

    def grads(a, w, c):
        y = F.conv2d(a, w, c, stride=stride, pad=pad)
        return cg.grad(F.sum(y * y * y), [a, w, c], create_graph=True)

    assert cg.gradcheck(grads, x, W, b)


def test_conv2d_gradient_only_where_asked():
    x = Variable(np.ones((1, 1, 3, 3)), requires_grad=False)
    W = Variable(np.ones((1, 1, 2, 2)))
    F.sum(F.conv2d(x, W)).backward()
    # every kernel element meets four pixels of ones
    np.testing.assert_array_equal(W.grad.data, np.full((1, 1, 2, 2), 4.0))
    assert x.grad is None


def test_conv2d_input_gradient_by_hand():
    x = Variable(np.zeros((1, 1, 3, 3)))
    F.sum(F.conv2d(x, np.ones((1, 1, 2, 2)))).backward()
    # how many 2x2 windows cover each pixel
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv2d_keeps_float32():
    rng = np.random.default_rng(0)
    x = Variable(rng.normal(size=(2, 3, 6, 6)).astype(np.float32))
    W = Variable(rng.normal(size=(4, 3, 3, 3)).astype(np.float32))
    b = Variable(np.zeros(4, np.float32))
    y = F.conv2d(x, W, b, stride=2, pad=1)
    F.sum(y).backward()
    assert y.dtype == x.grad.dtype == W.grad.dtype == b.grad.dtype == np.float32


def test_conv2d_matches_torch():
    torch = pytest.importorskip("torch")
    x, W, b = _arrays((2, 3, 9, 8), (4, 3, 3, 5), True, 3)
    y = Variable(x)
    Wv, bv = Variable(W), Variable(b)
    out = F.conv2d(y, Wv, bv, stride=(2, 1), pad=(1, 2))
    g = np.random.default_rng(4).normal(size=out.shape)
    cg.backward(out, g)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    ot = torch.nn.functional.conv2d(xt, Wt, bt, stride=(2, 1), padding=(1, 2))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, ot.detach().numpy(), atol=1e-12)
    for ours, theirs in ((y, xt), (Wv, Wt), (bv, bt)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(("stride", "pad", "bias"), [(1, 0, True), (2, 1, False), ((1, 2), (0, 1), True)])
def test_conv2d_of_an_empty_batch_matches_torch(stride, pad, bias):
    import torch

    x, W, b = _arrays((0, 3, 6, 5), (4, 3, 3, 2), True, 8)
    b = b if bias else None
    xv, Wv = Variable(x), Variable(W)
    bv = None if b is None else Variable(b)
    out = F.conv2d(xv, Wv, bv, stride=stride, pad=pad)
    F.sum(out).backward()
    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    ot = torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    ot.sum().backward()
    assert out.shape == tuple(ot.shape) and out.shape[:2] == (0, 4)
    assert xv.grad.shape == (0, 3, 6, 5) and xv.grad.dtype == np.float64
    np.testing.assert_array_equal(Wv.grad.data, Wt.grad.numpy())
    np.testing.assert_array_equal(Wv.grad.data, np.zeros(W.shape))  # no image: no gradient
    if bias:
        np.testing.assert_array_equal(bv.grad.data, bt.grad.numpy())
        np.testing.assert_array_equal(bv.grad.data, np.zeros(4))


def test_conv2d_of_an_empty_batch_has_a_second_order_gradient():
    x, W, b = (Variable(a) for a in _arrays((0, 2, 4, 4), (3, 2, 2, 2), True, 9))
    gx, gW, gb = cg.grad(F.sum(F.conv2d(x, W, b, stride=2, pad=1) ** 3), [x, W, b], create_graph=True)
    assert (gx.shape, gW.shape, gb.shape) == ((0, 2, 4, 4), (3, 2, 2, 2), (3,))
    (ggW,) = cg.grad(F.sum(gW * gW) + F.sum(gb), [W])
    np.testing.assert_array_equal(ggW.data, np.zeros((3, 2, 2, 2)))


def test_im2col_by_hand_and_col2im_is_its_adjoint():
    col = F.im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2).data
    np.testing.assert_array_equal(col[0], [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 5, 6))
    col = F.im2col(x, (3, 2), stride=(2, 1), pad=1).data
    c = rng.normal(size=col.shape)
    back = F.col2im(c, x.shape, (3, 2), stride=(2, 1), pad=1).data
    # <im2col(x), c> = <x, col2im(c)>
    assert (col * c).sum() == pytest.approx((x * back).sum())


def test_im2col_and_col2im_gradients():
    x = np.random.default_rng(6).normal(size=(1, 2, 4, 3))
    assert cg.gradcheck(lambda v: F.im2col(v, 2, 1, 1), x)
    c = np.random.default_rng(7).normal(size=(1, 8, 20))
    assert cg.gradcheck(lambda v: F.col2im(v, (1, 2, 4, 3), 2, 1, 1), c)
    assert cg.gradcheck(lambda v: cg.grad(F.sum(F.im2col(v, 2, 1, 1) ** 2), [v], create_graph=True)[0], x)


def test_col2im_names_the_shape_it_needs():
    with pytest.raises(ValueError, match=r"col2im: col must have shape \(1, 4, 4\).*got \(1, 4, 3\)"):
        F.col2im(np.zeros((1, 4, 3)), (1, 1, 3, 3), 2)


@pytest.mark.parametrize(
    ("x_shape", "W_shape", "kwargs", "error", "message"),
    [
        (
            (1, 3, 5, 5),
            (2, 1, 3, 3),
            {},
            ValueError,
            r"3 channels but W .* expects 1.*\(out_channels, 3, KH, KW\)",
        ),
        ((1, 1, 3, 3), (1, 1, 5, 5), {}, ValueError, r"5x5 kernel is larger than the 3x3 input padded by"),
        ((1, 1, 3, 3), (1, 1, 6, 6), {"pad": 1}, ValueError, r"6x6 kernel .* padded by \(1, 1\) to 5x5"),
        ((28, 28), (1, 1, 3, 3), {}, ValueError, r"\(N, C, H, W\), got shape \(28, 28\)"),
        ((1, 1, 5, 5), (3, 3), {}, ValueError, r"W must be \(out_channels, in_channels, KH, KW\)"),
        ((1, 1, 5, 5), (2, 1, 3, 3), {"b": np.zeros(3)}, ValueError, r"b must have shape \(2,\)"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ValueError, r"stride must be at least 1"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"pad": -1}, ValueError, r"pad must be at least 0"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 1.5}, TypeError, r"stride must be an int or a pair"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"pad": (1, 2, 3)}, TypeError, r"pad must be an int or a pair"),
    ],
)
def test_conv2d_errors_name_the_shapes_and_the_fix(x_shape, W_shape, kwargs, error, message):
    with pytest.raises(error, match=r"conv2d: .*" + message):
        F.conv2d(np.zeros(x_shape), Variable(np.zeros(W_shape)), **kwargs)


def test_conv2d_rejects_a_list():
    with pytest.raises(TypeError, match=r"conv2d: x must be a Variable or a numpy.ndarray, got list"):
        F.conv2d([[1.0]], Variable(np.zeros((1, 1, 1, 1))))


def test_docstring_examples_run():
    result = doctest.testmod(sys.modules["compgraph.functions.conv"])
    assert result.attempted > 0 and result.failed == 0
