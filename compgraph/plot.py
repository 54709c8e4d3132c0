"""Training pictures as PNG files: loss and accuracy curves, a 2-D decision boundary.

Needs matplotlib (``pip install 'compgraph[plot]'``). Figures are drawn without pyplot (no
global state, no display needed) and written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compgraph._files import atomic_writer
from compgraph.core import no_grad
from compgraph.nn.module import Module


def _figure(panels: int) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: pip install 'compgraph[plot]'"
        ) from exc
    fig = Figure(figsize=(4.2 * panels, 3.6), layout="constrained")
    return fig, [fig.add_subplot(1, panels, i + 1) for i in range(panels)]


def _save(fig: Any, path: str | Path) -> Path:
    with atomic_writer(path) as f:
        fig.savefig(f, format="png", dpi=110)
    return Path(path)


def _draw_curves(ax_loss: Any, ax_acc: Any, history: Mapping[str, Sequence[float]]) -> None:
    epochs = np.arange(1, len(history.get("train_loss", ())) + 1)
    for key, label in (("train_loss", "train"), ("test_loss", "test")):
        if history.get(key):
            ax_loss.plot(epochs, history[key], marker=".", label=label)
    for key, label in (("train_acc", "train"), ("test_acc", "test")):
        if history.get(key):
            ax_acc.plot(epochs, history[key], marker=".", label=label)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()


def _draw_boundary(ax: Any, model: Module, x: np.ndarray, t: np.ndarray, resolution: int) -> None:
    pad = 0.1 * (x.max(axis=0) - x.min(axis=0))
    lo, hi = x.min(axis=0) - pad, x.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(x.dtype)
    was_training = model.training
    model.eval()
    with no_grad():
        classes = model(grid).data.argmax(axis=1).reshape(gx.shape)
    model.train(was_training)
    n_classes = int(max(classes.max(), t.max())) + 1
    ax.contourf(
        gx, gy, classes, levels=np.arange(n_classes + 1) - 0.5, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.3
    )
    ax.scatter(x[:, 0], x[:, 1], c=t, cmap="tab10", vmin=-0.5, vmax=9.5, s=8, edgecolors="none")
    ax.set_title("decision boundary")
    ax.set_aspect("equal")


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Loss and accuracy per epoch (keys ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``)."""
    fig, (ax_loss, ax_acc) = _figure(2)
    _draw_curves(ax_loss, ax_acc, history)
    return _save(fig, path)


def plot_losses(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """A language model's training and validation loss against the step (keys ``step``,
    ``train_loss``, ``val_loss``), and its learning rate (``lr``)."""
    fig, (ax_loss, ax_lr) = _figure(2)
    steps = history["step"]
    ax_loss.plot(steps, history["train_loss"], marker=".", label="train")
    ax_loss.plot(steps, history["val_loss"], marker=".", label="validation")
    ax_loss.set_ylabel("cross-entropy (nats per character)")
    ax_loss.set_title("loss")
    ax_loss.legend()
    ax_lr.plot(steps, history["lr"], marker=".")
    ax_lr.set_title("learning rate")
    for ax in (ax_loss, ax_lr):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_decision_boundary(
    model: Module, x: np.ndarray, t: np.ndarray, path: str | Path, resolution: int = 200
) -> Path:
    """The class ``model`` predicts over the plane around 2-D points ``x`` (N, 2), with the points."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: x must be 2-D points of shape (N, 2), got {x.shape}")
    fig, (ax,) = _figure(1)
    _draw_boundary(ax, model, x, t, resolution)
    return _save(fig, path)


def plot_training(
    history: Mapping[str, Sequence[float]],
    path: str | Path,
    model: Module | None = None,
    points: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """The curves of ``plot_history``, and the decision boundary beside them when 2-D ``points``
    (x, t) and the ``model`` are given."""
    boundary = model is not None and points is not None and points[0].ndim == 2 and points[0].shape[1] == 2
    fig, axes = _figure(3 if boundary else 2)
    _draw_curves(axes[0], axes[1], history)
    if boundary:
        _draw_boundary(axes[2], model, points[0], points[1], 200)
    return _save(fig, path)
