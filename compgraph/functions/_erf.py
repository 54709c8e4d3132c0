"""erf and erfc on ndarrays, to float64 precision, for GELU (NumPy has neither; the
core needs no SciPy).

W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for the
error function", Math. Comp. 23 (1969) 631-637; the coefficients of his Fortran CALERF, SPECFUN
in Netlib), in three ranges of |x|: erf directly below 0.46875, erfc = e^(-x²)·R(|x|) up to 4,
and an asymptotic form beyond. e^(-x²) is taken as e^(-t²)·e^(-(x-t)(x+t)) with t = x rounded
down to 1/16, so that x² loses no digits. Measured against Python's math.erf/erfc on 200,001
points in [-30, 30] (tests/functions/test_activation.py): erf is within 4 units in the last
place (relative error < 5e-16), erfc within 6 (< 1e-15) while it is a normal float64, and
within 1e-323 where it is subnormal (past x ≈ 26.5).

float32 and float16 arrays take a float32 path instead, about 10x faster, with no masks: with
a = |z| and t = 1/(1 + p·a), erfc(a) = e^(-a²)·t·R(t), R a degree-9 polynomial in t ∈ (0, 1]
(a least-squares fit of erfc(a)·e^(a²)/t, reweighted towards minimax, relative error 2.3e-9 on
a ≤ 10.1, where float32 erfc underflows; the fit is in tests/functions/test_erf.py's docstring),
and e^(-a²) taken in float64 (where a² is exact) and rounded once, so erfc keeps its relative
accuracy far out. normal_cdf32 gives Φ(x) = erfc(−x/√2)/2 with e^(-x²/2) from x itself (no rounding of x/√2)
and returns φ(x) too, for GELU's gradient. erf32 is x·P(x²) (degree 5 in x²) below |x| = 0.8
and 1 − erfc above. Measured against math.erf/erfc on the float32s k/4096 in [−16, 16] (and 2000
from 1e-30 to 0.1; tests/functions/test_erf.py asserts these): erf within 2.4 float32 ulps,
erfc 4.7, Φ 4.2 (relative, also far below 0 while Φ is a normal float32; past x ≈ −13, within
2 subnormal steps), φ 0.5; torch.special.erf's float32 is within 0.6 ulp and erfc 0.8.
"""

from __future__ import annotations

import numpy as np

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03)
_A4 = 1.85777706184603153e-1
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
)
_C8 = 2.15311535474403846e-8
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
)
_P5 = 1.63153871373020978e-2
_Q = (
    2.56852019228982242e00,
    1.87295284992346725e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)
_SQRT_PI_INV = 5.6418958354775628695e-1
_SMALL, _MIDDLE, _BIG = 0.46875, 4.0, 27.3  # erfc(27.3) < 5e-324: it underflows to 0 past _BIG


def _ratio(z: np.ndarray, top: float, p: tuple[float, ...], q: tuple[float, ...]) -> np.ndarray:
    """Cody's rational function: (((top·z + p0)z + p1)z … + p_last) / ((z + q0)z … + q_last)."""
    num, den = top * z, z
    for a, b in zip(p[:-1], q[:-1]):
        num = (num + a) * z
        den = (den + b) * z
    return (num + p[-1]) / (den + q[-1])


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| ≤ 0.46875."""
    return x * _ratio(x * x, _A4, _A, _B)


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875 (NaN stays NaN)."""
    out = np.zeros_like(y)
    middle = y <= _MIDDLE
    far = ~middle & ~(y >= _BIG)  # NaN comes here and stays NaN
    ym = y[middle]
    out[middle] = _ratio(ym, _C8, _C, _D) * _exp_minus_square(ym)
    yf = y[far]
    z = 1.0 / (yf * yf)
    out[far] = (_SQRT_PI_INV - z * _ratio(z, _P5, _P, _Q)) / yf * _exp_minus_square(yf)
    return out


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    # e^(-y²) as e^(-t²)·e^(-(y−t)(y+t)), t = y cut to 1/16: t² is exact, so y² loses nothing
    t = np.trunc(y * 16.0) / 16.0
    return np.exp(-t * t) * np.exp(-(y - t) * (y + t))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function (2/√π)∫₀ˣ e^(-t²) dt, elementwise, in x's float dtype."""
    x = np.asarray(x)
    if x.dtype in _SINGLE:
        return erf32(x).astype(x.dtype, copy=False)
    x64 = x.astype(np.float64)
    y = np.abs(x64)
    out = np.empty_like(x64)
    small = y <= _SMALL
    out[small] = _erf_small(x64[small])
    large = ~small
    out[large] = np.copysign((0.5 - _erfc_large(y[large])) + 0.5, x64[large])
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


def erfc(x: np.ndarray) -> np.ndarray:
    """1 − erf(x), elementwise, without the cancellation: accurate where it is tiny (x ≫ 0)."""
    x = np.asarray(x)
    if x.dtype in _SINGLE:
        return erfc32(x).astype(x.dtype, copy=False)
    x64 = x.astype(np.float64)
    y = np.abs(x64)
    out = np.empty_like(x64)
    small = y <= _SMALL
    out[small] = 1.0 - _erf_small(x64[small])
    large = ~small
    tail = _erfc_large(y[large])
    out[large] = np.where(x64[large] < 0, 2.0 - tail, tail)
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


