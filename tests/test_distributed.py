"""compgraph.distributed and ``mpiexec -n N compgraph train``: the same weights as one process.

The MPI runs start ``mpiexec`` (the mpich wheel's, from ``pip install 'compgraph[mpi]'``) as a
subprocess with a timeout, so a hang fails the test instead of stalling the suite. ``-n 2`` on
the spiral MLP runs by default (so CI's README command exercises mpiexec); ``-n 3``, float32,
the CNN and the language models are ``slow``.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

import compgraph.distributed as dist
from compgraph.core import Variable
from tests.test_training import _fake_mnist

BIN = Path(sys.executable).parent
TIMEOUT = 240  # seconds: a run that hangs fails here
#: float32: two epochs of Adam on the spiral, summed in another order, stay this close.
FLOAT32_ATOL = 1e-4


def _mpiexec() -> str:
    found = BIN / "mpiexec"
    if found.is_file():
        return str(found)
    found = shutil.which("mpiexec")
    if found is None:
        pytest.skip("mpiexec not installed (pip install 'compgraph[mpi]')")
    return found


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"):
        env.pop(var, None)
    return env


def _run(command: list[str], cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _train(n: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``compgraph train ARGS`` in one process (n = 1, no mpiexec) or under ``mpiexec -n n``."""
    command = [str(BIN / "compgraph"), "train", "--quiet", "--no-plot", *args]
    if n > 1:
        command = [_mpiexec(), "-n", str(n), *command]
    result = _run(command, cwd)
    assert result.returncode == 0, result.stderr
    return result


def _weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def _assert_same(a: Path, b: Path, atol: float) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].dtype == wb[key].dtype
        np.testing.assert_allclose(wb[key], wa[key], rtol=0, atol=atol, err_msg=key)


# --- one process: shards, buckets, no-ops ------------------------------------------------------


def test_shards_are_contiguous_the_first_ranks_one_row_longer():
    assert [dist.shard_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    assert [dist.shard_bounds(2, r, 3) for r in range(3)] == [(0, 1), (1, 2), (2, 2)]  # one empty
    x, t = np.arange(20).reshape(10, 2), np.arange(10)
    shards = [dist.shard((x, t), r, 4) for r in range(4)]
    assert [len(s[1]) for s in shards] == [3, 3, 2, 2]
    np.testing.assert_array_equal(np.concatenate([s[0] for s in shards]), x)
    np.testing.assert_array_equal(np.concatenate([s[1] for s in shards]), t)


def test_shard_refuses_arrays_of_different_lengths_and_bad_ranks():
    with pytest.raises(ValueError, match=r"same first axis, got \(3,\), \(4,\)"):
        dist.shard((np.zeros(3), np.zeros(4)), 0, 2)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\)"):
        dist.shard((np.zeros(3),), 2, 2)


def test_buckets_hold_one_dtype_in_order_and_at_most_the_limit():
    sizes = [(3, np.float32), (3, np.float32), (2, np.float64), (10, np.float32), (1, np.float32)]
    params = [Variable(np.zeros(n, dtype)) for n, dtype in sizes]
    assert dist.gradient_buckets(params, bucket_bytes=24) == [[0, 1], [3], [4], [2]]  # [3]: 40 B alone
    assert dist.gradient_buckets(params) == [[0, 1, 3, 4], [2]]


def test_one_process_leaves_gradients_alone_and_returns_the_stats():
    p = Variable(np.ones(3))
    p.grad = Variable(np.arange(3.0))
    assert dist.size() == 1 and not dist.is_distributed()
    np.testing.assert_array_equal(dist.allreduce_gradients([p], 5, [1.5, 2]), [1.5, 2])
    np.testing.assert_array_equal(p.grad.data, [0, 1, 2])
    dist.broadcast_parameters([p])
    dist.check_synchronized([p])


def test_without_mpi4py_the_import_error_names_the_extra(tmp_path):
    code = "import sys; sys.modules['mpi4py'] = None\nimport compgraph.distributed"
    result = _run([sys.executable, "-c", code], tmp_path)
    assert "pip install 'compgraph[mpi]'" in result.stderr


def test_a_plain_run_does_not_import_mpi4py(tmp_path):
    code = (
        "import sys\nfrom compgraph.cli import main\n"
        "status = main(['train', '--epochs', '1', '--no-save', '--no-plot', '--quiet'])\n"
        "print(status, 'mpi4py' in sys.modules)"
    )
    result = _run([sys.executable, "-c", code], tmp_path)
    assert result.stdout.splitlines()[-1] == "0 False", result.stderr


# --- under mpiexec -------------------------------------------------------------------------------

