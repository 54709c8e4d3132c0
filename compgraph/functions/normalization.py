"""Batch and layer normalisation: values scaled to zero mean and unit variance, then by gamma and beta.

batch_norm normalises each channel over the batch; layer_norm each sample over its last axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compgraph.core import Op, Operand, Variable
from compgraph.functions._fast import sum_keepdims, sum_leading
from compgraph.functions.conv import shape_of
from compgraph.functions.reduce import mean


def _channel_axes(ndim: int) -> tuple[int, ...]:
    # (N, C): over the batch; (N, C, H, W): over the batch and every pixel
    return (0,) if ndim == 2 else (0, 2, 3)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ a·b per channel (axis 1), without the a·b temporary."""
    return np.einsum("nc,nc->c" if a.ndim == 2 else "nchw,nchw->c", a, b)


def _in_place_ok(out: np.ndarray, *operands: np.ndarray) -> bool:
    # writing into `out` must not change the dtype NumPy would give the result
    return np.result_type(out, *operands) == out.dtype


class BatchNorm(Op):
    __slots__ = ("training", "eps", "momentum", "running_mean", "running_var", "mean", "inv_std")

    def __init__(
        self,
        training: bool,
        eps: float,
        momentum: float,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
    ):
        self.training, self.eps, self.momentum = training, eps, momentum
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, gamma, beta):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        d = None
        if self.training:
            m = x.size // x.shape[1]
            mu = x.mean(axis=_channel_axes(x.ndim))
            d = x - mu.reshape(shape)
            var = _channel_dot(d, d) / m
            if self.running_mean is not None:
                # PyTorch's convention: the running variance is the unbiased estimate
                momentum = self.momentum
                self.running_mean *= 1 - momentum
                self.running_mean += momentum * mu
                self.running_var *= 1 - momentum
                self.running_var += (momentum * m / (m - 1)) * var
        else:
            # copies in x's dtype: a later training step updates the running arrays in place
            mu = self.running_mean.astype(x.dtype)
            var = self.running_var.astype(x.dtype)
        inv_std = 1 / np.sqrt(var + self.eps)
        self.mean, self.inv_std = mu, inv_std  # per channel: all that backward keeps
        # running_mean/var stay referenced (small arrays): a compiled replay of this op points
        # them at the layer's current buffers and runs forward again (compgraph/compiled.py)
        scale = (gamma * inv_std).reshape(shape)
        if d is not None and _in_place_ok(d, scale, beta):
            # y = γ·(x − μ)/σ + β, reusing x − μ: every full-size pass counts here
            d *= scale
            d += beta.reshape(shape)
            return d
        return x * scale + (beta - mu * scale.reshape(mu.shape)).reshape(shape)

    def vjp(self, gy, y, x, gamma, beta):
        # x̂ = (x − μ)/σ, y = γx̂ + β:  ∂L/∂β = Σgy,  ∂L/∂γ = Σgy·x̂,
        # ∂L/∂x = γ/σ·(gy − Σgy/m − x̂·Σgy·x̂/m) in training (μ, σ depend on x), γ/σ·gy in eval
        if not isinstance(gy, Variable):
            return self._vjp_arrays(gy, x, gamma, beta)
        axes = _channel_axes(x.ndim)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = x.size // x.shape[1]
        if self.training:
            # recorded backward: μ and σ recomputed as functions of x, so x̂ differentiates right
            d = x - mean(x, axes, keepdims=True)
            inv_std = (mean(d * d, axes, keepdims=True) + self.eps) ** -0.5
            xhat = d * inv_std
        else:
            inv_std = self.inv_std.reshape(shape)
            xhat = (x - self.mean.reshape(shape)) * inv_std
        g_beta = gy.sum(axis=axes, keepdims=True)
        g_gamma = (gy * xhat).sum(axis=axes, keepdims=True)
        gx = None
        if self.needs_grad(0):
            gain = gamma.reshape(shape) * inv_std
            if self.training:
                gx = gain * (gy - g_beta / m - xhat * (g_gamma / m))
            else:
                gx = gain * gy
        return gx, g_gamma.reshape(gamma.shape), g_beta.reshape(beta.shape)

    def _vjp_arrays(self, gy, x, gamma, beta):
        # the same rule on arrays, arranged to touch each full-size array as few times as possible:
        # with d = x − μ,  ∂L/∂x = a·gy + d·(−a·Σgy·x̂/(σm)) − a·Σgy/m  where a = γ/σ
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = x.size // x.shape[1]
        need_x, need_gamma = self.needs_grad(0), self.needs_grad(1)
        g_beta = gy.sum(axis=_channel_axes(x.ndim))
        d = g_gamma = None
        if need_gamma or (need_x and self.training):
            d = x - self.mean.reshape(shape)
            g_gamma = _channel_dot(gy, d) * self.inv_std
        gx = None
        if need_x:
            a = gamma * self.inv_std
            if not self.training:
                gx = gy * a.reshape(shape)
            else:
                b = (-a * self.inv_std * g_gamma / m).reshape(shape)
                c = (-a * g_beta / m).reshape(shape)
                if _in_place_ok(d, b, c, a, gy):
                    gx = d
                    gx *= b
                    gx += c
                else:
                    gx = d * b + c
                gx += gy * a.reshape(shape)
        return (
            gx,
            g_gamma.astype(gamma.dtype, copy=False) if need_gamma else None,
            g_beta.astype(beta.dtype, copy=False) if self.needs_grad(2) else None,
        )


