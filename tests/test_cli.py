"""The `compgraph` command: grad's results, its files, and its answers to bad input."""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import compgraph.nn as nn
from compgraph import cli
from compgraph.cli import main
from tests.viz.conftest import APPLE_ORANGE_EDGES, builtin_edge_labels

ROOT = Path(__file__).resolve().parent.parent

APPLE_ORANGE_OUTPUT = """\
The apple/orange example (Deep Learning from Scratch, ch. 5):
price = (apple * apple_num + orange * orange_num) * tax
with apple = 100, apple_num = 2, orange = 150, orange_num = 3, tax = 1.1

price = 715
∂price/∂apple = 2.2
∂price/∂apple_num = 110
∂price/∂orange = 3.3
∂price/∂orange_num = 165
∂price/∂tax = 650
"""


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_without_an_expression_grad_runs_the_apple_orange_example(capsys):
    assert run(capsys, "grad") == (0, APPLE_ORANGE_OUTPUT, "")


def test_grad_prints_the_value_and_every_partial_derivative(capsys):
    status, out, err = run(capsys, "grad", "(x + y)**2", "x=1", "y=2")
    assert (status, out, err) == (0, "z = 9\n∂z/∂x = 6\n∂z/∂y = 6\n", "")


def test_the_output_is_named_after_a_letter_the_expression_does_not_use(capsys):
    _, out, _ = run(capsys, "grad", "z * 2", "z=3")
    assert out == "f = 6\n∂f/∂z = 2\n"


def test_numbers_print_with_12_significant_digits(capsys):
    _, out, _ = run(capsys, "grad", "exp(x)", "x=1")
    assert out == "z = 2.71828182846\n∂z/∂x = 2.71828182846\n"


def test_an_expression_may_start_with_a_minus_sign(capsys):
    assert run(capsys, "grad", "-x × 2 ÷ y", "x=1", "y=4") == (
        0,
        "z = -0.5\n∂z/∂x = -0.5\n∂z/∂y = 0.125\n",
        "",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["grad", "--steps", "(x + y)**2", "x=1", "y=2"],
        ["grad", "(x + y)**2", "--steps", "x=1", "y=2"],
        ["grad", "(x + y)**2", "x=1", "--steps", "y=2"],
        ["grad", "(x + y)**2", "x=1", "y=2", "--steps"],
    ],
)
def test_options_may_come_anywhere(capsys, argv):
    status, out, _ = run(capsys, *argv)
    assert status == 0 and out.startswith("z = 9\n∂z/∂x = 6\n∂z/∂y = 6\n\nstep")


def test_a_double_dash_ends_the_options(capsys):
    assert run(capsys, "grad", "--", "-x + 1", "x=2") == (0, "z = -1\n∂z/∂x = -1\n", "")


def test_a_value_for_an_unused_name_is_a_warning(capsys):
    status, out, err = run(capsys, "grad", "x * 2", "x=1", "w=5")
    assert status == 0 and out == "z = 2\n∂z/∂x = 2\n"
    assert err == "compgraph grad: warning: w=5 is not used by the expression\n"


def test_an_expression_without_names(capsys):
    assert run(capsys, "grad", "2 ** 10") == (0, "z = 1024\n(no names: nothing to differentiate)\n", "")


def test_nan_and_infinity_are_answered(capsys):
    status, out, err = run(capsys, "grad", "log(x) + 1/y", "x=-1", "y=0")
    assert (status, err) == (0, "")
    assert out == "z = nan\n∂z/∂x = -1\n∂z/∂y = -inf\n"


