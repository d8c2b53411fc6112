"""client.predict_many and client.estimate_cost against a fake engine: request ids, retries, concurrency,
the sink's exactly-once lines, the budget, progress bars."""

import asyncio
import base64
import io
import json
import os
import tempfile
import time
import unittest
from unittest import mock

from _bulk_support import A, PRICE_MICROS, SLUG, FakeEngine, actions, png, tiny_spec, write_row
from _support import DROP_CONNECTION, FakeServer, error_reply, json_reply, no_sleep_client

import dream
from dream import _progress
from dream.io import RolloutSink, rows


def mem_rows(n, t=4, k=None):
    return rows([(f"r{i}", png(i), actions(t, k, seed=i)) for i in range(n)])


class FakeTqdm:
    instances = []

    def __init__(self, total=None, desc=None, unit=None, file=None, dynamic_ncols=None):
        self.total, self.desc, self.n, self.closed, self.postfix = total, desc, 0, False, ""
        FakeTqdm.instances.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def refresh(self):
        pass

    def close(self):
        self.closed = True


class EstimateCostTest(unittest.TestCase):
    def test_rows_frames_and_price_from_the_catalog(self):
        with FakeServer() as srv:
            srv.on("GET", f"/v1/models/{SLUG}", json_reply(200, tiny_spec()))
            client = no_sleep_client(srv)
            src = rows([("a", png(), actions(4)), ("b", png(), actions(2, k=3)), ("c", png(), actions(48))])
            est = client.estimate_cost(src, model=SLUG)
            self.assertEqual((est.model, est.rows, est.frames), (SLUG, 3, 5 + 9 + 49))
            self.assertEqual(est.price_per_frame_micros, PRICE_MICROS)
            self.assertEqual(est.cost_micros, 63 * PRICE_MICROS)
            self.assertAlmostEqual(est.cost_usd, 0.0315)
            self.assertEqual(srv.count("GET", f"/v1/models/{SLUG}"), 1)
            handle = client.models.get(SLUG)
            self.assertEqual(client.estimate_cost(src, model=handle).frames, 63)
            self.assertEqual(srv.count("GET", f"/v1/models/{SLUG}"), 2, "a ModelHandle needs no second GET")
            with self.assertRaises(dream.InputValidationError) as cm:
                client.estimate_cost(rows([("x", png(), [[0.0] * (A + 1)])]), model=handle)
            self.assertIn(f"expects action_dim {A}", str(cm.exception))

    def test_from_a_directory(self):
        with tempfile.TemporaryDirectory() as base, FakeServer() as srv:
            write_row(base, "a", t=10)
            write_row(base, "b", t=3, k=2)
            srv.on("GET", f"/v1/models/{SLUG}", json_reply(200, tiny_spec()))
            est = no_sleep_client(srv).estimate_cost(base, model=SLUG)
            self.assertEqual((est.rows, est.frames, est.cost_micros), (2, 11 + 8, 19 * PRICE_MICROS))


class PredictManyTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeServer().__enter__()
        self.engine = FakeEngine(self.srv)
        self.client = no_sleep_client(self.srv)
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        self.srv.__exit__(None, None, None)
        self.tmp.cleanup()

    def results(self):
        with open(os.path.join(self.out, "results.jsonl")) as f:
            return [json.loads(line) for line in f]

    def run_many(self, source, **kw):
        kw.setdefault("progress", False)
        kw.setdefault("run_id", "run1")
        return self.client.predict_many(source, RolloutSink.dir(self.out), model=SLUG, **kw)

    def test_every_row_once_with_deterministic_ids_and_batch_priority(self):
        s = self.run_many(mem_rows(3))
        self.assertEqual((s.rows_total, s.rows_done, s.rows_failed, s.frames), (3, 3, 0, 15))
        self.assertEqual((s.cost_micros, s.cost_usd, s.run_id, s.ok), (15 * PRICE_MICROS, 0.0075, "run1", True))
        self.assertEqual(sorted(self.engine.ids), ["run1-row-0", "run1-row-1", "run1-row-2"])
        for shape, body, rec in self.engine.bodies:
            self.assertEqual(rec.headers["content-type"], "application/json")
            self.assertEqual((body["priority"], body["output"], shape), ("BATCH", {"encoding": "MP4"}, (4, A)))
            self.assertEqual(base64.b64decode(body["start_frame"]["data"])[:8], b"\x89PNG\r\n\x1a\n")
        lines = sorted(self.results(), key=lambda line: line["row"])
        self.assertEqual([(line["name"], line["state"], line["frames"], line["cost_micros"]) for line in lines],
                         [(f"r{i}", "done", 5, 5 * PRICE_MICROS) for i in range(3)])
        with open(os.path.join(self.out, "r1.mp4"), "rb") as f:
            self.assertEqual(f.read(), b"mp4:run1-row-1")

    def test_a_row_refused_with_a_retryable_reason_is_retried_under_a_new_id_and_written_once(self):
        self.engine.script["run1-row-1"] = [error_reply(503, "UNAVAILABLE", "queue full")]
        self.engine.script["run1-row-1-r1"] = [error_reply(429, "RATE_LIMITED", headers={"Retry-After": "2"})]
        s = self.run_many(mem_rows(3))
        self.assertEqual((s.rows_done, s.rows_failed, s.retries), (3, 0, 2))
        tried = [i for i in self.engine.ids if i.startswith("run1-row-1")]
        self.assertEqual(tried, ["run1-row-1", "run1-row-1-r1", "run1-row-1-r2"])
        self.assertEqual(self.client.sleeps, [0.25, 2.0])  # backoff, then the server's Retry-After
        lines = self.results()
        self.assertEqual(sorted(line["row"] for line in lines), [0, 1, 2], "one line per row")
        row1 = next(line for line in lines if line["row"] == 1)
        self.assertEqual((row1["request_id"], row1["state"]), ("run1-row-1-r2", "done"))
        with open(os.path.join(self.out, "r1.mp4"), "rb") as f:
            self.assertEqual(f.read(), b"mp4:run1-row-1-r2")

    def test_no_answer_is_retried_under_the_same_id_and_a_used_id_is_not_run_again(self):
        used = error_reply(400, "INVALID_ARGUMENT", "request_id: run1-row-0 was already used by an earlier request",
                           field="request_id")
        self.engine.script["run1-row-0"] = [DROP_CONNECTION, used]
        self.engine.script["run1-row-1"] = [DROP_CONNECTION]
        s = self.run_many(mem_rows(2), concurrency=1)
        self.assertEqual(self.engine.ids, ["run1-row-0"] * 2 + ["run1-row-1"] * 2)
        self.assertEqual((s.rows_done, s.rows_failed), (1, 1))
        err = s.errors[0]
        self.assertEqual((err.row, err.name, err.request_id, err.reason, err.attempts),
                         (0, "r0", "run1-row-0", "INVALID_ARGUMENT", 2))
        self.assertIn("not run again", err.message)
        failed = next(line for line in self.results() if line["row"] == 0)
        self.assertEqual((failed["state"], failed["frames"], failed["cost_micros"]), ("failed", 0, 0))
        self.assertFalse(os.path.exists(os.path.join(self.out, "r0.mp4")))

    def test_non_retryable_errors_fail_the_row_at_once_and_retries_run_out(self):
        self.engine.script["run1-row-0"] = [error_reply(402, "INSUFFICIENT_CREDITS")]
        self.engine.script["run1-row-1"] = [error_reply(503, "UNAVAILABLE")]
        for a in range(1, 3):
            self.engine.script[f"run1-row-1-r{a}"] = [error_reply(503, "UNAVAILABLE")]
        s = self.run_many(mem_rows(3), retries=2)
        self.assertEqual((s.rows_done, s.rows_failed), (1, 2))
        by_row = {e.row: e for e in s.errors}
        self.assertEqual((by_row[0].reason, by_row[0].attempts), ("INSUFFICIENT_CREDITS", 1))
        self.assertEqual((by_row[1].reason, by_row[1].attempts), ("UNAVAILABLE", 3))
        self.assertEqual(sum(1 for i in self.engine.ids if i.startswith("run1-row-1")), 3)
        self.assertFalse(s.ok)

    def test_a_row_the_client_rejects_fails_without_a_request(self):
        src = rows([("good", png(), actions()), ("wide", png(), [[0.0] * (A + 2)] * 3)])
        s = self.run_many(src)
        self.assertEqual((s.rows_done, s.rows_failed), (1, 1))
        self.assertIn("model expects 3", s.errors[0].message)
        self.assertEqual(len(self.engine.ids), 1)

    def test_concurrency_bounds_rows_in_flight(self):
        self.engine.delay_s = 0.15
        started = time.monotonic()
        s = self.run_many(mem_rows(8), concurrency=4)
        wall = time.monotonic() - started
        self.assertEqual(s.rows_done, 8)
        self.assertEqual(self.engine.max_in_flight, 4)
        self.assertLess(wall, 8 * 0.15 * 0.75, "rows overlapped")
        self.engine.max_in_flight = 0
        self.client.predict_many(mem_rows(3), model=SLUG, concurrency=1, progress=False)
        self.assertEqual(self.engine.max_in_flight, 1)

    def test_batch_rows_png_output_and_interactive_form_path(self):
        src = rows([("k3", png(), actions(2, k=3)), ("one", png(), actions(2))])
        s = self.run_many(src)
        self.assertEqual((s.rows_done, s.frames), (2, 9 + 3))
        self.assertTrue(self.srv.count("POST", f"/v1/models/{SLUG}/predict_batch"), 1)
        for k in range(3):
            with open(os.path.join(self.out, "k3", f"c{k}.mp4"), "rb") as f:
                self.assertEqual(f.read(), f"mp4:run1-row-0:c{k}".encode())

        out_png = os.path.join(self.tmp.name, "png")
        s = self.client.predict_many(src, out_png, model=SLUG, output="PNG", progress=False, run_id="run2")
        self.assertEqual((s.rows_done, s.frames, s.cost_micros), (2, 12, 12 * PRICE_MICROS))
        self.assertEqual(sorted(os.listdir(os.path.join(out_png, "k3"))), ["c0", "c1", "c2"])
        self.assertEqual(sorted(os.listdir(os.path.join(out_png, "one", "c0"))), [f"000{i}.png" for i in range(3)])
        with open(os.path.join(out_png, "one", "c0", "0002.png"), "rb") as f:
            self.assertEqual(f.read(), png() + b"\x02")
        self.assertTrue(all(r.headers["accept"] == "application/json" for _, _, r in self.engine.bodies[-2:]))

        before = len(self.engine.bodies)
        self.client.predict_many(mem_rows(1), model=SLUG, priority=None, progress=False)
        shape, fields, rec = self.engine.bodies[before]
        self.assertTrue(rec.headers["content-type"].startswith("multipart/form-data"))
        self.assertNotIn("priority", fields)

    def test_budget_skips_rows_that_would_pass_it(self):
        s = self.run_many(mem_rows(4), concurrency=1, budget_usd=0.006)  # 2500 micros a row
        self.assertEqual((s.rows_done, s.rows_skipped, s.cost_micros), (2, 2, 5000))
        states = sorted((line["row"], line["state"]) for line in self.results())
        self.assertEqual(states, [(0, "done"), (1, "done"), (2, "skipped"), (3, "skipped")])
        self.assertEqual(len(self.engine.ids), 2)

    def test_resume_skips_rows_already_done(self):
        self.run_many(mem_rows(2))
        before = len(self.engine.ids)
        sink = RolloutSink.dir(self.out, resume=True)
        s = self.client.predict_many(mem_rows(3), sink, model=SLUG, progress=False, run_id="run2")
        self.assertEqual((s.rows_already_done, s.rows_done), (2, 1))
        self.assertEqual(self.engine.ids[before:], ["run2-row-2"])
        self.assertEqual(sorted(line["row"] for line in self.results()), [0, 1, 2])

    def test_plain_progress_bar_on_stderr_without_tqdm(self):
        err = io.StringIO()
        with mock.patch.object(_progress, "_tqdm_class", return_value=None), mock.patch("sys.stderr", err):
            self.run_many(mem_rows(3), progress=True)
        text = err.getvalue()
        self.assertIn(f"predict_many {SLUG}: 3/3 rows (100%)", text)
        self.assertIn("failed 0, $0.0075", text)
        self.assertTrue(text.endswith("\n"))

    def test_tqdm_when_importable(self):
        FakeTqdm.instances = []
        with mock.patch.object(_progress, "_tqdm_class", return_value=FakeTqdm):
            self.run_many(mem_rows(3), progress=True)
        bar = FakeTqdm.instances[-1]
        self.assertEqual((bar.total, bar.n, bar.closed), (3, 3, True))
        FakeTqdm.instances = []
        with mock.patch.object(_progress, "_tqdm_class", return_value=FakeTqdm):
            self.client.predict_many(mem_rows(1), model=SLUG, progress=False)
        self.assertEqual(FakeTqdm.instances, [])

    def test_arguments_are_checked_first(self):
        bad = [dict(concurrency=0), dict(concurrency=65), dict(retries=-1), dict(run_id="has space"),
               dict(run_id="x" * 41), dict(priority="URGENT"), dict(output="gif"),
               dict(budget_usd=1, budget_micros=5), dict(budget_micros=0)]
        for kw in bad:
            with self.assertRaises(dream.InputValidationError, msg=kw):
                self.client.predict_many(mem_rows(1), model=SLUG, progress=False, **kw)
        with self.assertRaises(dream.InputValidationError):
            self.client.predict_many(42, model=SLUG, progress=False)
        self.assertEqual(self.engine.ids, [])

    def test_async_client(self):
        async def go():
            client = dream.AsyncClient(api_key="k", base_url=self.srv.url)
            est = await client.estimate_cost(mem_rows(2), SLUG)
            s = await client.predict_many(mem_rows(2), model=SLUG, progress=False)
            return est, s
        est, s = asyncio.run(go())
        self.assertEqual((est.frames, s.rows_done, s.frames), (10, 2, 10))


if __name__ == "__main__":
    unittest.main()
