"""The Python SDK's bulk calls against a real, running Dream Engine (run by test/python/bulk.test.ts).

Environment: DREAM_BASE_URL, DREAM_API_KEY (a funded key), BULK_WORK_DIR (a scratch directory),
BULK_JOBS_DIR (the server's jobs root, or empty when the server has no Jobs service).
Prints one JSON line of observed facts last; exits non-zero on the first failed check.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import numpy as np  # noqa: E402

import dream  # noqa: E402
from dream.io import RolloutSink, frames_from_dir  # noqa: E402
from sdk_e2e_support import check, test_frame  # noqa: E402

TINY = "dream-reference-tiny"
H, W, D = 48, 64, 384


def write_rows(base: str) -> None:
    """Three (T=4, D) rows and one K=2 (T=3) row: 3 × 5 + 2 × 4 = 23 frames."""
    frame = dream.png_from_rgb(H, W, test_frame(H, W).tobytes())
    shapes = {"a": (4, D), "b": (4, D), "c": (4, D), "k2": (2, 3, D)}
    for i, (name, shape) in enumerate(shapes.items()):
        os.makedirs(os.path.join(base, name), exist_ok=True)
        with open(os.path.join(base, name, "start.png"), "wb") as f:
            f.write(frame)
        values = np.sin(0.1 * np.arange(int(np.prod(shape))) + i).reshape(shape) * 0.8
        np.save(os.path.join(base, name, "actions.npy"), values.astype(np.float32))


def results(path: str) -> list:
    with open(os.path.join(path, "results.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    work = os.environ["BULK_WORK_DIR"]
    client = dream.Client()
    facts: dict = {}

    rows_dir = os.path.join(work, "rows")
    write_rows(rows_dir)
    source = frames_from_dir(rows_dir)
    est = client.estimate_cost(source, model=TINY)
    check((est.rows, est.frames, est.price_per_frame_micros) == (4, 23, 500), f"estimate {est}")
    facts["estimate_micros"] = est.cost_micros

    out = os.path.join(work, "out")
    s = client.predict_many(source, RolloutSink.dir(out), model=TINY, concurrency=2, run_id="bulk-e2e", progress=True)
    check((s.rows_done, s.rows_failed, s.frames) == (4, 0, 23), f"predict_many {s}")
    check(s.cost_micros == est.cost_micros, f"charged {s.cost_micros}, estimated {est.cost_micros}")
    lines = sorted(results(out), key=lambda line: line["row"])
    check([line["name"] for line in lines] == ["a", "b", "c", "k2"], f"results {lines}")
    check(all(line["state"] == "done" for line in lines), f"results {lines}")
    for name in ("a.mp4", "b.mp4", "c.mp4", os.path.join("k2", "c0.mp4"), os.path.join("k2", "c1.mp4")):
        with open(os.path.join(out, name), "rb") as f:
            check(f.read(8)[4:8] == b"ftyp", f"{name} is an MP4")
    facts["predict_many"] = {"cost_micros": s.cost_micros, "request_ids": [line["request_id"] for line in lines]}

    # The same run id again: every row's request id is already used, so nothing runs or is billed twice.
    again = client.predict_many(source, RolloutSink.dir(out, overwrite=True), model=TINY, run_id="bulk-e2e",
                                progress=False, retries=1)
    check((again.rows_done, again.rows_failed, again.cost_micros) == (0, 4, 0), f"rerun {again}")
    check(all(e.reason == "INVALID_ARGUMENT" and "already used" in e.message for e in again.errors), f"rerun {again.errors}")

    png_out = os.path.join(work, "png")
    p = client.predict_many(frames_from_dir(rows_dir), png_out, model=TINY, output="PNG", progress=False,
                            run_id="bulk-e2e-png")
    check((p.rows_done, p.frames) == (4, 23), f"png {p}")
    files = sorted(os.listdir(os.path.join(png_out, "a", "c0")))
    check(files == [f"{i:04d}.png" for i in range(5)], f"png files {files}")
    with open(os.path.join(png_out, "k2", "c1", "0003.png"), "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "a PNG frame")
    facts["png_cost_micros"] = p.cost_micros

    jobs_dir = os.environ.get("BULK_JOBS_DIR", "")
    if jobs_dir:
        nd = client.jobs.create(TINY, frames_from_dir(rows_dir), "sdk-ndjson", upload="ndjson", output="PNG",
                                params={"seed": 3})
        nd_final = client.jobs.wait(nd.job_id, progress=False, poll_s=0.2, timeout_s=120)
        check((nd_final.state, nd_final.rows_done, nd_final.frames) == ("JOB_SUCCEEDED", 4, 23), f"ndjson job {nd_final.to_dict()}")
        nd_sink = os.path.join(jobs_dir, "sdk-ndjson")
        written = {f"{name}/{c}": len(os.listdir(os.path.join(nd_sink, name, c)))
                   for name in ("a", "b", "c", "k2") for c in sorted(os.listdir(os.path.join(nd_sink, name)))}
        check(written == {"a/c0": 5, "b/c0": 5, "c/c0": 5, "k2/c0": 4, "k2/c1": 4},
              f"PNG frames per candidate folder: {written}")
        job = client.jobs.create(TINY, frames_from_dir(rows_dir), "sdk-upload", job_id="bulk-e2e-upload")
        final = client.jobs.wait(job.job_id, progress=True, poll_s=0.2, timeout_s=120)
        if final.state != "JOB_SUCCEEDED":
            sink = os.path.join(jobs_dir, "sdk-upload", "results.jsonl")
            rows_text = open(sink).read() if os.path.exists(sink) else "(no results.jsonl)"
            raise AssertionError(f"job {final.to_dict()}\n{rows_text}")
        check((final.rows_done, final.rows_failed, final.frames) == (4, 0, 23), f"job {final}")
        check(final.cost_micros == est.cost_micros, f"job cost {final.cost_micros}")
        lines = results(os.path.join(jobs_dir, "sdk-upload"))
        check(sorted(line["name"] for line in lines) == ["a", "b", "c", "k2"], f"job results {lines}")
        check(client.jobs.create(TINY, frames_from_dir(rows_dir), "sdk-upload", job_id="bulk-e2e-upload").job_id == job.job_id,
              "creating the same job id again returns the job")
        check(any(j.job_id == job.job_id for j in client.jobs.list(limit=10)), "listed")
        # A source directory on the server, relative to its jobs root.
        shutil.copytree(rows_dir, os.path.join(jobs_dir, "sdk-src"))
        on_server = client.jobs.create(TINY, "sdk-src", "sdk-src-out", priority="BATCH")
        dir_final = client.jobs.wait(on_server.job_id, progress=False, poll_s=0.2, timeout_s=120)
        check((dir_final.state, dir_final.rows_done, dir_final.frames) == ("JOB_SUCCEEDED", 4, 23), f"dir job {dir_final.to_dict()}")
        check(os.path.isfile(os.path.join(jobs_dir, "sdk-src-out", "k2", "c1.mp4")), "the dir job's K=2 row")
        facts["job"] = {"job_id": final.job_id,
                        "cost_micros": final.cost_micros + nd_final.cost_micros + dir_final.cost_micros}

    print(json.dumps(facts))


if __name__ == "__main__":
    main()
