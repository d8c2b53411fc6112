"""client.jobs against a fake server: the CreateJobRequest on the wire (server dir, JSON rows, NDJSON rows),
get/list/cancel paths, wait's polling and progress, errors."""

import asyncio
import base64
import json
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

from _bulk_support import A, SLUG, actions, png, tiny_spec, write_row
from _support import FakeServer, error_reply, json_reply, no_sleep_client
from test_bulk import FakeTqdm

import dream
from dream import _progress, jobs as jobs_module
from dream.io import frames_from_dir, rows


def job(state="JOB_RUNNING", done=0, total=3, failed=0, **kw):
    j = {"job_id": "j1", "model": SLUG, "state": state, "rows_total": total, "rows_done": done, "rows_failed": failed,
         "rows_pending": total - done - failed, "rows_running": 0, "frames": done * 5,
         "cost": {"micros": str(done * 2500), "usd": f"{done * 0.0025:.4f}"}, "budget_micros": "5000000",
         "rows_per_s": 1.5, "frames_per_s": 7.5, "eta_s": 2, "created_at": "2026-12-02T06:00:00Z",
         "updated_at": "2026-12-02T06:00:01Z", "sink_dir": "out/j1", "error": "", "priority": "BATCH"}
    j.update(kw)
    return j


class JobsTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeServer().__enter__()
        self.srv.on("GET", f"/v1/models/{SLUG}", json_reply(200, tiny_spec()))
        self.client = no_sleep_client(self.srv)
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.srv.__exit__(None, None, None)
        self.tmp.cleanup()

    def posted(self):
        return [r for r in self.srv.requests if r.method == "POST" and r.path == "/v1/jobs"]

    def test_create_from_a_server_directory(self):
        self.srv.on("POST", "/v1/jobs", json_reply(200, job("JOB_PENDING")))
        j = self.client.jobs.create(SLUG, "datasets/run-7", "out/run-7", params={"num_steps": 2, "seed": 9},
                                    output="png", budget_usd=5, job_id="j1", priority="batch")
        self.assertIsInstance(j, dream.Job)
        self.assertEqual((j.job_id, j.state, j.finished, j.budget_micros, j.cost_micros), ("j1", "JOB_PENDING", False, 5_000_000, 0))
        [rec] = self.posted()
        self.assertEqual(rec.headers["content-type"], "application/json")
        self.assertEqual(json.loads(rec.body), {
            "model": SLUG, "sink": {"dir": "out/run-7"}, "job_id": "j1", "params": {"seed": "9", "num_steps": 2},
            "output": {"encoding": "PNG"}, "budget_micros": 5_000_000, "priority": "BATCH",
            "source": {"dir": "datasets/run-7"}})
        self.assertEqual(self.srv.count("GET"), 0, "a server directory needs no model lookup")

    def test_create_uploads_rows_as_json_checked_against_the_model(self):
        base = os.path.join(self.tmp.name, "rows")
        write_row(base, "a", t=4)
        write_row(base, "b", t=2, k=2)
        self.srv.on("POST", "/v1/jobs", json_reply(200, job("JOB_PENDING", total=2)))
        self.client.jobs.create(SLUG, frames_from_dir(base), "out", job_id="j1")
        [rec] = self.posted()
        body = json.loads(rec.body)
        uploaded = body["source"]["rows"]["rows"]
        self.assertEqual([r["name"] for r in uploaded], ["a", "b"])
        self.assertEqual([r["actions"]["shape"] for r in uploaded], [[4, A], [2, 2, A]])
        self.assertEqual(uploaded[0]["start_frame"]["encoding"], "PNG")
        with open(os.path.join(base, "a", "start.png"), "rb") as f:
            self.assertEqual(base64.b64decode(uploaded[0]["start_frame"]["data"]), f.read())
        got = np.frombuffer(base64.b64decode(uploaded[1]["actions"]["data"]), "<f4").reshape(2, 2, A)
        np.testing.assert_array_equal(got, np.load(os.path.join(base, "b", "actions.npy")))
        self.assertEqual(self.srv.count("GET", f"/v1/models/{SLUG}"), 1)

        with self.assertRaises(dream.InputValidationError) as cm:
            self.client.jobs.create(SLUG, rows([("x", png(), [[0.0] * (A + 1)])]), "out")
        self.assertIn("row 0 (x)", str(cm.exception))
        with self.assertRaises(dream.InputValidationError) as cm:
            self.client.jobs.create(SLUG, rows([("x", dream.png_from_rgb(2, 2, bytes(12)), actions())]), "out")
        self.assertIn("model expects 4x6", str(cm.exception))
        self.assertEqual(len(self.posted()), 1, "nothing sent for rows the model would refuse")

    def test_large_uploads_go_as_ndjson(self):
        self.srv.on("POST", "/v1/jobs", json_reply(200, job("JOB_PENDING")))
        src = [(f"r{i}", png(i), actions(3, seed=i)) for i in range(3)]
        self.client.jobs.create(SLUG, src, "out", job_id="j1", upload="ndjson", budget_micros=7)
        with mock.patch.object(jobs_module, "NDJSON_UPLOAD_BYTES_MIN", 10):
            self.client.jobs.create(SLUG, src, "out", job_id="j2")
        for rec, jid in zip(self.posted(), ["j1", "j2"]):
            self.assertEqual(rec.headers["content-type"], "application/x-ndjson")
            lines = rec.body.decode().splitlines()
            head = json.loads(lines[0])
            self.assertEqual(head["job_id"], jid)
            self.assertNotIn("source", head)
            self.assertEqual([json.loads(line)["name"] for line in lines[1:]], ["r0", "r1", "r2"])
            self.assertEqual(json.loads(lines[2])["actions"]["shape"], [3, A])
        self.assertEqual(json.loads(self.posted()[0].body.decode().splitlines()[0])["budget_micros"], 7)

    def test_create_sends_a_job_id_so_a_retry_is_the_same_job(self):
        self.srv.on("POST", "/v1/jobs", error_reply(503, "UNAVAILABLE"), json_reply(200, job("JOB_PENDING")))
        self.client.jobs.create(SLUG, "in", "out")
        first, second = self.posted()
        self.assertEqual(first.body, second.body)
        self.assertEqual(len(json.loads(first.body)["job_id"]), 32)

    def test_get_list_cancel(self):
        self.srv.on("GET", "/v1/jobs/j%201", json_reply(200, job(job_id="j 1")))
        self.srv.on("GET", "/v1/jobs", json_reply(200, {"jobs": [job(job_id="j2", state=5), job()]}))
        self.srv.on("POST", "/v1/jobs/j1:cancel", json_reply(200, job("JOB_CANCELLED", done=1)))
        self.assertEqual(self.client.jobs.get("j 1").job_id, "j 1")
        listed = self.client.jobs.list(limit=7)
        self.assertEqual(self.srv.requests[-1].query, {"limit": "7"})
        self.assertEqual([(j.job_id, j.state) for j in listed], [("j2", "JOB_CANCELLED"), ("j1", "JOB_RUNNING")])
        cancelled = self.client.jobs.cancel("j1")
        self.assertEqual((cancelled.state, cancelled.finished, cancelled.rows_finished), ("JOB_CANCELLED", True, 1))
        self.assertEqual(json.loads(self.srv.requests[-1].body), {})
        self.assertIn("JOB_CANCELLED", repr(cancelled))

    def test_wait_polls_until_the_job_ends_with_a_progress_bar(self):
        self.srv.on("GET", "/v1/jobs/j1", json_reply(200, job(done=0)), json_reply(200, job(done=1)),
                    json_reply(200, job(done=2, failed=0)), json_reply(200, job("JOB_FAILED", done=2, failed=1, error="1 row failed")))
        FakeTqdm.instances = []
        with mock.patch.object(_progress, "_tqdm_class", return_value=FakeTqdm):
            final = self.client.jobs.wait("j1", poll_s=0.5)
        self.assertEqual((final.state, final.rows_done, final.rows_failed, final.error), ("JOB_FAILED", 2, 1, "1 row failed"))
        self.assertEqual(self.client.sleeps, [0.5, 0.5, 0.5])
        bar = FakeTqdm.instances[-1]
        self.assertEqual((bar.total, bar.n, bar.closed), (3, 3, True))
        self.assertIn("JOB_FAILED", bar.postfix)

    def test_wait_timeout(self):
        self.srv.on("GET", "/v1/jobs/j1", json_reply(200, job(done=1)))
        with self.assertRaises(dream.JobTimeoutError) as cm:
            self.client.jobs.wait("j1", progress=False, timeout_s=0)
        self.assertEqual(cm.exception.job.rows_done, 1)
        self.assertIsInstance(cm.exception, TimeoutError)

    def test_errors_and_argument_checks(self):
        with self.assertRaises(dream.DreamError) as cm:
            self.client.jobs.get("missing")
        self.assertEqual((cm.exception.status_code, cm.exception.reason), (404, "NOT_FOUND"))
        bad_create = [dict(source="in", sink_dir=""), dict(source="in", sink_dir="o", budget_usd=1, budget_micros=1),
                      dict(source="in", sink_dir="o", output="gif"), dict(source="in", sink_dir="o", output={"encoding": "JPEG", "jpeg_quality": 0}),
                      dict(source="in", sink_dir="o", params={"steps": 1}), dict(source="in", sink_dir="o", priority="now"),
                      dict(source=42, sink_dir="o"), dict(source="in", sink_dir="o", upload="zip"), dict(source=[], sink_dir="o")]
        for kw in bad_create:
            with self.assertRaises(dream.InputValidationError, msg=kw):
                self.client.jobs.create(SLUG, **kw)
        for bad in (0, 501, True):
            with self.assertRaises(dream.InputValidationError):
                self.client.jobs.list(limit=bad)
        with self.assertRaises(dream.InputValidationError):
            self.client.jobs.wait("j1", poll_s=0)
        with self.assertRaises(dream.InputValidationError):
            self.client.jobs.get("")
        self.assertEqual(self.posted(), [])

    def test_async_jobs(self):
        self.srv.on("POST", "/v1/jobs", json_reply(200, job("JOB_PENDING")))
        self.srv.on("GET", "/v1/jobs/j1", json_reply(200, job("JOB_SUCCEEDED", done=3)))

        async def go():
            client = dream.AsyncClient(api_key="k", base_url=self.srv.url)
            created = await client.jobs.create(SLUG, "in", "out", job_id="j1")
            return created, await client.jobs.wait("j1", progress=False)
        created, final = asyncio.run(go())
        self.assertEqual((created.state, final.state, final.cost_usd), ("JOB_PENDING", "JOB_SUCCEEDED", 0.0075))


if __name__ == "__main__":
    unittest.main()