_SINGLE = (np.dtype(np.float32), np.dtype(np.float16))

# --- float32 -----------------------------------------------------------------------------------
# erfc(a)·e^(a²) ≈ t·R(t), t = 1/(1 + p·a), p = (19/64)·√2, so that Φ's t = 1/(1 + (19/64)|x|)
_R32 = (
    0.23688583076000214,
    0.23652127385139465,
    0.2198612242937088,
    0.14985765516757965,
    0.21430672705173492,
    -0.1982993334531784,
    0.4385108947753906,
    -0.4872407019138336,
    0.23068465292453766,
    -0.041088227182626724,
)
_P32 = 0.4198446513295126  # (19/64)·√2
_R32_PHI = tuple(c * 1.2533141373155003 for c in _R32)  # R·√(π/2): Φ from φ
_ERF32 = (
    1.1283791065216064,
    -0.3761260211467743,
    0.11283113062381744,
    -0.02682080678641796,
    0.005085130222141743,
    -0.0006535234861075878,
)  # erf(x)/x on |x| ≤ 0.8, in x²: relative error 3e-9
_ERF32_SMALL = 0.8
_CLAMP32 = 20.0  # past it erfc and Φ are 0 in float32; keeps a² finite


def _horner32(t: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """c0 + c1·t + … + cn·tⁿ, in t's dtype, in place on one new array."""
    out = t * coefficients[-1]
    for c in coefficients[-2::-1]:
        out += c
        out *= t
    return out  # t·(c0 + … ): callers want the polynomial times t


def _exp_minus_square32(a: np.ndarray, scale: float, factor: float = 1.0) -> np.ndarray:
    """factor·e^(-scale·a²) for float32 a ≥ 0 (scale a power of 2), as float32, rounded once:
    a·(−scale·a) is exact in float64, and NumPy's float64 exp is good to well under a float32 ulp."""
    out = a * -scale  # exact
    sq = np.multiply(a, out, dtype=np.float64)
    np.exp(sq, out=sq)
    if factor != 1.0:
        sq *= factor
    np.copyto(out, sq, casting="same_kind")
    return out


def _erfc_positive32(a: np.ndarray, e: np.ndarray, c: float) -> np.ndarray:
    """erfc(c·a) for a ≥ 0 given e = e^(-(c·a)²): e·t·R(t), t = 1/(1 + p·c·a)."""
    t = a * (_P32 * c)
    t += 1.0
    np.reciprocal(t, out=t)
    out = _horner32(t, _R32)
    out *= e
    return out


def _as32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x32 = np.asarray(x, dtype=np.float32)
    a = np.abs(x32)
    np.minimum(a, _CLAMP32, out=a)  # NaN stays NaN
    return x32, a


def erfc32(x: np.ndarray) -> np.ndarray:
    """erfc in float32 (relative accuracy kept for x ≫ 0); float32 result."""
    x32, a = _as32(x)
    tail = _erfc_positive32(a, _exp_minus_square32(a, 1.0), 1.0)
    # x < 0: 2 − erfc(|x|), written as tail + (2 − 2·tail) so that no masked copy is needed
    out = np.multiply(tail, -2.0, out=a)
    out += 2.0
    out *= x32 < 0
    out += tail
    return out


def erf32(x: np.ndarray) -> np.ndarray:
    """erf in float32 (relative accuracy kept near 0); float32 result."""
    x32, a = _as32(x)
    near = _horner32(a * a, _ERF32[1:])
    near += _ERF32[0]
    near *= a
    far = _erfc_positive32(a, _exp_minus_square32(a, 1.0), 1.0)
    np.subtract(1.0, far, out=far)
    out = np.where(a < _ERF32_SMALL, near, far)
    return np.copysign(out, x32, out=out)


def normal_cdf32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Φ(x), φ(x)) in float32, sharing e^(-x²/2): φ = e^(-x²/2)/√(2π) and, below 0,
    Φ(x) = erfc(|x|/√2)/2 = φ(x)·t·R(t)·√(π/2), t = 1/(1 + (19/64)|x|)."""
    x32, a = _as32(x)
    pdf = _exp_minus_square32(a, 0.5, _SQRT_2PI_INV)
    np.multiply(a, _P32 * _SQRT_HALF, out=a)  # 19/64, exact
    a += 1.0
    t = np.reciprocal(a, out=a)
    low = _horner32(t, _R32_PHI)
    low *= pdf  # Φ(−|x|)
    # Φ(x) = Φ(−|x|) below 0 and 1 − Φ(−|x|) above: low + [x ≥ 0]·(1 − 2·low), no masked copy
    cdf = np.multiply(low, -2.0, out=t)
    cdf += 1.0
    cdf *= x32 >= 0
    cdf += low
    return cdf, pdf


_SQRT_HALF = 0.7071067811865476
_SQRT_2PI_INV = 0.3989422804014327
