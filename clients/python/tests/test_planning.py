"""model.plan / rank / stream_plan and client.sessions against the local fake server: the JSON sent
(proto3 JSON mapping of planning.proto), the results parsed, validation before any request."""

import asyncio
import base64
import json
import math
import struct
import unittest
from unittest import mock

from _support import FakeServer, error_reply, json_reply, model_spec, no_sleep_client

import dream
from dream import _inputs, planning
from dream._png import encode_png_rgb_bytes

H, W, D, T = 48, 64, 384, 2
PNG = encode_png_rgb_bytes(H, W, bytes(H * W * 3))
GOAL = encode_png_rgb_bytes(H, W, bytes([9]) * (H * W * 3))
PLAN_PATH = "/v1/models/tiny/plan"


def actions_msg(rows):
    flat = [v for r in rows for v in r]
    return {"data": base64.b64encode(struct.pack(f"<{len(flat)}f", *flat)).decode(), "shape": [len(rows), len(rows[0])]}


def plan_json(**over):
    best = [[0.5] * D, [-0.25] * D]
    body = {
        "best_actions": actions_msg(best), "best_cost": 0.125, "best_iteration": 1,
        "candidate_costs": [0.5, "NaN", 0.125], "ranking": [2, 0, 1],
        "iterations": [{"iteration": 0, "best_cost": 0.5, "mean_cost": 0.75, "elite_cost": 0.6, "candidates": 3, "pruned": 0, "frames": 9},
                       {"iteration": 1, "best_cost": 0.125, "mean_cost": 0.5, "elite_cost": 0.2, "candidates": 3, "pruned": 1, "frames": 7}],
        "iterations_completed": 2, "stopped": "TIME_BUDGET",
        "summary": {"request_id": "r-1", "model": "tiny", "frames": 16, "cost": {"micros": "8000", "usd": "0.008"}},
        "rollouts": [],
    }
    body.update(over)
    return body


