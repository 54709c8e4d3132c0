"""The workloads, and the inputs every library gets (NumPy only: adapters import this)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

APPLE = (100.0, 2.0, 150.0, 3.0, 1.1)  # apple, apple_num, orange, orange_num, tax
SCALAR_OPS = 9_999  # 3,333 rounds of y = relu(y * 1.0001 + 0.0001)
MATRIX_OPS = 3_000  # 1,000 rounds of y = tanh(y @ W + b)
DEEP_OPS = 100_000  # y = y + 1e-6, one op at a time
MEMORY_STEPS = 200
LR = 0.1


@dataclass(frozen=True)
class Workload:
    title: str
    unit: str
    scale: float  # seconds per call -> unit
    per: int = 1  # ops per call (the result is divided by it)
    calls: int = 1  # calls per timed repeat
    memory: bool = False  # one call in a fresh process; reports time and peak memory
    rtol: float = 1e-3  # how closely a peer's gradients must match


WORKLOADS: dict[str, Workload] = {
    "apple": Workload("apple/orange graph", "µs/graph", 1e6, calls=2000, rtol=1e-9),
    "scalar": Workload("10,000-op scalar chain", "µs/op", 1e6, per=SCALAR_OPS, rtol=1e-9),
    "matrix": Workload("16x16 matmul/add/tanh chain", "µs/op", 1e6, per=MATRIX_OPS, rtol=1e-3),
    "mlp": Workload("MLP 784-100-10 step, batch 100", "ms", 1e3, calls=20, rtol=1e-3),
    "cnn": Workload("SimpleConvNet step, batch 100", "ms", 1e3, calls=3, rtol=1e-3),
    "deep": Workload("100,000-op chain, forward+backward", "s", 1.0, memory=True, rtol=1e-9),
    "mlp_memory": Workload("200 MLP steps", "s", 1.0, memory=True, rtol=1e-3),
}


def repeated(step):
    """The memory workload: ``MEMORY_STEPS`` calls of a training step (checked on the first)."""

    def run(check=False):
        out = step(check)
        for _ in range(MEMORY_STEPS - 1):
            step()
        return out

    return run


def norm(g: np.ndarray) -> float:
    """A gradient's size for the cross-check (a plain sum can be 0 whatever the gradient is)."""
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


def matrix_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W (16, 16), b (16,), x (16, 16), float32.

    W is orthogonal so the gradient keeps its size through 1,000 layers: a decaying one would
    reach denormal floats, whose slow arithmetic would be timed instead of the libraries.
    """
    rng = np.random.default_rng(0)
    W = np.linalg.qr(rng.standard_normal((16, 16)))[0].astype(np.float32)
    b = (rng.standard_normal(16) * 0.01).astype(np.float32)
    x = (rng.standard_normal((16, 16)) * 0.5).astype(np.float32)
    return W, b, x


def mlp_data() -> dict[str, np.ndarray]:
    """He-initialised W1 (784, 100), b1, W2 (100, 10), b2; a batch x (100, 784), labels t (100,)."""
    rng = np.random.default_rng(1)
    return {
        "W1": (rng.standard_normal((784, 100)) * np.sqrt(2 / 784)).astype(np.float32),
        "b1": np.zeros(100, np.float32),
        "W2": (rng.standard_normal((100, 10)) * np.sqrt(2 / 100)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
        "x": rng.random((100, 784), dtype=np.float32),
        "t": rng.integers(0, 10, 100),
    }


def cnn_data() -> dict[str, np.ndarray]:
    """The book's SimpleConvNet: conv 30x5x5, ReLU, max-pool 2, affine 4320-100, ReLU, affine 100-10."""
    rng = np.random.default_rng(2)
    return {
        "W1": (rng.standard_normal((30, 1, 5, 5)) * np.sqrt(2 / 25)).astype(np.float32),
        "b1": np.zeros(30, np.float32),
        "W2": (rng.standard_normal((4320, 100)) * np.sqrt(2 / 4320)).astype(np.float32),
        "b2": np.zeros(100, np.float32),
        "W3": (rng.standard_normal((100, 10)) * np.sqrt(2 / 100)).astype(np.float32),
        "b3": np.zeros(10, np.float32),
        "x": rng.random((100, 1, 28, 28), dtype=np.float32),
        "t": rng.integers(0, 10, 100),
    }
