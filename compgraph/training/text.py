"""Character-level language models: what ``compgraph train --data shakespeare`` trains.

``train_text(config)`` trains ``nn.CharGPT`` (``--model gpt``) or ``nn.CharLSTM`` (``--model
lstm``) on Tiny Shakespeare for ``config.steps`` steps, in three steps like ``train``:

1. ``_start``: the corpus (``compgraph.data.shakespeare``), the model, AdamW with weight decay
   on the matrices only (``weight_decay_groups``), the lr schedule (``WarmupCosineLR``), and,
   when resuming, the checkpoint's weights, optimizer and schedule state and history.
2. ``_run_steps``: each step draws a batch, clips the gradient norm at ``CLIP`` and updates;
   every ``EVAL_EVERY`` steps and at the last, the validation loss is measured and the
   checkpoint saved. The GPT trains on random windows (batch k drawn from the seed and k
   alone), the LSTM on consecutive windows with its state carried from one to the next
   (truncated backpropagation through time); either way a resumed run sees the batches, and
   the LSTM the state, that an uninterrupted one would.
3. ``_finish``: the plot and ``val loss: X.XXXX``, the mean next-character cross-entropy (in
   nats) over every non-overlapping context-length window of the validation split.

Under ``mpiexec -n N`` each process takes its contiguous rows of every global batch: of the
GPT's random windows, and of the LSTM's streams (each process carries the state of its own
streams; a checkpoint holds all of them, gathered on rank 0).

The defaults are nanoGPT's CPU configuration (``GPT_SIZES``: 4 layers, 4 heads, 128-dim
embeddings, context 64; batch 12; 2000 steps; AdamW lr 1e-3, betas (0.9, 0.99), weight
decay 0.1; 100 warm-up steps, then cosine decay to lr/10 at the last step); ``steps`` scales
the schedule (warm-up 5% of the steps). The weights file also holds what ``compgraph sample``
needs to rebuild the model: its kind, sizes and vocabulary (``read_model``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import compgraph.functions as F
from compgraph import compiled
from compgraph._progress import progress_bar
from compgraph.core import Variable, no_grad
from compgraph.data import CharCorpus, CharVocab, shakespeare
from compgraph.nn import CharGPT, CharLSTM, Module, load_file, save_file
from compgraph.optim import AdamW, WarmupCosineLR, clip_grad_norm, weight_decay_groups
from compgraph.training.checkpoint import META_KEY, optimizer_state_path, read_optimizer_state
from compgraph.training.config import TrainConfig, recorded_settings
from compgraph.training.parallel import Workers

#: The model's own sizes (not options of ``compgraph train``): nanoGPT's CPU configuration,
#: and an LSTM of the issue's benchmark size.
GPT_SIZES = {"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128}
LSTM_SIZES = {"n_embd": 64, "hidden_size": 256, "num_layers": 2}
CONTEXT = 64  # characters per training window, for both models
BETAS, WEIGHT_DECAY, CLIP = (0.9, 0.99), 0.1, 1.0
WARMUP_FRACTION, MIN_LR_FRACTION = 0.05, 0.1  # 100 of 2000 steps; 1e-4 for lr 1e-3
EVAL_EVERY, EVAL_BATCH = 250, 64
#: The metadata key of the model's kind, sizes and vocabulary in a weights file.
MODEL_KEY = "compgraph.model"
#: The history of a run, one entry per evaluation: the step, the mean training loss since the
#: last evaluation, the validation loss, the lr and the seconds the steps took.
TEXT_HISTORY_KEYS = ("step", "train_loss", "val_loss", "lr", "seconds")
CARRY_PREFIX = "carry."  # the LSTM's carried state, in the optimizer state file


@dataclass
class _TextRun:
    config: TrainConfig
    corpus: CharCorpus
    model: Module
    optimizer: AdamW
    schedule: WarmupCosineLR
    history: dict[str, list[float]]
    notes: list[str]
    workers: Workers
    loss: Callable[[np.ndarray, np.ndarray, Any], tuple[Variable, Any]]  # a step's loss and new state
    step: int = 0  # steps done
    carry: tuple[Any, Any] | None = None  # the LSTM's state after the last step (this process's streams)
    interrupted: bool = False


def build_language_model(kind: str, vocab_size: int, seed: int) -> Module:
    """A CharGPT or CharLSTM of the recipe's sizes, initialised from ``seed``."""
    if kind == "gpt":
        return CharGPT(vocab_size, **GPT_SIZES, rng=seed)
    return CharLSTM(vocab_size, **LSTM_SIZES, rng=seed)


