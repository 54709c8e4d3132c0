"""Layers: Linear, Conv2d, BatchNorm, Dropout, pooling, activations, Embedding, Sequential.

Parameters are float32 unless ``dtype=np.float64`` is asked for. Weights are drawn with He
initialisation (``init="he"``, for a layer followed by ReLU) or Xavier (``init="xavier"``,
for the others); biases start at zero. ``rng`` takes a seed or a ``np.random.Generator``.

A layer with parameters (Linear, Conv2d, BatchNorm) takes arrays and Variables of its own
dtype only, as PyTorch does: float64 data in a float32 layer would silently compute in
float64, and integer data (uint8 images) is usually unscaled pixels, so both raise a
TypeError that says how to convert. Lists and Python numbers, which carry no dtype, are
converted to the layer's dtype.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph._checks import positive_int
from compgraph.core import Operand, Variable
from compgraph.nn.init import RngLike, as_rng, initial_weight
from compgraph.nn.module import Module, Parameter


def _layer_input(layer: Module, x: Operand, dtype: np.dtype) -> Operand:
    """``x`` if it has the layer's ``dtype``: one comparison per call; a list becomes an array of it."""
    if not isinstance(x, (np.ndarray, Variable)):
        return np.asarray(x, dtype=dtype)
    if x.dtype != dtype:
        if x.dtype.kind == "f":
            fix = f"or build the layer with dtype=np.{x.dtype} (model.astype(np.{x.dtype}) converts a model)"
        else:  # integers are no parameter dtype, and integer images need scaling too
            fix = f"scaling images to [0, 1] too (x.astype(np.{dtype}) / 255)"
        raise TypeError(
            f"{layer._describe()} holds {dtype} parameters but got {x.dtype} input; convert the "
            f"input with x.astype(np.{dtype}), {fix}"
        )
    return x


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, (int, np.integer)) else tuple(value)  # type: ignore[return-value]


class Linear(Module):
    """The affine map ``x @ W + b``: x (N, in_features) to (N, out_features); W is (in, out).

    ``x`` must have the layer's dtype (float32 unless built with ``dtype=np.float64``):
    convert float64 or integer data with ``x.astype(np.float32)``; see the module's notes.

    >>> layer = Linear(3, 2, rng=0)
    >>> layer(np.ones((4, 3), dtype=np.float32)).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str = "he",
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        shape = (self.in_features, self.out_features)
        fan_in, fan_out = shape
        self.W = Parameter(initial_weight(init, shape, fan_in, fan_out, as_rng(rng), dtype))
        self.b = Parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x: Operand) -> Variable:
        x = _layer_input(self, x, self.W.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self._describe()}: expected input of shape (N, {self.in_features}), got {x.shape}"
            )
        return F.linear(x, self.W, self.b)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}{'' if self.b is not None else ', bias=False'}"


class Conv2d(Module):
    """2-D convolution: x (N, C, H, W) to (N, out_channels, H', W'); W is (OC, C, KH, KW).

    ``x`` must have the layer's dtype, as for ``Linear``: convert uint8 images with
    ``x.astype(np.float32) / 255``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        pad: int = 0,
        bias: bool = True,
        *,
        init: str = "he",
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        in_channels = positive_int("Conv2d", "in_channels", in_channels)
        out_channels = positive_int("Conv2d", "out_channels", out_channels)
        kh, kw = (positive_int("Conv2d", "kernel_size", k) for k in _pair(kernel_size))
        stride = positive_int("Conv2d", "stride", stride)
        if pad < 0:
            raise ValueError(f"Conv2d: pad must be >= 0, got {pad}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.pad = (kh, kw), stride, pad
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
        shape = (out_channels, in_channels, kh, kw)
        self.W = Parameter(initial_weight(init, shape, fan_in, fan_out, as_rng(rng), dtype))
        self.b = Parameter(np.zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x: Operand) -> Variable:
        x = _layer_input(self, x, self.W.dtype)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self._describe()}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}"
            )
        return F.conv2d(x, self.W, self.b, stride=self.stride, pad=self.pad)

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        channels = f"{self.in_channels} -> {self.out_channels}"
        return f"{channels}, kernel {kh}x{kw}, stride {self.stride}, pad {self.pad}"


