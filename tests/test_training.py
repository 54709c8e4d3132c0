"""The training loop behind `compgraph train`: recipes, outputs, Ctrl-C, exact resume, errors."""

import importlib.util
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

import compgraph.nn as nn
from compgraph.optim import Adam
from compgraph.training import TrainConfig, optimizer_state_path, read_checkpoint, train

needs_io = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None, reason="needs safetensors: pip install 'compgraph[io]'"
)
ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("COMPGRAPH_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")


def _run(config=None, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    result = train(config or TrainConfig(**kwargs), out=out, err=err)
    return result, out.getvalue(), err.getvalue()


def test_the_default_run_learns_the_spiral(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, out, _ = _run(TrainConfig(save=None, plot=None, progress=False))
    cfg = result.config
    assert (cfg.data, cfg.model, cfg.hidden, cfg.optimizer, cfg.epochs) == (
        "spiral",
        "mlp",
        (64, 64),
        "adam",
        20,
    )
    assert result.train_accuracy >= 0.97
    assert result.test_accuracy >= 0.95
    assert f"test accuracy: {result.test_accuracy:.4f}\n" in out
    assert out.rstrip().splitlines()[-1] == f"test accuracy: {result.test_accuracy:.4f}"
    assert result.epochs_done == 20 and not result.interrupted
    assert [len(v) for v in result.history.values()] == [20] * 5
    assert result.history["train_loss"][-1] < result.history["train_loss"][0] / 5
    assert result.save_path is None and result.plot_path is None and list(tmp_path.iterdir()) == []


@needs_io
def test_the_default_run_writes_weights_and_a_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    result, out, _ = _run(TrainConfig(progress=False))
    assert "weights: spiral-mlp.safetensors\nplot: spiral-mlp.png\n" in out
    assert result.save_path == Path("spiral-mlp.safetensors")
    assert result.plot_path == Path("spiral-mlp.png")
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the saved weights are the final model and load into a fresh MLP
    model = nn.MLP((2, 64, 64, 3)).load(result.save_path)
    for name, value in result.model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)
    _, record = read_checkpoint(result.save_path)
    assert record["epoch"] == 20 and record["config"]["optimizer"] == "adam"
    assert optimizer_state_path(result.save_path).is_file()


def test_progress_shows_a_bar_per_epoch():
    pytest.importorskip("tqdm")
    _, _, err = _run(epochs=2, save=None, plot=None)
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss=" in err and "test_acc=" in err


def test_without_tqdm_progress_is_a_line_per_epoch(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tqdm" else real_find_spec(name)
    )
    _, _, err = _run(epochs=2, save=None, plot=None)
    lines = err.strip().splitlines()
    assert lines[0].startswith("epoch 1/2  loss ") and " acc " in lines[0] and "test acc" in lines[0]
    _, _, err = _run(epochs=2, save=None, plot=None, progress=False)
    assert err == ""


def _interrupt_adam_at(monkeypatch, call):
    real_step = Adam.step
    calls = {"n": 0}

    def step(self):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        real_step(self)

    monkeypatch.setattr(Adam, "step", step)


@needs_io
def test_ctrl_c_keeps_the_last_saved_epoch_and_resume_continues_exactly(tmp_path, monkeypatch):
    straight, _, _ = _run(epochs=4, save=str(tmp_path / "straight.safetensors"), plot=None, progress=False)

    path = tmp_path / "run.safetensors"
    with monkeypatch.context() as patch:
        _interrupt_adam_at(patch, 75)  # 30 steps per epoch: in the middle of epoch 3
        stopped, out, err = _run(epochs=4, save=str(path), plot=None, progress=False)
    assert stopped.interrupted and stopped.epochs_done == 2
    assert "interrupted during epoch 3; the weights of epoch 2 are in" in err
    assert out.rstrip().splitlines()[-1].startswith("test accuracy: ")
    tensors, record = read_checkpoint(path)
    assert record["epoch"] == 2 and len(record["history"]["train_loss"]) == 2
    for name, value in stopped.model.state_dict().items():  # the model went back to what was saved
        np.testing.assert_array_equal(tensors[name], value)
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []

    resumed, _, err = _run(resume=str(path), plot=None, progress=False)
    assert "resuming" in err and resumed.epochs_done == 4 and resumed.save_path == path
    assert resumed.config.epochs == 4 and resumed.config.lr == 0.01
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value)
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    assert read_checkpoint(path)[1]["epoch"] == 4


