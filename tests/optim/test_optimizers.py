"""Optimizers: hand-computed steps, agreement with PyTorch, dtypes, untouched gradients, state."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn
from compgraph import Variable
from compgraph.optim import SGD, AdaGrad, Adam, AdamW, RMSProp


def _square_steps(make, steps, start=(1.0, 2.0)):
    """Minimise sum(w²) from ``start`` (gradient 2w) for ``steps`` steps; return w."""
    w = Variable(np.array(start))
    opt = make([w])
    for _ in range(steps):
        opt.zero_grad()
        F.sum(w * w).backward()
        opt.step()
    return w.data


@pytest.mark.parametrize(
    ("make", "steps", "expected"),
    [
        # g = (2, 4): w − 0.1·g
        (lambda p: SGD(p, lr=0.1), 1, [0.8, 1.6]),
        # buf = g; then buf = 0.9·(2, 4) + (1.6, 3.2) = (3.4, 6.8): (0.8, 1.6) − 0.1·buf
        (lambda p: SGD(p, lr=0.1, momentum=0.9), 2, [0.46, 0.92]),
        # d = g + 0.9·buf with buf = g: 1.9·(2, 4)
        (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True), 1, [0.62, 1.24]),
        # d = g + 0.5·w = (2.5, 5)
        (lambda p: SGD(p, lr=0.1, weight_decay=0.5), 1, [0.75, 1.5]),
        # s = g²: each element moves by lr·g/|g| = lr
        (lambda p: AdaGrad(p, lr=0.1), 1, [0.9, 1.9]),
        # v = 0.01·g², g/√v = 10: each element moves by 0.01·10
        (lambda p: RMSProp(p, lr=0.01), 1, [0.9, 1.9]),
        # the first Adam step is lr·g/|g|
        (lambda p: Adam(p, lr=0.1), 1, [0.9, 1.9]),
        # m = (0.36, 0.74), v = (0.007236, 0.030424), corrected by 0.19 and 0.001999
        (lambda p: Adam(p, lr=0.1), 2, [0.8004122286917927, 1.800166486115701]),
        # w·(1 − 0.1·0.1), then the Adam step of 0.1
        (lambda p: AdamW(p, lr=0.1, weight_decay=0.1), 1, [0.89, 1.88]),
    ],
)
def test_hand_computed_steps(make, steps, expected):
    np.testing.assert_allclose(_square_steps(make, steps), expected, rtol=1e-7)


TORCH_CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("AdaGrad", {"lr": 0.1, "weight_decay": 0.01}),
    ("RMSProp", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), TORCH_CASES)
def test_agrees_with_pytorch_over_several_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = {"SGD": SGD, "AdaGrad": AdaGrad, "RMSProp": RMSProp, "Adam": Adam, "AdamW": AdamW}[name]
    theirs = {"AdaGrad": torch.optim.Adagrad, "RMSProp": torch.optim.RMSprop}.get(name) or getattr(
        torch.optim, name
    )
    rng = np.random.default_rng(0)
    A, y, w0 = rng.normal(size=(6, 3)), rng.normal(size=6), rng.normal(size=3)

    w = Variable(w0.copy())
    opt = ours([w], **kwargs)
    wt = torch.tensor(w0.copy(), requires_grad=True)
    opt_t = theirs([wt], **kwargs)
    At, yt = torch.tensor(A), torch.tensor(y)
    for _ in range(6):
        opt.zero_grad()
        F.sum((F.matmul(A, w) - y) ** 2).backward()
        opt.step()
        opt_t.zero_grad()
        ((At @ wt - yt) ** 2).sum().backward()
        opt_t.step()
        np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=np.float64(0.1), momentum=np.float64(0.9), weight_decay=np.float64(1e-3)),
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: AdaGrad(p, lr=np.float64(0.1)),
        lambda p: RMSProp(p, momentum=0.9),
        lambda p: Adam(p, lr=np.float64(0.01), betas=(np.float64(0.9), 0.99), weight_decay=0.1),
        lambda p: AdamW(p, lr=np.float64(0.01)),
    ],
)
def test_float32_parameters_and_state_stay_float32(make):
    # NumPy promotes float32 arrays with 0-d float64 values: hyperparameters must not leak in as those
    model = nn.MLP((3, 4, 2), rng=0)
    opt = make(model.parameters())
    x = np.ones((2, 3), dtype=np.float32)
    for _ in range(3):
        opt.zero_grad()
        F.softmax_cross_entropy(model(x), np.array([0, 1])).backward()
        opt.step()
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    assert {v.dtype for k, v in opt.state_dict().items() if not k.endswith(".step")} == {np.dtype(np.float32)}


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: AdaGrad(p, weight_decay=0.1),
        lambda p: RMSProp(p, momentum=0.9, weight_decay=0.1),
        lambda p: Adam(p, weight_decay=0.1),
        lambda p: AdamW(p),
    ],
)
def test_gradients_are_never_written_to_even_when_shared(make):
    a, b = Variable(np.array([1.0, 2.0])), Variable(np.array([3.0, 4.0]))
    F.sum((a + b) * 3.0).backward()
    b.grad = a.grad  # a user may hand two parameters one gradient array (the engine never does)
    held = a.grad.data.copy()
    opt = make([a, b])
    for _ in range(3):  # the momentum buffer starts from the gradient, then accumulates
        opt.step()
    np.testing.assert_array_equal(a.grad.data, held)
    np.testing.assert_array_equal(b.grad.data, held)


def test_parameters_without_a_gradient_are_left_alone():
    used, unused = Variable(np.array([1.0])), Variable(np.array([5.0]))
    opt = Adam([used, unused], lr=0.1)
    F.sum(used * used).backward()
    opt.step()
    assert unused.data[0] == 5.0 and "step" not in opt.state[1]
    assert opt.state[0]["step"] == 1


def test_a_read_only_parameter_array_is_copied_not_written():
    frozen = np.array([1.0, 2.0])
    frozen.flags.writeable = False
    w = Variable(frozen)
    F.sum(w * w).backward()
    SGD([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    np.testing.assert_array_equal(frozen, [1.0, 2.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.05, momentum=0.9),
        lambda p: RMSProp(p, lr=0.01, momentum=0.5),
        lambda p: Adam(p, lr=0.05),
        lambda p: AdaGrad(p, lr=0.1),
    ],
)
def test_state_dict_lets_training_continue_exactly(make):
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(8, 3)).astype(np.float32), rng.integers(0, 2, size=8)

    def run(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            F.softmax_cross_entropy(model(x), t).backward()
            opt.step()

    model = nn.MLP((3, 5, 2), rng=0)
    opt = make(model.parameters())
    run(model, opt, 3)
    weights, state = model.state_dict(), opt.state_dict()
    run(model, opt, 4)

    resumed = nn.MLP((3, 5, 2), rng=99)
    resumed.load_state_dict(weights)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(state)
    run(resumed, opt2, 4)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)


def test_load_state_dict_checks_what_it_gets():
    w = Variable(np.zeros(3))
    opt = Adam([w])
    with pytest.raises(ValueError) as info:
        opt.load_state_dict(
            {"0.m": np.zeros(2), "0.step": np.array(1.5), "3.m": np.zeros(3), "lr": np.array(1)}
        )
    message = str(info.value)
    assert "0.m: (2,) float64 in the state, but parameter 0 is (3,) float64" in message
    assert "0.step: expected an integer step count" in message
    assert "unexpected entry '3.m'" in message and "unexpected entry 'lr'" in message
    assert opt.state == [{}]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: SGD([np.zeros(2)], lr=0.1), TypeError, "parameter 0 is a ndarray"),
        (lambda: SGD([Variable(np.arange(3))], lr=0.1), ValueError, "does not require a gradient"),
        (
            lambda: SGD([Variable(np.zeros(2), requires_grad=False)]),
            ValueError,
            "does not require a gradient",
        ),
        (lambda: SGD(2 * [Variable(np.zeros(2))]), ValueError, "appears twice"),
        (
            lambda: SGD([Variable(np.zeros(2))], lr=-0.1),
            ValueError,
            r"lr must be a finite number >= 0, got -0.1",
        ),
        (
            lambda: SGD([Variable(np.zeros(2))], lr=float("inf")),
            ValueError,
            r"lr must be a finite number >= 0, got inf",
        ),
        (lambda: SGD([Variable(np.zeros(2))], lr="fast"), TypeError, "lr must be a number"),
        (
            lambda: SGD([Variable(np.zeros(2))], momentum=1.0),
            ValueError,
            r"momentum must be a finite number in \[0, 1\)",
        ),
        (lambda: SGD([Variable(np.zeros(2))], nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
        (lambda: Adam([Variable(np.zeros(2))], betas=0.9), TypeError, "betas must be a pair"),
        (lambda: Adam([Variable(np.zeros(2))], betas=(0.9, 1.0)), ValueError, "beta2 must be"),
        (lambda: RMSProp([Variable(np.zeros(2))], eps=float("nan")), ValueError, "eps must be"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_gradient_of_the_wrong_shape_is_reported():
    w = Variable(np.zeros(3))
    w.grad = Variable(np.zeros(2))
    with pytest.raises(ValueError, match=r"SGD: a gradient of shape \(2,\) for a parameter of shape \(3,\)"):
        SGD([w]).step()


def test_zero_grad_clears_every_gradient():
    model = nn.MLP((2, 3, 2), rng=0)
    opt = SGD(model.parameters())
    F.sum(model(np.ones((1, 2), dtype=np.float32))).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert repr(opt) == "SGD(lr=0.01, 4 parameters)"


def test_training_a_tiny_problem_converges_with_every_optimizer():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    t = np.array([0, 1, 1, 0])  # XOR
    for make in (
        lambda p: SGD(p, lr=0.5, momentum=0.9),
        lambda p: AdaGrad(p, lr=0.5),
        lambda p: RMSProp(p, lr=0.01),
        lambda p: Adam(p, lr=0.05),
        lambda p: AdamW(p, lr=0.05),
    ):
        model = nn.MLP((2, 16, 2), rng=0)
        opt = make(model.parameters())
        for _ in range(300):
            opt.zero_grad()
            F.softmax_cross_entropy(model(x), t).backward()
            opt.step()
        with cg.no_grad():
            assert (model(x).data.argmax(axis=1) == t).all(), opt
