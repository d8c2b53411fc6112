"""Optional MP4 → frames decoding. Needs numpy and an ffmpeg binary, searched in this order:
``$DREAM_FFMPEG``, an ``ffmpeg`` on PATH, then the binary bundled by ``imageio-ffmpeg``. Without them
``Rollout.frames`` raises ``DecoderNotFoundError`` saying what to install or set."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Optional, Tuple

from .errors import DecoderNotFoundError, DreamError

INSTALL_HINT = ("set DREAM_FFMPEG to an ffmpeg binary, put ffmpeg on PATH, or `pip install imageio-ffmpeg` "
                "(`pip install 'dream-engine[video]'` brings numpy and imageio-ffmpeg)")


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_ffmpeg() -> Optional[str]:
    """The ffmpeg to decode with, or None when none is found. A DREAM_FFMPEG that is set but not an
    executable file is not silently replaced by another ffmpeg: it raises DecoderNotFoundError."""
    explicit = os.environ.get("DREAM_FFMPEG")
    if explicit:
        if not _executable(explicit):
            raise DecoderNotFoundError(f"DREAM_FFMPEG={explicit!r} is not an executable file; point it at an "
                                       "ffmpeg binary or unset it to search PATH and imageio-ffmpeg")
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing
        return None
    return exe if exe and _executable(exe) else None


def require_ffmpeg() -> str:
    """find_ffmpeg(), or DecoderNotFoundError naming what to install or set."""
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise DecoderNotFoundError(f"no ffmpeg found to decode the MP4: {INSTALL_HINT}")
    return ffmpeg


def decode_mp4(mp4: bytes, resolution: Tuple[int, int]) -> Any:
    """(N, H, W, 3) uint8 ndarray. Raises DecoderNotFoundError without numpy or an ffmpeg."""
    try:
        import numpy as np
    except ImportError:
        raise DecoderNotFoundError("decoding frames needs numpy: `pip install numpy` "
                                   "(or `pip install 'dream-engine[video]'`)") from None
    ffmpeg = require_ffmpeg()
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
        raise DreamError(f"could not decode the MP4 with {ffmpeg}: {proc.stderr.decode('utf-8', 'replace').strip()[-500:]}")
    frame_bytes = height * width * 3
    if len(proc.stdout) == 0 or len(proc.stdout) % frame_bytes:
        raise DreamError(f"decoded {len(proc.stdout)} bytes, not a whole number of {height}x{width} RGB frames")
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