def validation_loss(
    model: Module, corpus: CharCorpus, context: int = CONTEXT, group: Workers | None = None
) -> float:
    """Mean next-character cross-entropy (nats) over every non-overlapping window of ``val``;
    with several processes (``group``), each scores its rows of every batch."""
    group = group if group is not None else Workers()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for x, y in corpus.eval_batches("val", context, EVAL_BATCH):
                x, y = group.shard(x), group.shard(y)
                if y.size:
                    total += float(_loss(model, x, y)[0].data) * y.size
                    count += y.size
    finally:
        model.train(was_training)
    total, count = group.sum([total, count])
    return float(total / count)


def _loss(model: Module, x: np.ndarray, y: np.ndarray, state: Any = None) -> tuple[Variable, Any]:
    """The mean cross-entropy of the next characters ``y`` given ``x`` (and the LSTM's state)."""
    if isinstance(model, CharLSTM):
        logits, state = model(x, state)
    else:
        logits = model(x)
    return F.softmax_cross_entropy(logits, y), state


def _step_loss(
    model: Module, compile_steps: bool
) -> Callable[[np.ndarray, np.ndarray, Any], tuple[Variable, Any]]:
    """``_loss`` for a training step: eager, or with ``compile_steps`` through ``cg.compile``
    (the LSTM's carried state, when there is one, passed in as two arrays)."""
    if not compile_steps:
        return lambda x, y, state: _loss(model, x, y, state)
    if not isinstance(model, CharLSTM):
        gpt = compiled.compile(lambda x, y: _loss(model, x, y)[0], modules=(model,))
        return lambda x, y, state: (gpt(x, y), None)

    def flat(loss: Variable, state: tuple[Variable, Variable]) -> tuple[Variable, Variable, Variable]:
        return loss, *state

    fresh = compiled.compile(lambda x, y: flat(*_loss(model, x, y)), modules=(model,))
    carried = compiled.compile(lambda x, y, h, c: flat(*_loss(model, x, y, (h, c))), modules=(model,))

    def lstm(x: np.ndarray, y: np.ndarray, state: Any) -> tuple[Variable, Any]:
        loss, h, c = fresh(x, y) if state is None else carried(x, y, *state)
        return loss, (h, c)

    return lstm


def train_text(
    config: TrainConfig,
    tensors: dict[str, np.ndarray] | None,
    record: dict[str, Any] | None,
    out: TextIO,
    err: TextIO,
    notes: list[str],
    group: Workers | None = None,
) -> Any:
    """Train the language model of a resolved ``config`` (see the module's docstring); returns
    a TrainResult. ``notes`` are printed with the run's own; ``group``: the processes."""
    from compgraph.training.loop import TrainResult

    group = group if group is not None else Workers()
    run = _start(config, tensors, record, err, notes, group)
    _run_steps(run, err)
    cfg = run.config
    plot_path = None
    if cfg.plot is not None and run.history["step"]:
        from compgraph.plot import plot_losses

        plot_path = plot_losses(run.history, cfg.plot)
    val = (
        run.history["val_loss"][-1]
        if run.history["val_loss"]
        else validation_loss(run.model, run.corpus, group=group)
    )
    if cfg.save is not None and run.history["step"]:
        print(f"weights: {cfg.save}", file=out)
    if plot_path is not None:
        print(f"plot: {plot_path}", file=out)
    print(f"val loss: {val:.4f}", file=out)
    return TrainResult(
        config=cfg,
        model=run.model,
        history=run.history,
        train_accuracy=None,
        test_accuracy=None,
        epochs_done=0,
        interrupted=run.interrupted,
        save_path=Path(cfg.save) if cfg.save is not None and run.history["step"] else None,
        plot_path=plot_path,
        notes=run.notes,
        steps_done=run.step,
        val_loss=val,
    )


def _start(
    config: TrainConfig,
    tensors: Any,
    record: dict[str, Any] | None,
    err: TextIO,
    notes: list[str],
    group: Workers,
) -> _TextRun:
    corpus = group.root_first(  # a download once
        lambda: shakespeare(config.data_dir, download=config.download, progress=config.progress)
    )
    if record is not None:  # the saved vocabulary: ids must mean what they meant
        corpus = _with_vocab(corpus, record, config.resume)
    model = build_language_model(config.model, len(corpus.vocab), config.seed)
    model.astype(config.dtype or "float32")
    optimizer = AdamW(weight_decay_groups(model.parameters(), WEIGHT_DECAY), config.lr, betas=BETAS)
    warmup = round(WARMUP_FRACTION * config.steps)
    schedule = WarmupCosineLR(optimizer, warmup, config.steps, config.lr * MIN_LR_FRACTION)
    history: dict[str, list[float]] = {key: [] for key in TEXT_HISTORY_KEYS}
    run = _TextRun(
        config, corpus, model, optimizer, schedule, history, notes, group, _step_loss(model, config.compile)
    )
    print(
        f"shakespeare: {corpus!r}; {config.model}: {sum(p.size for p in model.parameters()):,} parameters",
        file=err,
    )
    if record is not None:
        group.root_first(lambda: _resume(run, tensors, record, config.resume, err), others=False)
        _share_state(run)
    group.share_model(model)
    for line in run.notes:
        print(f"note: {line}", file=err)
    return run


def _with_vocab(corpus: CharCorpus, record: dict[str, Any], path: str | None) -> CharCorpus:
    chars = record.get("vocab")
    if not isinstance(chars, str) or chars != corpus.vocab.chars:
        raise ValueError(
            f"train: cannot resume {path}: it was trained on a text with another set of characters; "
            "resume it on the same input.txt"
        )
    return corpus


def _resume(run: _TextRun, tensors: Any, record: dict[str, Any], path: str, err: TextIO) -> None:
    run.model.load_state_dict(tensors, source=str(path))
    run.step = record["step"]
    run.history = {key: list(record["history"][key]) for key in TEXT_HISTORY_KEYS}
    state, note = read_optimizer_state(path, record["id"])
    if state is not None:
        carry = [state.pop(f"{CARRY_PREFIX}{i}") for i in range(2) if f"{CARRY_PREFIX}{i}" in state]
        run.optimizer.load_state_dict(state)
        run.carry = tuple(carry) if len(carry) == 2 else None
    if note:
        run.notes.append(note)
    run.schedule.set_step(run.step)
    print(f"resuming {path} after step {run.step} of {run.config.steps}", file=err)


def _share_state(run: _TextRun) -> None:
    """After the root resumed: its weights, optimizer and schedule state, step, history and
    LSTM state everywhere; each process keeps the state of its own streams."""
    group = run.workers
    if group.size == 1:
        return
    shared = group.bcast(
        (run.model.state_dict(), run.optimizer.state_dict(), run.step, run.history, run.carry)
        if group.root
        else None
    )
    weights, optimizer_state, run.step, run.history, carry = shared
    if not group.root:
        run.model.load_state_dict(weights)
        run.optimizer.load_state_dict(optimizer_state)
        run.schedule.set_step(run.step)
    if carry is not None:  # (layers, streams, hidden): this process's streams
        start, stop = group.bounds(carry[0].shape[1])
        run.carry = tuple(np.array(s[:, start:stop]) for s in carry) if stop > start else None


def _gathered_carry(run: _TextRun) -> tuple[Any, Any] | None:
    """The LSTM state of every process's streams, in order, on the root (None elsewhere)."""
    if run.workers.size == 1:
        return run.carry
    pieces = run.workers.gather(run.carry)
    if pieces is None or all(p is None for p in pieces):
        return None
    pieces = [p for p in pieces if p is not None]
    return tuple(np.concatenate([p[i] for p in pieces], axis=1) for i in range(2))


def _batches(run: _TextRun) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(x, y, whether a new pass starts here) for each step from ``run.step`` on."""
    cfg = run.config
    if isinstance(run.model, CharGPT):
        for x, y in run.corpus.random_batches("train", cfg.batch_size, CONTEXT, cfg.seed, start=run.step):
            yield x, y, False
        return
    per_pass = sum(1 for _ in run.corpus.sequential_batches("train", cfg.batch_size, CONTEXT, drop_last=True))
    step = run.step
    while True:
        skip = step % per_pass
        batches = run.corpus.sequential_batches("train", cfg.batch_size, CONTEXT, drop_last=True)
        for k, (x, y) in enumerate(batches):
            if k >= skip:
                yield x, y, k == 0
        step += per_pass - skip


def _run_steps(run: _TextRun, err: TextIO) -> None:
    cfg = run.config
    remaining = cfg.steps - run.step
    if remaining <= 0:
        run.notes.append(f"already trained for {run.step} steps; pass more steps to go on")
        return
    bar = progress_bar(remaining, "train", enabled=cfg.progress, file=err, unit="step", dynamic_ncols=True)
    params = run.model.parameters()
    losses: list[float] = []
    began = time.perf_counter()
    try:
        with run.workers.interruptible_steps():  # several processes stop after the same step
            for x, y, new_pass in _batches(run):
                if run.step >= cfg.steps:
                    break
                losses.append(_step(run, params, run.workers.shard(x), run.workers.shard(y), new_pass))
                if bar is not None:
                    bar.update(1)
                    if run.step % 10 == 0:
                        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
                if run.step % EVAL_EVERY == 0 or run.step == cfg.steps:
                    _evaluate_and_save(run, losses, time.perf_counter() - began, bar, err)
                    losses, began = [], time.perf_counter()
                    run.workers.stop_if_interrupted()
    except KeyboardInterrupt:
        run.interrupted = True
        print(f"\ninterrupted at step {run.step}; the last save is in {cfg.save}", file=err)
    finally:
        if bar is not None:
            bar.close()


def _step(run: _TextRun, params: list[Any], x: np.ndarray, y: np.ndarray, new_pass: bool) -> float:
    """One update from this process's rows (x, y) of a global batch; the global mean loss."""
    run.optimizer.zero_grad()
    stats = [0.0, 0]
    if y.size:  # a process with no rows of this batch only joins the sums
        loss, state = run.loss(x, y, None if new_pass or run.carry is None else run.carry)
        loss.backward()
        stats = [float(loss.data) * y.size, y.size]
        if state is not None:
            run.carry = tuple(np.array(s.data) for s in state)
    total, count = run.workers.allreduce_gradients(params, stats[1], stats)
    clip_grad_norm(params, CLIP)
    run.optimizer.step()
    run.schedule.step()
    run.step += 1
    return float(total / count)


