"""The training run: set up from a config, train epoch by epoch, report.

``train(config)`` is three steps, each a function below:

1. ``_start``: resolve the config (against the checkpoint when resuming), check that the
   outputs can be written, load the data, build the model and the optimizer, restore the
   checkpoint's weights, history and optimizer state.
2. ``_run_epochs``: every epoch trains on shuffled batches, evaluates on the test set, adds to
   the history and saves a checkpoint. Ctrl-C rolls the model back to the last saved epoch.
3. ``_finish``: the final accuracies, the plot and the printed summary, as a TrainResult.

Training and evaluation take a batch's loss and its count of right predictions from one
function, ``_classify``: the one place that knows the models are classifiers.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import compgraph.functions as F
from compgraph._progress import progress_bar
from compgraph.core import Variable, no_grad
from compgraph.data import ArrayDataset, DataLoader
from compgraph.nn import Module
from compgraph.optim import Optimizer
from compgraph.training.build import build_model, load_data
from compgraph.training.checkpoint import (
    HISTORY_KEYS,
    read_checkpoint,
    restore_optimizer,
    save_checkpoint,
)
from compgraph.training.config import (
    AUTO,
    OPTIMIZERS,
    TEXT_DATASETS,
    TrainConfig,
    recorded_settings,
    resolve,
)

#: Told of each saved epoch: ``on_epoch(epochs done, history)``.
EpochCallback = Callable[[int, dict[str, list[float]]], None]


@dataclass
class TrainResult:
    """What a run did: the resolved config, the trained model, its history, accuracies (for a
    language model: the steps done and the validation loss)."""

    config: TrainConfig
    model: Module
    history: dict[str, list[float]]
    train_accuracy: float | None  # None for a language model
    test_accuracy: float | None
    epochs_done: int
    interrupted: bool = False
    save_path: Path | None = None
    plot_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    steps_done: int = 0  # a language model's
    val_loss: float | None = None  # a language model's final validation loss (nats per character)


@dataclass
class _Run:
    """What the steps of one ``train`` call share."""

    config: TrainConfig  # resolved; save and plot are None where they will not be written
    model: Module
    optimizer: Optimizer
    train_set: ArrayDataset
    test_set: ArrayDataset
    history: dict[str, list[float]]
    notes: list[str]
    start: int = 0  # epochs done before this call (when resuming)
    done: int = 0  # epochs done and saved
    interrupted: bool = False


def train(
    config: TrainConfig | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train the model ``config`` describes; print progress to ``err`` and results to ``out``.

    Ctrl-C (KeyboardInterrupt) stops the run cleanly: the model returns to the last epoch
    that was saved, and the result says ``interrupted``. ``on_epoch(epoch, history)`` is
    called after each epoch is saved (``epoch`` counts from 1).

    >>> result = train(TrainConfig(save=None, plot=None, progress=False))  # doctest: +SKIP
    train accuracy: 0.9889
    test accuracy: 0.9833
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    config = config if config is not None else TrainConfig()
    tensors, record = read_checkpoint(config.resume) if config.resume else (None, None)
    if (record is not None and record.get("kind") == "text") or config.data in TEXT_DATASETS:
        from compgraph.training.text import train_text  # steps, not epochs: a language model

        notes: list[str] = []
        cfg = _outputs_checked(resolve(config, record["config"] if record else None), config, notes)
        return train_text(cfg, tensors, record, out, err, notes)
    run = _start(config, tensors, record, err)
    _run_epochs(run, err, on_epoch)
    return _finish(run, out)


def evaluate(model: Module, dataset: ArrayDataset, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``dataset``, in eval mode, recording no graph."""
    if len(dataset) == 0:
        raise ValueError("evaluate: the dataset is empty, so it has no mean loss or accuracy")
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        with no_grad():
            for x, t in DataLoader(dataset, batch_size):
                loss, right, n = _classify(model(x), t)
                total_loss += float(loss.data) * n
                correct += right
                seen += n
    finally:
        model.train(was_training)
    return total_loss / seen, correct / seen


