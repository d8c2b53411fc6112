"""Results of predict (Rollout) and predict_batch (BatchRollout)."""

from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional, Tuple

from ._video import decode_mp4
from .errors import DreamError

_UNSET = object()


class Rollout:
    """One predicted video: H.264 MP4 at the model's fps, T+1 frames (the start frame counts)."""

    def __init__(self, mp4_bytes: bytes, *, request_id: Optional[str], cost_usd: float,
                 engine_wall_ms: Optional[int], wall_s: float, num_frames: Optional[int] = None,
                 resolution: Optional[Tuple[int, int]] = None, candidate_index: Optional[int] = None,
                 model: Optional[str] = None) -> None:
        self.mp4_bytes = mp4_bytes
        self.request_id = request_id
        self.cost_usd = cost_usd
        self.engine_wall_ms = engine_wall_ms
        self.wall_s = wall_s
        self.num_frames = num_frames
        self.resolution = resolution
        self.candidate_index = candidate_index
        self.model = model
        self._frames: Any = _UNSET

    def video(self) -> bytes:
        """The rollout as H.264 MP4 bytes, exactly as the server sent them (no decoder needed)."""
        return self.mp4_bytes

    @property
    def frames(self) -> Any:
        """(T+1, H, W, 3) uint8 ndarray, decoded on first access.

        Needs numpy and an ffmpeg ($DREAM_FFMPEG, then PATH, then imageio-ffmpeg); without them this
        raises ``DecoderNotFoundError`` saying what to install or set.
        """
        if self._frames is _UNSET:
            if self.resolution is None:
                raise DreamError("cannot decode frames: this rollout's resolution is unknown "
                                 "(rollouts from predict/predict_batch carry their model's)")
            self._frames = decode_mp4(self.mp4_bytes, self.resolution)
        return self._frames

    def save(self, path: "str | os.PathLike[str]") -> str:
        """Write the MP4 to ``path`` and return the path."""
        with open(path, "wb") as f:
            f.write(self.mp4_bytes)
        return os.fspath(path)

    def __repr__(self) -> str:
        idx = f" candidate={self.candidate_index}" if self.candidate_index is not None else ""
        return (f"<Rollout{idx} frames={self.num_frames} mp4={len(self.mp4_bytes)}B cost_usd={self.cost_usd} "
                f"request_id={self.request_id}>")


class BatchRollout:
    """K rollouts sharing one start frame; charged once on the batch (children carry cost_usd=0.0)."""

    def __init__(self, rollouts: List[Rollout], *, request_id: Optional[str], batch_size: int,
                 engine_wall_ms: Optional[int], cost_usd: float, customer_id: Optional[str],
                 wall_s: float = 0.0, num_frames: Optional[int] = None) -> None:
        self.rollouts = rollouts
        self.request_id = request_id
        self.batch_size = batch_size
        self.engine_wall_ms = engine_wall_ms
        self.cost_usd = cost_usd
        self.customer_id = customer_id
        self.wall_s = wall_s
        self.num_frames = num_frames

    def __len__(self) -> int:
        return len(self.rollouts)

    def __iter__(self) -> Iterator[Rollout]:
        return iter(self.rollouts)

    def __getitem__(self, i: int) -> Rollout:
        return self.rollouts[i]

    def __repr__(self) -> str:
        return f"<BatchRollout K={self.batch_size} cost_usd={self.cost_usd} request_id={self.request_id}>"