class PlanTest(unittest.TestCase):
    def _model(self, srv):
        srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[H, W])))
        return no_sleep_client(srv).models.get("tiny")

    def _sent(self, srv, path=PLAN_PATH):
        return json.loads([r for r in srv.requests if r.path == path][-1].body)

    def test_cem_request_is_the_proto3_json_of_a_plan_request(self):
        with FakeServer() as srv:
            srv.on("POST", PLAN_PATH, json_reply(200, plan_json()))
            model = self._model(srv)
            model.plan(PNG, GOAL, "cem", samples=16, iterations=3, elites=4, momentum=0.2, std_min=0.01, action_steps=T,
                       mask=[(0, 29)], init_std=0.8, hold_steps=2, aggregation="discounted", gamma=0.9,
                       prune=(0.5, 2), time_budget_ms=50, frames_max=1000, cost_max_usd=0.25, num_steps=1, seed=3,
                       top_k=2, rollout_encoding="PNG", deadline_ms=9000, request_id="r-1")
            body = self._sent(srv)
            self.assertEqual(body["model"], "tiny")
            self.assertEqual(base64.b64decode(body["start_frame"]["data"]), PNG)
            self.assertEqual(body["start_frame"]["encoding"], "PNG")
            self.assertEqual(base64.b64decode(body["cost"]["goal"]["data"]), GOAL)
            self.assertEqual(body["cost"]["aggregation"], "DISCOUNTED")
            self.assertAlmostEqual(body["cost"]["gamma"], 0.9)
            self.assertEqual(body["cem"], {"samples": 16, "iterations": 3, "elites": 4, "momentum": 0.2, "std_min": 0.01})
            self.assertNotIn("mppi", body)
            self.assertNotIn("rank", body)
            self.assertEqual(body["action_steps"], T)
            self.assertEqual(body["sampling"], {"mask": [{"start": 0, "end": 29}], "init_std": 0.8, "hold_steps": 2})
            self.assertEqual(body["pruning"], {"drop_fraction": 0.5, "keep_min": 2})
            self.assertEqual(body["budget"], {"time_budget_ms": 50, "frames_max": 1000, "cost_max_micros": 250_000})
            self.assertEqual(body["params"], {"seed": "3", "num_steps": 1})
            self.assertEqual(body["output"], {"best_rollout": False, "top_k": 2, "encoding": {"encoding": "PNG"}})
            self.assertEqual(body["deadline_ms"], 9000)
            self.assertEqual(body["request_id"], "r-1")

    def test_a_goal_trajectory_is_sent_as_goal_frames_and_excludes_goal(self):
        with FakeServer() as srv:
            srv.on("POST", PLAN_PATH, json_reply(200, plan_json()))
            model = self._model(srv)
            model.plan(PNG, None, "cem", goal_frames=[GOAL, GOAL, GOAL], aggregation="mean", action_steps=T)
            body = self._sent(srv)
            self.assertNotIn("goal", body["cost"])
            self.assertEqual([base64.b64decode(f["data"]) for f in body["cost"]["goal_frames"]], [GOAL] * 3)
            self.assertEqual(body["cost"]["aggregation"], "MEAN")
            before = len(srv.requests)
            with self.assertRaisesRegex(dream.InputValidationError, "goal_frames"):
                model.plan(PNG, GOAL, "cem", goal_frames=[GOAL], action_steps=T)
            self.assertEqual(len(srv.requests), before, "refused before any request")

    def test_the_plan_is_parsed_with_nan_costs_and_float32_actions(self):
        with FakeServer() as srv:
            srv.on("POST", PLAN_PATH, json_reply(200, plan_json()))
            plan = self._model(srv).plan(PNG, GOAL, "mppi", samples=3, iterations=2, lam=0.5, action_steps=T)
            self.assertEqual(self._sent(srv)["mppi"], {"samples": 3, "iterations": 2, "lambda": 0.5})
            import numpy as np
            self.assertEqual(plan.best_actions.dtype, np.float32)
            self.assertEqual(plan.best_actions.shape, (T, D))
            self.assertEqual(float(plan.best_actions[1, 0]), -0.25)
            self.assertEqual(plan.best_cost, 0.125)
            self.assertEqual(plan.candidate_costs[0], 0.5)
            self.assertTrue(math.isnan(plan.candidate_costs[1]))
            self.assertEqual(plan.ranking, [2, 0, 1])
            self.assertEqual([s.iteration for s in plan.iterations], [0, 1])
            self.assertEqual(plan.iterations[1].pruned, 1)
            self.assertEqual((plan.iterations_completed, plan.stopped), (2, "TIME_BUDGET"))
            self.assertEqual((plan.frames, plan.cost_micros, plan.cost_usd, plan.request_id), (16, 8000, 0.008, "r-1"))
            self.assertEqual(plan.bytes_received, len(json.dumps(plan_json()).encode()))

    def test_without_numpy_best_actions_are_lists(self):
        with mock.patch.object(_inputs, "_np", return_value=None):
            rows = planning.decode_actions(actions_msg([[1.5] * 3, [2.0] * 3]))
        self.assertEqual(rows, [[1.5] * 3, [2.0] * 3])

    def test_rank_sends_k_candidates_and_reads_the_rollouts(self):
        with FakeServer() as srv:
            raw = bytes(range(6))
            srv.on("POST", PLAN_PATH, json_reply(200, plan_json(rollouts=[
                {"candidate_index": 2, "encoding": "RAW_RGB8", "frames": [base64.b64encode(raw).decode()] * 3,
                 "frame_count": 3, "height": 1, "width": 2}])))
            model = self._model(srv)
            cands = [[[0.0] * D] * T, [[1.0] * D] * T, [[0.5] * D] * T]
            plan = model.rank(PNG, GOAL, cands, best_rollout=True, rollout_encoding="RAW_RGB8")
            body = self._sent(srv)
            self.assertEqual([c["shape"] for c in body["rank"]["candidates"]], [[T, D]] * 3)
            self.assertEqual(struct.unpack("<f", base64.b64decode(body["rank"]["candidates"][1]["data"])[:4])[0], 1.0)
            self.assertNotIn("action_steps", body)
            self.assertNotIn("sampling", body)
            self.assertEqual(body["output"]["best_rollout"], True)
            self.assertEqual(plan.rollouts[0].candidate_index, 2)
            self.assertEqual(plan.rollouts[0].frames, [raw] * 3)
            self.assertEqual(plan.rollouts[0].array().shape, (3, 1, 2, 3))

    def test_obvious_mistakes_are_refused_before_any_request(self):
        with FakeServer() as srv:
            model = self._model(srv)
            small = encode_png_rgb_bytes(10, 10, bytes(300))
            cases = [
                (lambda: model.plan(PNG, GOAL, "beam", action_steps=T), "planner:"),
                (lambda: model.plan(PNG, GOAL, "cem"), "action_steps:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, mask=[(0, 999)]), "mask[0]:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, mask=[(5, 5)]), "mask[0]:"),
                (lambda: model.plan(PNG, small, "cem", action_steps=T), "goal:"),
                (lambda: model.plan(small, GOAL, "cem", action_steps=T), "start_frame:"),
                (lambda: model.plan(PNG, None, "cem", action_steps=T), "goal is required"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, samples=1), "samples:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, iterations=65), "iterations:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, lam=1.0), "lam:"),
                (lambda: model.plan(PNG, GOAL, "mppi", action_steps=T, elites=2), "elites:"),
                (lambda: model.plan(PNG, GOAL, "mppi", action_steps=T, lam=0), "lam:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, momentum=1.0), "momentum:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, prune=(1.5, 1)), "prune.drop_fraction:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, prune=0.5), "prune:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, aggregation="max"), "aggregation:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, gamma=0.5), "gamma:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, low=[0.0] * 3), "low:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=3, warm_start=[[0.0] * D] * T), "action_steps:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, nominal=[[0.0] * 5] * T), "nominal:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, rollout_encoding="MP4"), "rollout_encoding:"),
                (lambda: model.plan(PNG, GOAL, "cem", action_steps=T, candidates=[[[0.0] * D]]), "candidates:"),
                (lambda: model.rank(PNG, GOAL, None), "candidates:"),
                (lambda: model.rank(PNG, GOAL, [[[0.0] * 7] * T]), "candidates[0]:"),
                (lambda: model.rank(PNG, GOAL, [[[0.0] * D] * T, [[0.0] * D] * 3]), "candidates[1]:"),
                (lambda: model.rank(PNG, GOAL, [[[0.0] * D] * T], samples=4), "samples:"),
                (lambda: model.rank(PNG, GOAL, [[[0.0] * D] * T], action_steps=T), "action_steps:"),
                (lambda: model.stream_plan(PNG, GOAL, "rank"), "candidates:"),
            ]
            for fn, prefix in cases:
                with self.assertRaises(dream.InputValidationError) as ctx:
                    fn()
                self.assertTrue(str(ctx.exception.message).startswith(prefix), f"{prefix!r}: {ctx.exception.message}")
            self.assertEqual(srv.count("POST"), 0)

    def test_a_server_invalid_argument_names_the_field(self):
        with FakeServer() as srv:
            srv.on("POST", PLAN_PATH, error_reply(400, "INVALID_ARGUMENT", "cem.elites: expected 1..8, got 9", field="cem.elites"))
            with self.assertRaises(dream.ValidationError) as ctx:
                self._model(srv).plan(PNG, GOAL, "cem", samples=8, elites=9, action_steps=T)
            self.assertNotIsInstance(ctx.exception, dream.InputValidationError)
            self.assertEqual((ctx.exception.field, ctx.exception.status_code), ("cem.elites", 400))
            self.assertEqual(srv.count("POST", PLAN_PATH), 1)

    def test_402_is_insufficient_credits_and_not_retried(self):
        with FakeServer() as srv:
            srv.on("POST", PLAN_PATH, error_reply(402, "INSUFFICIENT_CREDITS", balance_cents=1, requested_cents=500))
            with self.assertRaises(dream.InsufficientCreditsError) as ctx:
                self._model(srv).plan(PNG, GOAL, "cem", action_steps=T)
            self.assertEqual(ctx.exception.requested_cents, 500)
            self.assertEqual(srv.count("POST", PLAN_PATH), 1)


