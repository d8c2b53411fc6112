"""What the Python SDK's end-to-end scripts (sdk_e2e.py, sdk_plan_e2e.py) share: their checks and the
start frame of test/e2e/harness.ts. Imported from the scripts' own folder (Python puts it on sys.path)."""

from __future__ import annotations

import numpy as np


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def expect(exc_type: type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"expected {exc_type.__name__}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"expected {exc_type.__name__}, nothing was raised")


def test_frame(h: int, w: int) -> np.ndarray:
    """Same picture as test/e2e/harness.ts testFrame: gradients and a bright square."""
    y, x = np.mgrid[0:h, 0:w]
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 0] = (255 * x) // w
    f[..., 1] = (255 * y) // h
    f[..., 2] = 128
    square = (np.abs(y - h / 2) < h / 8) & (np.abs(x - w / 2) < w / 8)
    f[square] = (240, 220, 30)
    return f
