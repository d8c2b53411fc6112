"""Streaming predict (REST ``POST /v1/models/{slug}/stream_predict``, NDJSON) and partial cancel.

The server writes one JSON object per line: ``{"chunk": {...}}`` as each chunk of frames is ready,
then ``{"summary": {...}}``; an error after the first line arrives as a last ``{"error": {...}}`` line.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Dict, Iterator, List, Optional

from ._reasons import REASONS
from ._records import Record, record
from .errors import DreamError, TransportError, error_from_response

__all__ = ["CandidateFrames", "StreamChunk", "PredictStream"]


class CandidateFrames:
    """One live candidate's frames in a chunk: ``frames[i]`` is frame ``first_frame_index + i``."""

    __slots__ = ("candidate_index", "first_frame_index", "frames")

    def __init__(self, candidate_index: int, first_frame_index: int, frames: List[bytes]) -> None:
        self.candidate_index = candidate_index
        self.first_frame_index = first_frame_index
        self.frames = frames

    def __repr__(self) -> str:
        return f"<CandidateFrames {self.candidate_index} from={self.first_frame_index} n={len(self.frames)}>"


class StreamChunk:
    """One chunk: the frames each live candidate produced, encoded as ``encoding`` (RAW_RGB8/PNG/JPEG)."""

    __slots__ = ("chunk_index", "encoding", "candidates")

    def __init__(self, chunk_index: int, encoding: str, candidates: List[CandidateFrames]) -> None:
        self.chunk_index = chunk_index
        self.encoding = encoding
        self.candidates = candidates

    def __repr__(self) -> str:
        return f"<StreamChunk {self.chunk_index} {self.encoding} candidates={[c.candidate_index for c in self.candidates]}>"


def ndjson_events(resp: Any, path: str, request_id: str, on_line: Callable[[int], None] = lambda n: None) -> Iterator[Dict[str, Any]]:
    """The events of an NDJSON stream (``on_line`` hears every line's size); an ``error`` line raises its reason's error."""
    while True:
        try:
            line = resp.readline()
        except OSError as exc:
            raise TransportError(f"{path}: the stream broke after it started: {exc}") from exc
        if not line:
            return
        on_line(len(line))
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise DreamError(f"{path}: unreadable stream line {line[:200]!r}", 200, request_id) from None
        if isinstance(event.get("error"), dict):
            # The 200 is already sent; the reason's own HTTP status says what it would have been.
            info = REASONS.get(str(event["error"].get("reason")))
            raise error_from_response(info.http if info else 500, {}, line)
        yield event


def _chunk(obj: Any) -> StreamChunk:
    cands = [CandidateFrames(int(c.get("candidate_index", 0)), int(c.get("first_frame_index", 0)),
                             [base64.b64decode(f) for f in c.get("frames", [])])
             for c in obj.get("candidates", [])]
    return StreamChunk(int(obj.get("chunk_index", 0)), str(obj.get("encoding", "RAW_RGB8")), cands)


class PredictStream:
    """Iterate for StreamChunks as they arrive; ``summary`` is set once the stream ends.

    ``request_id`` is known before the first chunk (it was sent), so ``cancel()`` can prune
    candidates of the running request from another thread or between chunks. Close the stream (or
    use it as a context manager) to stop reading early.
    """

    def __init__(self, client: Any, response: Any, request_id: str, path: str) -> None:
        self._client = client
        self._resp = response
        self._path = path
        self.request_id = request_id
        self.summary: Optional[Record] = None

    def __iter__(self) -> Iterator[StreamChunk]:
        try:
            for event in ndjson_events(self._resp, self._path, self.request_id):
                if isinstance(event.get("chunk"), dict):
                    yield _chunk(event["chunk"])
                elif isinstance(event.get("summary"), dict):
                    self.summary = record(event["summary"])
        finally:
            self.close()
        if self.summary is None:
            raise TransportError(f"{self._path}: the stream ended without a summary", request_id=self.request_id)

    def cancel(self, candidates: Optional[List[int]] = None) -> Record:
        """Cancel some candidates (or, with None, the whole request); see Client.cancel."""
        return self._client.cancel(self.request_id, candidates)

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> "PredictStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