def _classify(y: Variable, t: np.ndarray) -> tuple[Variable, int, int]:
    """A batch's loss, its right predictions and its size, for scores y (N, classes) and labels
    t (N,): softmax cross-entropy, and the rows whose highest score is at the label."""
    return F.softmax_cross_entropy(y, t), int((y.data.argmax(axis=1) == t).sum()), len(t)


def _outputs_checked(cfg: TrainConfig, config: TrainConfig, notes: list[str]) -> TrainConfig:
    """``cfg`` with save and plot None where they will not be written (a note says why)."""
    save = _writable("weights", cfg.save, "safetensors", "io", notes, auto=config.save == AUTO)
    plot = _writable("plot", cfg.plot, "matplotlib", "plot", notes, auto=config.plot == AUTO)
    return dataclasses.replace(cfg, save=save, plot=plot)


def _start(config: TrainConfig, tensors: Any, record: dict[str, Any] | None, err: TextIO) -> _Run:
    """Everything before the first epoch; what was chosen or skipped is noted on ``err``."""
    notes: list[str] = []
    cfg = _outputs_checked(resolve(config, record["config"] if record else None), config, notes)
    train_set, test_set, note = load_data(cfg)
    if note:
        print(note, file=err)
    model = build_model(cfg, train_set)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr)
    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    run = _Run(cfg, model, optimizer, train_set, test_set, history, notes)
    if record is not None:
        _resume(run, tensors, record, config.resume, err)
    for line in notes:
        print(f"note: {line}", file=err)
    return run


def _writable(
    kind: str, path: str | None, package: str, extra: str, notes: list[str], auto: bool
) -> str | None:
    """``path`` if it can be written; None with a note when an automatic output lacks its package."""
    if path is None:
        return None
    if importlib.util.find_spec(package) is None:
        if auto:
            notes.append(f"{kind} not written: {package} is not installed (pip install 'compgraph[{extra}]')")
            return None
        raise ImportError(f"writing the {kind} to {path} needs {package}: pip install 'compgraph[{extra}]'")
    parent = Path(path).parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write the {kind} to {path}: directory {parent} does not exist")
    if Path(path).is_dir():
        raise ValueError(f"cannot write the {kind} to {path}: it is a directory; name a file in it")
    return path


def _resume(
    run: _Run, tensors: dict[str, np.ndarray], record: dict[str, Any], path: str, err: TextIO
) -> None:
    """Continue from a checkpoint: its weights, its epoch count, its history, its optimizer state."""
    run.model.load_state_dict(tensors, source=str(path))
    run.start = run.done = record["epoch"]
    run.history = {key: list(record["history"][key]) for key in HISTORY_KEYS}
    stale = restore_optimizer(run.optimizer, Path(path), record["id"])
    if stale:
        run.notes.append(stale)
    print(f"resuming {path} after epoch {run.start} of {run.config.epochs}", file=err)
    if run.start >= run.config.epochs:
        run.notes.append(f"{path} has already been trained for {run.start} epochs; pass more epochs to go on")


def _run_epochs(run: _Run, err: TextIO, on_epoch: EpochCallback | None) -> None:
    """Train up to the config's total of epochs, saving after each; Ctrl-C stops cleanly."""
    cfg = run.config
    loader = DataLoader(run.train_set, cfg.batch_size, shuffle=True, seed=cfg.seed)
    settings = recorded_settings(cfg)
    saved_state = run.model.state_dict()
    try:
        for epoch in range(run.start, cfg.epochs):
            loader.set_epoch(epoch)  # the same batches as an uninterrupted run
            for key, value in _epoch(run, loader, epoch, err).items():
                run.history[key].append(value)
            if cfg.save is not None:
                save_checkpoint(Path(cfg.save), run.model, run.optimizer, settings, epoch + 1, run.history)
            saved_state = run.model.state_dict()
            run.done = epoch + 1
            if on_epoch is not None:
                on_epoch(run.done, run.history)
    except KeyboardInterrupt:
        _roll_back(run, saved_state, err)


