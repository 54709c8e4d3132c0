"""PNG pictures of training: curves and a decision boundary."""

import builtins

import numpy as np
import pytest

import compgraph.nn as nn
from compgraph.plot import plot_decision_boundary, plot_history, plot_training

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = {"train_loss": [1.0, 0.5, 0.2], "test_loss": [1.1, 0.6, 0.3], "train_acc": [0.5, 0.8, 0.9]}


def _png_size(path):
    raw = path.read_bytes()
    assert raw[:8] == PNG
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def test_history_plot_is_a_two_panel_png(tmp_path):
    path = plot_history(HISTORY, tmp_path / "curves.png")
    width, height = _png_size(path)
    assert width > 1.8 * height  # two panels side by side


def test_training_plot_adds_the_decision_boundary_for_2d_points(tmp_path):
    model = nn.MLP((2, 8, 3), rng=0)
    x = np.random.default_rng(0).uniform(-1, 1, size=(30, 2)).astype(np.float32)
    t = np.arange(30) % 3
    two = _png_size(plot_training(HISTORY, tmp_path / "two.png"))
    three = _png_size(plot_training(HISTORY, tmp_path / "three.png", model, (x, t)))
    assert three[0] > two[0] * 1.3 and three[1] == two[1]
    model.train()
    _png_size(plot_decision_boundary(model, x, t, tmp_path / "b.png", resolution=20))
    assert model.training  # restored after drawing in eval mode


def test_decision_boundary_wants_2d_points(tmp_path):
    with pytest.raises(ValueError, match=r"x must be 2-D points of shape \(N, 2\), got \(4, 3\)"):
        plot_decision_boundary(
            nn.MLP((3, 2)), np.zeros((4, 3), np.float32), np.zeros(4, int), tmp_path / "x.png"
        )


def test_without_matplotlib_the_error_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'compgraph\[plot\]'"):
        plot_history(HISTORY, tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []
