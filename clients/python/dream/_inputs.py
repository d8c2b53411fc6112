"""Turn user inputs into wire bytes, validating them BEFORE any network call.

Frames become PNG (or pass through as the user's PNG/JPEG bytes) and actions become a float32
``.npy``. Every shape/dtype error the server would answer with a 400 is raised here first, as an
``InputValidationError`` (also a ``ValueError``), with the same "expected vs given" wording.
"""

from __future__ import annotations

import math
import os
from typing import Any, List, Optional, Sequence, Tuple

from ._npy import encode_npy, floats_to_le_f32, read_npy_header
from ._png import encode_png_rgb_array, encode_png_rgb_bytes, image_size, sniff_image
from .errors import InputValidationError

Resolution = Tuple[int, int]


def _np() -> Any:
    try:
        import numpy

        return numpy
    except ImportError:
        return None


def _is_ndarray(x: Any) -> bool:
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


def _is_pil_image(x: Any) -> bool:
    return any(c.__module__.startswith("PIL.") and c.__name__ == "Image" for c in type(x).__mro__)


def _is_pathlike(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _read(path: Any, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputValidationError(f"{what}: cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from None


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _hw(res: Resolution) -> str:
    return f"{res[0]}x{res[1]}"


# ---------------------------------------------------------------------------------------------
# Which input style was used
# ---------------------------------------------------------------------------------------------

def pick_style(start_frame: Any, actions: Any, frame_bytes: Any, actions_bytes: Any,
               frame_path: Any, actions_path: Any) -> Tuple[Any, Any]:
    """Return (frame_source, actions_source) as ('obj'|'bytes'|'path', value) pairs."""
    object_style = start_frame is not None or actions is not None
    byte_style = any(v is not None for v in (frame_bytes, actions_bytes, frame_path, actions_path))
    if object_style and byte_style:
        raise InputValidationError(
            "mix of input styles: pass start_frame=/actions= OR frame_bytes=/frame_path= with "
            "actions_bytes=/actions_path=, not both"
        )
    if object_style:
        if start_frame is None:
            raise InputValidationError("start_frame is required")
        if actions is None:
            raise InputValidationError("actions is required")
        return ("obj", start_frame), ("obj", actions)
    if frame_bytes is not None and frame_path is not None:
        raise InputValidationError("pass frame_bytes= or frame_path=, not both")
    if actions_bytes is not None and actions_path is not None:
        raise InputValidationError("pass actions_bytes= or actions_path=, not both")
    if frame_bytes is None and frame_path is None:
        raise InputValidationError("a start frame is required (start_frame=, frame_bytes= or frame_path=)")
    if actions_bytes is None and actions_path is None:
        raise InputValidationError("actions are required (actions=, actions_bytes= or actions_path=)")
    frame = ("bytes", frame_bytes) if frame_bytes is not None else ("path", frame_path)
    acts = ("bytes", actions_bytes) if actions_bytes is not None else ("path", actions_path)
    return frame, acts


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

def frame_to_wire(source: Tuple[str, Any], resolution: Resolution) -> Tuple[bytes, str, str]:
    """(bytes, filename, content_type) for the ``frame`` part."""
    kind, value = source
    if kind == "path" or (kind == "obj" and _is_pathlike(value)):
        return _encoded_frame(_read(value, "start_frame"), resolution)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _encoded_frame(bytes(value), resolution)
    if kind == "bytes":
        raise InputValidationError(f"frame_bytes: expected bytes, got {type(value).__name__}")
    if _is_pil_image(value):
        img = value.convert("RGB")
        width, height = img.size
        _check_size((height, width), resolution)
        return encode_png_rgb_bytes(height, width, img.tobytes()), "frame.png", "image/png"
    np = _np()
    if _is_ndarray(value) or (np is not None and isinstance(value, (list, tuple))):
        return encode_png_rgb_array(_frame_array(np.asarray(value), resolution)), "frame.png", "image/png"
    raise InputValidationError(
        f"start_frame: expected a numpy array (H, W, 3), a PIL image, PNG/JPEG bytes or a path, got {type(value).__name__}"
    )


def _check_size(given: Resolution, resolution: Resolution) -> None:
    if tuple(given) != tuple(resolution):
        raise InputValidationError(
            f"start_frame: model expects {_hw(resolution)} (HxW) RGB, got {_hw(given)} "
            "(frames are never resized; resize or crop before sending)"
        )


def _encoded_frame(data: bytes, resolution: Resolution) -> Tuple[bytes, str, str]:
    kind = sniff_image(data)
    if kind is None:
        raise InputValidationError("start_frame: bytes are not a PNG or JPEG image")
    size = image_size(data)
    if size is None:
        raise InputValidationError(f"start_frame: unreadable {kind} header")
    _check_size(size, resolution)
    return (data, "frame.png", "image/png") if kind == "PNG" else (data, "frame.jpg", "image/jpeg")


def _frame_array(arr: Any, resolution: Resolution) -> Any:
    np = _np()
    if arr.ndim != 3 or (arr.shape[-1] != 3 and arr.shape[0] != 3):
        hint = "; drop alpha with frame[..., :3]" if arr.ndim == 3 and arr.shape[-1] == 4 else ""
        raise InputValidationError(
            f"start_frame: expected an RGB array of shape (H, W, 3) or (3, H, W), got shape {_shape_text(arr.shape)}{hint}"
        )
    if arr.shape[-1] != 3:  # channels-first (3, H, W)
        arr = arr.transpose(1, 2, 0)
    _check_size(arr.shape[:2], resolution)
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if kind == "f":
        if not np.isfinite(arr).all():
            raise InputValidationError("start_frame: float frame contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InputValidationError(
                f"start_frame: float frames must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                "(pass uint8 for 0..255 data)"
            )
        return np.ascontiguousarray(np.rint(arr * 255.0).astype(np.uint8))
    if kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InputValidationError(f"start_frame: integer frames must lie in 0..255, got values in [{lo}, {hi}]")
        return np.ascontiguousarray(arr.astype(np.uint8))
    raise InputValidationError(f"start_frame: expected uint8 or float in [0, 1], got dtype {arr.dtype}")


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------

def actions_to_wire(source: Tuple[str, Any], action_dim: int, batch: bool) -> Tuple[bytes, Tuple[int, ...]]:
    """(.npy bytes, shape) for the ``actions`` part: (T, D) for predict, (K, T, D) for predict_batch."""
    kind, value = source
    if kind == "path" or (kind == "obj" and _is_pathlike(value)):
        return _npy_bytes(_read(value, "actions"), action_dim, batch)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _npy_bytes(bytes(value), action_dim, batch)
    if kind == "bytes":
        raise InputValidationError(f"actions_bytes: expected .npy bytes, got {type(value).__name__}")
    if batch and isinstance(value, (list, tuple)) and value and all(
        _is_ndarray(v) or isinstance(v, (bytes, bytearray, memoryview, list, tuple)) or _is_pathlike(v) for v in value
    ):
        return _stack_candidates(list(value), action_dim)
    return _numeric_actions(value, action_dim, batch)


def _npy_bytes(data: bytes, action_dim: int, batch: bool) -> Tuple[bytes, Tuple[int, ...]]:
    try:
        descr, fortran, shape, _ = read_npy_header(data)
    except ValueError as exc:
        raise InputValidationError(f"actions: {exc}") from None
    if descr not in ("<f4", "<f8"):
        raise InputValidationError(f"actions: unsupported dtype {descr!r}; expected float32 ('<f4') or float64 ('<f8')")
    if fortran:
        raise InputValidationError("actions: fortran_order=True is not supported; save numpy.ascontiguousarray(a)")
    _check_action_shape(shape, action_dim, batch)
    return data, tuple(shape)


def _check_action_shape(shape: Sequence[int], action_dim: int, batch: bool) -> None:
    want = 3 if batch else 2
    expected = f"(K, T, {action_dim})" if batch else f"(T, {action_dim})"
    if len(shape) != want or shape[-1] != action_dim:
        raise InputValidationError(
            f"actions: model expects {action_dim}, got array with shape {_shape_text(shape)}; expected {expected}"
        )
    if any(d == 0 for d in shape):
        raise InputValidationError(f"actions: empty array with shape {_shape_text(shape)}; expected {expected}")


def _numeric_actions(value: Any, action_dim: int, batch: bool) -> Tuple[bytes, Tuple[int, ...]]:
    np = _np()
    if np is not None and (_is_ndarray(value) or isinstance(value, (list, tuple))):
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise InputValidationError(f"actions: expected a float array, got dtype {arr.dtype}")
        _check_action_shape(arr.shape, action_dim, batch)
        arr = np.ascontiguousarray(arr, dtype="<f4")
        if not np.isfinite(arr).all():
            raise InputValidationError("actions: contains NaN or infinite values (after conversion to float32)")
        return encode_npy(arr.tobytes(), arr.shape), tuple(arr.shape)
    if isinstance(value, (list, tuple)):
        flat: List[float] = []
        shape = _list_shape(value, flat)
        _check_action_shape(shape, action_dim, batch)
        return encode_npy(floats_to_le_f32(flat), shape), shape
    raise InputValidationError(
        f"actions: expected a numpy array, nested list, .npy bytes or a path, got {type(value).__name__}"
    )


def _list_shape(value: Any, flat: List[float]) -> Tuple[int, ...]:
    """Shape of a rectangular nested list of numbers, appending the numbers to ``flat`` (no numpy)."""
    if isinstance(value, (list, tuple)):
        if not value:
            return (0,)
        shapes = {_list_shape(v, flat) for v in value}
        if len(shapes) != 1:
            raise InputValidationError("actions: nested lists are ragged (rows of different lengths)")
        return (len(value),) + shapes.pop()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputValidationError(f"actions: expected numbers, got {type(value).__name__}")
    try:
        f = float(value)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f) or abs(f) > 3.4028234663852886e38:
        raise InputValidationError("actions: contains NaN or infinite values (after conversion to float32)")
    flat.append(f)
    return ()


def _stack_candidates(items: List[Any], action_dim: int) -> Tuple[bytes, Tuple[int, ...]]:
    """A list of K candidates, each (T, D) as an array, nested list, .npy bytes or path."""
    payloads: List[bytes] = []
    t_first: Optional[int] = None
    for i, item in enumerate(items):
        if isinstance(item, (bytes, bytearray, memoryview)) or _is_pathlike(item):
            data = bytes(item) if not _is_pathlike(item) else _read(item, f"actions[{i}]")
            npy, shape = _npy_bytes(data, action_dim, batch=False)
            payload = _npy_payload_f32(npy)
        else:
            try:
                npy, shape = _numeric_actions(item, action_dim, batch=False)
            except InputValidationError as exc:
                raise InputValidationError(str(exc.message).replace("actions:", f"actions[{i}]:", 1)) from None
            payload = _npy_payload_f32(npy)
        if t_first is None:
            t_first = shape[0]
        elif shape[0] != t_first:
            raise InputValidationError(
                f"actions[{i}]: every candidate must have the same T; candidate 0 has T={t_first}, candidate {i} has T={shape[0]}"
            )
        payloads.append(payload)
    assert t_first is not None
    shape3 = (len(items), t_first, action_dim)
    return encode_npy(b"".join(payloads), shape3), shape3


def _npy_payload_f32(npy: bytes) -> bytes:
    """The float32 little-endian payload of a validated .npy (float64 is narrowed)."""
    descr, _, shape, offset = read_npy_header(npy)
    payload = npy[offset:]
    if descr == "<f4":
        return payload
    from array import array
    import sys

    doubles = array("d")
    doubles.frombytes(payload)
    if sys.byteorder != "little":
        doubles.byteswap()
    return floats_to_le_f32(doubles)


# ---------------------------------------------------------------------------------------------
# Sampling parameters
# ---------------------------------------------------------------------------------------------

def sampling_fields(num_steps: Any, guidance: Any, seed: Any) -> List[Tuple[str, str]]:
    fields: List[Tuple[str, str]] = []
    if num_steps is not None:
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise InputValidationError(f"num_steps: expected a positive integer or None, got {num_steps!r}")
        fields.append(("num_steps", str(num_steps)))
    if guidance is not None:
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance) or guidance < 0:
            raise InputValidationError(f"guidance: expected a finite number >= 0 or None, got {guidance!r}")
        fields.append(("guidance", repr(float(guidance))))
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise InputValidationError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
    fields.append(("seed", str(seed)))
    return fields
