"""Accuracy on real MNIST digits, with the issue's recipes, and an end-to-end check of training.

The data: the 10,000 MNIST test digits in ``<repo>/../shared/data/mnist`` (or
$COMPGRAPH_MNIST_DIR); the first 8,000 train, the last 2,000 test, pixels scaled to [0, 1].
Skipped when the files are absent. Reference (PyTorch 2.13, same split, mean of 3 seeds):
MLP 784-100-10 94.6%, SimpleConvNet 98.25%. Run time on 2 cores: about 5 s for the MLP
tests and 13-35 s (by BLAS kernel) for the CNN one, which is marked slow (``-m slow``).

The initial MLP weights in ``tests/data_files/mlp_784_100_10_seed0.npz`` were drawn with
NumPy from seed 0 (see ``test_stored_initial_weights_are_the_seeded_draw``) and are stored so
that other libraries can start from exactly the same point.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn
import compgraph.optim as optim
from compgraph.data import DataLoader, mnist

ROOT = Path(__file__).resolve().parent.parent
INIT_FILE = ROOT / "tests" / "data_files" / "mlp_784_100_10_seed0.npz"


def _mnist_dir() -> Path:
    return Path(os.environ.get("COMPGRAPH_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")


@pytest.fixture(scope="module")
def digits():
    root = _mnist_dir()
    if not (root / "t10k-images-idx3-ubyte.gz").is_file() and not (root / "t10k-images-idx3-ubyte").is_file():
        pytest.skip(f"MNIST test set not found in {root} (set COMPGRAPH_MNIST_DIR)")
    data = mnist(root, train=False)
    assert data.x.shape == (10_000, 1, 28, 28) and data.x.dtype == np.float32
    assert data.x.min() >= 0.0 and data.x.max() == 1.0
    return data[:8000], data[8000:]


def _flat(ds):
    return ds.x.reshape(len(ds.x), -1), ds.t


def _accuracy(model, x, t):
    with cg.no_grad():
        return float((model(x).data.argmax(axis=1) == t).mean())


def _train(model, optimizer, train_set, epochs, seed, batch_size=100):
    losses = []
    loader = DataLoader(train_set, batch_size, shuffle=True, seed=seed)
    for _ in range(epochs):
        for x, t in loader:
            loss = F.softmax_cross_entropy(model(x), t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.data))
    return np.array(losses)


def _numpy_reference(state, x, t, epochs, seed, lr=0.1, batch_size=100):
    """The same MLP and SGD written out by hand in NumPy: forward, backward, update.

    Computed in the dtype of ``state`` and ``x``, as the engine computes in its parameters'.
    """
    W1, b1, W2, b2 = (state[k].copy() for k in ("fc1.W", "fc1.b", "fc2.W", "fc2.b"))
    dtype = W1.dtype.type
    losses = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, tb = x[idx], t[idx]
            n = len(tb)
            h = xb @ W1 + b1
            a = np.maximum(h, 0)
            s = a @ W2 + b2
            z = s - s.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            losses.append(float(-log_p[np.arange(n), tb].mean()))
            ds = np.exp(log_p)  # softmax, from the log-probabilities the loss already has
            ds[np.arange(n), tb] -= 1
            ds *= dtype(1) / n
            dW2, db2 = a.T @ ds, ds.sum(axis=0)
            dh = (ds @ W2.T) * (h > 0)
            dW1, db1 = xb.T @ dh, dh.sum(axis=0)
            for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
                p -= dtype(lr) * g
    return np.array(losses), {"fc1.W": W1, "fc1.b": b1, "fc2.W": W2, "fc2.b": b2}


def test_stored_initial_weights_are_the_seeded_draw():
    rng = np.random.default_rng(0)
    expected = {
        "fc1.W": (rng.standard_normal((784, 100)) * np.sqrt(2 / 784)).astype(np.float32),  # He
        "fc1.b": np.zeros(100, np.float32),
        "fc2.W": (rng.standard_normal((100, 10)) * np.sqrt(2 / 110)).astype(np.float32),  # Xavier
        "fc2.b": np.zeros(10, np.float32),
    }
    with np.load(INIT_FILE, allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(expected)
        for name, value in expected.items():
            np.testing.assert_array_equal(stored[name], value)
    # and they are what MLP((784, 100, 10), rng=0) starts from
    model_state = nn.MLP((784, 100, 10), rng=0).state_dict()
    for name, value in expected.items():
        np.testing.assert_array_equal(model_state[name], value)


def _engine_and_reference(digits, dtype, epochs):
    """Train the MLP from the stored weights with the engine and by hand: (losses, state) each."""
    train_set, _ = digits
    with np.load(INIT_FILE, allow_pickle=False) as stored:
        init = {k: stored[k].astype(dtype) for k in stored.files}
    x, t = _flat(train_set)
    x = x.astype(dtype)
    model = nn.MLP((784, 100, 10), dtype=dtype)
    model.load_state_dict(init)
    losses = _train(model, optim.SGD(model.parameters(), lr=0.1), type(train_set)(x, t), epochs, seed=0)
    ref_losses, ref_state = _numpy_reference(init, x, t, epochs, seed=0)
    assert len(losses) == len(ref_losses) == epochs * 80
    state = model.state_dict()
    assert all(p.dtype == dtype for p in state.values())
    return (losses, state), (ref_losses, ref_state)


def _test_accuracy(state, test_set):
    model = nn.MLP((784, 100, 10), dtype=state["fc1.W"].dtype)
    model.load_state_dict(state)
    x, t = _flat(test_set)
    return _accuracy(model, x.astype(state["fc1.W"].dtype), t)


# Step-by-step agreement is checked where it is exact by design. The engine and the by-hand
# reference do the same arithmetic, but not always in the same order (BLAS picks its kernels,
# and with them its summation order, per CPU), so each step may differ by a rounding error,
# and SGD amplifies such differences over many steps. In float64 a rounding error is 1e-16
# and stays far below any difference a wrong derivative makes (measured: under 1e-14 after
# 400 steps); in float32 it is 1e-7 and grows to 4e-4 over 1,600 steps (AMD EPYC, AVX2), so
# the long float32 run is checked by its outcome instead.


def test_mlp_matches_a_numpy_reference_step_by_step(digits):
    # float64, 5 epochs: every loss and the final weights agree to 1e-10
    (losses, state), (ref_losses, ref_state) = _engine_and_reference(digits, np.float64, epochs=5)
    np.testing.assert_allclose(losses, ref_losses, rtol=0, atol=1e-10)
    for name, p in state.items():
        np.testing.assert_allclose(p, ref_state[name], rtol=0, atol=1e-10, err_msg=name)


def test_mlp_float32_training_ends_where_the_numpy_reference_does(digits):
    # The recipe's own dtype and length (float32, 20 epochs): step by step while rounding
    # differences are still rounding-sized (the first epoch: 2.4e-7 measured), then what a
    # user sees at the end: the last epoch's mean loss to 0.5% (0.01% measured) and the test
    # accuracy to 5 of the 2,000 test images (1 measured).
    (losses, state), (ref_losses, ref_state) = _engine_and_reference(digits, np.float32, epochs=20)
    np.testing.assert_allclose(losses[:80], ref_losses[:80], rtol=0, atol=1e-5)
    np.testing.assert_allclose(losses[-80:].mean(), ref_losses[-80:].mean(), rtol=5e-3)
    _, test_set = digits
    accuracy, ref_accuracy = _test_accuracy(state, test_set), _test_accuracy(ref_state, test_set)
    assert abs(accuracy - ref_accuracy) <= 5 / len(test_set.t), (accuracy, ref_accuracy)


def test_mlp_recipe_reaches_the_reference_accuracy(digits):
    # MLP 784-100-10 ReLU, SGD lr 0.1, batch 100, 20 epochs; mean over seeds, as the reference
    train_set, test_set = digits
    train_flat = type(train_set)(*_flat(train_set))
    accuracies = []
    for seed in range(3):
        model = nn.MLP((784, 100, 10), rng=seed)
        _train(model, optim.SGD(model.parameters(), lr=0.1), train_flat, epochs=20, seed=seed)
        accuracies.append(_accuracy(model, *_flat(test_set)))
    assert np.mean(accuracies) >= 0.943, accuracies
    assert min(accuracies) >= 0.935, accuracies


@pytest.mark.slow
def test_simple_conv_net_recipe_reaches_the_reference_accuracy(digits):
    # conv 30x5x5 - ReLU - max-pool 2 - affine 100 - ReLU - affine 10, Adam lr 0.001, batch 100, 10 epochs
    train_set, test_set = digits
    model = nn.SimpleConvNet(rng=0)
    # The margin is for rounding, which differs by CPU: after 800 float32 Adam steps a run on
    # another BLAS kernel ends on another set of weights, so the accuracy moves as with another
    # seed, if less. Measured (2,000 test images): seed 0 gets 1,964 with OpenBLAS's AVX-512
    # kernels, 1,963 with its AVX2 and SSE ones (OPENBLAS_CORETYPE=Haswell, Sandybridge); seeds
    # 0-7 get 1,960-1,974, 98.4% +- 0.22% (4.4 images). 97.5% is 10 images under the worst seed
    # and 4 standard deviations under the mean; the old 98% passed by 3 images on AVX2 and seed 3
    # meets it exactly. The loss falls 92-200x over the run (seeds 0-7), against the 5x asked.
    losses = _train(model, optim.Adam(model.parameters(), lr=0.001), train_set, epochs=10, seed=0)
    assert losses[-80:].mean() < losses[:80].mean() / 5
    assert _accuracy(model, test_set.x, test_set.t) >= 0.975
