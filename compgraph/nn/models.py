"""Ready-made networks: a multilayer perceptron and the book's SimpleConvNet."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

import compgraph.functions as F
from compgraph._checks import one_of
from compgraph.core import Operand, Variable
from compgraph.nn.init import RngLike, as_rng
from compgraph.nn.layers import Conv2d, Linear
from compgraph.nn.module import Module

_ACTIVATIONS = {"relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh}


class MLP(Module):
    """Fully connected layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``, an activation between.

    The layers are ``fc1``, ``fc2``, ...; the last one has no activation (it gives the scores
    for ``softmax_cross_entropy``). Hidden layers start with He initialisation under ReLU,
    Xavier otherwise; the output layer with Xavier. Inputs with more than two axes, such as
    (N, 1, 28, 28) images, are flattened to (N, features).

    >>> net = MLP((784, 100, 10), rng=0)
    >>> [(name, p.shape) for name, p in net.named_parameters()]
    [('fc1.W', (784, 100)), ('fc1.b', (100,)), ('fc2.W', (100, 10)), ('fc2.b', (10,))]
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes must list at least an input and an output size, got {sizes}")
        self.sizes, self.activation = sizes, one_of("MLP", "activation", activation, _ACTIVATIONS)
        rng = as_rng(rng)
        hidden_init = "he" if activation == "relu" else "xavier"
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            init = hidden_init if i < len(sizes) - 2 else "xavier"
            setattr(self, f"fc{i + 1}", Linear(n_in, n_out, init=init, dtype=dtype, rng=rng))
        self._layer_names = tuple(f"fc{i + 1}" for i in range(len(sizes) - 1))

    def forward(self, x: Operand) -> Variable:
        if np.ndim(x) > 2:
            x = F.flatten(x)
        act = _ACTIVATIONS[self.activation]
        *hidden, last = self._layer_names
        for name in hidden:
            x = act(getattr(self, name)(x))
        return getattr(self, last)(x)

    def extra_repr(self) -> str:
        return f"{' -> '.join(map(str, self.sizes))}, {self.activation}"


class SimpleConvNet(Module):
    """The book's SimpleConvNet: conv - ReLU - max-pool 2 - affine - ReLU - affine.

    ``input_shape`` is (C, H, W); the convolution has ``filters`` kernels of size ``kernel``
    (stride 1, no padding), the pooling 2x2 windows with stride 2. Input (N, C, H, W), output
    (N, classes) scores.

    >>> net = SimpleConvNet(rng=0)
    >>> [(name, p.shape) for name, p in net.named_parameters()][:2]
    [('conv1.W', (30, 1, 5, 5)), ('conv1.b', (30,))]
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        filters: int = 30,
        kernel: int = 5,
        hidden: int = 100,
        classes: int = 10,
        *,
        dtype: Any = np.float32,
        rng: RngLike = None,
    ):
        channels, height, width = input_shape
        if height < kernel or width < kernel:
            raise ValueError(
                f"SimpleConvNet: a {kernel}x{kernel} kernel does not fit inputs of shape {input_shape}"
            )
        rng = as_rng(rng)
        self.input_shape = tuple(input_shape)
        self.conv1 = Conv2d(channels, filters, kernel, dtype=dtype, rng=rng)
        pooled = filters * ((height - kernel + 1) // 2) * ((width - kernel + 1) // 2)
        self.fc1 = Linear(pooled, hidden, dtype=dtype, rng=rng)
        self.fc2 = Linear(hidden, classes, init="xavier", dtype=dtype, rng=rng)

    def forward(self, x: Operand) -> Variable:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"SimpleConvNet: expected input of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        y = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        y = F.relu(self.fc1(F.flatten(y)))
        return self.fc2(y)
