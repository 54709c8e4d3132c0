"""The generated spiral dataset."""

import numpy as np
import pytest

from compgraph.data import spiral


def test_shapes_dtypes_and_class_order():
    ds = spiral(n_per_class=50, n_classes=4, seed=0)
    assert ds.x.shape == (200, 2) and ds.x.dtype == np.float32
    assert ds.t.dtype == np.int64
    np.testing.assert_array_equal(ds.t, np.repeat(np.arange(4), 50))


def test_points_lie_on_the_arms():
    ds = spiral(n_per_class=4, n_classes=2, noise=0.0, seed=0)
    # point i of each arm has radius i/4; without noise arm j is at angle πj + 4r (sin for x, cos for y)
    radius = np.hypot(ds.x[:, 0], ds.x[:, 1])
    np.testing.assert_allclose(radius, np.tile([0.0, 0.25, 0.5, 0.75], 2), atol=1e-7)
    np.testing.assert_allclose(ds.x[1], [0.25 * np.sin(1.0), 0.25 * np.cos(1.0)], rtol=1e-6)
    np.testing.assert_allclose(ds.x[5], [0.25 * np.sin(np.pi + 1.0), 0.25 * np.cos(np.pi + 1.0)], rtol=1e-6)


def test_same_seed_same_points_other_seed_other_points():
    np.testing.assert_array_equal(spiral(seed=1).x, spiral(seed=1).x)
    assert not np.array_equal(spiral(seed=1).x, spiral(seed=2).x)
    assert np.abs(spiral().x).max() <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_class": 0}, "n_per_class must be a positive int"),
        ({"n_classes": 2.0}, "n_classes"),
        ({"noise": -0.1}, "noise must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spiral(**kwargs)
