"""LR schedules: the formula at its edges, PyTorch's schedulers, saving and resuming with the optimizer."""

import doctest
import itertools
import math

import numpy as np
import pytest

import compgraph.functions as F
import compgraph.nn as nn
from compgraph import Variable
from compgraph.nn import load_file, save_file
from compgraph.optim import (
    SGD,
    AdamW,
    StepLR,
    WarmupCosineLR,
    schedule,
    warmup_cosine_lr,
    weight_decay_groups,
)


def _opt(lr=1e-3):
    return SGD([Variable(np.zeros(2))], lr=lr)


def _lrs(sched, steps):
    """The optimizer's lr at steps 0 .. steps − 1, calling step() between them."""
    out = [sched.optimizer.lr]
    for _ in range(steps - 1):
        sched.step()
        out.append(sched.optimizer.lr)
    return out


def test_warmup_cosine_at_its_edges():
    lr, lo, warm, decay = 1e-3, 1e-4, 100, 2000
    f = lambda s: warmup_cosine_lr(s, lr, warm, decay, lo)  # noqa: E731
    assert f(0) == lr / 101  # nanoGPT warms up as (it + 1) / (warmup_iters + 1)
    assert f(99) == lr * 100 / 101
    assert f(100) == lr  # the end of the warm-up is the peak
    assert f(1050) == pytest.approx((lr + lo) / 2, rel=1e-15)  # half-way down the cosine
    assert f(2000) == lo  # the last step reaches min_lr
    assert f(2001) == f(10**9) == lo  # and it stays there
    assert f(1999) == pytest.approx(lo + (lr - lo) * 0.5 * (1 + math.cos(math.pi * 1899 / 1900)), rel=1e-15)
    lrs = [f(s) for s in range(2100)]
    assert all(a < b for a, b in itertools.pairwise(lrs[:101]))  # rising, then falling
    assert all(a > b for a, b in itertools.pairwise(lrs[100:2001]))


def test_warmup_cosine_lr_matches_lambda_lr_with_nanogpts_get_lr():
    torch = pytest.importorskip("torch")
    lr, lo, warm, decay, steps = 1e-3, 1e-4, 10, 50, 60

    def get_lr(it):  # nanoGPT train.py's get_lr, as a factor of the peak lr
        if it < warm:
            return lr * (it + 1) / (warm + 1) / lr
        if it > decay:
            return lo / lr
        ratio = (it - warm) / (decay - warm)
        return (lo + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - lo)) / lr

    opt_t = torch.optim.AdamW([torch.zeros(2, requires_grad=True)], lr=lr)
    sched_t = torch.optim.lr_scheduler.LambdaLR(opt_t, get_lr)
    theirs = []
    for _ in range(steps):
        theirs.append(opt_t.param_groups[0]["lr"])
        opt_t.step()
        sched_t.step()
    ours = _lrs(WarmupCosineLR(_opt(lr), warmup_steps=warm, decay_steps=decay, min_lr=lo), steps)
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)


def test_without_warm_up_it_is_cosine_annealing_up_to_decay_steps():
    torch = pytest.importorskip("torch")
    lr, lo, t_max = 0.1, 0.01, 20
    opt_t = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)
    sched_t = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=t_max, eta_min=lo)
    theirs = []
    for _ in range(t_max + 1):
        theirs.append(opt_t.param_groups[0]["lr"])
        opt_t.step()
        sched_t.step()
    ours = _lrs(WarmupCosineLR(_opt(lr), warmup_steps=0, decay_steps=t_max, min_lr=lo), t_max + 3)
    np.testing.assert_allclose(ours[: t_max + 1], theirs, rtol=1e-12)  # PyTorch's is a recurrence
    assert ours[t_max:] == [lo] * 3  # PyTorch's cosine would rise again; this one stays at min_lr


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (7, 0.9)])
def test_step_lr_matches_pytorch(step_size, gamma):
    torch = pytest.importorskip("torch")
    opt_t = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    sched_t = torch.optim.lr_scheduler.StepLR(opt_t, step_size=step_size, gamma=gamma)
    theirs = []
    for _ in range(25):
        theirs.append(opt_t.param_groups[0]["lr"])
        opt_t.step()
        sched_t.step()
    sched = StepLR(_opt(0.1), step_size=step_size, gamma=gamma)
    np.testing.assert_allclose(_lrs(sched, 25), theirs, rtol=1e-13)
    assert [sched.lr_at(s) for s in range(25)] == _lrs(StepLR(_opt(0.1), step_size, gamma), 25)


def test_lr_at_is_pure_and_step_sets_the_optimizer_lr():
    opt = _opt(0.1)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    assert opt.lr == 0.1 and sched.last_step == 0
    assert sched.lr_at(7) == 0.1 * 0.5**3 and sched.last_step == 0 and opt.lr == 0.1
    assert [sched.step() for _ in range(3)] == [0.1, 0.05, 0.05]
    assert opt.lr == 0.05 and sched.last_step == 3
    assert sched.lr == 0.1  # the starting lr is kept, not the optimizer's current one
    assert sched.set_step(6) == 0.1 * 0.5**3 == opt.lr and sched.last_step == 6
    with pytest.raises(ValueError, match="step must be a non-negative int, got -2"):
        sched.set_step(-2)


