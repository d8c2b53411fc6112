"""The Python SDK (clients/python, ``import dream``) end to end against a real, running Dream Engine.

Run by test/e2e/sdk.test.ts, which starts the server (tiny 48x64 model) and sets:
  DREAM_BASE_URL, DREAM_API_KEY       a funded key
  DREAM_POOR_API_KEY                  a key with $0.01 (for the 402)
  DREAM_LIMITED_API_KEY               a key limited to 1 request/s, burst 1 (for the 429)
  DREAM_FFMPEG                        the npm ffmpeg binary, so Rollout.frames decodes
Prints one JSON line of observed facts last; exits non-zero on the first failed check.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

import numpy as np  # noqa: E402

import dream  # noqa: E402
from sdk_e2e_support import check, expect, test_frame  # noqa: E402

TINY = "dream-reference-tiny"
H, W, D = 48, 64, 384
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
facts: dict = {}


def test_actions(steps: int, k: int) -> np.ndarray:
    t = np.arange(steps, dtype=np.float64)[:, None]
    d = np.arange(D, dtype=np.float64)[None, :]
    return (np.sin(0.1 * t + 0.37 * d + 1.3 * k) * 0.8).astype(np.float32)


def main() -> None:
    check(bool(os.environ.get("DREAM_FFMPEG")), "DREAM_FFMPEG must point at an ffmpeg binary")
    client = dream.Client()  # DREAM_API_KEY / DREAM_BASE_URL from the environment
    check(client.base_url == os.environ["DREAM_BASE_URL"], "base_url from DREAM_BASE_URL")

    # --- health, status, catalog ---
    health = client.healthz()
    check(health.status == "ok" and health.ready is True, f"healthz: {dict(health)}")
    status = client.status()
    check([w.window for w in status.overall] == ["1m", "1h", "24h"], "status windows")

    models = client.models.list()
    slugs = sorted(m.slug for m in models)
    facts["models"] = slugs
    check(TINY in slugs and "dreamdojo-2b-gr1" in slugs, f"models.list(): {slugs}")
    gr1 = next(m for m in models if m.slug == "dreamdojo-2b-gr1")
    check(gr1.active is False and gr1.resolution == (480, 640) and gr1.action_dim == 384, repr(gr1))

    model = client.models.get(TINY)
    check(model.active and model.resolution == (H, W) and model.action_dim == D and model.chunk_size == 12, repr(model))
    check(model.spec["pricing"]["price_per_rollout_usd"] == 0.0245, f"pricing: {model.spec['pricing']}")

    # --- predict: one rollout, 49 frames decoded, $0.0245 ---
    frame = test_frame(H, W)
    before = client.billing.balance()
    rollout = model.predict(start_frame=frame, actions=test_actions(48, 0))
    check(isinstance(rollout, dream.Rollout), type(rollout).__name__)
    check(rollout.num_frames == 49, f"num_frames {rollout.num_frames}")
    check(rollout.cost_usd == 0.0245, f"cost_usd {rollout.cost_usd}")
    check(bool(UUID.match(rollout.request_id or "")), f"request_id {rollout.request_id}")
    check(isinstance(rollout.engine_wall_ms, int) and rollout.engine_wall_ms >= 0, f"engine_wall_ms {rollout.engine_wall_ms}")
    check(rollout.mp4_bytes[4:8] == b"ftyp", "an MP4")
    frames = rollout.frames
    check(frames is not None, "Rollout.frames decodes when DREAM_FFMPEG is set")
    check(frames.shape == (49, H, W, 3) and frames.dtype == np.uint8, f"frames {frames.shape} {frames.dtype}")
    err = float(np.abs(frames[0].astype(np.int16) - frame.astype(np.int16)).mean())
    check(err < 12, f"frame 0 looks like the start frame (mean abs error {err:.2f})")
    after = client.billing.balance()
    charged = before.balance_micros - after.balance_micros
    check(charged == 24_500, f"charged {charged} micros for 49 frames")
    check(math.isclose(charged / 1e6, rollout.cost_usd), "cost_usd equals the debit")
    facts["predict"] = {"frames": int(frames.shape[0]), "cost_usd": rollout.cost_usd, "charged_micros": charged, "request_id": rollout.request_id}

    # --- predict_batch K=3: (K, T, 384) and a list of K give the same videos ---
    stacked = np.stack([test_actions(48, k) for k in range(3)])
    batch = model.predict_batch(start_frame=frame, actions=stacked)
    check(isinstance(batch, dream.BatchRollout) and len(batch) == 3 and batch.batch_size == 3, repr(batch))
    check(batch.cost_usd == 0.0735, f"batch cost_usd {batch.cost_usd}")
    check(bool(UUID.match(batch.request_id or "")), "batch request_id")
    for i, r in enumerate(batch.rollouts):
        check(r.candidate_index == i and r.cost_usd == 0.0 and r.num_frames == 49, repr(r))
        check(r.frames.shape == (49, H, W, 3), f"candidate {i} frames {r.frames.shape}")
    check(batch[0].mp4_bytes != batch[1].mp4_bytes, "different actions → different videos")
    as_list = model.predict_batch(start_frame=frame, actions=[test_actions(48, k) for k in range(3)])
    check([r.mp4_bytes for r in as_list] == [r.mp4_bytes for r in batch], "list of K == (K, T, 384): same seed, same videos")
    facts["batch"] = {"k": batch.batch_size, "cost_usd": batch.cost_usd, "frames": [r.num_frames for r in batch]}

    # --- billing ---
    balance = client.billing.balance()
    check(set(balance.keys()) >= {"customer_id", "balance_micros", "balance_mils", "balance_cents", "balance_usd"}, str(dict(balance)))
    check(before.balance_micros - balance.balance_micros == 24_500 + 2 * 73_500, "predict + two batches debited")
    txs = client.billing.transactions(limit=5)
    check([t.kind for t in txs[:3]] == ["debit", "debit", "debit"], str([t.kind for t in txs]))
    check(txs[0].request_id == as_list.request_id and txs[1].request_id == batch.request_id and txs[2].request_id == rollout.request_id, "newest first")
    check([t.amount_micros for t in txs[:3]] == [-73_500, -73_500, -24_500], str([t.amount_micros for t in txs[:3]]))
    check(txs[0].balance_micros == balance.balance_micros, "running balance")
    facts["balance_micros"] = balance.balance_micros
    e = expect(dream.InputValidationError, client.billing.topup, 4.99)
    check("amount_usd" in str(e), str(e))
    e = expect(dream.DreamError, client.billing.topup, 25)
    check(e.status_code == 412 and e.reason == "TOPUPS_NOT_CONFIGURED", str(e))

    # --- idempotency: the SDK sends a request_id on every predict (and on each retry of it); an id the
    # server has seen is refused before any work, so a retry after a lost reply is never billed twice ---
    before_replay = client.billing.balance().balance_micros
    e = expect(dream.ValidationError, model.predict, start_frame=frame, actions=test_actions(48, 0), request_id=rollout.request_id)
    check(e.status_code == 400 and "already used" in str(e), str(e))
    check(client.billing.balance().balance_micros == before_replay, "a replayed request_id moves no money")

    # --- errors ---
    e = expect(dream.ModelNotFoundError, client.models.get, "no-such-model")
    check(e.status_code == 404 and e.reason == "MODEL_NOT_FOUND" and bool(UUID.match(e.request_id or "")), str(e))
    e = expect(dream.ModelNotActiveError, gr1.predict, start_frame=np.zeros((480, 640, 3), np.uint8), actions=test_actions(48, 0))
    check(isinstance(e, RuntimeError), "ModelNotActiveError is a RuntimeError")
    e = expect(dream.InputValidationError, model.predict, start_frame=frame, actions=np.zeros((49, 100), np.float32))
    check("expects 384" in str(e) and "(49, 100)" in str(e), str(e))

    unknown = dream.Client(api_key="dre_" + "q" * 43)
    e = expect(dream.AuthError, unknown.billing.balance)
    check(e.status_code == 401 and e.reason == "UNAUTHENTICATED", str(e))
    e = expect(dream.AuthError, unknown.models.get(TINY).predict, start_frame=frame, actions=test_actions(12, 0))
    check(e.status_code == 401, str(e))

    poor = dream.Client(api_key=os.environ["DREAM_POOR_API_KEY"])
    poor_before = poor.billing.balance().balance_micros
    e = expect(dream.InsufficientCreditsError, poor.models.get(TINY).predict, start_frame=frame, actions=test_actions(48, 0))
    check(e.status_code == 402 and e.balance_cents == 1 and e.requested_cents == 3, f"{e} {e.balance_cents} {e.requested_cents}")
    check(e.balance_usd == 0.01 and e.requested_usd == 0.0245, f"{e.balance_usd} {e.requested_usd}")
    check(poor.billing.balance().balance_micros == poor_before, "a 402 charges nothing")

    # Server-side 400 → ValidationError: a PNG whose header (all the SDK reads) says 64x48 but whose
    # data is garbage gets past the client-side checks and is refused by the server.
    bad_png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x40\x00\x00\x00\x30\x08\x02\x00\x00\x00" + b"\x00" * 40
    npy = client_npy(test_actions(12, 0))
    e = expect(dream.ValidationError, model.predict, frame_bytes=bad_png, actions_bytes=npy)
    check(e.status_code == 400 and e.reason == "INVALID_ARGUMENT" and "start_frame" in str(e), str(e))
    facts["errors"] = "ok"

    # --- 429: RateLimitError(retry_after) without retries; with the default policy the SDK waits it out ---
    limited_key = os.environ["DREAM_LIMITED_API_KEY"]
    strict = dream.Client(api_key=limited_key, retry_policy=dream.RetryPolicy(max_attempts=1))
    got = None
    for _ in range(5):
        try:
            strict.billing.balance()
        except dream.RateLimitError as exc:
            got = exc
            break
    check(got is not None, "five back-to-back calls at 1 request/s hit the limit")
    check(got.status_code == 429 and got.retry_after == 1.0 and got.reason == "RATE_LIMITED", f"{got} retry_after={got.retry_after}")
    patient = dream.Client(api_key=limited_key)  # RetryPolicy(): retries 429 honouring Retry-After
    waits = []
    patient._transport.sleep = lambda s: (waits.append(s), __import__("time").sleep(s))[1]
    for _ in range(3):
        patient.billing.balance()  # never raises: each 429 is waited out
    check(all(w == 1.0 for w in waits), f"waited exactly Retry-After: {waits}")
    check(len(waits) >= 1, "three back-to-back calls at 1 request/s needed at least one retry")
    facts["rate_limit"] = {"retry_after": got.retry_after, "sdk_waits": waits}

    print(json.dumps(facts))


def client_npy(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


if __name__ == "__main__":
    main()