class BatchNorm(Module):
    """Batch normalisation over the feature axis 1 of (N, C) or (N, C, H, W) inputs.

    In training mode it normalises with the batch statistics and updates the running ones
    (buffers ``running_mean`` and ``running_var``, saved with the weights); in eval mode it
    uses the running statistics. ``gamma`` and ``beta`` are trained. ``x`` must have the
    layer's dtype, as for ``Linear``.
    """

    def __init__(
        self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, *, dtype: Any = np.float32
    ):
        num_features = positive_int("BatchNorm", "num_features", num_features)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must lie in [0, 1], got {momentum}")
        self.num_features, self.momentum, self.eps = num_features, float(momentum), float(eps)
        self.gamma = Parameter(np.ones(num_features, dtype=dtype))
        self.beta = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))

    def forward(self, x: Operand) -> Variable:
        x = _layer_input(self, x, self.gamma.dtype)
        shape = x.shape
        if len(shape) not in (2, 4) or shape[1] != self.num_features:
            raise ValueError(
                f"{self._describe()}: expected input of shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, H, W), got {shape}"
            )
        return F.batch_norm(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class Dropout(Module):
    """Zero each input with probability ``p`` in training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, *, rng: RngLike = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must lie in [0, 1), got {p}")
        self.p = float(p)
        self.rng = as_rng(rng)

    def forward(self, x: Operand) -> Variable:
        return F.dropout(x, self.p, training=self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaxPool2d(Module):
    """Max pooling over (KH, KW) windows of (N, C, H, W) inputs; stride defaults to the kernel size."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | None = None, pad: int = 0):
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad

    def forward(self, x: Operand) -> Variable:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.pad)

    def extra_repr(self) -> str:
        return f"kernel {self.kernel_size}, stride {self.stride or self.kernel_size}, pad {self.pad}"


class AvgPool2d(MaxPool2d):
    """Average pooling over (KH, KW) windows of (N, C, H, W) inputs."""

    def forward(self, x: Operand) -> Variable:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.pad)


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Operand) -> Variable:
        return F.relu(x)


class Sigmoid(Module):
    """1/(1 + e⁻ˣ), elementwise."""

    def forward(self, x: Operand) -> Variable:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Operand) -> Variable:
        return F.tanh(x)


class Flatten(Module):
    """(N, ...) to (N, features)."""

    def forward(self, x: Operand) -> Variable:
        return F.flatten(x)


class Embedding(Module):
    """Rows of a (num_embeddings, dim) table looked up by integer ids: ids (...) to (..., dim)."""

    def __init__(self, num_embeddings: int, dim: int, *, dtype: Any = np.float32, rng: RngLike = None):
        self.num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        self.dim = positive_int("Embedding", "dim", dim)
        self.W = Parameter(as_rng(rng).standard_normal((self.num_embeddings, self.dim)).astype(dtype))

    def forward(self, ids: Operand) -> Variable:
        return F.embedding(ids, self.W)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.dim}"


class ModuleList(Module):
    """A list of Modules, named "0", "1", ... by position (as ``torch.nn.ModuleList``).

    >>> blocks = ModuleList([Linear(4, 4, rng=i) for i in range(2)])
    >>> blocks.append(Linear(4, 2, rng=2))
    >>> len(blocks), [name for name, _ in blocks.named_parameters()][-2:]
    (3, ['2.W', '2.b'])
    """

    def __init__(self, modules: Iterable[Module] = ()):
        self._length = 0
        self.extend(modules)

    def append(self, module: Module) -> None:
        """Add ``module`` at the end."""
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}: item {self._length} is a {type(module).__name__}, expected a Module"
            )
        setattr(self, str(self._length), module)
        self._length += 1

    def extend(self, modules: Iterable[Module]) -> None:
        """Add each of ``modules`` at the end, in order."""
        for module in modules:
            self.append(module)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> Module:
        if not -self._length <= i < self._length:
            raise IndexError(f"{type(self).__name__} index {i} out of range for {self._length} modules")
        return getattr(self, str(i % self._length))

    def __iter__(self) -> Iterator[Module]:
        return (getattr(self, str(i)) for i in range(self._length))


class Sequential(ModuleList):
    """Modules applied in turn; their parameters are named "0.W", "2.b", ... by position.

    >>> net = Sequential(Linear(2, 8, rng=0), ReLU(), Linear(8, 3, init="xavier", rng=1))
    >>> [name for name, _ in net.named_parameters()]
    ['0.W', '0.b', '2.W', '2.b']
    """

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x
