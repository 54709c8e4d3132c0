"""The checkpoint format behind ``--resume``: weights, optimizer state and the run's record.

A checkpoint is two safetensors files, both rewritten (atomically) at the end of every epoch:

- the weights, e.g. ``run.safetensors``: the model's state dict, which ``model.load(path)``
  reads like any weights file. Its metadata key ``compgraph.train`` holds the run record as
  JSON: ``{"epoch": epochs done, "config": the settings (see config.recorded_settings),
  "history": the per-epoch curves, "id": a new hex id}``.
- the optimizer state beside it, ``run.optim.safetensors``, whose ``compgraph.train``
  metadata is ``{"id": ...}``: the same id as the weights it was saved with.

The optimizer state is written first, so a crash between the two writes leaves new optimizer
state beside old weights; their ids differ, and a resume then starts the optimizer afresh.
"""

from __future__ import annotations

import json
import reprlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from compgraph.nn import Module, load_file, save_file
from compgraph.optim import Optimizer

META_KEY = "compgraph.train"
#: The fields of a run record, and the curves of its history (one number per epoch each).
RECORD_KEYS = ("epoch", "config", "history", "id")
HISTORY_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc", "epoch_time")
#: What json.loads made of a record that is not an object, in JSON's words.
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def optimizer_state_path(weights: str | Path) -> Path:
    """Where a weights file's optimizer state goes: ``run.safetensors`` -> ``run.optim.safetensors``."""
    weights = Path(weights)
    return weights.with_name(f"{weights.stem}.optim{weights.suffix}")


def save_checkpoint(
    path: Path,
    model: Module,
    optimizer: Optimizer,
    settings: Mapping[str, Any],
    epoch: int,
    history: Mapping[str, list[float]],
) -> None:
    """Weights to ``path``, optimizer state beside it; a shared id tells that they belong together."""
    run = {"epoch": epoch, "config": dict(settings), "history": dict(history), "id": uuid.uuid4().hex}
    save_file(optimizer.state_dict(), optimizer_state_path(path), {META_KEY: json.dumps({"id": run["id"]})})
    save_file(model.state_dict(), path, {META_KEY: json.dumps(run)})


def read_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The weights of a file saved by ``train`` and its run record (epoch, config, history, id).

    A record that is not what ``save_checkpoint`` writes is a ValueError naming the file.
    """
    tensors, metadata = load_file(path)
    if META_KEY not in metadata:
        raise ValueError(
            f"{path} holds weights but no training record, so there is nothing to resume; load it "
            "with model.load(path) instead"
        )
    return tensors, _check_record(metadata[META_KEY], path)


def _check_record(text: str, path: str | Path) -> dict[str, Any]:
    """The run record of a checkpoint, parsed from JSON and checked field by field."""

    def bad(problem: str) -> ValueError:
        return ValueError(
            f"cannot resume {path}: its training record ({META_KEY} metadata) {problem}; the file is "
            "damaged or was not written by compgraph train (model.load(path) still reads its weights)"
        )

    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise bad(f"is {_JSON_KINDS.get(type(record), 'not an object')}, not an object")
    if record.get("kind") == "text":
        return _check_text_record(record, bad)
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise bad(f"lacks {', '.join(missing)}")
    epoch = record["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise bad(f"has epoch {epoch!r}, not a count of epochs (an int >= 0)")
    if not isinstance(record["config"], dict):
        raise bad(f"has config {record['config']!r}, not an object of settings")
    if not isinstance(record["id"], str):
        raise bad(f"has id {record['id']!r}, not a string")
    history = record["history"]
    if not isinstance(history, dict):
        raise bad(f"has history {history!r}, not an object of per-epoch curves")
    for key in HISTORY_KEYS:
        values = history.get(key)
        numbers = isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not numbers or len(values) != epoch:
            got = reprlib.repr(values)
            raise bad(f"has history[{key!r}] = {got}, not a list of numbers, one per epoch done ({epoch})")
    return record


def _check_text_record(record: dict[str, Any], bad: Any) -> dict[str, Any]:
    """A language model's run record (``compgraph.training.text``), checked field by field."""
    from compgraph.training.text import TEXT_HISTORY_KEYS

    missing = [key for key in ("step", "config", "history", "vocab", "id") if key not in record]
    if missing:
        raise bad(f"lacks {', '.join(missing)}")
    step = record["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise bad(f"has step {step!r}, not a count of steps (an int >= 0)")
    if not isinstance(record["config"], dict) or not isinstance(record["id"], str):
        raise bad("has a config that is not an object or an id that is not a string")
    if not isinstance(record["vocab"], str) or not record["vocab"]:
        raise bad(f"has vocab {reprlib.repr(record['vocab'])}, not the string of its characters")
    history = record["history"]
    lengths = {len(history.get(key, ())) if isinstance(history, dict) else -1 for key in TEXT_HISTORY_KEYS}
    if (
        not isinstance(history, dict)
        or len(lengths) != 1
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for key in TEXT_HISTORY_KEYS
            for v in history[key]
        )
    ):
        raise bad(
            f"has history {reprlib.repr(history)}, not lists of numbers of one length "
            f"({', '.join(TEXT_HISTORY_KEYS)})"
        )
    return record


def read_optimizer_state(
    weights_path: str | Path, run_id: str
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The optimizer state saved with the weights (with any schedule or carried state saved in
    the same file), or None and a note saying why the optimizer starts afresh."""
    path = optimizer_state_path(weights_path)
    if not path.is_file():
        return None, f"no optimizer state at {path}; the optimizer starts afresh"
    tensors, metadata = load_file(path)
    try:
        record = json.loads(metadata.get(META_KEY, "{}"))
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        unreadable = f"{path} has no readable record of the weights it belongs to"
        return None, f"{unreadable}; the optimizer starts afresh"
    if record.get("id") != run_id:
        return None, f"{path} belongs to another save of the weights; the optimizer starts afresh"
    return tensors, None


def restore_optimizer(optimizer: Optimizer, weights_path: Path, run_id: str) -> str | None:
    """Load the optimizer state saved with the weights; a note when it is missing or stale."""
    state, note = read_optimizer_state(weights_path, run_id)
    if state is not None:
        optimizer.load_state_dict(state)
    return note
