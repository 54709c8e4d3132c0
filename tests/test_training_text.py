"""compgraph train --data shakespeare (a GPT and an LSTM over characters) and compgraph sample.

The runs here train the recipe's real models on a small made-up text (so nothing depends on
../shared or the network), for a few steps each; the full 2000-step runs are benchmarks.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from compgraph import cli
from compgraph.nn import load_file
from compgraph.optim.schedule import warmup_cosine_lr
from compgraph.training import TrainConfig, train
from compgraph.training import text as T

TEXT = "".join(
    f"{who}:\nWhat light through yonder window breaks, number {i}?\n\n"
    for i in range(60)
    for who in ("ROMEO", "JULIET")
)


@pytest.fixture
def corpus_dir(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "input.txt").write_text(TEXT, encoding="utf-8")
    return d


def _main(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def _config(corpus_dir, tmp_path, model="gpt", steps=12, **kw):
    tmp_path.mkdir(exist_ok=True)
    return TrainConfig(
        data="shakespeare",
        model=model,
        data_dir=str(corpus_dir),
        steps=steps,
        save=str(tmp_path / f"{model}.safetensors"),
        plot=None,
        download=False,
        progress=False,
        **kw,
    )


@pytest.mark.slow  # 7 s: 50 steps of the recipe's GPT
def test_the_gpt_trains_from_the_command_line_and_samples(corpus_dir, tmp_path):
    weights = tmp_path / "gpt.safetensors"
    status, out, err = _main(
        "train", "--data", "shakespeare", "--model", "gpt", "--data-dir", str(corpus_dir),
        "--steps", "50", "--save", str(weights), "--no-plot", "--no-download", "--quiet",
    )  # fmt: skip
    assert status == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("val loss: ")
    val = float(last.removeprefix("val loss: "))
    vocab = len(set(TEXT))
    assert val < np.log(vocab) - 0.5  # well below a uniform guess over the characters (3.3 nats)
    tensors, metadata = load_file(weights)
    record = json.loads(metadata["compgraph.train"])
    assert record["kind"] == "text" and record["step"] == 50 and record["history"]["step"] == [50]
    assert json.loads(metadata[T.MODEL_KEY])["vocab"] == "".join(sorted(set(TEXT)))
    assert "h.0.attn.c_attn.W" in tensors and "lm_head" not in " ".join(tensors)  # tied: one table

    status, out, err = _main("sample", str(weights), "--prompt", "ROMEO:", "--tokens", "40", "--seed", "3")
    assert status == 0, err
    text = out.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 40
    assert set(text) <= set(TEXT)
    again = _main("sample", str(weights), "--prompt", "ROMEO:", "--tokens", "40", "--seed", "3")[1]
    assert again == out  # the same seed, the same text
    assert _main("sample", str(weights), "--prompt", "ROMEO:", "--tokens", "40", "--seed", "4")[1] != out


def test_the_lr_follows_warm_up_then_cosine_decay_scaled_to_the_steps(corpus_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(T, "EVAL_EVERY", 5)
    result = train(_config(corpus_dir, tmp_path, steps=20), out=io.StringIO(), err=io.StringIO())
    history = result.history
    assert history["step"] == [5, 10, 15, 20]
    # 20 steps: 1 warm-up step (5%), cosine from 1e-3 to 1e-4 at step 20
    expected = [warmup_cosine_lr(s - 1, 1e-3, 1, 20, 1e-4) for s in history["step"]]
    np.testing.assert_allclose(history["lr"], expected)
    assert history["val_loss"][-1] == pytest.approx(result.val_loss)
    assert history["train_loss"][-1] < history["train_loss"][0]


@pytest.mark.parametrize("model", ["gpt", pytest.param("lstm", marks=pytest.mark.slow)])  # lstm: 7 s
def test_an_interrupted_run_resumes_exactly(corpus_dir, tmp_path, monkeypatch, model):
    monkeypatch.setattr(T, "EVAL_EVERY", 4)
    whole = train(_config(corpus_dir, tmp_path / "a", model, steps=10), out=io.StringIO(), err=io.StringIO())

    calls = {"n": 0}
    clip = T.clip_grad_norm

    def interrupt_at_step_7(params, max_norm):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return clip(params, max_norm)

    monkeypatch.setattr(T, "clip_grad_norm", interrupt_at_step_7)
    cfg = _config(corpus_dir, tmp_path / "b", model, steps=10)
    stopped = train(cfg, out=io.StringIO(), err=io.StringIO())
    assert stopped.interrupted and stopped.history["step"] == [4]  # the last save: step 4
    monkeypatch.setattr(T, "clip_grad_norm", clip)
    resumed = train(
        TrainConfig(resume=cfg.save, plot=None, data_dir=str(corpus_dir), download=False, progress=False),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert resumed.history["step"] == whole.history["step"] == [4, 8, 10]
    assert resumed.history["val_loss"] == whole.history["val_loss"]
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)


def test_the_lstm_carries_its_state_from_window_to_window(corpus_dir, tmp_path):
    result = train(_config(corpus_dir, tmp_path, "lstm", steps=3), out=io.StringIO(), err=io.StringIO())
    state, _ = load_file(tmp_path / "lstm.optim.safetensors")
    h, c = state["carry.0"], state["carry.1"]
    assert h.shape == c.shape == (2, 32, 256) and np.abs(h).max() > 0
    assert result.steps_done == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "3"], "shakespeare data trains for a number of steps, not epochs"),
        (["--model", "mlp"], "shakespeare is text: train model='gpt' or model='lstm' on it"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(corpus_dir, argv, message):
    args = ("train", "--data", "shakespeare", "--data-dir", str(corpus_dir), *argv, "--quiet")
    status, out, err = _main(*args)
    assert status == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_a_language_model_needs_text(tmp_path):
    status, _, err = _main("train", "--model", "gpt", "--steps", "2", "--no-save", "--no-plot", "--quiet")
    assert status == 2 and "the gpt model is a language model: use data='shakespeare'" in err


def test_missing_text_without_download_names_the_directory(tmp_path):
    status, _, err = _main(
        "train", "--data", "shakespeare", "--data-dir", str(tmp_path), "--no-download", "--quiet"
    )  # fmt: skip
    assert status == 2 and f"input.txt not found in {tmp_path}" in err and err.count("\n") == 1


def test_sample_refuses_a_file_without_a_language_model_and_unknown_characters(corpus_dir, tmp_path):
    train(_config(corpus_dir, tmp_path, steps=1), out=io.StringIO(), err=io.StringIO())
    status, _, err = _main("sample", str(tmp_path / "gpt.safetensors"), "--prompt", "ROMEO@")
    assert status == 2 and "characters the model never saw: '@'" in err
    from compgraph import nn

    plain = tmp_path / "mlp.safetensors"
    nn.MLP((2, 3), rng=0).save(plain)
    status, _, err = _main("sample", str(plain))
    assert status == 2 and "holds no language model" in err


def test_plot_draws_the_loss_curves(corpus_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(T, "EVAL_EVERY", 1)
    cfg = _config(corpus_dir, tmp_path, steps=2)
    out = io.StringIO()
    result = train(
        TrainConfig(**{**cfg.__dict__, "plot": str(tmp_path / "curves.png")}), out=out, err=io.StringIO()
    )
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and result.plot_path == tmp_path / "curves.png"
    assert f"plot: {tmp_path / 'curves.png'}" in out.getvalue()


def test_a_damaged_optimizer_file_starts_the_optimizer_afresh_with_a_note(corpus_dir, tmp_path):
    cfg = _config(corpus_dir, tmp_path, steps=2)
    train(cfg, out=io.StringIO(), err=io.StringIO())
    state_file = tmp_path / "gpt.optim.safetensors"
    state, _ = load_file(state_file)
    from compgraph.nn import save_file

    save_file(state, state_file, {"compgraph.train": "{not json"})
    err = io.StringIO()
    more = TrainConfig(
        resume=cfg.save, steps=3, plot=None, data_dir=str(corpus_dir), download=False, progress=False
    )
    result = train(more, out=io.StringIO(), err=err)
    assert result.steps_done == 3
    assert (
        "has no readable record of the weights it belongs to; the optimizer starts afresh" in err.getvalue()
    )


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_compiled_steps_train_a_language_model_as_eager_ones_do(corpus_dir, tmp_path, model):
    runs = [
        train(
            _config(corpus_dir, tmp_path / str(c), model, steps=3, dtype="float64", compile=c),
            out=io.StringIO(),
            err=io.StringIO(),
        )
        for c in (False, True)
    ]
    eager, compiled = (r.model.state_dict() for r in runs)
    for name in eager:
        np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert runs[1].val_loss == pytest.approx(runs[0].val_loss, rel=1e-10)
