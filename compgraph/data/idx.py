"""The IDX file format of MNIST: a magic number, big-endian dimensions, then the values."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

# IDX type codes (third byte of the magic number); values are big-endian
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, gzip-compressed or not (detected from its first bytes).

    Raises a ValueError naming the file when it is not IDX, is truncated, has extra bytes, or
    its gzip stream is damaged.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path}: damaged gzip data ({exc}); the file is truncated or corrupt, delete it and "
                "download it again"
            ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number 0x{raw[:4].hex()}; expected 0x0000 followed by a "
            "type code and the number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, the dimensions need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "followed by extra bytes"
        raise ValueError(
            f"{path}: the IDX header announces shape {dims} of {dtype.name} ({expected} bytes) but the "
            f"data holds {len(raw)} bytes: the file is {state}; delete it and download it again"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))
