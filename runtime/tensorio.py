"""The tensor file format shared with the target runtime (csrc/target/l2g_rt.c).

A file is a sequence of records, little-endian::

    u32 magic "TSNR" | u16 name_len | u8 dtype | u8 ndim | i64 shape[ndim] | u64 nbytes
    | name bytes | data bytes

The guest writes ``l2g_outputs.bin`` with ``l2g_output_tensor`` and reads
``l2g_inputs.bin`` with ``l2g_input_tensor``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from l2g.errors import L2GError

RECORD_MAGIC = 0x524E5354
OUTPUTS_FILE = "l2g_outputs.bin"
INPUTS_FILE = "l2g_inputs.bin"

#: dtype codes, in the order of l2g_dtype_t
DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(d) for d in ("<i1", "<u1", "<i2", "<i4", "<i8", "<f4", "<f8")
)
_HEAD = struct.Struct("<IHBB")


class TensorFileError(L2GError):
    pass


def dtype_code(dtype: np.dtype) -> int:
    dt = np.dtype(dtype).newbyteorder("<")
    for i, d in enumerate(DTYPES):
        if d == dt:
            return i
    raise TensorFileError(f"dtype {dtype} cannot cross to the target; supported: {', '.join(map(str, DTYPES))}")


def encode(tensors: Mapping[str, np.ndarray]) -> bytes:
    parts: list[bytes] = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        code = dtype_code(arr.dtype)
        raw_name = name.encode()
        if len(raw_name) >= 256:
            raise TensorFileError(f"tensor name too long (max 255 bytes): {name!r}")
        data = arr.astype(DTYPES[code], copy=False).tobytes()
        parts.append(_HEAD.pack(RECORD_MAGIC, len(raw_name), code, arr.ndim))
        parts.append(struct.pack(f"<{arr.ndim}q", *arr.shape))
        parts.append(struct.pack("<Q", len(data)))
        parts.append(raw_name)
        parts.append(data)
    return b"".join(parts)


def write(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    Path(path).write_bytes(encode(tensors))


def decode(buf: bytes, source: str = "<buffer>") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    view = memoryview(buf)
    off = 0
    while off < len(buf):
        if off + _HEAD.size > len(buf):
            raise TensorFileError(f"{source}: truncated record header at byte {off}")
        magic, name_len, code, ndim = _HEAD.unpack_from(buf, off)
        if magic != RECORD_MAGIC or code >= len(DTYPES):
            raise TensorFileError(f"{source}: corrupt record at byte {off} (magic {magic:#x}, dtype {code})")
        off += _HEAD.size
        shape = struct.unpack_from(f"<{ndim}q", buf, off)
        off += 8 * ndim
        (nbytes,) = struct.unpack_from("<Q", buf, off)
        off += 8
        name = bytes(view[off : off + name_len]).decode()
        off += name_len
        if off + nbytes > len(buf):
            raise TensorFileError(f"{source}: tensor {name!r} is truncated ({len(buf) - off} of {nbytes} bytes)")
        arr = np.frombuffer(view[off : off + nbytes], dtype=DTYPES[code]).reshape(shape)
        off += nbytes
        out[name] = arr
    return out


def read(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.exists():
        return {}
    return decode(path.read_bytes(), str(path))
