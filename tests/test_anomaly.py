"""Anomaly mode: the first NaN/Inf forward or backward, and saved values changed in place."""

import re

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from compgraph.nn import MLP
from compgraph.optim import SGD

HERE = re.escape(__file__)


def _line_of(text: str) -> int:
    """The line number of this file that contains ``text``."""
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if text in line and "_line_of" not in line)


def test_it_is_a_runtime_error_and_a_block():
    assert issubclass(AnomalyError, RuntimeError)
    assert not is_anomaly_enabled()
    with detect_anomaly():
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()


def test_the_first_op_that_makes_a_nan_from_finite_inputs_is_named_with_the_callers_line():
    x = Variable(np.array([-1.0, 4.0, 9.0]), name="x")
    with detect_anomaly(), np.errstate(invalid="ignore"):
        y = x * 2  # finite: fine
        with pytest.raises(AnomalyError) as info:
            F.sqrt(y)  # the anomaly
    message = str(info.value)
    assert message.startswith("Sqrt gave 1 NaN in its output of shape (3,) from finite inputs")
    assert f"{__file__}:{_line_of('F.sqrt(y)  # the anomaly')}" in message
    assert "input 0 (3,) float64 in [-2, 18]" in message


def test_an_op_that_only_passes_a_nan_on_is_not_blamed():
    x = Variable(np.array([np.nan, 1.0]))
    with detect_anomaly():
        y = F.exp(x) * 2  # NaN in, NaN out: not where it started
    assert np.isnan(y.data[0])


def test_a_layer_names_the_users_line_not_the_librarys():
    model = MLP((2, 3, 2), dtype=np.float64, rng=0)
    model.parameters()[0].data[...] = 1e308
    x = Variable(np.array([[1e308, 1e308]]))  # finite, but their product is not
    with detect_anomaly(), np.errstate(over="ignore"), pytest.raises(AnomalyError) as info:
        model(x)  # the model's first layer overflows
    assert f"{__file__}:{_line_of('model(x)  # the model')}" in str(info.value)


def test_the_first_backward_rule_that_makes_an_inf_names_where_its_op_was_created():
    x = Variable(np.array([0.0, 4.0]), name="x")
    with detect_anomaly(), np.errstate(divide="ignore"):
        y = F.sqrt(x)  # forward is finite; backward divides by sqrt(0)
        with pytest.raises(AnomalyError) as info:
            F.sum(y * 3).backward()
    message = str(info.value)
    assert message.startswith("the backward rule of Sqrt (created at ")
    assert f"{__file__}:{_line_of('y = F.sqrt(x)  # forward')}" in message
    assert "1 Inf in the gradient of its input 0 'x' (shape (2,)) from finite upstream gradients" in message


def test_a_value_changed_in_place_after_forward_raises_naming_the_op_and_variable():
    x, w = Variable(np.array([1.0, 2.0]), name="x"), Variable(np.array([3.0, 4.0]), name="w")
    with detect_anomaly():
        y = x * w
        x.data[...] = 10  # without anomaly mode w.grad silently becomes 10
        with pytest.raises(AnomalyError, match=r"input 0 'x' of Mul \(created at .*\) was changed in place"):
            F.sum(y).backward()
    assert w.grad is None  # nothing was written


def test_an_output_changed_in_place_raises_too():
    x = Variable(np.array([1.0, 2.0]))
    with detect_anomaly():
        y = F.exp(x)  # exp's rule uses its output
        y.data[0] = 0.0
        with pytest.raises(AnomalyError, match=r"the output of Exp .* changed in place"):
            F.sum(y).backward()


def test_an_optimizer_step_between_forward_and_backward_is_caught_in_and_out_of_anomaly_mode():
    for mode in (detect_anomaly, lambda: np.errstate()):
        W = Variable(np.array([1.0, 2.0]), name="W")
        opt = SGD([W], lr=0.1)
        with mode():
            loss1, loss2 = F.sum(W * W), F.sum(W * W * W)
            loss1.backward()
            opt.step()
            opt.zero_grad()
            with pytest.raises(RuntimeError, match=r"'W'.* was changed in place after the forward pass"):
                loss2.backward()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_test_network_trains_clean_in_anomaly_mode(dtype):
    from compgraph.nn import SimpleConvNet

    rng = np.random.default_rng(0)
    for model, x in [
        (MLP((4, 8, 8, 3), dtype=dtype, rng=0), rng.normal(size=(5, 4))),
        (
            SimpleConvNet((1, 8, 8), filters=2, kernel=3, hidden=6, classes=3, dtype=dtype, rng=0),
            rng.normal(size=(5, 1, 8, 8)),
        ),
    ]:
        opt = SGD(model.parameters(), lr=0.1)
        with detect_anomaly():
            for _ in range(3):
                loss = F.softmax_cross_entropy(model(x.astype(dtype)), np.array([0, 1, 2, 0, 1]))
                opt.zero_grad()
                loss.backward()
                opt.step()
        assert np.isfinite(loss.data)


@pytest.mark.parametrize("kind", ["gpt", "lstm", "gru"])
def test_the_sequence_models_train_clean_in_anomaly_mode(kind):
    # the transformer's fused ops (layer norm, attention, exact GELU) and the recurrent op too
    from compgraph import nn
    from compgraph.optim import AdamW

    ids = np.random.default_rng(1).integers(0, 11, (3, 8))
    if kind == "gpt":
        model = nn.CharGPT(11, block_size=8, n_layer=2, n_head=2, n_embd=16, rng=0)
    elif kind == "lstm":
        model = nn.CharLSTM(11, n_embd=6, hidden_size=10, num_layers=2, rng=0)
    else:
        model = nn.GRU(11, 10, num_layers=2, batch_first=True)
    opt = AdamW(model.parameters(), lr=1e-2)
    with detect_anomaly():
        for _ in range(3):
            if kind == "gru":
                out, _ = model(np.eye(11, dtype=np.float32)[ids])
                loss = F.mean(out * out)
            else:
                out = model(ids)
                logits = out[0] if kind == "lstm" else out
                loss = F.softmax_cross_entropy(logits, ids)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert np.isfinite(loss.data)


def test_gradients_in_anomaly_mode_are_the_plain_ones():
    x = Variable(np.array([0.3, -1.2, 2.0]))

    def f():
        return F.sum(F.tanh(x) * F.exp(x) / (1 + x * x))

    (plain,) = cg.grad(f(), [x])
    with detect_anomaly():
        (checked,) = cg.grad(f(), [x])
    np.testing.assert_array_equal(plain.data, checked.data)


def test_a_mask_filled_with_minus_infinity_before_softmax_is_no_anomaly():
    # the -inf is the op's setting, not something that went wrong: softmax turns it into 0
    scores = Variable(np.random.default_rng(0).normal(size=(4, 4)))
    causal = np.triu(np.ones((4, 4), dtype=bool), k=1)
    with detect_anomaly():
        p = F.softmax(F.masked_fill(scores, causal, -np.inf), axis=1)
        F.sum(p * p).backward()
    assert np.isfinite(scores.grad.data).all() and p.data[0, 1] == 0
    with pytest.raises(AnomalyError, match="Log gave"), detect_anomaly():
        F.log(F.masked_fill(scores, causal, 0.0))  # a finite setting: a real -inf is still caught
