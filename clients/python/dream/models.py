"""client.models: the catalog and the predict calls."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Tuple

from . import _inputs
from ._http import Response
from ._multipart import encode_form_data, parse_multipart
from ._records import normalize, record
from .errors import DreamError, InputValidationError, ModelNotActiveError
from .rollout import BatchRollout, Rollout
from ._plan_request import build_plan_request
from .planning import Plan, PlanStream
from .stream import PredictStream

if TYPE_CHECKING:
    from .client import Client

H_REQUEST_ID = "X-DreamEngine-Request-Id"
H_CHARGE = "X-DreamEngine-Estimated-Charge-USD"
H_FRAMES = "X-DreamEngine-Frames"
H_WALL = "X-DreamEngine-Engine-Wall-Ms"
H_CANDIDATE = "X-DreamEngine-Candidate-Index"
H_CUSTOMER = "X-DreamEngine-Customer-Id"


def _int_header(headers: Mapping[str, str], name: str) -> Optional[int]:
    v = headers.get(name)
    try:
        return int(float(v)) if v not in (None, "") else None
    except ValueError:
        return None


def _float_header(headers: Mapping[str, str], name: str) -> float:
    v = headers.get(name)
    try:
        return float(v) if v not in (None, "") else 0.0
    except ValueError:
        return 0.0


PRIORITIES = ("INTERACTIVE", "BATCH")


def check_priority(priority: Optional[str]) -> Optional[str]:
    """None (the server's default: INTERACTIVE for predicts) or "INTERACTIVE" / "BATCH" (any case)."""
    if priority is None:
        return None
    if isinstance(priority, str) and priority.upper() in PRIORITIES:
        return priority.upper()
    raise InputValidationError(f"priority: expected None, 'INTERACTIVE' or 'BATCH', got {priority!r}")


def _json_predict_body(batch: bool, frame: bytes, frame_type: str, npy: bytes, shape: Tuple[int, ...],
                       fields: Mapping[str, str], request_id: str, priority: Optional[str], encoding: str) -> dict:
    """The proto JSON form of a PredictRequest / PredictBatchRequest (bytes as base64)."""
    payload = _inputs._npy_payload_f32(npy)
    params: dict = {"seed": fields["seed"]}
    if "num_steps" in fields:
        params["num_steps"] = int(fields["num_steps"])
    if "guidance" in fields:
        params["guidance"] = float(fields["guidance"])
    body: dict = {
        "start_frame": {"encoding": "JPEG" if frame_type == "image/jpeg" else "PNG", "data": base64.b64encode(frame).decode()},
        "params": params,
        "output": {"encoding": encoding},
        "request_id": request_id,
    }
    if batch:
        k, t, d = shape
        per = t * d * 4
        body["candidates"] = [{"data": base64.b64encode(payload[i * per:(i + 1) * per]).decode(), "shape": [t, d]}
                              for i in range(k)]
    else:
        body["actions"] = {"data": base64.b64encode(payload).decode(), "shape": list(shape)}
    if priority is not None:
        body["priority"] = priority
    return body


class ModelHandle:
    """One catalog entry plus predict()/predict_batch(). Obtained from client.models.get()/list()."""

    def __init__(self, client: "Client", spec: Mapping[str, Any]) -> None:
        self._client = client
        self.spec = normalize(dict(spec))
        arch = self.spec.get("arch") or {}
        self.slug: str = self.spec.get("slug", "")
        self.active: bool = bool(self.spec.get("active", False))
        self.status: Optional[str] = self.spec.get("status")
        res = arch.get("resolution") or [480, 640]
        self.resolution: Tuple[int, int] = (int(res[0]), int(res[1]))
        self.action_dim: int = int(arch.get("action_dim") or 384)
        self.chunk_size: int = int(arch.get("chunk_size") or 12)
        self.fps: int = int(arch.get("fps") or 10)
        self.model_size: Optional[str] = arch.get("model_size")

    def __repr__(self) -> str:
        return f"<ModelHandle {self.slug} active={self.active} {self.resolution[0]}x{self.resolution[1]} action_dim={self.action_dim}>"

    # -----------------------------------------------------------------------------------------

    def _ensure_active(self) -> None:
        if not self.active:
            why = self.spec.get("status_reason") or self.status or "not active"
            raise ModelNotActiveError(
                f"model {self.slug} is not active ({why}); fetch it again with client.models.get() later",
                reason="MODEL_UNAVAILABLE",
            )

    def _build(self, batch: bool, start_frame: Any, actions: Any, num_steps: Any, guidance: Any, seed: Any,
               frame_bytes: Any, actions_bytes: Any, frame_path: Any, actions_path: Any,
               request_id: Optional[str], priority: Optional[str] = None,
               encoding: str = "MP4") -> Tuple[bytes, str, Tuple[int, ...]]:
        frame_src, actions_src = _inputs.pick_style(start_frame, actions, frame_bytes, actions_bytes, frame_path, actions_path)
        fields = _inputs.sampling_fields(num_steps, guidance, seed)
        priority = check_priority(priority)
        frame, frame_name, frame_type = _inputs.frame_to_wire(frame_src, self.resolution)
        npy, shape = _inputs.actions_to_wire(actions_src, self.action_dim, batch)
        self._ensure_active()
        if priority is not None or encoding != "MP4":
            # The multipart form has no priority field (src/transport/rest/predict-extras.ts), so a call
            # with a priority, or for frames rather than an MP4, sends the proto's JSON form instead.
            body = _json_predict_body(batch, frame, frame_type, npy, shape, dict(fields),
                                      request_id or str(uuid.uuid4()), priority, encoding)
            return json.dumps(body).encode(), "application/json", shape
        body, content_type = encode_form_data(
            # The request id rides in the body, so every retry of this call carries the same one: a retry
            # after a lost reply is refused by the server instead of running (and billing) twice.
            fields + [("output", "mp4"), ("request_id", request_id or str(uuid.uuid4()))],
            [("frame", frame_name, frame_type, frame), ("actions", "actions.npy", "application/x-npy", npy)],
        )
        return body, content_type, shape

    def _post(self, op: str, body: bytes, content_type: str, accept: str) -> Response:
        path = f"/v1/models/{urllib.parse.quote(self.slug, safe='')}/{op}"
        return self._client._transport.request("POST", path, body=body, content_type=content_type, accept=accept)

    def predict(self, start_frame: Any = None, actions: Any = None, num_steps: Optional[int] = None,
                guidance: Optional[float] = None, seed: int = 0, *, frame_bytes: Optional[bytes] = None,
                actions_bytes: Optional[bytes] = None, frame_path: Any = None, actions_path: Any = None,
                request_id: Optional[str] = None, priority: Optional[str] = None) -> Rollout:
        """One rollout from a start frame and (T, action_dim) actions → Rollout (MP4, T+1 frames).

        ``request_id`` (default: a fresh one per call) makes the call idempotent: it is sent on every
        retry, and the server never runs or bills one id twice. ``priority``: "INTERACTIVE" (the
        server's default) or "BATCH" (bulk work that must not delay control loops).
        """
        body, ctype, _ = self._build(False, start_frame, actions, num_steps, guidance, seed,
                                     frame_bytes, actions_bytes, frame_path, actions_path, request_id, priority)
        resp = self._post("predict", body, ctype, "video/mp4")
        h = resp.headers
        return Rollout(resp.body, request_id=h.get(H_REQUEST_ID), cost_usd=_float_header(h, H_CHARGE),
                       engine_wall_ms=_int_header(h, H_WALL), wall_s=resp.wall_s,
                       num_frames=_int_header(h, H_FRAMES), resolution=self.resolution, model=self.slug)

    def predict_batch(self, start_frame: Any = None, actions: Any = None, num_steps: Optional[int] = None,
                      guidance: Optional[float] = None, seed: int = 0, *, frame_bytes: Optional[bytes] = None,
                      actions_bytes: Optional[bytes] = None, frame_path: Any = None,
                      actions_path: Any = None, request_id: Optional[str] = None,
                      priority: Optional[str] = None) -> BatchRollout:
        """K rollouts sharing one start frame; actions (K, T, action_dim) or a list of K (T, action_dim).

        ``request_id`` and ``priority`` work as in predict().
        """
        body, ctype, shape = self._build(True, start_frame, actions, num_steps, guidance, seed,
                                         frame_bytes, actions_bytes, frame_path, actions_path, request_id, priority)
        k = shape[0]
        resp = self._post("predict_batch", body, ctype, "multipart/mixed")
        h = resp.headers
        request_id = h.get(H_REQUEST_ID)
        try:
            parts = parse_multipart(h.get("Content-Type", ""), resp.body)
        except ValueError as exc:
            raise DreamError(f"predict_batch: unreadable multipart/mixed response ({exc})", resp.status, request_id) from None
        indexed = []
        for pos, part in enumerate(parts):
            idx = part.headers.get(H_CANDIDATE.lower())
            indexed.append((int(idx) if idx is not None and idx.strip().isdigit() else pos, part))
        indexed.sort(key=lambda p: p[0])
        if [i for i, _ in indexed] != list(range(k)):
            raise DreamError(f"predict_batch: expected candidates 0..{k - 1}, got {[i for i, _ in indexed]}",
                             resp.status, request_id)
        total_frames = _int_header(h, H_FRAMES)
        per = total_frames // k if total_frames else None
        rollouts = [
            Rollout(part.body, request_id=request_id, cost_usd=0.0, engine_wall_ms=_int_header(h, H_WALL),
                    wall_s=resp.wall_s, num_frames=_int_header(part.headers, H_FRAMES.lower()) or per,
                    resolution=self.resolution, candidate_index=i, model=self.slug)
            for i, part in indexed
        ]
        return BatchRollout(rollouts, request_id=request_id, batch_size=k, engine_wall_ms=_int_header(h, H_WALL),
                            cost_usd=_float_header(h, H_CHARGE), customer_id=h.get(H_CUSTOMER),
                            wall_s=resp.wall_s, num_frames=total_frames)

    def predict_frames(self, start_frame: Any = None, actions: Any = None, num_steps: Optional[int] = None,
                       guidance: Optional[float] = None, seed: int = 0, *, encoding: str = "PNG",
                       request_id: Optional[str] = None, priority: Optional[str] = None) -> Tuple[List[List[bytes]], Any]:
        """Rollouts as encoded frames rather than an MP4 → (frames per candidate, RequestSummary record).

        ``encoding``: "PNG" or "JPEG" (each frame a file's bytes) or "RAW_RGB8" (H*W*3 bytes each).
        ``actions`` (T, action_dim) runs predict, (K, T, action_dim) or a list of K runs predict_batch;
        the server answers its JSON form (bytes in base64), so this costs about a third more download
        than the binary answers of predict/predict_batch.
        """
        if encoding not in ("PNG", "JPEG", "RAW_RGB8"):
            raise InputValidationError(f"encoding: expected PNG, JPEG or RAW_RGB8, got {encoding!r}")
        _, actions_src = _inputs.pick_style(start_frame, actions, None, None, None, None)
        batch = True
        try:
            _inputs.actions_to_wire(actions_src, self.action_dim, False)
            batch = False
        except InputValidationError:
            pass
        return self._predict_frames(batch, start_frame, actions, num_steps, guidance, seed, encoding, request_id, priority)

    def _predict_frames(self, batch: bool, start_frame: Any, actions: Any, num_steps: Optional[int],
                        guidance: Optional[float], seed: int, encoding: str, request_id: Optional[str],
                        priority: Optional[str]) -> Tuple[List[List[bytes]], Any]:
        body, ctype, _ = self._build(batch, start_frame, actions, num_steps, guidance, seed, None, None, None, None,
                                     request_id, priority, encoding)
        resp = self._post("predict_batch" if batch else "predict", body, ctype, "application/json")
        data = resp.json()
        if not isinstance(data, dict):
            raise DreamError("predict: the JSON answer is not an object", resp.status, resp.headers.get(H_REQUEST_ID))
        found = data.get("rollouts") if batch else [data.get("rollout")]
        rollouts = [r for r in (found or []) if isinstance(r, dict)]
        rollouts.sort(key=lambda r: int(r.get("candidate_index") or 0))
        try:
            frames = [[base64.b64decode(f) for f in r.get("frames") or []] for r in rollouts]
        except (TypeError, ValueError) as exc:
            raise DreamError(f"predict: unreadable frames in the JSON answer ({exc})", resp.status,
                             resp.headers.get(H_REQUEST_ID)) from None
        return frames, record(data.get("summary") or {})


    def stream(self, start_frame: Any = None, actions: Any = None, num_steps: Optional[int] = None,
               guidance: Optional[float] = None, seed: int = 0, *, frame_bytes: Optional[bytes] = None,
               actions_bytes: Optional[bytes] = None, frame_path: Any = None, actions_path: Any = None,
               request_id: Optional[str] = None, encoding: str = "RAW_RGB8") -> "PredictStream":
        """Stream K candidates' frames chunk by chunk: iterate the PredictStream for StreamChunks.

        ``actions`` is (T, action_dim) for one candidate or (K, T, action_dim) / a list of K; frames
        arrive encoded as ``encoding`` (RAW_RGB8: H*W*3 bytes, PNG or JPEG). ``stream.cancel([i])``
        prunes candidates while it runs; ``stream.summary`` is set at the end.
        """
        if encoding not in ("RAW_RGB8", "PNG", "JPEG"):
            raise InputValidationError(f"encoding: expected RAW_RGB8, PNG or JPEG, got {encoding!r}")
        frame_src, actions_src = _inputs.pick_style(start_frame, actions, frame_bytes, actions_bytes, frame_path, actions_path)
        fields = dict(_inputs.sampling_fields(num_steps, guidance, seed))
        frame, _, frame_type = _inputs.frame_to_wire(frame_src, self.resolution)
        try:
            npy, shape = _inputs.actions_to_wire(actions_src, self.action_dim, True)
        except InputValidationError as batch_error:
            try:  # one (T, action_dim) candidate
                npy, shape = _inputs.actions_to_wire(actions_src, self.action_dim, False)
            except InputValidationError:
                raise batch_error from None
            shape = (1,) + tuple(shape)
        payload = _inputs._npy_payload_f32(npy)
        self._ensure_active()
        k, t, d = shape
        per = t * d * 4
        params: dict = {"seed": fields["seed"]}
        if "num_steps" in fields:
            params["num_steps"] = int(fields["num_steps"])
        if "guidance" in fields:
            params["guidance"] = float(fields["guidance"])
        request_id = request_id or str(uuid.uuid4())
        body = {
            "start_frame": {"encoding": "JPEG" if frame_type == "image/jpeg" else "PNG", "data": base64.b64encode(frame).decode()},
            "candidates": [{"data": base64.b64encode(payload[i * per:(i + 1) * per]).decode(), "shape": [t, d]} for i in range(k)],
            "params": params,
            "output": {"encoding": encoding},
            "request_id": request_id,
        }
        path = f"/v1/models/{urllib.parse.quote(self.slug, safe='')}/stream_predict"
        resp = self._client._transport.open_stream("POST", path, body=json.dumps(body).encode(), content_type="application/json")
        return PredictStream(self._client, resp, request_id, path)

    # -----------------------------------------------------------------------------------------
    # Planning (docs/API.md "Planning"; proto/dream/v1/planning.proto)
    # -----------------------------------------------------------------------------------------

    def _plan_body(self, start_frame: Any, goal: Any, planner: str, options: Mapping[str, Any]) -> dict:
        body = build_plan_request(self, start_frame, goal, planner, **options)
        self._ensure_active()
        return body

    def plan(self, start_frame: Any = None, goal: Any = None, planner: str = "cem", **options: Any) -> Plan:
        """Plan next to the model: roll candidates out from ``start_frame``, score them against ``goal``
        and answer with the decision → Plan (best_actions (T, D), best_cost, candidate_costs, ranking,
        iterations, stopped, frames, cost_usd, request_id).

        ``planner``: ``"cem"`` (samples, iterations, elites, momentum, std_min), ``"mppi"`` (samples,
        iterations, lam) or ``"rank"`` (candidates (K, T, D)). Sampling: action_steps (T), mask
        [(start, end)], nominal, warm_start, init_std, low, high, hold_steps, smoothing. Cost: scorer,
        aggregation ("final" | "mean" | "discounted"), gamma. prune=(drop_fraction, keep_min). Budget:
        time_budget_ms (anytime: the best plan so far, OK), frames_max, cost_max_usd. num_steps,
        guidance, seed (same seed, same plan). best_rollout / top_k with rollout_encoding ("JPEG",
        "PNG", "RAW_RGB8"). deadline_ms (an error when passed). request_id (idempotent retries).
        """
        body = self._plan_body(start_frame, goal, planner, options)
        started = time.monotonic()
        resp = self._post("plan", json.dumps(body).encode(), "application/json", "application/json")
        return Plan(resp.json(), bytes_received=len(resp.body), wall_s=time.monotonic() - started)

    def rank(self, start_frame: Any = None, goal: Any = None, candidates: Any = None, **options: Any) -> Plan:
        """Best-of-N over your own candidates ((K, T, D) or a list of K (T, D)): plan(planner="rank")."""
        return self.plan(start_frame, goal, "rank", candidates=candidates, **options)

    def stream_plan(self, start_frame: Any = None, goal: Any = None, planner: str = "cem", **options: Any) -> PlanStream:
        """plan() as a stream: iterate for IterationStats as each iteration finishes, then the Plan."""
        body = self._plan_body(start_frame, goal, planner, options)
        path = f"/v1/models/{urllib.parse.quote(self.slug, safe='')}/stream_plan"
        resp = self._client._transport.open_stream("POST", path, body=json.dumps(body).encode(), content_type="application/json")
        return PlanStream(resp, body["request_id"], path)


class Models:
    def __init__(self, client: "Client") -> None:
        self._client = client

    def list(self) -> List[ModelHandle]:
        data = self._client._transport.request("GET", "/v1/models").json()
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise DreamError("GET /v1/models: response has no 'models' list")
        return [ModelHandle(self._client, m) for m in models]

    def get(self, slug: str) -> ModelHandle:
        if not isinstance(slug, str) or not slug:
            raise InputValidationError(f"slug: expected a non-empty string, got {slug!r}")
        spec = self._client._transport.request("GET", f"/v1/models/{urllib.parse.quote(slug, safe='')}").json()
        return ModelHandle(self._client, spec)