def ndjson(*events):
    return 200, {"Content-Type": "application/x-ndjson"}, b"".join(json.dumps(e).encode() + b"\n" for e in events)


class StreamPlanTest(unittest.TestCase):
    def _model(self, srv):
        srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[H, W])))
        return no_sleep_client(srv).models.get("tiny")

    def test_iteration_events_then_the_plan(self):
        p = plan_json()
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_plan", ndjson({"iteration": p["iterations"][0]}, {"iteration": p["iterations"][1]}, {"plan": p}))
            stream = self._model(srv).stream_plan(PNG, GOAL, "cem", action_steps=T, request_id="r-9")
            events = list(stream)
            self.assertEqual([type(e).__name__ for e in events], ["IterationStats", "IterationStats", "Plan"])
            self.assertEqual(events[1].best_cost, 0.125)
            self.assertIs(stream.plan, events[2])
            self.assertEqual(stream.plan.iterations, events[:2])
            self.assertEqual(stream.request_id, "r-9")
            self.assertEqual(stream.bytes_received, stream.plan.bytes_received)
            sent = [r for r in srv.requests if r.method == "POST"][0]
            self.assertEqual(sent.headers["accept"], "application/x-ndjson")
            self.assertEqual(json.loads(sent.body)["request_id"], "r-9")

    def test_an_error_line_raises_the_reasons_exception(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_plan", ndjson(
                {"iteration": plan_json()["iterations"][0]},
                {"error": {"code": "internal", "reason": "ENGINE_FAILURE", "message": "runner died", "request_id": "r-2"}}))
            stream = self._model(srv).stream_plan(PNG, GOAL, "cem", action_steps=T)
            seen = []
            with self.assertRaises(dream.EngineError):
                for e in stream:
                    seen.append(e)
            self.assertEqual(len(seen), 1)

    def test_a_stream_without_a_plan_is_a_transport_error(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_plan", ndjson({"iteration": plan_json()["iterations"][0]}))
            with self.assertRaises(dream.TransportError):
                list(self._model(srv).stream_plan(PNG, GOAL, "cem", action_steps=T))


class SessionsTest(unittest.TestCase):
    SESSION = {"session_id": "ses_1", "model": "tiny", "ttl_s": 30, "execute_steps": 1, "steps": 0}

    def _client(self, srv):
        srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[H, W])))
        return no_sleep_client(srv)

    def _step_reply(self, index):
        return json_reply(200, {"actions": actions_msg([[0.5] * D]), "plan": plan_json(), "step": index})

    def test_create_step_close(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/sessions", json_reply(200, self.SESSION))
            srv.on("POST", "/v1/sessions/ses_1/step", self._step_reply(0), self._step_reply(1))
            srv.on("DELETE", "/v1/sessions/ses_1", json_reply(200, {"steps": 2, "cost": {"micros": 16000, "usd": "0.016"}}))
            client = self._client(srv)
            with client.sessions.create("tiny", GOAL, "mppi", samples=4, iterations=1, lam=0.1, action_steps=T,
                                        mask=[(0, 29)], ttl_s=30, execute_steps=1) as session:
                self.assertEqual((session.session_id, session.ttl_s, session.execute_steps), ("ses_1", 30, 1))
                first = session.step(PNG)
                second = session.step(PNG, goal=GOAL, executed_steps=1, request_id="step-2")
            created = json.loads([r for r in srv.requests if r.path == "/v1/sessions"][0].body)
            self.assertEqual(set(created), {"plan", "ttl_s", "execute_steps"})
            self.assertEqual((created["ttl_s"], created["execute_steps"]), (30, 1))
            self.assertNotIn("start_frame", created["plan"])
            self.assertNotIn("request_id", created["plan"])
            self.assertEqual(created["plan"]["mppi"], {"samples": 4, "iterations": 1, "lambda": 0.1})
            self.assertEqual(created["plan"]["model"], "tiny")
            self.assertEqual(base64.b64decode(created["plan"]["cost"]["goal"]["data"]), GOAL)
            steps = [json.loads(r.body) for r in srv.requests if r.path == "/v1/sessions/ses_1/step"]
            self.assertEqual(base64.b64decode(steps[0]["observation"]["data"]), PNG)
            self.assertEqual(set(steps[0]), {"observation", "request_id"})
            self.assertEqual((steps[1]["executed_steps"], steps[1]["request_id"]), (1, "step-2"))
            self.assertIn("goal", steps[1])
            self.assertEqual((first.step, second.step, session.steps), (0, 1, 2))
            self.assertEqual(first.actions.shape, (1, D))
            self.assertEqual(first.plan.best_cost, 0.125)
            self.assertEqual((session.closed.steps, session.closed.cost_micros, session.closed.cost_usd), (2, 16000, 0.016))
            self.assertEqual(srv.count("DELETE"), 1)
            self.assertIs(session.close(), session.closed)
            self.assertEqual(srv.count("DELETE"), 1, "closing twice asks once")
            with self.assertRaises(dream.InputValidationError):
                session.step(PNG)

    def test_create_validates_and_is_not_retried(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/sessions", error_reply(503, "UNAVAILABLE"))
            client = self._client(srv)
            model = client.models.get("tiny")
            for kwargs, prefix in [({"planner": "rank"}, "planner:"), ({"execute_steps": 5}, "execute_steps:"),
                                   ({"ttl_s": -1}, "ttl_s:"), ({"request_id": "x"}, "request_id:")]:
                kwargs = {"planner": "cem", **kwargs}
                with self.assertRaises(dream.InputValidationError) as ctx:
                    client.sessions.create(model, GOAL, action_steps=T, **kwargs)
                self.assertTrue(str(ctx.exception.message).startswith(prefix), ctx.exception.message)
            self.assertEqual(srv.count("POST", "/v1/sessions"), 0)
            with self.assertRaises(dream.ServerError):
                client.sessions.create(model, GOAL, "cem", action_steps=T)
            self.assertEqual(srv.count("POST", "/v1/sessions"), 1, "a lost reply must not open a second session")

    def test_async_mirror(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/sessions", json_reply(200, self.SESSION))
            srv.on("POST", "/v1/sessions/ses_1/step", self._step_reply(0))
            srv.on("DELETE", "/v1/sessions/ses_1", json_reply(200, {"steps": 1, "cost": {"micros": 8000, "usd": "0.008"}}))
            srv.on("POST", PLAN_PATH, json_reply(200, plan_json()))
            srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[H, W])))

            async def go():
                async with dream.AsyncClient(api_key="k", base_url=srv.url) as client:
                    model = await client.models.get("tiny")
                    plan = await model.plan(PNG, GOAL, "cem", action_steps=T)
                    async with await client.sessions.create(model, GOAL, "cem", action_steps=T) as session:
                        step = await session.step(PNG)
                    return plan, step, session.closed

            plan, step, closed = asyncio.run(go())
            self.assertEqual(plan.request_id, "r-1")
            self.assertEqual(step.step, 0)
            self.assertEqual(closed.steps, 1)


if __name__ == "__main__":
    unittest.main()
