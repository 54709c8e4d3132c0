"""Weights on disk: the safetensors format (no pickle, no code on load), written atomically.

Files are written through ``compgraph._files.atomic_write``: a crash or an error at any point
leaves either the old file or the new one, never a torn mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from compgraph._files import atomic_write

_INSTALL = "pip install 'compgraph[io]'"


def _safetensors(action: str):
    try:
        import safetensors.numpy
    except ImportError as exc:
        raise ImportError(
            f"{action} needs the safetensors package, which is not installed: {_INSTALL}"
        ) from exc
    return safetensors


def save_file(
    tensors: Mapping[str, np.ndarray], path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write named arrays (and string metadata) to ``path`` as safetensors, atomically.

    >>> save_file({"W": np.eye(2, dtype=np.float32)}, "w.safetensors")  # doctest: +SKIP
    """
    st = _safetensors("saving weights")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {type(name).__name__}")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"save_file: {name!r} is a {type(value).__name__}, expected a numpy.ndarray")
        arrays[name] = value if value.flags.c_contiguous else value.copy(order="C")  # keeps 0-d
    meta = None
    if metadata is not None:
        meta = {}
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"save_file: metadata must map str to str, got {key!r}: {type(value).__name__} "
                    "(encode other values with json.dumps)"
                )
            meta[key] = value
    atomic_write(path, st.numpy.save(arrays, metadata=meta))


def load_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The named arrays and the metadata stored in a safetensors file.

    A file that is not valid safetensors (truncated, corrupt, another format), or that holds
    a tensor of a dtype NumPy has no type for (bfloat16, float8), raises a ValueError naming
    the file (and the tensor and its dtype).
    """
    st = _safetensors("loading weights")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with st.safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: _get_tensor(f, name, path) for name in f.keys()}  # noqa: SIM118 (not a dict)
    except st.SafetensorError as exc:
        raise ValueError(
            f"{path} is not a valid safetensors file ({exc}); it may be truncated or corrupt"
        ) from exc
    return tensors, metadata


def _get_tensor(f, name: str, path: Path) -> np.ndarray:
    """Tensor ``name`` of an open safetensors file; a ValueError for a dtype NumPy lacks."""
    # safetensors maps BF16 to a dtype name NumPy does not know (TypeError) and F8_* to
    # attributes of numpy that it lacks (AttributeError)
    try:
        return f.get_tensor(name)
    except (TypeError, AttributeError) as exc:
        dtype = f.get_slice(name).get_dtype()
        raise ValueError(
            f"{path}: tensor {name!r} has dtype {dtype}, which NumPy (and so compgraph) cannot "
            f"hold; convert the file's tensors to float32 first, e.g. in PyTorch with "
            f"tensor.float() ({exc})"
        ) from exc