_ALLREDUCE = textwrap.dedent(
    """
    import json
    import numpy as np
    import compgraph.distributed as dist

    r, n = dist.rank(), dist.size()
    rows = np.arange(2 * 5, dtype=np.float64).reshape(2, 5)  # a batch of 2 rows over 3 processes
    (mine,) = dist.shard((rows,), r, n)
    params = [dist.Variable(np.zeros(5)), dist.Variable(np.zeros(5, np.float32)),
              dist.Variable(np.zeros(2)), dist.Variable(np.zeros(1))]
    if len(mine):
        params[0].grad = dist.Variable(mine.mean(axis=0))                 # a shard's mean
        params[1].grad = dist.Variable(mine.mean(axis=0).astype(np.float32))
    if r == 1:
        params[2].grad = dist.Variable(np.full(2, 6.0))                    # only process 1's
    stats = dist.allreduce_gradients(params, len(mine), [len(mine), 1.0], bucket_bytes=16)
    report = {"rank": r, "stats": stats.tolist(),
              "grads": [None if p.grad is None else p.grad.data.tolist() for p in params]}
    with open(f"rank{r}.json", "w") as f:  # one file each: printed lines interleave
        json.dump(report, f)
    """
)


def test_allreduce_weights_uneven_and_empty_shards_like_one_batch(tmp_path):
    script = tmp_path / "allreduce.py"
    script.write_text(_ALLREDUCE)
    result = _run([_mpiexec(), "-n", "3", sys.executable, str(script)], tmp_path)
    assert result.returncode == 0, result.stderr
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(3)]
    assert sorted(report["rank"] for report in reports) == [0, 1, 2]
    for report in reports:
        assert report["stats"] == [2, 3]
        mean = [2.5, 3.5, 4.5, 5.5, 6.5]  # the mean of both rows, though process 2 had none
        assert report["grads"][0] == mean and report["grads"][1] == mean
        assert report["grads"][2] == [3.0, 3.0]  # 6 · weight 1 / total weight 2: zeros elsewhere
        assert report["grads"][3] is None  # no process had a gradient: none


SPIRAL = ["--epochs", "2", "--dtype", "float64"]


def test_two_processes_train_the_spiral_mlp_to_the_same_float64_weights(tmp_path):
    one = _train(1, [*SPIRAL, "--save", "one.safetensors"], tmp_path)
    two = _train(2, [*SPIRAL, "--save", "two.safetensors"], tmp_path)
    _assert_same(tmp_path / "one.safetensors", tmp_path / "two.safetensors", atol=1e-9)
    assert two.stdout == one.stdout.replace("one.safetensors", "two.safetensors")  # printed once
    assert _weights(tmp_path / "two.safetensors")["fc1.W"].dtype == np.float64


def test_resuming_under_two_processes_continues_exactly(tmp_path):
    _train(1, [*SPIRAL, "--save", "one.safetensors"], tmp_path)
    _train(2, ["--epochs", "1", "--dtype", "float64", "--save", "part.safetensors"], tmp_path)
    result = _train(2, ["--resume", "part.safetensors", "--epochs", "2"], tmp_path)
    assert result.stderr.count("resuming part.safetensors after epoch 1 of 2") == 1
    _assert_same(tmp_path / "one.safetensors", tmp_path / "part.safetensors", atol=1e-9)


@pytest.mark.slow
def test_three_processes_and_float32_train_the_spiral_mlp_alike(tmp_path):
    _train(1, [*SPIRAL, "--save", "one.safetensors"], tmp_path)
    _train(3, [*SPIRAL, "--save", "three.safetensors"], tmp_path)
    _assert_same(tmp_path / "one.safetensors", tmp_path / "three.safetensors", atol=1e-9)
    _train(1, ["--epochs", "2", "--save", "one32.safetensors"], tmp_path)
    _train(2, ["--epochs", "2", "--save", "two32.safetensors"], tmp_path)
    _assert_same(tmp_path / "one32.safetensors", tmp_path / "two32.safetensors", atol=FLOAT32_ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3])
def test_the_cnn_trains_to_the_same_float64_weights(tmp_path, n):
    _fake_mnist(tmp_path / "mnist", "t10k", 250, 0)  # 200 train (4 batches of 50), 50 test
    args = ["--data", "mnist", "--model", "cnn", "--data-dir", "mnist", "--epochs", "1"]
    args += ["--batch-size", "50", "--dtype", "float64", "--no-download"]
    _train(1, [*args, "--save", "one.safetensors"], tmp_path)
    _train(n, [*args, "--save", "many.safetensors"], tmp_path)
    _assert_same(tmp_path / "one.safetensors", tmp_path / "many.safetensors", atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_the_language_models_train_to_the_same_float64_weights_and_state(tmp_path, model):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefgh \n"), size=6000))
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "input.txt").write_text(text)
    args = ["--data", "shakespeare", "--data-dir", "text", "--model", model, "--steps", "3"]
    args += ["--batch-size", "5", "--dtype", "float64", "--no-download"]  # 5 rows: uneven shards
    _train(1, [*args, "--save", "one.safetensors"], tmp_path)
    _train(3, [*args, "--save", "three.safetensors"], tmp_path)
    _assert_same(tmp_path / "one.safetensors", tmp_path / "three.safetensors", atol=1e-9)
    # the optimizer state, and the LSTM's carried state gathered from every process's streams
    _assert_same(tmp_path / "one.optim.safetensors", tmp_path / "three.optim.safetensors", atol=1e-9)


