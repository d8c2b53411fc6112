"""The Python SDK's model.stream() and client.cancel() against a real Dream Engine (run by
test/e2e/sdk-stream.test.ts with DREAM_BASE_URL / DREAM_API_KEY set). Prints one JSON line of facts."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

import dream  # noqa: E402
from dream._png import encode_png_rgb_bytes  # noqa: E402

TINY = "dream-reference-tiny"


def main() -> None:
    client = dream.Client()
    model = client.models.get(TINY)
    h, w = model.resolution
    png = encode_png_rgb_bytes(h, w, bytes(range(256)) * (h * w * 3 // 256) + bytes(h * w * 3 % 256))
    actions = [[[0.01 * ((k + 1) * (t + 1) % 7)] * model.action_dim for t in range(24)] for k in range(2)]
    stream = model.stream(start_frame=png, actions=actions, seed=3)
    frames = [0, 0]
    chunk_indices = []
    raw_sizes = set()
    for chunk in stream:
        chunk_indices.append(chunk.chunk_index)
        for cand in chunk.candidates:
            frames[cand.candidate_index] += len(cand.frames)
            raw_sizes.update(len(f) for f in cand.frames)
    summary = stream.summary
    try:
        client.cancel(stream.request_id, [1])
        cancel_after_end = "answered"
    except dream.DreamError as exc:
        cancel_after_end = f"{exc.status_code} {exc.reason}"
    print(json.dumps({
        "chunks": chunk_indices,
        "frames": frames,
        "raw_frame_bytes": sorted(raw_sizes),
        "hw": [h, w],
        "summary_frames": list(summary.frames_per_candidate),
        "request_id_matches": summary.summary.request_id == stream.request_id,
        "cost_micros": summary.summary.cost.micros,
        "cancel_after_end": cancel_after_end,
    }))


if __name__ == "__main__":
    main()
