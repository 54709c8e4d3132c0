"""The seed: the book's multiplication and addition layers, with explicit forward/backward.

Each layer computes only locally. ``backward`` takes the upstream derivative ``dout`` and
multiplies it by the layer's local derivatives (the chain rule). They work on Python numbers
and on NumPy arrays alike.
"""

from __future__ import annotations

from typing import Any


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
