"""The float32 erf/erfc/Φ of functions/_erf.py against math.erf/erfc in float64 and PyTorch.

The coefficients were fitted in float64 with NumPy: R(t) = erfc(a)·e^(a²)/t, t = 1/(1 + p·a),
p = (19/64)·√2, as a degree-9 polynomial in t on 4000 Chebyshev points of t ∈ [1/(1 + 10.1p), 1],
by least squares on the relative error, reweighted 100 times by √|error| (Lawson's iteration
towards minimax): 2.3e-9; erf(x)/x on |x| ≤ 0.8 likewise, degree 5 in x²: 3e-9. Their float32
roundings are what the module holds; the bounds below are what the float32 evaluation measures
(a float32 ulp of the true value; where that value is subnormal, an absolute bound).
"""

import math

import numpy as np
import pytest
import torch

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.functions._erf import erf, erf32, erfc, erfc32, normal_cdf32

X = np.concatenate(
    [np.arange(-16 * 4096, 16 * 4096 + 1) / 4096, np.geomspace(1e-30, 0.1, 2000), [3.9, 3.92, 10.05]]
).astype(np.float32)
XD = X.astype(np.float64)
TINY = np.finfo(np.float32).tiny


def ulps(got, ref):
    """Largest error in ulps of float32(ref) where ref is a normal float32, and the largest
    absolute error elsewhere."""
    err = np.abs(got.astype(np.float64) - ref)
    normal = np.abs(ref) >= TINY
    spacing = np.spacing(np.abs(ref[normal]).astype(np.float32)).astype(np.float64)
    return (err[normal] / spacing).max(), err[~normal].max(initial=0.0)


@pytest.fixture(scope="module")
def truth():
    return {
        "erf": np.array([math.erf(v) for v in XD]),
        "erfc": np.array([math.erfc(v) for v in XD]),
        "cdf": np.array([math.erfc(-v / math.sqrt(2)) / 2 for v in XD]),
        "pdf": np.exp(-XD * XD / 2) / math.sqrt(2 * math.pi),
    }


def test_float32_erf_erfc_cdf_pdf_are_within_a_few_ulp(truth):
    cdf, pdf = normal_cdf32(X)
    bounds = {"erf": (erf32(X), 2.5), "erfc": (erfc32(X), 5.0), "cdf": (cdf, 4.5), "pdf": (pdf, 0.51)}
    for name, (got, bound) in bounds.items():
        assert got.dtype == np.float32
        worst, subnormal = ulps(got, truth[name])
        assert worst <= bound, (name, worst)
        assert subnormal <= 3e-45, (name, subnormal)  # two float32 subnormal steps
    # erf and erfc dispatch float32 and float16 here, float64 to Cody's
    np.testing.assert_array_equal(erf(X), erf32(X))
    np.testing.assert_array_equal(erfc(X), erfc32(X))
    assert erf(X.astype(np.float16)).dtype == np.float16
    assert erfc(XD).dtype == np.float64


def test_float32_edges():
    edges = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], np.float32)
    np.testing.assert_array_equal(erf32(edges), [np.nan, 1, -1, 0, -0.0, 1, -1])
    assert np.signbit(erf32(edges)[4])
    np.testing.assert_array_equal(erfc32(edges), [np.nan, 0, 2, 1, 1, 0, 2])
    cdf, pdf = normal_cdf32(edges)
    np.testing.assert_array_equal(cdf, [np.nan, 1, 0, 0.5, 0.5, 1, 0])
    peak = np.float32(1 / math.sqrt(2 * math.pi))
    np.testing.assert_array_equal(pdf[1:], [0, 0, peak, peak, 0, 0])


def test_float32_erf_is_as_close_to_torchs_as_to_the_truth(truth):
    for ours, theirs, name in ((erf32, torch.special.erf, "erf"), (erfc32, torch.special.erfc, "erfc")):
        t = theirs(torch.from_numpy(X)).numpy().astype(np.float64)
        gap = np.abs(ours(X) - t)
        allowed = np.abs(t - truth[name]) + 5 * np.spacing(np.abs(truth[name]).astype(np.float32))
        assert (gap <= allowed).all(), name


def test_gelu_float32_value_and_gradient_against_torch_and_the_truth(truth):
    x = Variable(X)
    y = F.gelu(x)
    (g,) = cg.grad(F.sum(y), [x])
    assert y.dtype == g.dtype == np.float32
    y_true = XD * truth["cdf"]
    g_true = truth["cdf"] + XD * truth["pdf"]
    normal = truth["cdf"] >= TINY  # x > −13.0: Φ is a normal float32
    worst, _ = ulps(y.data[normal], y_true[normal])
    assert worst <= 5.0  # relative accuracy also far below 0, where Φ is tiny
    assert np.abs(y.data[~normal] - y_true[~normal]).max() <= 5e-44  # |x|·(Φ to 2 subnormal steps)
    t = torch.tensor(X, requires_grad=True)
    ty = torch.nn.functional.gelu(t)
    ty.sum().backward()
    # within a few ulps of PyTorch's float32 result, or closer to the truth than PyTorch is; the
    # gradient Φ + xφ cancels near x = −0.75: its ulps are those of the terms, Φ + |x|φ
    g_scale = truth["cdf"] + np.abs(XD) * truth["pdf"]
    pairs = ((y.data, ty.detach().numpy(), y_true, y_true), (g.data, t.grad.numpy(), g_true, g_scale))
    for ours, theirs, true, scale in pairs:
        theirs = theirs.astype(np.float64)
        allowed = np.abs(theirs - true) + 5 * np.spacing(np.abs(scale).astype(np.float32)) + 5e-44
        assert (np.abs(ours - theirs) <= allowed).all()  # 5e-44: subnormal results, x < −13
    assert (np.abs(g.data - g_true) <= 5 * np.spacing(g_scale.astype(np.float32)) + 5e-44).all()


def test_gelu_float16_and_second_order_in_float32():
    x16 = Variable(np.linspace(-5, 5, 101).astype(np.float16))
    y16 = F.gelu(x16)
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16.data, F.gelu(x16.data.astype(np.float64)).data, rtol=1e-3, atol=1e-4)
    x = Variable(np.linspace(-4, 4, 33).astype(np.float32))
    (g,) = cg.grad(F.sum(F.gelu(x)), [x], create_graph=True)
    (h,) = cg.grad(F.sum(g), [x])
    t = torch.tensor(x.data, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.gelu(t).sum(), [t], create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), [t])
    np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-5, atol=1e-6)