def test_nan_and_infinity_in_the_steps_and_drawings_are_not_warnings(capsys, tmp_path):
    svg, html = tmp_path / "g.svg", tmp_path / "g.html"
    argv = (
        "grad",
        "x/y",
        "x=1",
        "y=0",
        "--steps",
        "--draw",
        str(svg),
        "--html",
        str(html),
        "--engine",
        "builtin",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, out, err = run(capsys, *argv)
    assert status == 0 and "∂z/∂y = −x/y² = -inf" in out
    assert err == f"wrote {svg}\nwrote {html}\n"


def test_steps_prints_the_backward_pass(capsys):
    status, out, _ = run(capsys, "grad", "(x + y)**2", "x=1", "y=2", "--steps")
    assert status == 0
    assert "∂z/∂t = 1 × 6 = 6" in out and "∂z/∂x = 2(x + y) = 6" in out


def test_draw_and_html_write_their_files(capsys, tmp_path):
    svg, html = tmp_path / "ao.svg", tmp_path / "ao.html"
    status, out, err = run(capsys, "grad", "--draw", str(svg), "--html", str(html), "--engine", "builtin")
    assert status == 0 and out == APPLE_ORANGE_OUTPUT
    assert err == f"wrote {svg}\nwrote {html}\n"
    assert builtin_edge_labels(svg.read_text()) == APPLE_ORANGE_EDGES
    assert "∂price/∂tax = apple·apple_num + orange·orange_num = 650" in html.read_text()


def test_a_file_that_cannot_be_written_fails_after_printing_the_results(capsys, tmp_path):
    status, out, err = run(capsys, "grad", "x*2", "x=1", "--draw", str(tmp_path / "missing" / "g.svg"))
    assert status == 1 and out == "z = 2\n∂z/∂x = 2\n"
    assert err.startswith("compgraph grad: error: could not write ") and "No such file or directory" in err


def test_unknown_file_type_and_png_without_graphviz_are_usage_errors(capsys, tmp_path):
    status, _, err = run(capsys, "grad", "x", "x=1", "--draw", str(tmp_path / "g.txt"))
    assert status == 2 and "cannot tell the format" in err
    status, _, err = run(capsys, "grad", "x", "x=1", "--draw", str(tmp_path / "g.png"), "--engine", "builtin")
    assert status == 2 and "built-in layout writes SVG and HTML only" in err and "apt install graphviz" in err


HINT = "compgraph grad 'x**2' x=3)"
BAD = [
    (["grad", "x + os.system", "x=1"], "attribute access", "        ^^^^^^^^^"),
    (["grad", "__import__('os')", "x=1"], "unknown function __import__()", None),
    (["grad", "x ** 99999", "x=1"], "the exponent 99999 is too large", None),
    (["grad", "x + y", "x=1"], "no value given for y", "(give it a value, e.g. y=1)"),
    (["grad", "x", "x=abc"], "'abc' is not a number", None),
    (["grad", "x", "x"], "'x' is not name=value", None),
    (["grad", "x", "2x=1"], "'2x' is not a valid name", None),
    (["grad", "x", "x=1", "x=2"], "x is given twice", None),
    (
        ["grad", "x=3"],
        "cannot parse",
        "(that looks like a value: give the expression first, e.g. compgraph grad 'x**2' x=3)",
    ),
    (["grad", ""], "the expression is empty", None),
    (["grad", "1.2.3"], "cannot parse the expression", None),
    (["grad", "-" * 100_000 + "x", "x=1"], "nested too deeply", None),
    (["grad", "x", "x=1", "--engine", "neato"], "invalid choice: 'neato'", None),
    (["frobnicate"], "invalid choice: 'frobnicate'", None),
    (["grad", "x", "x=1", "--stpes"], "unrecognized arguments: --stpes", None),
    ([], "the following arguments are required: COMMAND", None),
]


@pytest.mark.parametrize(("argv", "message", "line"), BAD, ids=[" ".join(b[0])[:40] for b in BAD])
def test_bad_input_exits_2_with_a_message_and_no_traceback(capsys, argv, message, line):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert message in err and "Traceback" not in err
    if line is not None:
        assert line in err.splitlines()


def test_help_exits_0(capsys):
    status, out, _ = run(capsys, "grad", "--help")
    assert status == 0 and "name=value" in out and "Exit status" in out


def test_a_sum_of_50000_terms(capsys):
    status, out, _ = run(capsys, "grad", " + ".join(["x"] * 50_000), "x=2")
    assert (status, out) == (0, "z = 100000\n∂z/∂x = 50000\n")


def test_python_dash_m_compgraph_runs_the_example():
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "compgraph", "grad"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, APPLE_ORANGE_OUTPUT, "")
    done = subprocess.run(
        [sys.executable, "-m", "compgraph", "grad", "x.y", "x=1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and "attribute access" in done.stderr and "Traceback" not in done.stderr


def test_the_compgraph_console_script_when_installed():
    script = shutil.which("compgraph", path=os.path.dirname(sys.executable)) or shutil.which("compgraph")
    if script is None:
        pytest.skip("the `compgraph` console script is not installed (pip install . adds it)")
    done = subprocess.run([script, "grad"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, APPLE_ORANGE_OUTPUT)


# --- compgraph train ---------------------------------------------------------------------------
def test_train_runs_the_spiral_default_and_ends_with_the_test_accuracy(capsys, tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, "train", "--quiet", "--no-plot")
    assert status == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy: 0.") and len(last) == len("test accuracy: 0.0000")
    train_acc = float(out.split("train accuracy: ")[1].split()[0])
    assert train_acc >= 0.97
    assert (tmp_path / "spiral-mlp.safetensors").exists()


def test_train_options_reach_the_config_and_resume_continues(capsys, tmp_path):
    pytest.importorskip("safetensors")
    weights = str(tmp_path / "w.safetensors")
    argv = ("train", "--quiet", "--no-plot", "--hidden", "8", "--lr", "0.05", "--optimizer", "sgd")
    assert run(capsys, *argv, "--epochs", "1", "--save", weights)[0] == 0
    status, _, err = run(capsys, "train", "--quiet", "--no-plot", "--epochs", "2", "--resume", weights)
    assert status == 0 and "resuming" in err and "after epoch 1 of 2" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--epochs", "0"), "positive integer"),
        (("--hidden", "64,x"), "sizes like 64,64"),
        (("--data", "cifar"), "invalid choice"),
        (("--model", "cnn"), "cnn"),  # SimpleConvNet takes images: not the spiral
    ],
)
def test_train_refuses_bad_options_with_status_2(capsys, argv, message):
    status, _, err = run(capsys, "train", "--quiet", "--no-save", "--no-plot", *argv)
    assert status == 2 and message in err


def test_train_without_mnist_files_says_where_to_point(capsys, tmp_path):
    argv = (
        "train",
        "--data",
        "mnist",
        "--data-dir",
        str(tmp_path),
        "--no-download",
        "--no-save",
        "--no-plot",
    )
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")  # bad input, as a bad --data-dir: not a failure to write
    assert err == (
        f"compgraph train: error: MNIST file train-images-idx3-ubyte.gz (or train-images-idx3-ubyte) not "
        f"found in {tmp_path}; point --data-dir at the IDX files, or leave out --no-download to fetch them\n"
    )


def _mnist_files(root, prefix, n):
    """Raw IDX files of n blank digits labelled 0, as compgraph.data.read_idx reads them."""
    root.mkdir(parents=True, exist_ok=True)
    for kind, array in (
        ("images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8)),
        ("labels-idx1-ubyte", np.zeros(n, np.uint8)),
    ):
        header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        (root / f"{prefix}-{kind}").write_bytes(header + array.tobytes())
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The weights and run record of a one-epoch spiral run, to forge bad checkpoints from."""
    path = tmp_path_factory.mktemp("run") / "run.safetensors"
    assert main(["train", "--quiet", "--no-plot", "--epochs", "1", "--hidden", "4", "--save", str(path)]) == 0
    tensors, metadata = nn.load_file(path)
    return tensors, json.loads(metadata["compgraph.train"])


def _forged(tmp_path, checkpoint, change):
    tensors, record = checkpoint
    text = change(dict(record))
    path = tmp_path / "forged.safetensors"
    nn.save_file(tensors, path, {"compgraph.train": text if isinstance(text, str) else json.dumps(text)})
    return path


def _pop(record, key):
    del record[key]
    return record


def _bfloat16_file(tmp_path):
    import safetensors.torch
    import torch

    path = tmp_path / "bf16.safetensors"
    safetensors.torch.save_file({"0.W": torch.ones(2, 4, dtype=torch.bfloat16)}, str(path))
    return path


RECORD = "cannot resume {tmp}/forged.safetensors: its training record (compgraph.train metadata) "
#: (what, argv after `train` given tmp_path and the checkpoint fixture, what the one line says)
TRAIN_ERRORS = [
    (
        "mnist dir of 1 image",
        lambda tmp, _: ["--data", "mnist", "--data-dir", str(_mnist_files(tmp, "t10k", 1)), "--no-download"],
        "the t10k split needs at least 2 digits (80% to train on, 20% to test on), "
        "but the t10k files in {tmp} hold 1",
    ),
    (
        "mnist test files of 0 images",
        lambda tmp, _: [
            *("--data", "mnist", "--data-dir", str(_mnist_files(_mnist_files(tmp, "train", 3), "t10k", 0))),
            "--no-download",
        ],
        "the MNIST t10k files in {tmp} hold no digits",
    ),
    (
        "record without epoch",
        lambda tmp, ck: ["--resume", str(_forged(tmp, ck, lambda r: _pop(r, "epoch")))],
        RECORD + "lacks epoch",
    ),
    (
        "record without history",
        lambda tmp, ck: ["--resume", str(_forged(tmp, ck, lambda r: _pop(r, "history")))],
        RECORD + "lacks history",
    ),
    (
        "record not an object",
        lambda tmp, ck: ["--resume", str(_forged(tmp, ck, lambda r: "[1, 2]"))],
        RECORD + "is an array, not an object",
    ),
    (
        "record not json",
        lambda tmp, ck: ["--resume", str(_forged(tmp, ck, lambda r: "{'epoch': 1}"))],
        RECORD + "is not valid JSON",
    ),
    (
        "record of bad settings",
        lambda tmp, ck: [
            "--resume",
            str(_forged(tmp, ck, lambda r: {**r, "config": {**r["config"], "lr": 0}})),
        ],
        "cannot resume {tmp}/forged.safetensors: the settings it was saved with are invalid "
        "(lr must be a positive number, got 0)",
    ),
    (
        "resume a missing file",
        lambda tmp, _: ["--resume", str(tmp / "nope.safetensors")],
        "argument --resume: expected a weights file, got '{tmp}/nope.safetensors': no such file",
    ),
    (
        "resume a directory",
        lambda tmp, _: ["--resume", str(tmp)],
        "argument --resume: expected a weights file, got '{tmp}': a directory",
    ),
    (
        "resume a bfloat16 file",
        lambda tmp, _: ["--resume", str(_bfloat16_file(tmp))],
        "{tmp}/bf16.safetensors: tensor '0.W' has dtype BF16, which NumPy",
    ),
    (
        "save to a directory",
        lambda tmp, _: ["--save", str(tmp)],
        "cannot write the weights to {tmp}: it is a directory; name a file in it",
    ),
    (
        "epochs not a number",
        lambda tmp, _: ["--epochs", "x"],
        "argument --epochs: expected a positive integer, e.g. 10, got 'x'",
    ),
    (
        "epochs 0",
        lambda tmp, _: ["--epochs", "0"],
        "argument --epochs: expected a positive integer, e.g. 10, got '0'",
    ),
    (
        "batch size < 0",
        lambda tmp, _: ["--batch-size", "-3"],
        "argument --batch-size: expected a positive integer, e.g. 10, got '-3'",
    ),
    (
        "lr inf",
        lambda tmp, _: ["--lr", "inf"],
        "argument --lr: expected a positive finite number, e.g. 0.01, got 'inf'",
    ),
    (
        "lr not a number",
        lambda tmp, _: ["--lr", "fast"],
        "argument --lr: expected a positive finite number, e.g. 0.01, got 'fast'",
    ),
    (
        "hidden 4,x",
        lambda tmp, _: ["--hidden", "4,x"],
        "argument --hidden: expected positive sizes like 64,64, got '4,x'",
    ),
    (
        "seed not a number",
        lambda tmp, _: ["--seed", "x"],
        "argument --seed: expected an integer >= 0, e.g. 0, got 'x'",
    ),
]


@pytest.mark.parametrize(("argv", "message"), [e[1:] for e in TRAIN_ERRORS], ids=[e[0] for e in TRAIN_ERRORS])
def test_every_train_user_error_is_one_line_and_exit_2(
    capsys, tmp_path, monkeypatch, checkpoint, argv, message
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where the weights would go by default
    argv = argv(work, checkpoint)
    before = sorted(os.listdir(work))
    status, out, err = run(capsys, "train", "--quiet", "--no-plot", "--epochs", "2", *argv)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line: no traceback, no usage
    assert err.startswith("compgraph train: error: " + message.format(tmp=work)), err
    assert "invalid" not in err.replace("are invalid", "")  # no argparse "invalid _positive value"
    assert sorted(os.listdir(work)) == before  # refused before anything was written


def test_a_value_starting_with_a_minus_reaches_the_option_whole(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = (
        "train",
        "--quiet",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--save",
        "-w.safetensors",
        "--plot",
        "-c.png",
    )
    assert run(capsys, *argv)[0] == 0
    assert sorted(os.listdir(tmp_path)) == ["-c.png", "-w.optim.safetensors", "-w.safetensors"]
    status, out, err = run(capsys, "grad", "-x", "x=2", "--draw", "-g.svg", "--engine", "builtin")
    assert (status, out, err) == (0, "z = -2\n∂z/∂x = -1\n", "wrote -g.svg\n")
    assert (tmp_path / "-g.svg").is_file() and not any(p.startswith(" ") for p in os.listdir(tmp_path))


def test_protect_leading_minus_joins_values_and_spaces_only_expressions():
    assert cli._protect_leading_minus(["train", "--save", "-w.st", "--hidden", "4", "--seed", "-1"]) == [
        "train",
        "--save=-w.st",
        "--hidden",
        "4",
        "--seed=-1",
    ]
    assert cli._protect_leading_minus(["grad", "-x", "x=1", "--draw", "-g.svg", "--steps"]) == [
        "grad",
        " -x",
        "x=1",
        "--draw=-g.svg",
        "--steps",
    ]
    assert cli._protect_leading_minus(["train", "-x"]) == ["train", "-x"]  # not grad: left to argparse


def test_the_options_with_values_are_those_of_the_parser():
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == set(cli._OPTIONS_WITH_VALUES)
    for name, sub in commands.choices.items():
        with_values = {o for a in sub._actions if a.nargs != 0 for o in a.option_strings}
        assert with_values == set(cli._OPTIONS_WITH_VALUES[name]), name


def test_train_dtype_float64_trains_and_saves_float64_weights(capsys, tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    weights = tmp_path / "w64.safetensors"
    argv = ("train", "--quiet", "--no-plot", "--epochs", "1", "--dtype", "float64", "--save", str(weights))
    assert run(capsys, *argv)[0] == 0
    assert {a.dtype.name for a in load_file(str(weights)).values()} == {"float64"}
    status, _, err = run(capsys, "train", "--quiet", "--no-save", "--no-plot", "--dtype", "float16")
    assert status == 2 and "invalid choice: 'float16'" in err
