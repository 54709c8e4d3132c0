"""The ``compgraph`` command (also ``python -m compgraph``): argument parsing only.

``compgraph grad EXPR name=value ... [--draw FILE] [--steps] [--html FILE]`` evaluates an
expression and prints its value and every partial derivative; with no expression it runs the
book's apple/orange example. ``compgraph train [...]`` trains a network (by default an MLP on
generated spiral data). Each subcommand calls the library: ``compgraph.expr`` parses,
``compgraph.partials`` evaluates and differentiates, ``compgraph.viz`` draws and traces,
``compgraph.training`` trains. Bad input exits with status 2 and a message that points at the
offending part (an input file that is missing, empty or damaged is bad input too); a file that
cannot be written, or a download that fails, with status 1; an interrupted training run, with 130.

``mpiexec -n N compgraph train ...`` trains data-parallel over N processes (see
``compgraph.training.parallel``); an error is printed once, by the process it happened in, and
ends every process with its status (MPI_Abort), so that none is left waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

import compgraph as cg
from compgraph.expr import ExpressionError, parse, parse_values, paused_cycle_collection
from compgraph.partials import (
    APPLE_ORANGE,
    APPLE_ORANGE_VALUES,
    Partials,
    apple_orange_intro,
    differentiate,
    format_value,
    unused,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other error of the command (the usage
    it would print first is one ``--help`` away); subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="compgraph",
        description="Backpropagation over computational graphs, shown step by step.",
    )
    parser.add_argument("--version", action="version", version=f"compgraph {cg.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    grad = commands.add_parser(
        "grad",
        help="evaluate an expression and print every partial derivative",
        description="Evaluate EXPR at the given values and print its value and its partial derivative "
        "with respect to every name, computed by backpropagation. Without EXPR: the book's "
        f"apple/orange example, price = {APPLE_ORANGE}.",
        epilog="EXPR uses numbers, names, + - * / ** (also × ÷ −), parentheses and exp log sin cos "
        "tanh sqrt sigmoid relu. Quote it for the shell: compgraph grad '(x + y)**2' x=1 y=2. "
        "Exit status: 0 done, 2 bad input, 1 a file could not be written.",
    )
    grad.add_argument("expression", nargs="?", metavar="EXPR", help="the expression, e.g. '(x + y)**2'")
    grad.add_argument("values", nargs="*", metavar="name=value", help="a value for each name, e.g. x=1")
    grad.add_argument("--draw", metavar="FILE", help="draw the graph into FILE (.svg .png .pdf .dot .html)")
    grad.add_argument("--steps", action="store_true", help="print the backward pass step by step")
    grad.add_argument("--html", metavar="FILE", help="write a page that steps through the backward pass")
    grad.add_argument(
        "--engine",
        choices=("auto", "dot", "builtin"),
        default="auto",
        help="layout for --draw: Graphviz's dot, the built-in one, or dot when installed (default)",
    )
    grad.set_defaults(run=run_grad)

    from compgraph.training import DATASETS, DTYPES, MNIST_SPLITS, MODELS, OPTIMIZERS

    train = commands.add_parser(
        "train",
        help="train a network (default: an MLP on generated spiral data, nothing to download)",
        description="Train one of the built-in recipes with a progress bar per epoch, save the weights "
        "after every epoch (safetensors) and plot the curves; options left out take the recipe's "
        "defaults (or, with --resume, the values the run was started with). Ctrl-C stops cleanly "
        "and keeps the last saved epoch.",
        epilog="Recipes: spiral+mlp (Adam 0.01, batch 30, 20 epochs), mnist+mlp (784-100-10, SGD 0.1, "
        "batch 100, 20 epochs), mnist+cnn (the book's SimpleConvNet, Adam 0.001, batch 100, 10 epochs), "
        "shakespeare+gpt (nanoGPT's CPU configuration: 4 layers, 4 heads, 128-dim, context 64, batch 12, "
        "AdamW 1e-3 with warm-up and cosine decay, 2000 steps; ends with 'val loss: X.XXXX'), "
        "shakespeare+lstm (2 layers of 256, batch 32, AdamW 2e-3, 2000 steps). "
        "Under mpiexec -n N it trains data-parallel on N processes (--batch-size stays the global batch). "
        "Exit status: 0 done, 2 bad input, 1 failed, 130 interrupted.",
    )
    train.add_argument("--data", choices=DATASETS, help="spiral (generated, the default), mnist, shakespeare")
    train.add_argument(
        "--data-dir", metavar="DIR", help="the MNIST IDX files, or shakespeare's input.txt (default: a cache)"
    )
    train.add_argument("--mnist-split", choices=MNIST_SPLITS, help="which MNIST files to train and test on")
    train.add_argument("--no-download", action="store_true", help="fail instead of downloading MNIST")
    train.add_argument(
        "--model", choices=MODELS, help="mlp, cnn (the book's SimpleConvNet, MNIST), gpt, lstm (shakespeare)"
    )
    train.add_argument("--hidden", type=_sizes, metavar="N,N", help="the MLP's hidden sizes, e.g. 64,64")
    train.add_argument("--epochs", type=_positive, metavar="N", help="epochs in total (also when resuming)")
    train.add_argument(
        "--steps", type=_positive, metavar="N", help="a language model's steps in total (the schedule scales)"
    )
    train.add_argument("--batch-size", type=_positive, metavar="N")
    train.add_argument("--lr", type=_positive_float, metavar="X", help="learning rate")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZERS))
    train.add_argument("--seed", type=_natural, metavar="N", help="weights and batch order (default 0)")
    train.add_argument("--dtype", choices=DTYPES, help="the parameters' type (default float32)")
    train.add_argument("--save", metavar="FILE", help="weights file (default: <data>-<model>.safetensors)")
    train.add_argument("--no-save", action="store_true", help="do not save weights")
    train.add_argument("--plot", metavar="FILE", help="PNG of the curves (default: <data>-<model>.png)")
    train.add_argument("--no-plot", action="store_true", help="do not plot")
    train.add_argument(
        "--resume", type=_existing_file, metavar="FILE", help="continue from weights saved by an earlier run"
    )
    train.add_argument(
        "--compile",
        action="store_true",
        help="run each training step through cg.compile (traced once, replayed after; off by default)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    sample = commands.add_parser(
        "sample",
        help="print text generated by a language model saved by compgraph train --data shakespeare",
        description="Load WEIGHTS (a model saved by compgraph train --data shakespeare) and print "
        "PROMPT followed by the characters the model generates after it.",
        epilog="Exit status: 0 done, 2 bad input (a file that holds no language model, a prompt with "
        "characters the model never saw).",
    )
    sample.add_argument("weights", type=_existing_file, metavar="WEIGHTS", help="the .safetensors file")
    sample.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    sample.add_argument("--tokens", type=_positive, default=500, metavar="N", help="characters to generate")
    sample.add_argument("--temperature", type=_positive_float, default=1.0, metavar="T")
    sample.add_argument("--top-k", type=_positive, metavar="K", help="sample among the K likeliest only")
    sample.add_argument("--seed", type=_natural, default=0, metavar="S")
    sample.set_defaults(run=run_sample)
    return parser


# argparse reports a type function's ValueError as "invalid <function name> value": each of
# these raises ArgumentTypeError, whose message argparse prints as it is
def _positive(text: str) -> int:
    """An option's value as an int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, e.g. 10, got {text!r}")
    return value


