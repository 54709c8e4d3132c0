"""The book's layers with explicit forward/backward, by hand: no graph, no engine.

The seed: the multiplication and addition layers. Each layer computes only locally.
``backward`` takes the upstream derivative ``dout`` and multiplies it by the layer's local
derivatives (the chain rule). They work on Python numbers and on NumPy arrays alike.

Then the layers of a neural network, written the same way (Relu, Sigmoid, Affine,
SoftmaxWithLoss), and the two-layer network built from them, whose hand-made gradients
can be checked against central differences and against the engine's.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MulLayer:
    """z = x·y.  ∂z/∂x = y and ∂z/∂y = x, so backward swaps the inputs."""

    def __init__(self) -> None:
        self.x: Any = None
        self.y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        dx = dout * self.y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """z = x + y.  ∂z/∂x = ∂z/∂y = 1, so backward passes dout through unchanged."""

    def forward(self, x: Any, y: Any) -> Any:
        return x + y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        dx = dout * 1
        dy = dout * 1
        return dx, dy


def _softmax_and_log(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softmax(x) and log softmax(x) over the last axis; subtracting the max prevents overflow."""
    shifted = x - x.max(axis=-1, keepdims=True)
    log_y = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return np.exp(log_y), log_y


class Relu:
    """y = max(x, 0).  ∂y/∂x is 1 where x > 0, else 0, so backward blocks the dout where x <= 0."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        return np.where(self.mask, 0, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # a new array: dout belongs to the caller (the book's version zeroes it in place)
        dx = np.where(self.mask, 0, dout)
        return dx


class Sigmoid:
    """y = 1/(1 + exp(−x)).  ∂y/∂x = y(1 − y), so backward needs only the output it kept."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        # the same value written with tanh, which cannot overflow as exp(−x) does for x < −709
        out = 0.5 + 0.5 * np.tanh(0.5 * x)
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout * (1.0 - self.out) * self.out
        return dx


class Affine:
    """y = x·W + b for a batch x (N, ...), flattened to (N, in); W (in, out), b (out,).

    ∂L/∂x = dout·Wᵀ,  ∂L/∂W = xᵀ·dout,  ∂L/∂b = dout summed over the batch. ``backward``
    keeps dW and db on the layer and returns dx in x's original shape.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)  # images (N, C, H, W) become rows of N vectors
        if x.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"Affine: x of shape {self.original_x_shape} has {x.shape[1]} features per sample "
                f"but W of shape {self.W.shape} expects {self.W.shape[0]}; W must be (in, out)"
            )
        self.x = x
        out = x @ self.W + self.b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy loss, averaged over the batch.

    ``forward(x, t)`` takes scores x (N, C) and labels t, as integers (N,) or one-hot (N, C).
    Together the two layers have the simple gradient (softmax(x) − one-hot(t)) / N.
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None  # softmax(x)
        self.t: np.ndarray | None = None  # the labels, one-hot

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss: x must be (N, C) scores, got shape {x.shape}")
        t = np.asarray(t)
        if t.shape == x.shape:
            onehot = t
        elif t.shape == x.shape[:1] and t.dtype.kind in "iu":
            if t.size and (t.min() < 0 or t.max() >= x.shape[1]):
                raise ValueError(
                    f"SoftmaxWithLoss: labels must lie in [0, {x.shape[1]}), got values from "
                    f"{t.min()} to {t.max()}"
                )
            onehot = np.zeros(x.shape, dtype=x.dtype)
            onehot[np.arange(len(t)), t] = 1
        else:
            raise ValueError(
                f"SoftmaxWithLoss: t must be integer labels of shape ({x.shape[0]},) or one-hot of "
                f"shape {x.shape} for x of shape {x.shape}, got {t.dtype} of shape {t.shape}"
            )
        self.t = onehot
        # log softmax computed directly: no log(0), so no "+ 1e-7" is needed
        self.y, log_y = _softmax_and_log(x)
        self.loss = float(-(onehot * log_y).sum() / x.shape[0])
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        dx = (self.y - self.t) * (dout / batch_size)
        return dx


class TwoLayerNet:
    """The book's two-layer network, Affine → Relu → Affine → SoftmaxWithLoss, by hand.

    ``params`` holds W1 (in, hidden), b1, W2 (hidden, out), b2; the layers use whatever arrays
    ``params`` holds when they run, so an optimizer may update them in place or replace them.
    ``gradient`` backpropagates through the layers; ``numerical_gradient`` perturbs every
    parameter (slow: two forward passes per number) to check it.

    >>> net = TwoLayerNet(4, 5, 3, seed=0)
    >>> x, t = np.ones((2, 4)), np.array([0, 2])
    >>> grads = net.gradient(x, t)
    >>> sorted(grads), grads["W1"].shape
    (['W1', 'W2', 'b1', 'b2'], (4, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {
            "W1": (weight_init_std * rng.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (weight_init_std * rng.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }
        self.layers: dict[str, Any] = {
            "Affine1": Affine(self.params["W1"], self.params["b1"]),
            "Relu1": Relu(),
            "Affine2": Affine(self.params["W2"], self.params["b2"]),
        }
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The scores (N, out) before softmax."""
        for name, affine in (("1", self.layers["Affine1"]), ("2", self.layers["Affine2"])):
            affine.W, affine.b = self.params["W" + name], self.params["b" + name]
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """The mean cross-entropy loss on a batch; t integer labels (N,) or one-hot (N, out)."""
        y = self.predict(x)
        return self.last_layer.forward(y, t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """The fraction of samples whose highest score is the label."""
        y = self.predict(x).argmax(axis=1)
        if t.ndim != 1:
            t = t.argmax(axis=1)
        return float((y == t).sum() / x.shape[0])

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The gradient of the loss for every parameter, by backpropagation."""
        self.loss(x, t)  # forward: every layer keeps what its backward needs
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        affine1, affine2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": affine1.dW, "b1": affine1.db, "W2": affine2.dW, "b2": affine2.db}

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray, eps: float = 1e-6) -> dict[str, np.ndarray]:
        """The same gradient by central differences (``compgraph.numerical_grad``), in float64.

        The step ``eps`` is smaller than the book's 1e-4, which float64 allows: a step that large
        can cross a ReLU kink (a hidden unit within 1e-4 of zero) and report a wrong slope.
        """
        from compgraph.gradient_check import numerical_grad

        saved = dict(self.params)
        names = list(saved)

        def loss_at(*values: np.ndarray) -> float:
            self.params.update(zip(names, values))
            return self.loss(x, t)

        try:
            grads = numerical_grad(loss_at, *saved.values(), eps=eps)
        finally:
            self.params.update(saved)
        return {name: g.astype(saved[name].dtype) for name, g in zip(names, grads)}
