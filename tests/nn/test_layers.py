"""Layers and models: values against NumPy, initialisation, dtypes, modes, gradients, errors."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
import compgraph.nn as nn


def _gradcheck_module(module, x, *, atol=1e-5, rtol=1e-4):
    """Check every parameter's gradient of module(x) numerically (module in float64).

    gradcheck calls f with fresh Variables; they stand in for the Parameters during the call.
    """
    slots = [(owner, attr) for _, owner, attr, _, is_buffer in module._state_entries() if not is_buffer]
    originals = [getattr(owner, attr) for owner, attr in slots]

    def f(*values):
        for (owner, attr), v in zip(slots, values):
            setattr(owner, attr, v)
        try:
            return module(x)
        finally:
            for (owner, attr), p in zip(slots, originals):
                setattr(owner, attr, p)

    return cg.gradcheck(f, *[p.data for p in originals], atol=atol, rtol=rtol)


def test_linear_computes_x_w_plus_b_in_float32():
    layer = nn.Linear(3, 2, rng=0)
    assert layer.W.shape == (3, 2) and layer.b.shape == (2,)
    assert layer.W.dtype == layer.b.dtype == np.float32
    np.testing.assert_array_equal(layer.b.data, [0.0, 0.0])
    layer.b.data[...] = [1.0, -1.0]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ layer.W.data + [1.0, -1.0], rtol=1e-6)


def test_linear_gradients_check_out_in_float64():
    layer = nn.Linear(4, 3, dtype=np.float64, rng=1)
    layer.b.data[...] = [0.1, -0.2, 0.3]
    x = np.random.default_rng(2).normal(size=(5, 4))
    assert _gradcheck_module(layer, x)


def test_he_and_xavier_scales():
    he = nn.Linear(1000, 500, rng=0).W.data
    xavier = nn.Linear(1000, 500, init="xavier", rng=0).W.data
    assert he.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.01)
    assert xavier.std() == pytest.approx(np.sqrt(2 / 1500), rel=0.01)
    assert abs(he.mean()) < 0.001
    conv = nn.Conv2d(8, 16, 3, rng=0).W.data
    assert conv.std() == pytest.approx(np.sqrt(2 / (8 * 9)), rel=0.05)


def test_initialisation_is_seeded_and_dtype_independent():
    a, b = nn.Linear(5, 4, rng=7), nn.Linear(5, 4, rng=7)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert not np.array_equal(a.W.data, nn.Linear(5, 4, rng=8).W.data)
    wide = nn.Linear(5, 4, dtype=np.float64, rng=7)
    assert wide.W.dtype == np.float64
    np.testing.assert_array_equal(wide.W.data.astype(np.float32), a.W.data)
    # one generator passed along draws different weights for each layer
    rng = np.random.default_rng(0)
    assert not np.array_equal(nn.Linear(5, 4, rng=rng).W.data, nn.Linear(5, 4, rng=rng).W.data)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: nn.Linear(0, 3), ValueError, "in_features must be a positive int, got 0"),
        (lambda: nn.Linear(3.5, 2), TypeError, "in_features must be a positive int, got float 3.5"),
        (lambda: nn.Conv2d(1, 2, (3, 2.0)), TypeError, "kernel_size must be a positive int, got float"),
        (lambda: nn.Embedding(10, "4"), TypeError, "dim must be a positive int, got str '4'"),
        (lambda: nn.Linear(3, 2, init="lecun"), ValueError, "unknown init 'lecun'"),
        (lambda: nn.Linear(3, 2, dtype=np.int32), TypeError, "floating-point"),
        (lambda: nn.Linear(3, 2, rng="seed"), TypeError, "rng must be"),
        (lambda: nn.Conv2d(1, 2, 3, pad=-1), ValueError, "pad must be >= 0"),
        (lambda: nn.Dropout(1.0), ValueError, r"p must lie in \[0, 1\)"),
        (lambda: nn.BatchNorm(4, momentum=2.0), ValueError, "momentum"),
        (lambda: nn.Sequential(nn.ReLU(), np.tanh), TypeError, "item 1 is a ufunc"),
        (lambda: nn.MLP((784,)), ValueError, "at least an input and an output"),
        (lambda: nn.MLP((2, 3), activation="gelu"), ValueError, "unknown activation 'gelu'"),
    ],
)
def test_bad_layer_arguments_are_refused_clearly(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_conv2d_layer_matches_the_function():
    layer = nn.Conv2d(2, 3, 3, stride=1, pad=1, rng=0)
    layer.b.data[...] = [0.5, 0.0, -0.5]
    assert layer.W.shape == (3, 2, 3, 3)
    x = np.random.default_rng(1).normal(size=(2, 2, 5, 5)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 3, 5, 5) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, F.conv2d(x, layer.W.data, layer.b.data, stride=1, pad=1).data)


def test_conv2d_layer_gradients_check_out():
    layer = nn.Conv2d(2, 2, (2, 3), stride=2, dtype=np.float64, rng=0)
    x = np.random.default_rng(3).normal(size=(2, 2, 5, 6))
    assert _gradcheck_module(layer, x)


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    bn = nn.BatchNorm(2, momentum=0.5)
    x = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)
    y = bn(x)
    np.testing.assert_allclose(y.data, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-4)
    # running = 0.5·running + 0.5·batch (variance unbiased: 2 and 200)
    np.testing.assert_allclose(bn.running_mean, [1.0, 10.0])
    np.testing.assert_allclose(bn.running_var, [1.5, 100.5])
    bn.eval()
    y = bn(x)
    np.testing.assert_allclose(y.data, (x - [1.0, 10.0]) / np.sqrt(np.array([1.5, 100.5]) + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean, [1.0, 10.0])  # eval leaves them alone
    assert list(bn.state_dict()) == ["gamma", "beta", "running_mean", "running_var"]


def test_batch_norm_on_images_and_its_shape_error():
    bn = nn.BatchNorm(3)
    assert bn(np.ones((2, 3, 4, 4), dtype=np.float32)).shape == (2, 3, 4, 4)
    with pytest.raises(
        ValueError,
        match=r"BatchNorm \(3, momentum=0.1, eps=1e-05\): expected input of shape \(N, 3\).*got \(2, 4\)",
    ):
        bn(np.ones((2, 4), dtype=np.float32))


def test_dropout_drops_in_training_only():
    drop = nn.Dropout(0.5, rng=0)
    x = np.ones((1000,), dtype=np.float32)
    y = drop(x).data
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 400 < (y == 0).sum() < 600
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x)


def test_pooling_and_activation_layers_wrap_their_functions():
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4) - 16
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, F.max_pool2d(x, 2).data)
    np.testing.assert_array_equal(nn.AvgPool2d(2, 1)(x).data, F.avg_pool2d(x, 2, 1).data)
    np.testing.assert_array_equal(nn.ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_array_equal(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)), atol=1e-6)
    assert nn.Flatten()(x).shape == (1, 32)


def test_embedding_looks_up_rows():
    emb = nn.Embedding(5, 3, rng=0)
    ids = np.array([[4, 0], [4, 4]])
    y = emb(ids)
    assert y.shape == (2, 2, 3)
    np.testing.assert_array_equal(y.data[0, 0], emb.W.data[4])
    F.sum(y).backward()
    np.testing.assert_array_equal(emb.W.grad.data[:, 0], [1.0, 0.0, 0.0, 0.0, 3.0])


def test_sequential_applies_in_order_and_indexes():
    net = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
    assert len(net) == 3 and isinstance(net[1], nn.ReLU) and net[-1] is net[2]
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    expected = np.maximum(x @ net[0].W.data, 0) @ net[2].W.data
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-6)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(IndexError, match="index 3 out of range for 3"):
        net[3]


def test_mlp_layers_names_and_forward():
    mlp = nn.MLP((4, 8, 6, 3), rng=0)
    assert [n for n, _ in mlp.named_parameters()] == ["fc1.W", "fc1.b", "fc2.W", "fc2.b", "fc3.W", "fc3.b"]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    h = np.maximum(np.maximum(x @ mlp.fc1.W.data, 0) @ mlp.fc2.W.data, 0)
    np.testing.assert_allclose(mlp(x).data, h @ mlp.fc3.W.data, rtol=1e-5, atol=1e-6)
    # images are flattened per sample
    assert mlp(np.ones((5, 1, 2, 2), dtype=np.float32)).shape == (5, 3)
    # hidden layers He (under ReLU), the output layer Xavier
    big = nn.MLP((2000, 1000, 1000), rng=0)
    assert big.fc1.W.data.std() == pytest.approx(np.sqrt(2 / 2000), rel=0.02)
    assert big.fc2.W.data.std() == pytest.approx(np.sqrt(2 / 2000), rel=0.02)
    assert nn.MLP((2000, 1000, 10), "tanh", rng=0).fc1.W.data.std() == pytest.approx(
        np.sqrt(2 / 3000), rel=0.02
    )


def test_mlp_gradients_check_out_in_float64():
    mlp = nn.MLP((3, 4, 2), "tanh", dtype=np.float64, rng=0)
    x = np.random.default_rng(1).normal(size=(4, 3))
    assert _gradcheck_module(mlp, x)


def test_simple_conv_net_shapes_and_input_check():
    net = nn.SimpleConvNet(rng=0)
    assert [(n, p.shape) for n, p in net.named_parameters()] == [
        ("conv1.W", (30, 1, 5, 5)),
        ("conv1.b", (30,)),
        ("fc1.W", (4320, 100)),
        ("fc1.b", (100,)),
        ("fc2.W", (100, 10)),
        ("fc2.b", (10,)),
    ]
    y = net(np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert y.shape == (2, 10) and y.dtype == np.float32
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 1, 28, 28\), got \(2, 784\)"):
        net(np.zeros((2, 784), dtype=np.float32))


def test_simple_conv_net_gradients_check_out_on_a_small_input():
    net = nn.SimpleConvNet((1, 6, 6), filters=2, kernel=3, hidden=3, classes=2, dtype=np.float64, rng=0)
    for p in net.parameters():  # biases away from zero so no ReLU sits on its kink
        p.data += 0.05
    x = np.random.default_rng(4).normal(size=(2, 1, 6, 6))
    assert _gradcheck_module(net, x, atol=1e-4, rtol=1e-3)


def test_a_float32_layer_refuses_float64_input_as_pytorch_does():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.nn.Linear(3, 2)(torch.zeros(1, 3, dtype=torch.float64))
    model = nn.MLP((3, 4, 2), rng=0)
    message = (
        r"Linear 'fc1' \(3 -> 4\) holds float32 parameters but got float64 input; convert the input "
        r"with x.astype\(np.float32\), or build the layer with dtype=np.float64 "
        r"\(model.astype\(np.float64\) converts a model\)"
    )
    with pytest.raises(TypeError, match=message):
        model(np.zeros((1, 3)))
    with pytest.raises(TypeError, match=r"^Linear \(3 -> 2\) holds float32 parameters but got float64"):
        nn.Linear(3, 2)(cg.Variable(np.zeros((1, 3))))
    # either fix works, and gives the dtype asked for
    assert model(np.zeros((1, 3)).astype(np.float32)).dtype == np.float32
    assert model.astype(np.float64)(np.zeros((1, 3))).dtype == np.float64


def test_a_float64_layer_refuses_float32_input():
    with pytest.raises(TypeError, match=r"holds float64 parameters but got float32 input"):
        nn.Linear(3, 2, dtype=np.float64)(np.zeros((1, 3), dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_integer_input_is_refused_with_the_scaling_hint(dtype):
    # uint8 pixels through a float32 layer would train on unscaled 0-255 values, int64 would
    # silently compute in float64: both are refused, as PyTorch refuses them
    with pytest.raises(TypeError, match=r"scaling images to \[0, 1\] too \(x.astype\(np.float32\) / 255\)"):
        nn.Conv2d(1, 2, 3, rng=0)(np.zeros((1, 1, 4, 4), dtype=dtype))


def test_lists_and_numbers_take_the_layer_dtype():
    assert nn.Linear(3, 2, rng=0)([[1.0, 2.0, 3.0]]).dtype == np.float32
    assert nn.MLP((3, 2), dtype=np.float64, rng=0)([[1, 2, 3]]).dtype == np.float64
    assert nn.BatchNorm(2)([[1.0, 2.0], [3.0, 5.0]]).dtype == np.float32


def test_conv2d_and_batch_norm_check_the_dtype_too():
    net = nn.SimpleConvNet((1, 6, 6), filters=2, kernel=3, hidden=4, classes=2, rng=0)
    with pytest.raises(
        TypeError, match=r"^Conv2d 'conv1' \(1 -> 2, kernel 3x3, stride 1, pad 0\) holds float32"
    ):
        net(np.zeros((1, 1, 6, 6)))
    bn = nn.Sequential(nn.Linear(2, 2, rng=0), nn.BatchNorm(2))
    with pytest.raises(
        TypeError, match=r"^BatchNorm '1' \(2, momentum=0.1, eps=1e-05\) holds float32 .* float64"
    ):
        bn[1](np.zeros((2, 2)))


def test_shape_errors_name_the_layer_by_its_place():
    model = nn.MLP((3, 4, 2), rng=0)
    with pytest.raises(
        ValueError, match=r"^Linear 'fc1' \(3 -> 4\): expected input of shape \(N, 3\), got \(2, 5\)"
    ):
        model(np.zeros((2, 5), dtype=np.float32))
    conv = nn.Sequential(nn.Conv2d(3, 2, 3, rng=0))
    with pytest.raises(
        ValueError,
        match=r"^Conv2d '0' \(3 -> 2, .*\): expected input of shape \(N, 3, H, W\), got \(1, 4, 5, 5\)",
    ):
        conv(np.zeros((1, 4, 5, 5), dtype=np.float32))
