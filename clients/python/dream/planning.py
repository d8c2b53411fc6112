"""Planning next to the model: the results of ``model.plan`` / ``model.rank`` / ``model.stream_plan``.

The server rolls candidates out, scores their frames against a goal in the runner and answers with a
decision (kilobytes) instead of the frames: ``Plan`` (the proto3 JSON of ``dream.v1.PlanResponse``) and,
over ``/stream_plan`` (NDJSON), one ``IterationStats`` per finished iteration before it. The requests
are built (and validated before the network) in ``_plan_request``.
"""

from __future__ import annotations

import base64
import sys
import time
from array import array
from typing import Any, Dict, Iterator, List, Optional, Union

from . import _inputs
from ._records import Record, record
from .errors import DreamError, TransportError
from .stream import ndjson_events

__all__ = ["Plan", "IterationStats", "PlanRollout", "PlanStream", "decode_actions"]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

def _float(v: Any) -> float:
    # proto3 JSON writes non-finite floats as "NaN" / "Infinity" / "-Infinity".
    if isinstance(v, str):
        return float(v.replace("Infinity", "inf"))
    return float(v) if v is not None else 0.0


class IterationStats:
    """One finished planner iteration: best / mean / elite cost, candidates, pruned, frames."""

    __slots__ = ("iteration", "best_cost", "mean_cost", "elite_cost", "candidates", "pruned", "frames")

    def __init__(self, iteration: int, best_cost: float, mean_cost: float, elite_cost: float, candidates: int,
                 pruned: int, frames: int) -> None:
        self.iteration = iteration
        self.best_cost = best_cost
        self.mean_cost = mean_cost
        self.elite_cost = elite_cost
        self.candidates = candidates
        self.pruned = pruned
        self.frames = frames

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "IterationStats":
        return cls(int(obj.get("iteration", 0)), _float(obj.get("best_cost")), _float(obj.get("mean_cost")),
                   _float(obj.get("elite_cost")), int(obj.get("candidates", 0)), int(obj.get("pruned", 0)),
                   int(obj.get("frames", 0)))

    def to_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IterationStats) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"<IterationStats {self.iteration} best={self.best_cost:.6g} mean={self.mean_cost:.6g} "
                f"candidates={self.candidates} pruned={self.pruned} frames={self.frames}>")


class PlanRollout:
    """A rollout the plan was asked for (``best_rollout`` / ``top_k``): one encoded image per frame.

    ``frames`` holds the decoded bytes of each frame (JPEG/PNG files, or H*W*3 RGB for RAW_RGB8);
    ``array()`` gives (F, H, W, 3) uint8 for RAW_RGB8 (numpy), or for PNG/JPEG through Pillow.
    """

    __slots__ = ("candidate_index", "encoding", "frames", "height", "width", "frame_count")

    def __init__(self, obj: Dict[str, Any]) -> None:
        self.candidate_index = int(obj.get("candidate_index", 0))
        self.encoding = str(obj.get("encoding", "RAW_RGB8"))
        self.frames: List[bytes] = [base64.b64decode(f) for f in obj.get("frames", [])]
        self.height = int(obj.get("height", 0))
        self.width = int(obj.get("width", 0))
        self.frame_count = int(obj.get("frame_count", len(self.frames)))

    def array(self) -> Any:
        np = _inputs._np()
        if np is None:
            raise DreamError("PlanRollout.array() needs numpy (pip install 'dream-engine[numpy]')")
        if self.encoding == "RAW_RGB8":
            return np.stack([np.frombuffer(f, np.uint8).reshape(self.height, self.width, 3) for f in self.frames])
        try:
            from PIL import Image
        except ImportError:
            raise DreamError(f"PlanRollout.array() needs Pillow to decode {self.encoding} frames "
                             "(or ask for rollout_encoding='RAW_RGB8')") from None
        import io

        return np.stack([np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for f in self.frames])

    def __repr__(self) -> str:
        return f"<PlanRollout candidate={self.candidate_index} {self.encoding} frames={len(self.frames)}>"


