"""The `compgraph` command: grad's results, its files, and its answers to bad input."""

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

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
    status, _, err = run(capsys, *argv)
    assert status == 1 and "not found" in err and "--data-dir" in err
