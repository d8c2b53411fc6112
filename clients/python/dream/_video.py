"""Optional MP4 → frames decoding. Needs numpy and an ffmpeg binary: $DREAM_FFMPEG, an ``ffmpeg`` on
PATH, or the one bundled by ``imageio-ffmpeg``. Without them ``Rollout.frames`` is None."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Optional, Tuple


def find_ffmpeg() -> Optional[str]:
    explicit = os.environ.get("DREAM_FFMPEG")
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing
        return None


def decoder_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return find_ffmpeg() is not None


def decode_mp4(mp4: bytes, resolution: Tuple[int, int]) -> Optional[Any]:
    """(N, H, W, 3) uint8 ndarray, or None when no decoder is available."""
    if not decoder_available():
        return None
    import numpy as np

    ffmpeg = find_ffmpeg()
    assert ffmpeg is not None
    height, width = resolution
    # A file, not a pipe: ffmpeg must seek to read an MP4 whose index (moov) is at the end.
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="dream-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(mp4)
        proc = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path, "-map", "0:v:0",
             "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
        )
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        from .errors import DreamError

        raise DreamError(f"could not decode the MP4 with {ffmpeg}: {proc.stderr.decode('utf-8', 'replace').strip()[-500:]}")
    frame_bytes = height * width * 3
    if len(proc.stdout) == 0 or len(proc.stdout) % frame_bytes:
        from .errors import DreamError

        raise DreamError(f"decoded {len(proc.stdout)} bytes, not a whole number of {height}x{width} RGB frames")
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
