"""A generated toy dataset: points on interleaved spiral arms, one class per arm."""

from __future__ import annotations

import numpy as np

from compgraph._checks import positive_int, wrong_kind_as_value_error
from compgraph.data.dataset import ArrayDataset


def spiral(
    n_per_class: int = 100, n_classes: int = 3, *, noise: float = 0.2, seed: int | None = 0
) -> ArrayDataset:
    """Points in 2-D on ``n_classes`` spiral arms, ``n_per_class`` each (nothing downloaded).

    Point i of arm j lies at radius r = i/n on angle θ = 2πj/n_classes + 4r + noise·ε with
    ε ~ N(0, 1): the arms wind two-thirds of a turn each, and ``noise`` blurs their edges so
    that no classifier is perfect. x is float32 (N, 2) in [-1, 1], t int64 (N,) in class
    order; the same ``seed`` gives the same points.

    >>> ds = spiral(n_per_class=50, seed=0)
    >>> ds.x.shape, ds.x.dtype, np.bincount(ds.t).tolist()
    ((150, 2), dtype('float32'), [50, 50, 50])
    """
    with wrong_kind_as_value_error():
        n_per_class = positive_int("spiral", "n_per_class", n_per_class)
        n_classes = positive_int("spiral", "n_classes", n_classes)
    if noise < 0:
        raise ValueError(f"spiral: noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    radius = np.arange(n_per_class) / n_per_class
    arms = np.arange(n_classes)[:, None] * (2 * np.pi / n_classes)
    theta = arms + 4.0 * radius + noise * rng.standard_normal((n_classes, n_per_class))
    x = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=-1).reshape(-1, 2)
    t = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    return ArrayDataset(x.astype(np.float32), t)
