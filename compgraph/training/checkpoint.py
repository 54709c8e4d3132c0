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
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from compgraph.nn import Module, load_file, save_file
from compgraph.optim import Optimizer

META_KEY = "compgraph.train"


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
    """The weights of a file saved by ``train`` and its run record (epoch, config, history, id)."""
    tensors, metadata = load_file(path)
    if META_KEY not in metadata:
        raise ValueError(
            f"{path} holds weights but no training record, so there is nothing to resume; load it "
            "with model.load(path) instead"
        )
    return tensors, json.loads(metadata[META_KEY])


def restore_optimizer(optimizer: Optimizer, weights_path: Path, run_id: str) -> str | None:
    """Load the optimizer state saved with the weights; a note when it is missing or stale."""
    path = optimizer_state_path(weights_path)
    if not path.is_file():
        return f"no optimizer state at {path}; the optimizer starts afresh"
    tensors, metadata = load_file(path)
    if json.loads(metadata.get(META_KEY, "{}")).get("id") != run_id:
        return f"{path} belongs to another save of the weights; the optimizer starts afresh"
    optimizer.load_state_dict(tensors)
    return None