def test_the_schedule_sets_the_lr_of_every_group():
    a, b = Variable(np.array([1.0])), Variable(np.array([1.0]))
    opt = SGD([{"params": [a], "weight_decay": 0.0}, {"params": [b], "weight_decay": 1.0}], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.5, 0.0])  # both stepped at lr 0.5


def _train(model, opt, sched, x, t, steps):
    for _ in range(steps):
        opt.zero_grad()
        F.softmax_cross_entropy(model(x), t).backward()
        opt.step()
        sched.step()


def test_saved_with_the_optimizer_state_in_one_file_training_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(8, 3)), rng.integers(0, 2, size=8)

    def make(model):
        opt = AdamW(weight_decay_groups(model.parameters(), 0.1), lr=1e-2, betas=(0.9, 0.99))
        return opt, WarmupCosineLR(opt, warmup_steps=3, decay_steps=12, min_lr=1e-3)

    model = nn.MLP((3, 5, 2), rng=0, dtype=np.float64)
    opt, sched = make(model)
    _train(model, opt, sched, x, t, 5)
    save_file(model.state_dict(), tmp_path / "run.safetensors")
    save_file({**opt.state_dict(), **sched.state_dict()}, tmp_path / "run.optim.safetensors")
    _train(model, opt, sched, x, t, 10)

    resumed = nn.MLP((3, 5, 2), rng=1, dtype=np.float64)
    resumed.load_state_dict(load_file(tmp_path / "run.safetensors")[0])
    opt2, sched2 = make(resumed)
    state, _ = load_file(tmp_path / "run.optim.safetensors")
    assert state["schedule.step"].dtype == np.int64 and int(state["schedule.step"]) == 5
    opt2.load_state_dict(state)  # skips the schedule's entry
    sched2.load_state_dict(state)  # reads only its own
    assert opt2.lr == sched.lr_at(5) and sched2.last_step == 5
    _train(resumed, opt2, sched2, x, t, 10)
    assert opt2.lr == opt.lr == 1e-3
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)


def test_an_optimizer_state_saved_without_a_schedule_is_refused_by_the_schedule_only():
    opt = _opt()
    old = opt.state_dict()
    opt.load_state_dict(old)
    sched = StepLR(opt, step_size=2)
    with pytest.raises(
        ValueError, match=r"no 'schedule.step' entry .* saved without a schedule; call schedule.set_step"
    ):
        sched.load_state_dict(old)
    assert sched.last_step == 0


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"schedule.step": np.array(1.5)}, "a step count .* got float64 \\(\\) 1.5"),
        ({"schedule.step": np.array(-1)}, "got int64 \\(\\) -1"),
        ({"schedule.step": np.array([1, 2])}, "got int64 \\(2,\\)"),
        (
            {"schedule.step": np.array(1), "schedule.base": np.array(1)},
            "unexpected entries \\['schedule.base'\\]",
        ),
    ],
)
def test_load_state_dict_checks_the_step(state, match):
    sched = StepLR(_opt(), step_size=2)
    with pytest.raises(ValueError, match=match):
        sched.load_state_dict(state)
    assert sched.last_step == 0


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda o: WarmupCosineLR(o, 10, 10),
            ValueError,
            r"decay_steps \(10\) must be greater than warmup_steps \(10\)",
        ),
        (lambda o: WarmupCosineLR(o, -1, 10), ValueError, "warmup_steps must be a non-negative int, got -1"),
        (lambda o: WarmupCosineLR(o, 1, 2.5), TypeError, "decay_steps must be a positive int"),
        (lambda o: WarmupCosineLR(o, 1, 10, min_lr=1.0), ValueError, r"min_lr \(1.0\) must be at most lr"),
        (lambda o: WarmupCosineLR(o, 1, 10, lr=-1.0), ValueError, "lr must be a finite number >= 0"),
        (lambda o: StepLR(o, 0), ValueError, "step_size must be a positive int, got 0"),
        (lambda o: StepLR(o, 2, gamma=float("nan")), ValueError, "gamma must be a finite number"),
        (lambda o: StepLR(o, 2).lr_at(-1), ValueError, "step must be a non-negative int, got -1"),
        (lambda o: StepLR("adam", 2), TypeError, "expected an Optimizer .* got str"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, error, match):
    with pytest.raises(error, match=match):
        make(_opt(0.1))


def test_a_group_with_its_own_lr_is_refused_since_the_schedule_would_not_move_it():
    a, b = Variable(np.zeros(1)), Variable(np.zeros(1))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 1 sets its own lr"):
        StepLR(opt, step_size=2)


def test_doctests():
    assert doctest.testmod(schedule).failed == 0
