"""What ``compgraph train`` trains: TrainConfig, the built-in recipes, and resolving a config.

A TrainConfig names the data, the model, the optimizer and the hyperparameters. ``resolve``
fills every field left None from the settings of the checkpoint being resumed, else from the
recipe of the (data, model) pair; checks every value (a bad one is a ValueError, raised before
any data is loaded); and names the "auto" outputs. ``recorded_settings`` is what a checkpoint
keeps of a config. A new recipe is a name in DATASETS or MODELS, its defaults in RECIPES, and
its data or model in ``build.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compgraph._checks import (
    non_negative_int,
    one_of,
    positive_int,
    positive_number,
    wrong_kind_as_value_error,
)
from compgraph.optim import SGD, AdaGrad, Adam, AdamW, Optimizer, RMSProp

#: "auto": ``save`` and ``plot`` name their file after the run (``<data>-<model>.safetensors``,
#: ``<data>-<model>.png``); ``mnist_split`` picks the split from the files there.
AUTO = "auto"
#: The data ``compgraph train --data`` knows: generated spirals, MNIST, Tiny Shakespeare.
DATASETS = ("spiral", "mnist", "shakespeare")
#: The models ``--model`` knows: an MLP and the book's CNN (spiral, MNIST), a GPT and an LSTM (text).
MODELS = ("mlp", "cnn", "gpt", "lstm")
#: The data trained on for a number of steps (a language model), not epochs.
TEXT_DATASETS = ("shakespeare",)
#: ``--optimizer``'s names, each a callable ``(params, lr) -> Optimizer``.
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": lambda params, lr: SGD(params, lr, momentum=0.9),
    "nesterov": lambda params, lr: SGD(params, lr, momentum=0.9, nesterov=True),
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}
#: The defaults for each (data, model): the issue's MNIST recipes, and a spiral MLP that
#: reaches 98-99% in well under a second.
RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("spiral", "mlp"): {"hidden": (64, 64), "optimizer": "adam", "lr": 0.01, "batch_size": 30, "epochs": 20},
    ("mnist", "mlp"): {"hidden": (100,), "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "epochs": 20},
    ("mnist", "cnn"): {"hidden": (100,), "optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 10},
    # nanoGPT's CPU configuration for Tiny Shakespeare (the sizes are in training/text.py)
    ("shakespeare", "gpt"): {"hidden": (), "optimizer": "adamw", "lr": 1e-3, "batch_size": 12, "steps": 2000},
    ("shakespeare", "lstm"): {"hidden": (), "optimizer": "adamw", "lr": 2e-3, "batch_size": 32,
                                 "steps": 2000},
}
#: Which MNIST files a run uses: "full" (60,000 train / 10,000 test), "t10k" (the 10,000 test
#: digits split 8,000 / 2,000), or "auto" (full when the train files are there, else t10k).
MNIST_SPLITS = ("auto", "full", "t10k")
#: The floating-point types a model can be trained in (its parameters, and the data converted).
DTYPES = ("float32", "float64")
#: Fields that say where a run's outputs go, whether it shows progress and whether its steps
#: are compiled: a checkpoint does not keep them, and a resumed run does not take them from it.
OUTPUT_FIELDS = ("save", "plot", "resume", "progress", "compile")
#: The settings that fix the weights' shapes: a resumed run must keep them.
_ARCHITECTURE = ("data", "model", "hidden", "dtype")


@dataclass
class TrainConfig:
    """What to train. Fields left None take the recipe's default (see RECIPES), or, when
    resuming, the value the checkpoint was trained with.

    - ``data``: "spiral" (generated, the default) or "mnist"; ``data_dir`` holds the MNIST
      IDX files (default: the download cache). ``mnist_split``: "full" (60,000 train /
      10,000 test), "t10k" (the 10,000 test digits: first 8,000 train, last 2,000 test; 80/20 in general), or
      "auto": full when the train files are there, else t10k. ``download``: fetch missing files.
    - ``model``: "mlp" (``hidden`` sizes) or "cnn" (the book's SimpleConvNet, MNIST only).
    - ``data="shakespeare"`` (``data_dir`` holds ``input.txt``) with ``model`` "gpt" (nanoGPT's
      character-level GPT) or "lstm" trains for ``steps`` steps (the total, also when
      resuming) instead of epochs; see ``compgraph.training.text``.
    - ``epochs`` (the total, also when resuming), ``batch_size``, ``lr``, ``optimizer`` (a
      key of OPTIMIZERS), ``seed`` (weights and batch order; default 0), ``dtype``
      ("float32", the default, or "float64": the parameters' type; the data is converted).
    - ``save``: weights file ("auto": ``<data>-<model>.safetensors``; None: don't save),
      written at the end of every epoch; ``plot``: PNG of the curves ("auto":
      ``<data>-<model>.png``; None: no plot). With "auto", a missing optional package
      (safetensors, matplotlib) only skips that output with a note.
    - ``resume``: a weights file saved by an earlier run; training continues from it (and
      saves back to it unless ``save`` names another file).
    - ``compile``: run each training step's forward and backward through ``cg.compile``
      (traced on the first batch of each shape, replayed after); the same losses and weights
      as eager up to rounding. Off by default (docs/performance.md says when it pays).
    """

    data: str | None = None
    data_dir: str | None = None
    model: str | None = None
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    seed: int | None = None
    dtype: str | None = None
    save: str | None = AUTO
    plot: str | None = AUTO
    resume: str | None = None
    mnist_split: str | None = None
    download: bool = True
    progress: bool = True
    compile: bool = False


def resolve(config: TrainConfig, saved: dict[str, Any] | None = None) -> TrainConfig:
    """A copy of ``config`` ready to train: every None filled from ``saved`` (the settings of
    the checkpoint being resumed) or the recipe, every value checked, "auto" outputs named.

    >>> resolve(TrainConfig(epochs=5)).hidden, resolve(TrainConfig(epochs=5)).save
    ((64, 64), 'spiral-mlp.safetensors')
    """
    values = dataclasses.asdict(config)
    if saved is not None:
        _check_saved(saved, config.resume)
        _take_saved(values, saved, config.resume)
    _take_recipe(values)
    with wrong_kind_as_value_error():  # a setting of the wrong kind is a bad setting like any other
        _check(values)
    _name_outputs(values, config.resume)
    return TrainConfig(**values)


def recorded_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint keeps, to be resumed with (not where outputs go)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in OUTPUT_FIELDS}


def _check_saved(saved: dict[str, Any], resume: str | None) -> None:
    """A ValueError naming the checkpoint when its own settings do not make a valid config."""
    values = dataclasses.asdict(TrainConfig(save=None, plot=None))
    _take_saved(values, saved, resume)
    try:
        _take_recipe(values)
        with wrong_kind_as_value_error():
            _check(values)
    except ValueError as exc:
        raise ValueError(
            f"train: cannot resume {resume}: the settings it was saved with are invalid "
            f"({str(exc).removeprefix('train: ')}); the file is damaged or was not written by "
            "compgraph train"
        ) from exc


def _take_saved(values: dict[str, Any], saved: dict[str, Any], resume: str | None) -> None:
    """Fill the unset fields from a checkpoint's settings; refuse another architecture."""
    for key in _ARCHITECTURE:
        if values[key] is not None and saved.get(key) is not None and not _same(values[key], saved[key]):
            raise ValueError(
                f"train: cannot resume {resume}: it was trained with {key}={saved[key]!r}, "
                f"not {values[key]!r}"
            )
    for key, value in saved.items():
        if key in values and values[key] is None and key not in OUTPUT_FIELDS:
            values[key] = value


def _same(a: Any, b: Any) -> bool:
    return (tuple(a) == tuple(b)) if isinstance(a, (list, tuple)) else a == b


def _take_recipe(values: dict[str, Any]) -> None:
    """Fill the unset fields from the recipe of the (data, model) pair: spiral and MLP by
    default, and the GPT for text."""
    data = values["data"] = one_of("train", "data", values["data"] or "spiral", DATASETS)
    default_model = "gpt" if data in TEXT_DATASETS else "mlp"
    model = values["model"] = one_of("train", "model", values["model"] or default_model, MODELS)
    if (data, model) not in RECIPES:
        raise ValueError(_no_recipe(data, model))
    for key, default in RECIPES[data, model].items():
        if values[key] is None:
            values[key] = default
    values["seed"] = 0 if values["seed"] is None else values["seed"]
    values["mnist_split"] = values["mnist_split"] or AUTO
    values["dtype"] = values["dtype"] or "float32"


def _check(values: dict[str, Any]) -> None:
    """Every setting of the right kind and in range, stored as the plain value it stands for."""
    hidden = values["hidden"]
    sizes = (hidden,) if np.ndim(hidden) == 0 else hidden
    values["hidden"] = tuple(positive_int("train", "hidden size", h) for h in sizes)
    text = values["data"] in TEXT_DATASETS
    counted, other = ("steps", "epochs") if text else ("epochs", "steps")
    if values[other] is not None:
        raise ValueError(
            f"train: {values['data']} data trains for a number of {counted}, not {other}: "
            f"set {counted} instead of {other}={values[other]!r}"
        )
    values[counted] = positive_int("train", counted, values[counted])
    values["batch_size"] = positive_int("train", "batch_size", values["batch_size"])
    values["lr"] = positive_number("train", "lr", values["lr"])
    one_of("train", "optimizer", values["optimizer"], OPTIMIZERS)
    values["seed"] = non_negative_int("train", "seed", values["seed"])
    one_of("train", "mnist_split", values["mnist_split"], MNIST_SPLITS)
    one_of("train", "dtype", values["dtype"], DTYPES)


def _no_recipe(data: str, model: str) -> str:
    if model in ("gpt", "lstm"):
        return f"train: the {model} model is a language model: use data='shakespeare' with it"
    if data in TEXT_DATASETS:
        return f"train: {data} is text: train model='gpt' or model='lstm' on it"
    return f"train: the {model} model needs image data: use data='mnist' with model='cnn'"


def _name_outputs(values: dict[str, Any], resume: str | None) -> None:
    """The "auto" outputs: the weights go back to the resumed file, else ``<data>-<model>.*``."""
    stem = f"{values['data']}-{values['model']}"
    if values["save"] == AUTO:
        values["save"] = resume or f"{stem}.safetensors"
    if values["plot"] == AUTO:
        values["plot"] = f"{stem}.png"