@needs_io
def test_resume_can_extend_training_and_says_when_there_is_nothing_left(tmp_path):
    path = str(tmp_path / "run.safetensors")
    _run(epochs=2, save=path, plot=None, progress=False)
    done, out, err = _run(resume=path, plot=None, progress=False)
    assert done.epochs_done == 2 and "already been trained for 2 epochs" in err
    assert "test accuracy: " in out
    longer, _, _ = _run(resume=path, epochs=3, plot=None, progress=False)
    assert longer.epochs_done == 3 and len(longer.history["train_acc"]) == 3


@needs_io
def test_resume_without_the_optimizer_state_starts_the_optimizer_afresh(tmp_path):
    path = tmp_path / "run.safetensors"
    _run(epochs=1, save=str(path), plot=None, progress=False)
    optimizer_state_path(path).unlink()
    result, _, err = _run(resume=str(path), epochs=2, plot=None, progress=False)
    assert "no optimizer state at" in err and any("afresh" in n for n in result.notes)
    assert result.epochs_done == 2


@needs_io
def test_a_stale_optimizer_state_is_not_used(tmp_path):
    path = tmp_path / "run.safetensors"
    _run(epochs=1, save=str(path), plot=None, progress=False)
    stale = optimizer_state_path(path).read_bytes()
    _run(resume=str(path), epochs=2, plot=None, progress=False)
    optimizer_state_path(path).write_bytes(stale)  # as if a crash came between the two writes
    _, _, err = _run(resume=str(path), epochs=3, plot=None, progress=False)
    assert "belongs to another save of the weights" in err


@needs_io
def test_resume_needs_a_training_record_and_the_same_setup(tmp_path):
    plain = tmp_path / "plain.safetensors"
    nn.MLP((2, 64, 64, 3)).save(plain)
    with pytest.raises(ValueError, match=r"no training record.*model\.load\(path\)"):
        _run(resume=str(plain))
    path = str(tmp_path / "run.safetensors")
    _run(epochs=1, save=path, plot=None, progress=False)
    with pytest.raises(ValueError, match="trained with hidden=\\[64, 64\\], not \\(32,\\)"):
        _run(resume=path, hidden=(32,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": "cifar"}, ValueError, "unknown data 'cifar'; choose one of spiral, mnist"),
        ({"model": "cnn"}, ValueError, "the cnn model needs image data"),
        ({"model": "rnn"}, ValueError, "unknown model 'rnn'"),
        ({"epochs": 0}, ValueError, "epochs must be a positive int, got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive int"),
        ({"lr": -0.1}, ValueError, "lr must be a positive number, got -0.1"),
        ({"optimizer": "lbfgs"}, ValueError, "unknown optimizer 'lbfgs'; choose one of sgd, momentum"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
        ({"hidden": (16, 0)}, ValueError, "hidden size must be a positive int, got 0"),
        ({"mnist_split": "half"}, ValueError, "unknown mnist_split 'half'"),
        pytest.param(
            {"save": "no/such/dir/w.safetensors"},
            FileNotFoundError,
            r"directory no/such/dir does not exist",
            marks=needs_io,
        ),
    ],
)
def test_bad_configs_are_refused_before_training(kwargs, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        _run(TrainConfig(**{"plot": None, **kwargs}))


def test_missing_optional_packages_skip_automatic_outputs_but_refuse_explicit_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name in ("matplotlib", "safetensors") else real_find_spec(name),
    )
    result, _, err = _run(epochs=1, progress=False)
    assert result.save_path is None and result.plot_path is None
    assert "weights not written: safetensors is not installed (pip install 'compgraph[io]')" in err
    assert "pip install 'compgraph[plot]'" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ImportError, match=r"writing the plot to p\.png needs matplotlib"):
        _run(epochs=1, save=None, plot="p.png")


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_optimizer_name_trains(name):
    lr = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.1}.get(name, 0.01)
    result, _, _ = _run(optimizer=name, lr=lr, epochs=3, save=None, plot=None, progress=False)
    loss = result.history["train_loss"]
    assert loss[-1] < loss[0] and result.config.optimizer == name


