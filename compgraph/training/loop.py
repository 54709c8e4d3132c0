"""The training run: set up from a config, train epoch by epoch, report.

``train(config)`` is three steps, each a function below:

1. ``_start``: resolve the config (against the checkpoint when resuming), check that the
   outputs can be written, load the data, build the model and the optimizer, restore the
   checkpoint's weights, history and optimizer state.
2. ``_run_epochs``: every epoch trains on shuffled batches, evaluates on the test set, adds to
   the history and saves a checkpoint. Ctrl-C rolls the model back to the last saved epoch.
3. ``_finish``: the final accuracies, the plot and the printed summary, as a TrainResult.

Training and evaluation take a batch's loss and its count of right predictions from one
function, ``_classify``: the one place that knows the models are classifiers. With
``config.compile`` the training step's forward is that function under ``cg.compile``
(traced once per batch shape, replayed after), and its backward the compiled one.

Under ``mpiexec -n N`` (``parallel.py``) every process takes its contiguous shard of each
global batch, the gradients are averaged weighted by shard size (so they are the global
batch's), and the losses and accuracies reported are sums over all processes; rank 0 alone
reads the checkpoint, saves, plots and prints.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import compgraph.functions as F
from compgraph import compiled
from compgraph._progress import progress_bar
from compgraph.core import Variable, no_grad
from compgraph.data import ArrayDataset, DataLoader
from compgraph.data.dataset import Batch
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
from compgraph.training.parallel import Workers, workers

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
    workers: Workers
    classify: Callable[[np.ndarray, np.ndarray], tuple[Variable, int, int]]  # a batch's step forward
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
    config = config if config is not None else TrainConfig()
    group = workers()
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if not group.root:  # only the root prints
        out = err = io.StringIO()
    tensors, record = group.root_first(
        lambda: read_checkpoint(config.resume) if config.resume else (None, None), share=True
    )
    if (record is not None and record.get("kind") == "text") or config.data in TEXT_DATASETS:
        from compgraph.training.text import train_text  # steps, not epochs: a language model

        notes: list[str] = []
        cfg = _resolved(config, record, notes, group)
        return train_text(cfg, tensors, record, out, err, notes, group)
    run = _start(config, tensors, record, err, group)
    _run_epochs(run, err, on_epoch)
    return _finish(run, out)


def evaluate(
    model: Module, dataset: ArrayDataset, batch_size: int = 1000, group: Workers | None = None
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``dataset``, in eval mode, recording no graph.
    With several processes (``group``), each evaluates its contiguous share of the rows."""
    if len(dataset) == 0:
        raise ValueError("evaluate: the dataset is empty, so it has no mean loss or accuracy")
    group = group if group is not None else Workers()
    start, stop = group.bounds(len(dataset))
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        with no_grad():
            for x, t in DataLoader(dataset[start:stop], batch_size) if stop > start else ():
                loss, right, n = _classify(model(x), t)
                total_loss += float(loss.data) * n
                correct += right
                seen += n
    finally:
        model.train(was_training)
    total_loss, correct, seen = group.sum([total_loss, correct, seen])
    return float(total_loss / seen), float(correct / seen)


def _classify(y: Variable, t: np.ndarray) -> tuple[Variable, int, int]:
    """A batch's loss, its right predictions and its size, for scores y (N, classes) and labels
    t (N,): softmax cross-entropy, and the rows whose highest score is at the label."""
    return F.softmax_cross_entropy(y, t), int((y.data.argmax(axis=1) == t).sum()), len(t)


def _step_forward(
    model: Module, config: TrainConfig
) -> Callable[[np.ndarray, np.ndarray], tuple[Variable, int, int]]:
    """``_classify`` on the model's scores for a batch: eager, or with ``config.compile`` the
    loss and the scores from one compiled function (the counting stays outside it)."""
    if not config.compile:
        return lambda x, t: _classify(model(x), t)

    def loss_and_scores(x: np.ndarray, t: np.ndarray) -> tuple[Variable, Variable]:
        y = model(x)
        return F.softmax_cross_entropy(y, t), y

    step = compiled.compile(loss_and_scores, modules=(model,))

    def classify(x: np.ndarray, t: np.ndarray) -> tuple[Variable, int, int]:
        loss, y = step(x, t)
        return loss, int((y.data.argmax(axis=1) == t).sum()), len(t)

    return classify


def _outputs_checked(cfg: TrainConfig, config: TrainConfig, notes: list[str]) -> TrainConfig:
    """``cfg`` with save and plot None where they will not be written (a note says why)."""
    save = _writable("weights", cfg.save, "safetensors", "io", notes, auto=config.save == AUTO)
    plot = _writable("plot", cfg.plot, "matplotlib", "plot", notes, auto=config.plot == AUTO)
    return dataclasses.replace(cfg, save=save, plot=plot)