def _natural(text: str) -> int:
    """An option's value as an int of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, e.g. 0, got {text!r}")
    return value


def _existing_file(text: str) -> str:
    """An option's value naming a file that is there (an input: a missing one is bad input)."""
    if not os.path.isfile(text):
        problem = "a directory" if os.path.isdir(text) else "no such file"
        raise argparse.ArgumentTypeError(f"expected a weights file, got {text!r}: {problem}")
    return text


def _positive_float(text: str) -> float:
    """An option's value as a finite float greater than 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, e.g. 0.01, got {text!r}")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    """An option's value as comma-separated positive ints."""
    try:
        sizes = tuple(_positive(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 64,64, got {text!r}") from None
    return sizes


def run_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``train`` subcommand: the options become a TrainConfig for ``compgraph.training.train``.

    Under mpiexec, a failure on one process ends them all: an error the root hit first (a bad
    option, a checkpoint that does not fit) is printed by the root and every process exits with
    its status; one that only this process hit is printed here and MPI_Abort ends the job.
    """
    from compgraph.memory import keep_freed_memory
    from compgraph.training import AUTO, TrainConfig, train
    from compgraph.training.parallel import PeerFailedError, launched_rank, launched_size, workers

    config = TrainConfig(
        data=args.data,
        data_dir=args.data_dir,
        model=args.model,
        hidden=args.hidden,
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        dtype=args.dtype,
        save=None if args.no_save else (args.save or AUTO),
        plot=None if args.no_plot else (args.plot or AUTO),
        resume=args.resume,
        mnist_split=args.mnist_split,
        download=not args.no_download,
        progress=not args.quiet,
        compile=args.compile,
    )
    keep_freed_memory()  # a step's fresh arrays reuse freed pages (compgraph/memory.py)
    several = launched_size() > 1
    try:
        with _abort_on_error() if several else contextlib.nullcontext():
            result = train(config, out=out, err=err)
    except PeerFailedError as exc:  # the root failed first and has said why
        return _train_failure(exc.kind, "")[0]
    except KeyboardInterrupt:  # outside the steps, which handle it themselves
        if not several:
            raise
        if launched_rank() == 0:
            print("\ncompgraph train: interrupted", file=err)
        workers().end_interrupted()  # the others may be inside a collective call: end them all
        raise
    except (ValueError, OSError, ImportError) as exc:
        status, message = _train_failure(type(exc), exc)
        alone = several and not getattr(exc, "compgraph_shared", False)
        where = f" (on process {launched_rank()} of {launched_size()})" if alone else ""
        print(f"compgraph train: error: {message}{where}", file=err)
        if alone:
            from compgraph.distributed import abort

            abort(status)  # only this process failed: the others would wait for it forever
        return status
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


@contextlib.contextmanager
def _abort_on_error():
    """compgraph.distributed.abort_on_error for whatever run_train does not report itself."""
    from compgraph.distributed import abort_on_error
    from compgraph.training.parallel import PeerFailedError

    try:
        yield
    except (ValueError, OSError, ImportError, PeerFailedError):  # run_train reports these
        raise
    except Exception:
        with abort_on_error():
            raise


def _train_failure(kind: type[BaseException], exc: BaseException | str) -> tuple[int, str]:
    """The exit status and message of an error of ``compgraph train``."""
    from compgraph.data import MNISTNotFoundError, ShakespeareNotFoundError

    if issubclass(kind, ValueError):  # a bad option, a corrupt file, a checkpoint that does not fit
        return EXIT_USAGE, str(exc).removeprefix("train: ")
    if issubclass(kind, ShakespeareNotFoundError):
        return EXIT_USAGE, (
            f"Tiny Shakespeare's input.txt not found in {getattr(exc, 'root', '')}; point "
            "--data-dir at the directory that holds it, or leave out --no-download to fetch it"
        )
    if issubclass(kind, MNISTNotFoundError):  # bad input like a bad --data-dir: not a failure to write
        return EXIT_USAGE, (
            f"MNIST file {getattr(exc, 'name', '')}.gz (or {getattr(exc, 'name', '')}) not found in "
            f"{getattr(exc, 'root', '')}; point --data-dir at the IDX files, or leave out --no-download "
            "to fetch them"
        )
    return EXIT_FAILED, str(exc)  # an unwritable file, a failed download, a missing extra


def run_sample(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``sample`` subcommand: ``compgraph.training.text.sample``, printed."""
    from compgraph.training.text import sample

    try:
        text = sample(args.weights, args.prompt, args.tokens, args.temperature, args.top_k, args.seed)
    except (ValueError, ImportError) as exc:
        print(f"compgraph sample: error: {exc}", file=err)
        return EXIT_USAGE
    print(text, file=out)
    return EXIT_OK


#: The options of each subcommand that take a value (a test checks them against the parser).
_OPTIONS_WITH_VALUES = {
    "grad": ("--draw", "--html", "--engine"),
    "train": (
        *("--data", "--data-dir", "--mnist-split", "--model", "--hidden", "--epochs", "--steps"),
        *("--batch-size", "--lr", "--optimizer", "--seed", "--dtype", "--save", "--plot", "--resume"),
    ),
    "sample": ("--prompt", "--tokens", "--temperature", "--top-k", "--seed"),
}


def _looks_like_an_option(arg: str) -> bool:
    return arg in ("-h", "--") or re.match(r"--[A-Za-z][\w-]*(=.*)?$", arg) is not None


def _protect_leading_minus(argv: list[str]) -> list[str]:
    """Let values start with a minus sign: argparse would read '-x + 1' as an option.

    An argument starting with a minus that does not look like an option (-h, --steps,
    --draw=FILE) is, after an option that takes a value, joined to it (``--save -w.st``
    becomes ``--save=-w.st``); anywhere else after ``grad`` it is the expression or a value,
    and gets a leading space, which argparse takes as a positional and the expression parser
    skips. (A space must not reach a value: it would become part of a file name.)
    """
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    takes_value = _OPTIONS_WITH_VALUES.get(command or "", ())
    out: list[str] = []
    in_command = value_due = False
    for arg in argv:
        minus = arg.startswith("-") and not _looks_like_an_option(arg)
        if minus and value_due:
            out[-1] = f"{out[-1]}={arg}"
        elif minus and in_command and command == "grad":
            out.append(" " + arg)
        else:
            out.append(arg)
        value_due = in_command and arg in takes_value
        in_command = in_command or arg == command
    return out


def _error(stream: TextIO, message: str) -> None:
    print(f"compgraph grad: error: {message}", file=stream)


def _usage_error(stream: TextIO, message: str) -> int:
    _error(stream, message)
    return EXIT_USAGE


def _looks_like_a_value(source: str) -> str:
    """A hint for ``compgraph grad x=3``: a value where the expression should be."""
    if source.count("=") == 1 and source.split("=")[0].strip().isidentifier():
        return "\n(that looks like a value: give the expression first, e.g. compgraph grad 'x**2' x=3)"
    return ""


def run_grad(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``grad`` subcommand: ``compgraph.partials.differentiate`` at the given values, printed."""
    with paused_cycle_collection():  # a long expression's graph: millions of objects, no cycles
        return _run_grad(args, out, err)


def _run_grad(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.expression is None:
        print(apple_orange_intro(), end="", file=out)
        source, values, output = APPLE_ORANGE, APPLE_ORANGE_VALUES, "price"
    else:
        source, output = args.expression, None
        try:
            values = parse_values(args.values)
        except ExpressionError as exc:
            return _usage_error(err, str(exc))
    try:
        expression = parse(source)
    except ExpressionError as exc:
        return _usage_error(err, str(exc) + _looks_like_a_value(source))
    for name in unused(expression, values):
        print(
            f"compgraph grad: warning: {name}={format_value(values[name])} is not used by the expression",
            file=err,
        )
    try:
        result = differentiate(expression, values, output)
    except ExpressionError as exc:  # a name without a value
        return _usage_error(err, f"{exc}\n(give it a value, e.g. {exc.source[exc.start : exc.end]}=1)")
    print(result.report(), end="", file=out)
    return _extras(args, result, out, err)


def _extras(args: argparse.Namespace, result: Partials, out: TextIO, err: TextIO) -> int:
    """--steps, --draw and --html, after the results are printed (a failure loses nothing)."""
    if args.steps:
        print(file=out)
        print(result.steps(), end="", file=out)
    status = EXIT_OK
    for path, write in (
        (args.draw, lambda p: result.draw(p, engine=args.engine)),
        (args.html, result.to_html),
    ):
        if path is None:
            continue
        try:
            write(path)
        except ValueError as exc:  # an unknown suffix, or PNG/PDF with the built-in layout
            _error(err, str(exc))
            return EXIT_USAGE
        except (ImportError, RuntimeError, OSError) as exc:
            _error(err, f"could not write {path}: {exc}")
            status = EXIT_FAILED
        else:
            print(f"wrote {path}", file=err)
    return status


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The parsed arguments; under mpiexec only rank 0 prints usage errors and --help (every
    process parses the same arguments, so all exit alike)."""
    from compgraph.training.parallel import launched_rank

    quiet = launched_rank() > 0
    sink = io.StringIO()
    with (
        contextlib.redirect_stderr(sink) if quiet else contextlib.nullcontext(),
        contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext(),
    ):
        args, extra = parser.parse_known_args(_protect_leading_minus(argv))
        # argparse stops filling positionals at the first option: `grad EXPR --steps x=1`
        # leaves x=1 over; it belongs to the values
        if extra and args.command == "grad" and not any(e.startswith("-") for e in extra):
            args.values.extend(extra)
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args, extra


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    for stream in (out, err):  # print ∂ even where the terminal's encoding lacks it
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "∂×".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args, _ = _parse(parser, argv)
    except SystemExit as exc:  # argparse has printed its message (or --help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.run(args, out, err)
    except BrokenPipeError:  # `compgraph grad --steps | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())  # so that Python's final flush does not fail again
        return EXIT_FAILED