def test_on_epoch_is_told_of_each_epoch():
    seen = []
    _ = train(
        TrainConfig(epochs=3, save=None, plot=None, progress=False),
        out=io.StringIO(),
        err=io.StringIO(),
        on_epoch=lambda epoch, history: seen.append((epoch, len(history["test_acc"]))),
    )
    assert seen == [(1, 1), (2, 2), (3, 3)]


def _fake_mnist(root, prefix, n, seed):
    import gzip
    import struct

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):  # digit d: a bright band on rows 2d to 2d + 3
        images[i, 2 * label : 2 * label + 4] = 255
    root.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        (root / f"{prefix}-{kind}.gz").write_bytes(gzip.compress(header + array.tobytes()))


def test_mnist_uses_the_full_sets_when_the_train_files_are_there(tmp_path):
    _fake_mnist(tmp_path, "train", 500, 0)
    _fake_mnist(tmp_path, "t10k", 100, 1)
    result, _, err = _run(
        data="mnist", data_dir=str(tmp_path), epochs=4, download=False, save=None, plot=None, progress=False
    )
    assert "t10k digits" not in err
    assert result.config.batch_size == 100 and result.config.optimizer == "sgd"  # the MLP recipe
    assert result.test_accuracy > 0.9  # the fake digits are easy


def test_mnist_without_files_or_download_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass download=True"):
        _run(data="mnist", data_dir=str(tmp_path), download=False, save=None, plot=None)


@needs_io
def test_the_cnn_trains_through_the_loop(tmp_path):
    _fake_mnist(tmp_path, "t10k", 300, 0)
    result, out, err = _run(
        data="mnist",
        data_dir=str(tmp_path),
        model="cnn",
        epochs=1,
        save=str(tmp_path / "cnn.safetensors"),
        plot=None,
        progress=False,
    )
    assert "the 300 t10k digits" in err and "first 240 train, last 60 test" in err  # no train files
    assert result.config.optimizer == "adam" and result.config.lr == 0.001
    assert f"test accuracy: {result.test_accuracy:.4f}" in out
    nn.SimpleConvNet().load(result.save_path)


