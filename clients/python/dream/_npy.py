"""Minimal .npy writer and header reader (NumPy format 1.0-3.0), stdlib only.

The writer emits exactly what ``numpy.save`` writes for a little-endian float32 C-order array.
The reader only looks at the header, to validate user-supplied ``.npy`` bytes before upload.
"""

from __future__ import annotations

import ast
import struct
import sys
from array import array
from typing import Sequence, Tuple

MAGIC = b"\x93NUMPY"
HEADER_MAX = 10000  # numpy's own default max_header_size


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def encode_npy(payload_le_f32: bytes, shape: Sequence[int]) -> bytes:
    """Wrap little-endian float32 bytes of C-order array data in a version 1.0 .npy header."""
    count = 1
    for d in shape:
        count *= int(d)
    if len(payload_le_f32) != count * 4:
        raise ValueError(f"{len(payload_le_f32)} bytes do not hold shape {tuple(shape)} float32")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % _shape_text(shape)
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    return MAGIC + b"\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload_le_f32


def floats_to_le_f32(values: Sequence[float]) -> bytes:
    a = array("f", values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def read_npy_header(data: bytes) -> Tuple[str, bool, Tuple[int, ...], int]:
    """(descr, fortran_order, shape, data_offset); raises ValueError on a malformed file."""
    if len(data) < 10 or data[:6] != MAGIC:
        raise ValueError("not a .npy file (bad magic)")
    major, minor = data[6], data[7]
    if major not in (1, 2, 3) or minor != 0:
        raise ValueError(f"unsupported .npy format version {major}.{minor}")
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        if len(data) < 12:
            raise ValueError("truncated .npy header")
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    if hlen > HEADER_MAX or start + hlen > len(data):
        raise ValueError("malformed .npy header length")
    text = data[start:start + hlen].decode("utf8" if major == 3 else "latin1")
    try:
        header = ast.literal_eval(text)  # literals only: never executes code
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"malformed .npy header ({exc})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("malformed .npy header (keys)")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError("malformed .npy header (shape)")
    return header["descr"], bool(header["fortran_order"]), shape, start + hlen