# --- faults: every process ends, the error printed once ----------------------------------------


def _mpmd(first: list[str], second: list[str], dirs: tuple[str, str] = (".", ".")) -> list[str]:
    """mpiexec running ``first`` as process 0 and ``second`` as process 1 (in ``dirs``)."""
    return [_mpiexec(), "-n", "1", "-wdir", dirs[0], *first, ":", "-n", "1", "-wdir", dirs[1], *second]


def test_bad_data_on_one_process_ends_every_process_with_one_message(tmp_path):
    # the same --data-dir, but process 1 runs in another directory, where the files are damaged
    _fake_mnist(tmp_path / "a" / "data", "t10k", 100, 0)
    (tmp_path / "b" / "data").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "b" / "data" / name).write_bytes(b"not gzip")
    train = [str(BIN / "compgraph"), "train", "--data", "mnist", "--data-dir", "data", "--no-download"]
    train += ["--no-save", "--no-plot", "--epochs", "50"]
    result = _run(_mpmd(train, train, (str(tmp_path / "a"), str(tmp_path / "b"))), tmp_path, 60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("compgraph train: error:") == 1, result.stderr
    assert "not an IDX file" in result.stderr and "(on process 1 of 2)" in result.stderr
    assert "epoch 50/50" not in result.stderr  # ended, not trained on by process 0


def test_a_crash_on_one_process_ends_every_process_with_its_traceback_once(tmp_path):
    train = ["train", "--epochs", "50", "--no-save", "--no-plot", "--quiet"]
    crash = (
        "import sys, compgraph.training.loop as loop\n"
        "def boom(*args): raise RuntimeError('only on process 1')\n"
        "loop._classify = boom\n"
        f"from compgraph.cli import main; sys.exit(main({train!r}))"
    )
    plain = f"import sys; from compgraph.cli import main; sys.exit(main({train!r}))"
    result = _run(_mpmd([sys.executable, "-c", plain], [sys.executable, "-c", crash]), tmp_path, 60)
    assert result.returncode != 0
    assert result.stderr.count("RuntimeError: only on process 1") == 1, result.stderr
    assert "[process 1 of 2]" in result.stderr


def test_an_error_every_process_meets_is_printed_once(tmp_path):
    (tmp_path / "damaged.safetensors").write_bytes(b"not safetensors")
    result = _run([_mpiexec(), "-n", "2", str(BIN / "compgraph"), "train", "--resume", "damaged.safetensors"],
                  tmp_path, 60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("compgraph train: error:") == 1, result.stderr
    result = _run([_mpiexec(), "-n", "2", str(BIN / "compgraph"), "train", "--epochs", "0"], tmp_path, 60)
    assert result.returncode == 2
    assert result.stderr.count("error: argument --epochs") == 1, result.stderr


@pytest.mark.parametrize("model", ["mlp", "gpt"])
def test_ctrl_c_ends_every_process_at_once_keeping_the_last_save(tmp_path, model):
    from compgraph.training import read_checkpoint

    args = ["--epochs", "100000"]
    if model == "gpt":
        (tmp_path / "text").mkdir()
        (tmp_path / "text" / "input.txt").write_text("to be or not to be, that is the question\n" * 40)
        args = ["--data", "shakespeare", "--data-dir", "text", "--model", "gpt", "--steps", "100000"]
    command = [_mpiexec(), "-n", "2", str(BIN / "compgraph"), "train", "--quiet", "--no-plot", *args]
    command += ["--save", "w.safetensors", "--no-download"]
    job = subprocess.Popen(
        command, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        saved = tmp_path / "w.safetensors"
        while not saved.is_file() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5 if model == "mlp" else 0.0)  # mid-epoch (an MLP epoch takes ~10 ms)
        job.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends mpiexec
        began = time.monotonic()
        _, err = job.communicate(timeout=30)
        seconds = time.monotonic() - began
    finally:
        job.kill()
    assert job.returncode == 130, err
    assert seconds < 10, f"took {seconds:.1f} s to end"
    assert err.count("interrupted") == 1, err
    assert "Abort" not in err and "error" not in err.lower(), err
    if model == "mlp":
        assert "the weights of epoch" in err and " are in w.safetensors" in err
        record = read_checkpoint(tmp_path / "w.safetensors")[1]
        assert f"the weights of epoch {record['epoch']} are in" in err
    else:
        assert "the last save is in w.safetensors" in err