def decode_actions(obj: Optional[Dict[str, Any]]) -> Any:
    """An ``Actions`` message → (T, D) float32 ndarray with numpy, else a list of T lists of D floats."""
    if not obj:
        return None
    data = base64.b64decode(obj.get("data", ""))
    shape = [int(s) for s in obj.get("shape", [])]
    if len(shape) != 2 or shape[0] * shape[1] * 4 != len(data):
        raise DreamError(f"plan: best_actions of shape {shape} do not match {len(data)} bytes")
    np = _inputs._np()
    if np is not None:
        return np.frombuffer(data, "<f4").astype(np.float32).reshape(shape)
    floats = array("f")
    floats.frombytes(data)
    if sys.byteorder != "little":
        floats.byteswap()
    t, d = shape
    return [list(floats[i * d:(i + 1) * d]) for i in range(t)]


class Plan:
    """A planning decision: the best action sequence and its cost, the last iteration's costs and
    ranking, per-iteration stats, why it stopped, and what it cost (frames generated, USD)."""

    def __init__(self, obj: Dict[str, Any], *, bytes_received: int, wall_s: float) -> None:
        self.raw = obj
        self.best_actions = decode_actions(obj.get("best_actions"))
        self.best_cost = _float(obj.get("best_cost"))
        self.best_iteration = int(obj.get("best_iteration", 0))
        self.candidate_costs: List[float] = [_float(c) for c in obj.get("candidate_costs", [])]
        self.ranking: List[int] = [int(i) for i in obj.get("ranking", [])]
        self.iterations: List[IterationStats] = [IterationStats.from_json(s) for s in obj.get("iterations", [])]
        self.iterations_completed = int(obj.get("iterations_completed", 0))
        self.stopped = str(obj.get("stopped", "PLAN_STOP_UNSPECIFIED"))
        self.summary: Record = record(obj.get("summary") or {})
        cost = self.summary.get("cost") or {}
        self.cost_micros = int(cost.get("micros", 0) or 0)
        self.cost_usd = float(cost.get("usd") or 0) if cost.get("usd") else self.cost_micros / 1e6
        self.frames = int(self.summary.get("frames", 0) or 0)
        self.request_id: Optional[str] = self.summary.get("request_id") or None
        self.rollouts: List[PlanRollout] = [PlanRollout(r) for r in obj.get("rollouts", [])]
        self.bytes_received = bytes_received
        self.wall_s = wall_s

    def __repr__(self) -> str:
        return (f"<Plan best_cost={self.best_cost:.6g} iterations={self.iterations_completed} stopped={self.stopped} "
                f"frames={self.frames} cost_usd={self.cost_usd} request_id={self.request_id}>")


# ---------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------

class PlanStream:
    """Iterate for ``IterationStats`` as each iteration finishes, then the final ``Plan`` (also ``.plan``).

    Closing the stream (or leaving a ``with`` block) stops reading; the server then cancels the plan and
    bills only the frames generated.
    """

    def __init__(self, response: Any, request_id: str, path: str) -> None:
        self._resp = response
        self._path = path
        self.request_id = request_id
        self.plan: Optional[Plan] = None
        self.bytes_received = 0

    def __iter__(self) -> Iterator[Union[IterationStats, Plan]]:
        started = time.monotonic()
        try:
            for event in ndjson_events(self._resp, self._path, self.request_id, self._count):
                if isinstance(event.get("iteration"), dict):
                    yield IterationStats.from_json(event["iteration"])
                elif isinstance(event.get("plan"), dict):
                    self.plan = Plan(event["plan"], bytes_received=self.bytes_received, wall_s=time.monotonic() - started)
                    yield self.plan
        finally:
            self.close()
        if self.plan is None:
            raise TransportError(f"{self._path}: the stream ended without a plan", request_id=self.request_id)

    def _count(self, line_bytes: int) -> None:
        self.bytes_received += line_bytes

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> "PlanStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