def _resolved(
    config: TrainConfig, record: dict[str, Any] | None, notes: list[str], group: Workers
) -> TrainConfig:
    """The resolved config with its outputs checked, on the root; the others get it with no
    outputs and no progress (only the root writes and prints)."""
    cfg = group.root_first(
        lambda: _outputs_checked(resolve(config, record["config"] if record else None), config, notes),
        share=True,
    )
    return cfg if group.root else dataclasses.replace(cfg, save=None, plot=None, progress=False)


def _start(
    config: TrainConfig, tensors: Any, record: dict[str, Any] | None, err: TextIO, group: Workers
) -> _Run:
    """Everything before the first epoch; what was chosen or skipped is noted on ``err``."""
    notes: list[str] = []
    cfg = _resolved(config, record, notes, group)
    train_set, test_set, note = group.root_first(lambda: load_data(cfg))  # a download once
    if note:
        print(note, file=err)
    model = build_model(cfg, train_set)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr)
    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    run = _Run(cfg, model, optimizer, train_set, test_set, history, notes, group, _step_forward(model, cfg))
    if record is not None:
        group.root_first(lambda: _resume(run, tensors, record, config.resume, err), others=False)
        _share_state(run)
    group.share_model(model)
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


def _share_state(run: _Run) -> None:
    """After the root resumed: its weights, optimizer state, epoch count and history everywhere."""
    if run.workers.size == 1:
        return
    state = run.workers.bcast(
        (run.model.state_dict(), run.optimizer.state_dict(), run.start, run.history)
        if run.workers.root
        else None
    )
    weights, optimizer_state, run.start, run.history = state
    run.done = run.start
    if not run.workers.root:
        run.model.load_state_dict(weights)
        run.optimizer.load_state_dict(optimizer_state)


def _run_epochs(run: _Run, err: TextIO, on_epoch: EpochCallback | None) -> None:
    """Train up to the config's total of epochs, saving after each; Ctrl-C stops cleanly."""
    cfg = run.config
    loader = DataLoader(run.train_set, cfg.batch_size, shuffle=True, seed=cfg.seed)
    settings = recorded_settings(cfg)
    saved_state = run.model.state_dict()
    try:
        with run.workers.interruptible_steps():  # several processes stop after the same step
            for epoch in range(run.start, cfg.epochs):
                loader.set_epoch(epoch)  # the same batches as an uninterrupted run
                for key, value in _epoch(run, loader, epoch, err).items():
                    run.history[key].append(value)
                run.workers.check_synchronized(run.model)
                if cfg.save is not None:
                    path = Path(cfg.save)
                    save_checkpoint(path, run.model, run.optimizer, settings, epoch + 1, run.history)
                saved_state = run.model.state_dict()
                run.done = epoch + 1
                if on_epoch is not None:
                    on_epoch(run.done, run.history)
                run.workers.stop_if_interrupted()
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
        loss, acc = _train_epoch(run.classify, run.optimizer, _shards(loader, run.workers), run.workers, bar)
        seconds = time.perf_counter() - began
        test_loss, test_acc = evaluate(run.model, run.test_set, group=run.workers)
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


def _shards(loader: DataLoader, group: Workers) -> Iterator[Batch]:
    """This process's shard of each of the loader's batches (the whole batch for one process):
    a contiguous slice of the batch's sample indices, gathered alone."""
    order = loader.order(loader.epoch)
    loader.epoch += 1
    stop = len(loader) * loader.batch_size if loader.drop_last else len(order)
    for start in range(0, stop, loader.batch_size):
        yield loader.dataset.get_batch(group.shard(order[start : start + loader.batch_size]))


def _train_epoch(
    classify: Callable[[np.ndarray, np.ndarray], tuple[Variable, int, int]],
    optimizer: Optimizer,
    batches: Iterator[Batch],
    group: Workers,
    bar: Any,
) -> tuple[float, float]:
    """A step per batch, the gradients averaged over the processes' shards: the mean loss and
    accuracy over all of them on the way. A process with an empty shard only joins the sum."""
    params = optimizer.params
    total_loss, correct, seen = 0.0, 0, 0
    for i, (x, t) in enumerate(batches):
        optimizer.zero_grad()
        stats = [0.0, 0, 0]
        if len(t):
            loss, right, n = classify(x, t)
            loss.backward()
            stats = [float(loss.data) * n, right, n]
        batch_loss, right, n = group.allreduce_gradients(params, stats[2], stats)
        optimizer.step()
        total_loss += float(batch_loss)
        correct += int(right)
        seen += int(n)
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
    _, train_acc = evaluate(run.model, run.train_set, group=run.workers)
    _, test_acc = evaluate(run.model, run.test_set, group=run.workers)
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