def _evaluate_and_save(run: _TextRun, losses: list[float], seconds: float, bar: Any, err: TextIO) -> None:
    val = validation_loss(run.model, run.corpus, group=run.workers)
    run.workers.check_synchronized(run.model)
    lr = run.schedule.lr_at(run.step - 1)
    entry = {
        "step": run.step,
        "train_loss": float(np.mean(losses)),
        "val_loss": val,
        "lr": lr,
        "seconds": seconds,
    }
    for key, value in entry.items():
        run.history[key].append(value)
    line = f"step {run.step}/{run.config.steps}: train loss {entry['train_loss']:.4f}, val loss {val:.4f}"
    if bar is not None:
        bar.write(line, file=err)
    elif run.config.progress:
        print(line, file=err)
    carry = _gathered_carry(run)  # every process takes part; the root saves
    if run.config.save is not None:
        _save(run, carry)


def _save(run: _TextRun, carry: tuple[Any, Any] | None) -> None:
    """The weights (with the model's description and the run record) and the optimizer state."""
    cfg = run.config
    record = {
        "kind": "text",
        "step": run.step,
        "config": recorded_settings(cfg),
        "history": run.history,
        "vocab": run.corpus.vocab.chars,
        "id": uuid.uuid4().hex,
    }
    state = {**run.optimizer.state_dict(), **run.schedule.state_dict()}
    if carry is not None:
        state.update({f"{CARRY_PREFIX}{i}": s for i, s in enumerate(carry)})
    path = Path(cfg.save)
    save_file(state, optimizer_state_path(path), {META_KEY: json.dumps({"id": record["id"]})})
    save_file(
        run.model.state_dict(), path, {META_KEY: json.dumps(record), MODEL_KEY: json.dumps(describe(run))}
    )


def describe(run: _TextRun) -> dict[str, Any]:
    """What rebuilds the model: its kind, sizes and vocabulary."""
    sizes = GPT_SIZES if run.config.model == "gpt" else LSTM_SIZES
    return {"model": run.config.model, "sizes": sizes, "vocab": run.corpus.vocab.chars}


def read_model(path: str | Path) -> tuple[Module, CharVocab]:
    """The language model saved in ``path`` by ``compgraph train --data shakespeare``, and its
    vocabulary; a ValueError naming the file when it holds no such model."""
    tensors, metadata = load_file(path)
    try:
        info = json.loads(metadata[MODEL_KEY])
        kind, sizes, chars = info["model"], dict(info["sizes"]), info["vocab"]
        if kind not in ("gpt", "lstm") or not isinstance(chars, str) or not chars:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"{path} holds no language model saved by compgraph train --data shakespeare (its "
            f"{MODEL_KEY} metadata is missing or damaged)"
        ) from None
    vocab = CharVocab(chars)
    model = (CharGPT if kind == "gpt" else CharLSTM)(len(vocab), **sizes, rng=0)
    model.load_state_dict(tensors, source=str(path))
    return model.eval(), vocab


def sample(
    path: str | Path,
    prompt: str = "\n",
    tokens: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """``prompt`` and ``tokens`` characters generated after it by the model saved in ``path``."""
    model, vocab = read_model(path)
    missing = sorted(set(prompt) - set(vocab.chars))
    if missing:
        raise ValueError(f"sample: the prompt has characters the model never saw: {''.join(missing)!r}")
    if not prompt:
        raise ValueError(
            "sample: the prompt is empty; give at least one character (the default is a newline)"
        )
    idx = vocab.encode(prompt)[None, :]
    out = model.generate(idx, tokens, temperature=temperature, top_k=top_k, rng=seed)
    return vocab.decode(out[0])
