"""Weights on disk: safetensors round trips, atomic writes, corrupt files, clear mismatch errors."""

import builtins
import importlib.util
import json
import os
import stat

import numpy as np
import pytest

import compgraph.nn as nn
from compgraph import _files

needs_io = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None, reason="needs safetensors: pip install 'compgraph[io]'"
)


def _model(seed=0, dtype=np.float32):
    return nn.Sequential(nn.Linear(3, 4, dtype=dtype, rng=seed), nn.ReLU(), nn.BatchNorm(4, dtype=dtype))


@needs_io
def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    source = _model(0)
    source[2].running_mean[...] = [1.0, 2.0, 3.0, 4.0]
    path = tmp_path / "model.safetensors"
    source.save(path)
    target = _model(1)
    assert target.load(path) is target
    for (name, a), (name_b, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert name == name_b and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@needs_io
def test_the_file_is_safetensors_json_header_and_raw_bytes(tmp_path):
    # no pickle: an 8-byte little-endian header length, a JSON header, then the tensor bytes
    path = tmp_path / "w.safetensors"
    nn.save_file({"W": np.arange(6, dtype=np.float32).reshape(2, 3)}, path, {"note": "hi"})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert header["W"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["__metadata__"] == {"note": "hi"}
    np.testing.assert_array_equal(np.frombuffer(raw[8 + n :], "<f4"), np.arange(6))
    tensors, metadata = nn.load_file(path)
    assert metadata == {"note": "hi"} and tensors["W"].shape == (2, 3)


@needs_io
def test_a_failed_write_leaves_the_old_file_intact_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    _model(0).save(path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of the data, then fails: a crash mid-write."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        _model(1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]
    _model(2).load(path)  # still a valid file


@needs_io
def test_an_interrupt_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    _model(0).save(path)
    before = path.read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _model(1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_a_new_file_gets_ordinary_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    path = tmp_path / "w.safetensors"
    nn.atomic_write(path, b"one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    nn.atomic_write(path, b"two")
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o640


@needs_io
@pytest.mark.parametrize("cut", [0, 5, 40, -10])
def test_truncated_or_garbage_files_raise_a_value_error_naming_the_file(tmp_path, cut):
    good = tmp_path / "good.safetensors"
    _model().save(good)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:cut] if cut else b"\x00" * 3)
    with pytest.raises(ValueError, match=r"bad\.safetensors is not a valid safetensors file"):
        _model().load(bad)


@needs_io
def test_loading_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file at"):
        _model().load(tmp_path / "nope.safetensors")


@needs_io
def test_loading_weights_of_another_model_lists_the_differences(tmp_path):
    path = tmp_path / "wide.safetensors"
    nn.Sequential(nn.Linear(3, 5, rng=0)).save(path)
    with pytest.raises(ValueError) as info:
        _model().load(path)
    message = str(info.value)
    assert f"from {path}" in message
    assert "0.W: shape (3, 4) in the model, (3, 5) in the state" in message
    assert "missing: 2.gamma, 2.beta, 2.running_mean, 2.running_var" in message


@needs_io
def test_loading_float64_weights_into_a_float32_model_is_refused(tmp_path):
    path = tmp_path / "f64.safetensors"
    _model(dtype=np.float64).save(path)
    with pytest.raises(ValueError, match=r"0\.W: dtype float32 in the model, float64 in the state"):
        _model().load(path)
    _model().astype(np.float64).load(path)


@needs_io
def test_zero_d_and_non_contiguous_arrays_keep_their_shapes(tmp_path):
    path = tmp_path / "odd.safetensors"
    columns = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    nn.save_file({"step": np.array(7, dtype=np.int64), "cols": columns}, path)
    tensors, _ = nn.load_file(path)
    assert tensors["step"].shape == () and tensors["step"] == 7
    np.testing.assert_array_equal(tensors["cols"], columns)


@needs_io
def test_metadata_must_be_strings(tmp_path):
    with pytest.raises(TypeError, match=r"metadata must map str to str.*json\.dumps"):
        nn.save_file({"W": np.zeros(1)}, tmp_path / "m.safetensors", {"epoch": 3})
    with pytest.raises(TypeError, match="'W' is a list"):
        nn.save_file({"W": [1.0]}, tmp_path / "m.safetensors")


def test_without_safetensors_the_error_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_safetensors(name, *args, **kwargs):
        if name.startswith("safetensors"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_safetensors)
    with pytest.raises(ImportError, match=r"pip install 'compgraph\[io\]'"):
        _model().save(tmp_path / "m.safetensors")
    with pytest.raises(ImportError, match="loading weights needs the safetensors package"):
        _model().load(tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    ("dtype", "name"), [("bfloat16", "BF16"), ("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2")]
)
def test_a_tensor_of_a_dtype_numpy_lacks_is_a_value_error_naming_file_tensor_and_dtype(tmp_path, dtype, name):
    import safetensors.torch
    import torch

    path = tmp_path / "half.safetensors"
    tensors = {"fine": torch.ones(2), "layer.W": torch.ones(2, 3).to(getattr(torch, dtype))}
    safetensors.torch.save_file(tensors, str(path))
    with pytest.raises(ValueError) as info:
        nn.load_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: tensor 'layer.W' has dtype {name}, which NumPy")
    assert "tensor.float()" in message
    with pytest.raises(ValueError, match=rf"tensor 'layer\.W' has dtype {name}"):
        nn.Sequential(nn.Linear(2, 3)).load(path)