def _check_running(name: str, a: Any, channels: int, x_shape: tuple[int, ...]) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"batch_norm: {name} must be a numpy.ndarray (it is updated in place), got "
            f"{type(a).__name__}; pass the array itself, e.g. a Variable's .data"
        )
    if a.shape != (channels,) or a.dtype.kind != "f":
        raise ValueError(
            f"batch_norm: {name} must be a float array of shape ({channels},), one value per channel "
            f"of x {x_shape}, got {a.dtype} of shape {a.shape}"
        )


def batch_norm(
    x: Operand,
    gamma: Operand,
    beta: Operand,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Variable:
    """Normalise each channel of x (N, C) or (N, C, H, W), then scale by gamma (C,) and shift by beta (C,).

    Training: uses the batch's mean and (biased) variance per channel and updates
    ``running_mean`` and ``running_var`` in place: running = (1 − momentum)·running +
    momentum·batch statistic, the variance unbiased (PyTorch's convention). Pass None for both
    to keep no running statistics. Eval (``training=False``): uses the running statistics.

    >>> x = np.array([[1.0], [3.0]])
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> batch_norm(x, np.ones(1), np.zeros(1), rm, rv).data.round(4)
    array([[-1.],
           [ 1.]])
    >>> rm, rv
    (array([0.2]), array([1.1]))
    """
    x_shape = shape_of(x, "x", "batch_norm")
    if len(x_shape) not in (2, 4):
        raise ValueError(
            f"batch_norm: x must be (N, C) or (N, C, H, W), got shape {x_shape}; channels go on axis 1"
        )
    channels = x_shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if shape_of(p, name, "batch_norm") != (channels,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({channels},), one value per channel of x "
                f"{x_shape}, got {p.shape}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if running_mean is None:
        if not training:
            raise ValueError(
                "batch_norm: evaluation (training=False) normalises with running_mean and "
                "running_var, but None was given; keep running statistics while training"
            )
    else:
        _check_running("running_mean", running_mean, channels, x_shape)
        _check_running("running_var", running_var, channels, x_shape)
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must lie in [0, 1], got {momentum}")
    if eps <= 0:
        raise ValueError(f"batch_norm: eps must be positive, got {eps}")
    if training and x_shape[0] * int(np.prod(x_shape[2:])) < 2:
        raise ValueError(
            f"batch_norm: training needs more than one value per channel to estimate a variance, "
            f"got x of shape {x_shape}; use a batch of at least 2, or training=False"
        )
    return BatchNorm(training, eps, momentum, running_mean, running_var)(x, gamma, beta)


class LayerNorm(Op):
    __slots__ = ("eps", "has_weight", "has_bias", "xhat", "rstd")
    label = "layer norm"
    grad_rules = ("(γ/σ)·(g − mean g − x̂·mean(g·x̂))", "Σ g·x̂ over the batch", "Σ g over the batch")

    def __init__(self, eps: float, has_weight: bool, has_bias: bool):
        self.eps, self.has_weight, self.has_bias = eps, has_weight, has_bias

    def forward(self, x, *affine):
        # x̂ = (x − μ)/σ over the last axis, with σ = √(var + eps): μ and 1/σ computed once, kept
        # per row (with x̂ when an affine map follows) for the backward pass
        n = x.shape[-1]
        d = x - sum_keepdims(x, -1) / n
        rstd = 1 / np.sqrt(sum_keepdims(d * d, -1) / n + self.eps)
        d *= rstd
        self.rstd = rstd
        if not affine:
            self.xhat = None  # the output is x̂ itself: backward reads it there
            return d
        self.xhat = d
        y = d * affine[0] if self.has_weight else d.copy()
        if self.has_bias:
            b = affine[-1]
            if _in_place_ok(y, b):
                y += b
            else:
                y = y + b
        return y

    def vjp(self, gy, y, x, *affine):
        # x̂ = (x − μ)/σ, y = γx̂ + β, g = gy·γ:  ∂L/∂x = (g − mean g − x̂·mean(g·x̂))/σ,
        # ∂L/∂γ = Σ gy·x̂ and ∂L/∂β = Σ gy over every row
        if isinstance(gy, Variable):
            return self._vjp_recorded(gy, x, *affine)
        xhat = y if self.xhat is None else self.xhat
        w = affine[0] if self.has_weight else None
        n = x.shape[-1]
        gyx = gy * xhat
        gx = None
        if self.needs_grad(0):
            # Σg and Σg·x̂ per row: with γ, products with the vector γ (BLAS, no g·x̂ temporary)
            if w is None:
                gx = gy * self.rstd
                sum_g, sum_gx = sum_keepdims(gy, -1), sum_keepdims(gyx, -1)
            else:
                gx = gy * w
                gx *= self.rstd
                sum_g, sum_gx = (gy @ w)[..., None], (gyx @ w)[..., None]
            c = self.rstd / n
            gx -= xhat * (sum_gx * c)
            gx -= sum_g * c
        grads = [gx]
        if self.has_weight:
            grads.append(sum_leading(gyx.reshape(-1, n)) if self.needs_grad(1) else None)
        if self.has_bias:
            grads.append(sum_leading(gy.reshape(-1, n)) if self.needs_grad(len(grads)) else None)
        return tuple(grads)

    def _vjp_recorded(self, gy, x, *affine):
        # the same rule on Variables, with μ and σ recomputed from x, so that it differentiates again
        d = x - mean(x, -1, keepdims=True)
        rstd = (mean(d * d, -1, keepdims=True) + self.eps) ** -0.5
        xhat = d * rstd
        gx = None
        if self.needs_grad(0):
            g = gy * affine[0] if self.has_weight else gy
            gx = rstd * (g - mean(g, -1, keepdims=True) - xhat * mean(g * xhat, -1, keepdims=True))
        grads = [gx]
        if self.has_weight:  # the engine sums these over the rows, down to (D,)
            grads.append(gy * xhat if self.needs_grad(1) else None)
        if self.has_bias:
            grads.append(gy if self.needs_grad(len(grads)) else None)
        return tuple(grads)


def layer_norm(
    x: Operand, weight: Operand | None = None, bias: Operand | None = None, eps: float = 1e-5
) -> Variable:
    """Normalise x (..., D) over its last axis, then scale by weight (D,) and shift by bias (D,).

    Each row becomes (x − mean)/√(var + eps) with the biased variance, as
    ``torch.nn.functional.layer_norm(x, (D,), weight, bias, eps)``; weight and bias are
    optional. One op: the statistics are computed once and the gradient is in closed form.

    >>> layer_norm(np.array([[1.0, 3.0]])).data.round(4)
    array([[-1.,  1.]])
    """
    x_shape = shape_of(x, "x", "layer_norm")
    if not x_shape or x_shape[-1] == 0:
        raise ValueError(
            f"layer_norm: x must have a non-empty last axis to normalise over, got shape {x_shape}"
        )
    features = x_shape[-1]
    affine = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if shape_of(p, name, "layer_norm") != (features,):
            raise ValueError(
                f"layer_norm: {name} must have shape ({features},), one value per feature of x "
                f"{x_shape} (its last axis), got {p.shape}"
            )
        affine.append(p)
    if not eps > 0:
        raise ValueError(f"layer_norm: eps must be positive, got {eps}")
    return LayerNorm(eps, weight is not None, bias is not None)(x, *affine)