def _epoch(run: _Run, loader: DataLoader, epoch: int, err: TextIO) -> dict[str, float]:
    """One epoch: train on every batch, then evaluate on the test set; progress goes to ``err``."""
    cfg = run.config
    desc = f"epoch {epoch + 1}/{cfg.epochs}"
    bar = progress_bar(
        len(loader), desc, enabled=cfg.progress, file=err, unit="batch", leave=True, dynamic_ncols=True
    )
    try:
        began = time.perf_counter()
        loss, acc = _train_epoch(run.model, run.optimizer, loader, bar)
        seconds = time.perf_counter() - began
        test_loss, test_acc = evaluate(run.model, run.test_set)
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.4f}", test_acc=f"{test_acc:.4f}")
    finally:
        if bar is not None:
            bar.close()
    if bar is None and cfg.progress:  # no tqdm: one line per epoch instead
        print(f"{desc}  loss {loss:.4f}  acc {acc:.4f}  test acc {test_acc:.4f}  ({seconds:.2f} s)", file=err)
    return {
        "train_loss": loss,
        "train_acc": acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "epoch_time": seconds,
    }


def _train_epoch(model: Module, optimizer: Optimizer, loader: DataLoader, bar: Any) -> tuple[float, float]:
    """One pass over ``loader``, a step per batch: the mean loss and accuracy on the way."""
    total_loss, correct, seen = 0.0, 0, 0
    for i, (x, t) in enumerate(loader):
        loss, right, n = _classify(model(x), t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += float(loss.data) * n
        correct += right
        seen += n
        if bar is not None:
            bar.update(1)
            if i % 10 == 0:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
    return total_loss / seen, correct / seen


def _roll_back(run: _Run, saved_state: dict[str, np.ndarray], err: TextIO) -> None:
    """After Ctrl-C: the unfinished epoch records nothing, and the model is the saved one again."""
    run.interrupted = True
    for key in run.history:
        del run.history[key][run.done :]
    run.model.load_state_dict(saved_state)
    save = run.config.save
    kept = f"; the weights of epoch {run.done} are in {save}" if save and run.done else ""
    print(f"\ninterrupted during epoch {run.done + 1}{kept}", file=err)


def _finish(run: _Run, out: TextIO) -> TrainResult:
    """The final accuracies, the plot and where the outputs went, printed to ``out``."""
    cfg = run.config
    _, train_acc = evaluate(run.model, run.train_set)
    _, test_acc = evaluate(run.model, run.test_set)
    plot_path = _plot(run)
    if cfg.save is not None and run.done > run.start:
        print(f"weights: {cfg.save}", file=out)
    if plot_path is not None:
        print(f"plot: {plot_path}", file=out)
    print(f"train accuracy: {train_acc:.4f}", file=out)
    print(f"test accuracy: {test_acc:.4f}", file=out)
    return TrainResult(
        config=cfg,
        model=run.model,
        history=run.history,
        train_accuracy=train_acc,
        test_accuracy=test_acc,
        epochs_done=run.done,
        interrupted=run.interrupted,
        save_path=Path(cfg.save) if cfg.save is not None and run.done > 0 else None,
        plot_path=plot_path,
        notes=run.notes,
    )


def _plot(run: _Run) -> Path | None:
    """The curves (and for the spiral the decision boundary) as a PNG, once an epoch is done."""
    if run.config.plot is None or not run.history["train_loss"]:
        return None
    from compgraph.plot import plot_training

    points = (run.train_set.x, run.train_set.t) if run.config.data == "spiral" else None
    return plot_training(run.history, run.config.plot, run.model, points)
