"""Helpers for the bulk tests: tiny rows on disk, and a fake engine answering predicts per request id."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from _support import FakeServer, Recorded, Reply, json_reply, model_spec, parse_form

import dream
from dream._npy import read_npy_header

SLUG = "tiny"
H, W, A = 4, 6, 3
PRICE_MICROS = 500
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_spec(**kw: Any) -> Dict[str, Any]:
    spec = model_spec(SLUG, resolution=[H, W], action_dim=A, **kw)
    spec["pricing"]["price_per_frame_micros"] = str(PRICE_MICROS)
    return spec


def png(seed: int = 0) -> bytes:
    rgb = bytes((seed + i) % 256 for i in range(H * W * 3))
    return dream.png_from_rgb(H, W, rgb)


def actions(t: int = 4, k: Optional[int] = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (t, A) if k is None else (k, t, A)
    return rng.standard_normal(shape).astype(np.float32)


def write_row(base: str, name: str, t: int = 4, k: Optional[int] = None, start: str = "start.png") -> None:
    folder = os.path.join(base, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, start), "wb") as f:
        f.write(png(len(name)))
    np.save(os.path.join(folder, "actions.npy"), actions(t, k, seed=len(name)))


def shape_of(rec: Recorded) -> Tuple[Tuple[int, ...], Dict[str, Any]]:
    """The actions shape of a recorded predict request ((T, A) or (K, T, A)) and its fields."""
    if rec.headers.get("content-type", "").startswith("application/json"):
        body = json.loads(rec.body)
        if "candidates" in body:
            c = body["candidates"]
            return (len(c),) + tuple(c[0]["shape"]), body
        return tuple(body["actions"]["shape"]), body
    form = parse_form(rec)
    fields = {k: v[2].decode() for k, v in form.items() if k not in ("frame", "actions")}
    _, _, shape, _ = read_npy_header(form["actions"][2])
    return tuple(shape), fields


def mixed(parts: List[bytes], frames_each: int) -> Tuple[Dict[str, str], bytes]:
    chunks = []
    for i, p in enumerate(parts):
        chunks.append(f"--bnd\r\nContent-Type: video/mp4\r\nX-DreamEngine-Candidate-Index: {i}\r\n"
                      f"X-DreamEngine-Frames: {frames_each}\r\n\r\n".encode() + p + b"\r\n")
    chunks.append(b"--bnd--\r\n")
    return {"Content-Type": 'multipart/mixed; boundary="bnd"'}, b"".join(chunks)


class FakeEngine:
    """Answers POST /v1/models/tiny/predict and /predict_batch like the server: MP4 (or multipart/mixed, or
    the JSON form for Accept: application/json), charging K*(T+1)*PRICE_MICROS. ``script[request_id]``
    lists replies to give that id first (an error reply, DROP_CONNECTION, ...); ``delay_s`` holds each
    answer to let requests overlap, and ``max_in_flight`` records how many did."""

    def __init__(self, srv: FakeServer, delay_s: float = 0.0) -> None:
        self.srv = srv
        self.delay_s = delay_s
        self.script: Dict[str, List[Reply]] = {}
        self.ids: List[str] = []
        self.bodies: List[Tuple[Tuple[int, ...], Dict[str, Any], Recorded]] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        srv.on("GET", f"/v1/models/{SLUG}", json_reply(200, tiny_spec()))
        srv.on("POST", f"/v1/models/{SLUG}/predict", self._answer)
        srv.on("POST", f"/v1/models/{SLUG}/predict_batch", self._answer)

    def _answer(self, rec: Recorded) -> Reply:
        shape, fields = shape_of(rec)
        rid = fields.get("request_id", "")
        with self._lock:
            self.ids.append(rid)
            self.bodies.append((shape, fields, rec))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            scripted = self.script.get(rid)
            reply = scripted.pop(0) if scripted else None
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if reply is not None:
                return reply
            k = shape[0] if len(shape) == 3 else 1
            t = shape[-2]
            frames = k * (t + 1)
            usd = f"{frames * PRICE_MICROS / 1e6:.6f}".rstrip("0")
            headers = {"X-DreamEngine-Request-Id": rid, "X-DreamEngine-Frames": str(frames),
                       "X-DreamEngine-Estimated-Charge-USD": usd}
            accept = rec.headers.get("accept", "")
            if accept == "application/json":
                encoding = fields["output"]["encoding"]
                frame = png() if encoding == "PNG" else b"\xff\xd8\xff\xe0jpeg"
                rollout = lambda i: {"candidate_index": i, "encoding": encoding, "frame_count": t + 1,
                                     "frames": [base64.b64encode(frame + bytes([j])).decode() for j in range(t + 1)]}
                summary = {"request_id": rid, "frames": frames, "cost": {"micros": frames * PRICE_MICROS, "usd": usd}}
                body = {"rollouts": [rollout(i) for i in range(k)]} if len(shape) == 3 else {"rollout": rollout(0)}
                return json_reply(200, {**body, "summary": summary}, headers)
            if rec.path.endswith("/predict_batch"):
                h, payload = mixed([f"mp4:{rid}:c{i}".encode() for i in range(k)], t + 1)
                return 200, {**headers, **h}, payload
            return 200, {**headers, "Content-Type": "video/mp4"}, f"mp4:{rid}".encode()
        finally:
            with self._lock:
                self._in_flight -= 1