def test_mnist_t10k_split_on_the_real_digits():
    if not (SHARED / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found in {SHARED}")
    result, _, err = _run(data="mnist", data_dir=str(SHARED), epochs=1, save=None, plot=None, progress=False)
    assert "the 10,000 t10k digits" in err and "first 8,000 train, last 2,000 test" in err
    assert result.test_accuracy > 0.85


@pytest.mark.parametrize("n", [0, 1])
def test_a_t10k_split_of_fewer_than_2_digits_is_a_value_error(tmp_path, n):
    _fake_mnist(tmp_path, "t10k", n, 0)
    message = (
        "train: the t10k split needs at least 2 digits (80% to train on, 20% to test on), but "
        f"the t10k files in {tmp_path} hold {n}"
    )
    with pytest.raises(ValueError) as info:
        _run(data="mnist", data_dir=str(tmp_path), download=False, save=None, plot=None, progress=False)
    assert str(info.value) == message


def test_a_t10k_split_of_2_digits_trains_on_one_and_tests_on_the_other(tmp_path):
    _fake_mnist(tmp_path, "t10k", 2, 0)
    result, _, err = _run(
        data="mnist", data_dir=str(tmp_path), epochs=2, download=False, save=None, plot=None, progress=False
    )
    assert "the 2 t10k digits" in err and "first 1 train, last 1 test" in err
    assert result.test_accuracy in (0.0, 1.0) and all(np.isfinite(result.history["test_loss"]))


@pytest.mark.parametrize("empty", ["train", "t10k"])
def test_full_mnist_files_of_no_digits_are_a_value_error(tmp_path, empty):
    _fake_mnist(tmp_path, "train", 0 if empty == "train" else 20, 0)
    _fake_mnist(tmp_path, "t10k", 0 if empty == "t10k" else 20, 1)
    with pytest.raises(ValueError, match=rf"^train: the MNIST {empty} files in .* hold no digits"):
        _run(data="mnist", data_dir=str(tmp_path), download=False, save=None, plot=None, progress=False)


def test_evaluate_refuses_an_empty_dataset():
    from compgraph.data import ArrayDataset
    from compgraph.training import evaluate

    empty = ArrayDataset(np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="the dataset is empty"):
        evaluate(nn.MLP((2, 4, 3)), empty)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A checkpoint of one epoch: its weights and its run record, to forge bad records from."""
    path = tmp_path_factory.mktemp("run") / "run.safetensors"
    _run(epochs=1, hidden=(4,), save=str(path), plot=None, progress=False)
    tensors, metadata = nn.load_file(path)
    return tensors, json.loads(metadata["compgraph.train"])


def _without(record, *keys):
    return {k: v for k, v in record.items() if k not in keys}


FORGED = [
    ("not json", lambda r: "{oops", "is not valid JSON (Expecting property name"),
    ("a list", lambda r: "[1, 2]", "is an array, not an object"),
    ("a number", lambda r: "3", "is a number, not an object"),
    ("null", lambda r: "null", "is null, not an object"),
    ("no epoch", lambda r: _without(r, "epoch"), "lacks epoch;"),
    ("no history", lambda r: _without(r, "history"), "lacks history;"),
    ("no epoch, id", lambda r: _without(r, "epoch", "id"), "lacks epoch, id;"),
    ("epoch str", lambda r: {**r, "epoch": "1"}, "has epoch '1', not a count of epochs"),
    ("epoch bool", lambda r: {**r, "epoch": True}, "has epoch True, not a count of epochs"),
    ("epoch < 0", lambda r: {**r, "epoch": -1}, "has epoch -1, not a count of epochs"),
    ("config list", lambda r: {**r, "config": [1]}, "has config [1], not an object of settings"),
    ("id number", lambda r: {**r, "id": 7}, "has id 7, not a string"),
    ("history list", lambda r: {**r, "history": [1]}, "has history [1], not an object of per-epoch curves"),
    (
        "history short",
        lambda r: {**r, "history": {**r["history"], "test_acc": []}},
        "has history['test_acc'] = [], not a list of numbers, one per epoch done (1)",
    ),
    (
        "history text",
        lambda r: {**r, "history": {**r["history"], "train_loss": ["0.5"]}},
        "has history['train_loss'] = ['0.5'], not a list of numbers",
    ),
    (
        "history missing a curve",
        lambda r: {**r, "history": _without(r["history"], "epoch_time")},
        "has history['epoch_time'] = None",
    ),
]


@needs_io
@pytest.mark.parametrize(("forge", "problem"), [f[1:] for f in FORGED], ids=[f[0] for f in FORGED])
def test_a_bad_run_record_is_a_value_error_naming_the_file_and_the_problem(
    one_epoch_run, tmp_path, forge, problem
):
    tensors, record = one_epoch_run
    forged = forge(record)
    path = tmp_path / "forged.safetensors"
    nn.save_file(
        tensors, path, {"compgraph.train": forged if isinstance(forged, str) else json.dumps(forged)}
    )
    with pytest.raises(ValueError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"cannot resume {path}: its training record (compgraph.train metadata) ")
    assert problem in message and "\n" not in message
    with pytest.raises(ValueError, match=f"^cannot resume {path}"):
        _run(resume=str(path), epochs=2, save=None, plot=None, progress=False)


@needs_io
@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"lr": -1}, "lr must be a positive number, got -1"),
        ({"hidden": "x"}, "hidden size must be a positive int"),
    ],
)
def test_a_run_record_with_bad_settings_is_a_value_error_naming_the_file(
    one_epoch_run, tmp_path, setting, problem
):
    tensors, record = one_epoch_run
    path = tmp_path / "forged.safetensors"
    nn.save_file(
        tensors, path, {"compgraph.train": json.dumps({**record, "config": {**record["config"], **setting}})}
    )
    with pytest.raises(ValueError) as info:
        _run(resume=str(path), epochs=2, save=None, plot=None, progress=False)
    assert str(info.value).startswith(
        f"train: cannot resume {path}: the settings it was saved with are invalid ("
    )
    assert problem in str(info.value)


@needs_io
@pytest.mark.parametrize("record", ["{oops", "[1]", "null"])
def test_an_unreadable_optimizer_record_starts_the_optimizer_afresh(tmp_path, record):
    path = tmp_path / "run.safetensors"
    _run(epochs=1, hidden=(4,), save=str(path), plot=None, progress=False)
    state = optimizer_state_path(path)
    tensors, _ = nn.load_file(state)
    nn.save_file(tensors, state, {"compgraph.train": record})
    result, _, err = _run(resume=str(path), epochs=2, plot=None, progress=False)
    assert (
        f"note: {state} has no readable record of the weights it belongs to; the optimizer starts afresh"
        in err
    )
    assert result.epochs_done == 2


@needs_io
@pytest.mark.parametrize("kind", ["save", "plot"])
def test_an_output_path_that_is_a_directory_is_refused_before_training(tmp_path, kind):
    (tmp_path / "out").mkdir()
    kwargs = {"save": None, "plot": None, kind: str(tmp_path / "out")}
    what = "weights" if kind == "save" else "plot"
    with pytest.raises(
        ValueError, match=f"^cannot write the {what} to {tmp_path / 'out'}: it is a directory"
    ):
        _run(epochs=1, progress=False, **kwargs)
    assert os.listdir(tmp_path / "out") == []


def test_dtype_builds_the_model_and_converts_the_data(tmp_path):
    result, _, _ = _run(epochs=1, dtype="float64", save=None, plot=None, progress=False)
    assert result.config.dtype == "float64"
    assert {p.dtype.name for p in result.model.parameters()} == {"float64"}
    default, _, _ = _run(epochs=1, save=None, plot=None, progress=False)
    assert default.config.dtype == "float32"
    assert {p.dtype.name for p in default.model.parameters()} == {"float32"}
    with pytest.raises(ValueError, match="dtype"):
        _run(epochs=1, dtype="int8", save=None, plot=None, progress=False)


@needs_io
def test_resuming_in_another_dtype_is_refused(tmp_path):
    path = str(tmp_path / "w.safetensors")
    _run(epochs=1, save=path, plot=None, progress=False)
    with pytest.raises(ValueError, match="trained with dtype='float32', not 'float64'"):
        _run(resume=path, epochs=2, dtype="float64", plot=None, progress=False)
    result, _, _ = _run(resume=path, epochs=2, plot=None, progress=False)  # the saved dtype by default
    assert result.config.dtype == "float32" and result.epochs_done == 2


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_compiled_steps_train_to_the_same_weights_as_eager_ones(model, tmp_path):
    if model == "cnn":
        _fake_mnist(tmp_path, "t10k", 130, 0)  # batches of 100 and 4: two traces
        kw = {"data": "mnist", "data_dir": str(tmp_path), "model": "cnn", "hidden": (16,), "download": False}
        kw["epochs"] = 1
    else:
        kw = {"epochs": 3}
    runs = [
        _run(**kw, dtype="float64", compile=c, save=None, plot=None, progress=False)[0]
        for c in (False, True)
    ]
    eager, compiled = (r.model.state_dict() for r in runs)
    assert eager.keys() == compiled.keys()
    for name in eager:
        np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert runs[1].history["train_loss"] == pytest.approx(runs[0].history["train_loss"], rel=1e-10)
    assert runs[1].test_accuracy == runs[0].test_accuracy


def test_compile_is_not_kept_by_a_checkpoint(tmp_path):
    path = tmp_path / "w.safetensors"
    _run(epochs=1, compile=True, save=str(path), plot=None, progress=False)
    assert "compile" not in read_checkpoint(path)[1]["config"]
