"""Parameter groups: per-group lr and weight decay, nanoGPT's AdamW against PyTorch, state format."""

import numpy as np
import pytest

import compgraph.functions as F
from compgraph import Variable
from compgraph.optim import SGD, Adam, AdamW, weight_decay_groups


def _problem(seed=0):
    """A matrix, a bias and an 'embedding' table, and data for a small least-squares loss."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (3, 4), "b": (4,), "emb": (5, 3)}
    start = {k: rng.normal(size=s) for k, s in shapes.items()}
    x, ids, y = rng.normal(size=(6, 3)), rng.integers(0, 5, size=6), rng.normal(size=(6, 4))
    return start, x, ids, y


def _ours_loss(p, x, ids, y):
    h = F.matmul(x + p["emb"][ids], p["w"]) + p["b"]
    return F.sum((h - y) ** 2)


def _torch_loss(torch, p, x, ids, y):
    h = (torch.tensor(x) + p["emb"][torch.tensor(ids)]) @ p["w"] + p["b"]
    return ((h - torch.tensor(y)) ** 2).sum()


@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs", "options"),
    [
        # nanoGPT: matrices (the embedding too) decayed, the bias not
        (
            "AdamW",
            "AdamW",
            {"lr": 1e-3, "betas": (0.9, 0.99)},
            ({"weight_decay": 0.1}, {"weight_decay": 0.0}),
        ),
        ("AdamW", "AdamW", {"lr": 0.05, "weight_decay": 0.3}, ({}, {"lr": 0.01, "weight_decay": 0.0})),
        ("Adam", "Adam", {"lr": 0.05}, ({"weight_decay": 0.2}, {"lr": 0.02})),
        ("SGD", "SGD", {"lr": 0.01, "momentum": 0.9}, ({"lr": 0.02, "weight_decay": 0.1}, {})),
    ],
)
def test_two_groups_agree_with_pytorch_step_by_step(ours, theirs, kwargs, options):
    torch = pytest.importorskip("torch")
    start, x, ids, y = _problem()
    mine = {k: Variable(v.copy()) for k, v in start.items()}
    ref = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in start.items()}

    def groups(params):
        matrices, vectors = [params["w"], params["emb"]], [params["b"]]
        return [{"params": matrices, **options[0]}, {"params": vectors, **options[1]}]

    opt = {"AdamW": AdamW, "Adam": Adam, "SGD": SGD}[ours](groups(mine), **kwargs)
    opt_t = getattr(torch.optim, theirs)(groups(ref), **kwargs)
    for _ in range(6):
        opt.zero_grad()
        _ours_loss(mine, x, ids, y).backward()
        opt.step()
        opt_t.zero_grad()
        _torch_loss(torch, ref, x, ids, y).backward()
        opt_t.step()
        for k in start:
            np.testing.assert_allclose(mine[k].data, ref[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_a_group_option_applies_to_that_group_only_and_the_optimizer_keeps_its_own():
    a, b = Variable(np.array([1.0])), Variable(np.array([1.0]))
    opt = SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1)
    for p in (a, b):
        p.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.5, 0.9])
    assert opt.lr == 0.1 and opt.param_groups[0]["lr"] == 0.5 and "lr" not in opt.param_groups[1]


def test_weight_decay_groups_decays_every_matrix_and_nothing_else():
    w, emb, b, ln = (Variable(np.zeros(s)) for s in ((3, 4), (5, 3), (4,), (3,)))
    decay, no_decay = weight_decay_groups([w, b, emb, ln], 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decay["params"] == [w, emb] and no_decay["params"] == [b, ln]
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        weight_decay_groups([w, np.zeros(2)], 0.1)
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0, got -1.0"):
        weight_decay_groups([w], -1.0)


def test_the_state_dict_numbers_parameters_through_the_groups_as_a_flat_list_does():
    start, x, ids, y = _problem(1)
    states = []
    for grouped in (False, True):
        params = {k: Variable(v.copy()) for k, v in start.items()}
        order = [params["w"], params["emb"], params["b"]]
        spec = [{"params": order[:2]}, {"params": order[2:]}] if grouped else order
        opt = AdamW(spec, lr=0.01)
        for _ in range(2):
            opt.zero_grad()
            _ours_loss(params, x, ids, y).backward()
            opt.step()
        states.append(opt.state_dict())
    flat, grouped = states
    assert sorted(flat) == sorted(grouped) == sorted(f"{i}.{s}" for i in range(3) for s in ("m", "v", "step"))
    for key, value in flat.items():
        np.testing.assert_array_equal(grouped[key], value)
    # a state saved by a flat-list optimizer loads into a grouped one (and back)
    params = [Variable(v.copy()) for v in (start["w"], start["emb"], start["b"])]
    opt = AdamW([{"params": params[:2], "weight_decay": 0.1}, {"params": params[2:], "weight_decay": 0.0}])
    opt.load_state_dict(flat)
    assert opt.state[2]["step"] == 2


def test_an_empty_group_is_allowed_but_not_an_empty_optimizer():
    w = Variable(np.zeros(2))
    opt = AdamW([{"params": [w]}, {"params": [], "weight_decay": 0.0}])
    w.grad = np.ones(2)
    opt.step()
    assert opt.state[0]["step"] == 1
    with pytest.raises(ValueError, match="empty parameter list"):
        AdamW([{"params": []}])


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            lambda w: [{"params": [w], "betas": (0.9, 0.9)}],
            ValueError,
            r"group 0 sets 'betas'; a group may set lr, weight_decay",
        ),
        (lambda w: [{"weight_decay": 0.1}], ValueError, "parameter group 0 has no 'params' entry"),
        (
            lambda w: [{"params": [w]}, w],
            TypeError,
            "mixes parameter groups .* with a Variable at position 1",
        ),
        (
            lambda w: [{"params": w}],
            TypeError,
            "group 0's 'params' must be a list of parameters, got Variable",
        ),
        (lambda w: w, TypeError, "got one Variable; wrap it in a list"),
        (
            lambda w: [{"params": [w], "lr": -1}],
            ValueError,
            "group 0 lr must be a finite number >= 0, got -1",
        ),
        (
            lambda w: [{"params": [w], "weight_decay": "x"}],
            TypeError,
            "group 0 weight_decay must be a number",
        ),
        (lambda w: [{"params": [w]}, {"params": [w]}], ValueError, "parameter 1 appears twice"),
    ],
)
def test_bad_groups_are_refused_clearly(params, error, match):
    with pytest.raises(error, match=match):
        AdamW(params(Variable(np.zeros(2))))


def test_repr_counts_the_groups():
    a, b = Variable(np.zeros(2)), Variable(np.zeros(2))
    assert repr(SGD([a, b], lr=0.1)) == "SGD(lr=0.1, 2 parameters)"
    assert repr(SGD([{"params": [a]}, {"params": [b]}], lr=0.1)) == "SGD(lr=0.1, 2 parameters, 2 groups)"
