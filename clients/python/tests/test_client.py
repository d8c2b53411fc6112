import asyncio
import json
import os
import unittest
from unittest import mock

import numpy as np

from _support import DROP_CONNECTION, ENV_KEYS, FakeServer, error_reply, json_reply, model_spec, no_sleep_client, parse_form

import dream


def clean_env(**values):
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(values)
    return mock.patch.dict(os.environ, env, clear=True)


class ConstructionTest(unittest.TestCase):
    def test_env_var_precedence(self):
        with clean_env(DREAM_API_KEY="new", DREAM_ENGINE_API_KEY="legacy"):
            self.assertEqual(dream.Client().api_key, "new")
            self.assertEqual(dream.Client(api_key="explicit").api_key, "explicit")
        with clean_env(DREAM_ENGINE_API_KEY="legacy"):
            self.assertEqual(dream.Client().api_key, "legacy")
        with clean_env(DREAM_API_KEY="", DREAM_ENGINE_API_KEY="legacy"):
            self.assertEqual(dream.Client().api_key, "legacy")  # an empty variable counts as unset
        with clean_env():
            self.assertIsNone(dream.Client().api_key)

    def test_base_url_from_env_or_default(self):
        with clean_env():
            self.assertEqual(dream.Client().base_url, "http://127.0.0.1:8080")
        with clean_env(DREAM_BASE_URL="https://api.example.test/"):
            self.assertEqual(dream.Client().base_url, "https://api.example.test")
            self.assertEqual(dream.Client(base_url="http://x:1").base_url, "http://x:1")
        with self.assertRaises(ValueError):
            dream.Client(base_url="ftp://nope")

    def test_constructor_makes_no_network_call(self):
        with FakeServer() as srv:
            dream.Client(api_key="k", base_url=srv.url)
            dream.AsyncClient(api_key="k", base_url=srv.url)
            self.assertEqual(srv.count(), 0)
        dream.Client(base_url="http://127.0.0.1:9")  # nothing listens there; still fine

    def test_default_retry_policy(self):
        p = dream.Client().retry_policy
        self.assertEqual((p.max_attempts, p.base_delay_s, p.max_delay_s, p.jitter), (3, 0.25, 4.0, True))


class EndpointsTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeServer().__enter__()
        self.client = no_sleep_client(self.srv)

    def tearDown(self):
        self.srv.__exit__(None, None, None)

    def test_models_list_and_get(self):
        self.srv.on("GET", "/v1/models", json_reply(200, {"models": [model_spec("a"), model_spec("b", active=False)]}))
        models = self.client.models.list()
        self.assertEqual([m.slug for m in models], ["a", "b"])
        self.assertEqual([m.active for m in models], [True, False])
        m = models[0]
        self.assertEqual((m.resolution, m.action_dim, m.chunk_size, m.model_size, m.fps), ((480, 640), 384, 12, "2B", 10))
        self.assertEqual(m.spec["pricing"]["price_per_frame_micros"], 500)  # int64 string → int
        self.srv.on("GET", "/v1/models/a%2Fb", json_reply(200, model_spec("a/b")))
        self.assertEqual(self.client.models.get("a/b").slug, "a/b")  # slug is path-escaped

    def test_billing_accepts_int64_as_numbers_or_strings(self):
        self.srv.on("GET", "/v1/billing/balance",
                    json_reply(200, {"customer_id": "cus_1", "balance_micros": "12500000", "balance_mils": 125000,
                                     "balance_cents": "1250", "balance_usd": 12.5, "held_micros": "0"}))
        b = self.client.billing.balance()
        self.assertEqual((b.customer_id, b.balance_micros, b.balance_mils, b.balance_cents, b.balance_usd),
                         ("cus_1", 12_500_000, 125_000, 1250, 12.5))
        self.assertEqual(b["balance_cents"], 1250)

        self.srv.on("POST", "/v1/billing/topup",
                    json_reply(200, {"session_id": "cs_1", "url": "https://checkout/x", "amount_cents": "2500",
                                     "amount_usd": 25.0, "customer_id": "cus_1"}))
        t = self.client.billing.topup(25)
        self.assertEqual((t.session_id, t.amount_cents), ("cs_1", 2500))
        rec = self.srv.requests[-1]
        self.assertEqual(json.loads(rec.body), {"amount_usd": 25.0})
        self.assertEqual(rec.headers["content-type"], "application/json")

        self.srv.on("GET", "/v1/billing/transactions",
                    json_reply(200, {"transactions": [
                        {"id": "t2", "kind": "debit", "amount_micros": "-24500", "amount_cents": -2,
                         "balance_micros": "975500", "request_id": "r1", "created_at": "2026-01-01T00:00:00Z"},
                        {"id": "t1", "kind": "grant", "amount_micros": 1000000, "amount_cents": "100",
                         "balance_micros": 1000000, "request_id": "", "created_at": "2026-01-01T00:00:00Z"}]}))
        txs = self.client.billing.transactions(limit=2)
        self.assertEqual(self.srv.requests[-1].query, {"limit": "2"})
        self.assertEqual([(x.id, x.amount_micros, x.amount_cents) for x in txs], [("t2", -24500, -2), ("t1", 1000000, 100)])

    def test_402_surfaces_balance_and_requested_amounts(self):
        self.srv.on("GET", "/v1/models/m", json_reply(200, model_spec("m")))
        self.srv.on("POST", "/v1/models/m/predict",
                    error_reply(402, "INSUFFICIENT_CREDITS", "balance $0.01 does not cover $0.0245",
                                balance_cents=1, requested_cents=3, balance_micros="10000", requested_micros="24500"))
        m = self.client.models.get("m")
        with self.assertRaises(dream.InsufficientCreditsError) as cm:
            m.predict(start_frame=np.zeros((480, 640, 3), np.uint8), actions=np.zeros((48, 384), np.float32))
        e = cm.exception
        self.assertEqual((e.balance_cents, e.requested_cents, e.status_code), (1, 3, 402))
        self.assertAlmostEqual(e.requested_usd, 0.0245)
        self.assertEqual(self.srv.count("POST"), 1)

    def test_predict_retries_carry_one_request_id_so_a_lost_reply_is_never_billed_twice(self):
        def request_id(rec):
            return parse_form(rec)["request_id"][2].decode()

        self.srv.on("GET", "/v1/models/m", json_reply(200, model_spec("m")))
        self.srv.on("POST", "/v1/models/m/predict", DROP_CONNECTION,
                    (200, {"Content-Type": "video/mp4", "X-DreamEngine-Request-Id": "r-1"}, b"mp4"))
        m = self.client.models.get("m")
        frame, actions = np.zeros((480, 640, 3), np.uint8), np.zeros((12, 384), np.float32)
        self.assertEqual(m.predict(start_frame=frame, actions=actions).request_id, "r-1")
        first, retry = [r for r in self.srv.requests if r.method == "POST"]
        self.assertRegex(request_id(first), r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(request_id(retry), request_id(first), "the retry after the lost reply reuses the id")

        m.predict(start_frame=frame, actions=actions)
        self.assertNotEqual(request_id(self.srv.requests[-1]), request_id(first), "a new call gets a new id")
        m.predict(start_frame=frame, actions=actions, request_id="mine-7")
        self.assertEqual(request_id(self.srv.requests[-1]), "mine-7")

    def test_status_and_healthz(self):
        self.srv.on("GET", "/v1/status", json_reply(200, {"status": "ok", "uptime_s": "42", "overall": [{"window": "1m", "requests": "3"}],
                                                            "models": [{"slug": "m", "queue_depth": 2, "windows": [{"window": "1h", "errors": "1"}]}]}))
        s = self.client.status()
        self.assertEqual((s.status, s.uptime_s), ("ok", 42))
        # Objects inside lists are records too, with int64 strings as ints.
        self.assertEqual((s.overall[0].window, s.overall[0].requests), ("1m", 3))
        self.assertEqual((s.models[0].slug, s.models[0].queue_depth, s.models[0].windows[0].errors), ("m", 2, 1))
        self.srv.on("GET", "/healthz", json_reply(503, {"status": "starting", "live": True, "ready": False,
                                                         "checks": {"ledger": "ok", "models": "warming"}}))
        h = self.client.healthz()
        self.assertEqual((h.status, h.ready, h.checks.models), ("starting", False, "warming"))
        self.assertEqual(self.srv.count("GET", "/healthz"), 1, "healthz is not retried")

    def test_async_client_mirrors_the_sync_one(self):
        self.srv.on("GET", "/v1/models/m", json_reply(200, model_spec("m")))
        self.srv.on("POST", "/v1/models/m/predict", (200, {"Content-Type": "video/mp4",
                                                           "X-DreamEngine-Request-Id": "r-async"}, b"mp4"))
        self.srv.on("GET", "/v1/billing/balance", json_reply(200, {"customer_id": "c", "balance_micros": 5}))

        async def run():
            async with dream.AsyncClient(api_key="k", base_url=self.srv.url) as ac:
                m = await ac.models.get("m")
                self.assertEqual((m.slug, m.action_dim), ("m", 384))
                rollouts = await asyncio.gather(*[
                    m.predict(start_frame=np.zeros((480, 640, 3), np.uint8), actions=np.zeros((12, 384), np.float32))
                    for _ in range(3)])
                bal = await ac.billing.balance()
                return rollouts, bal

        rollouts, bal = asyncio.run(run())
        self.assertEqual([r.request_id for r in rollouts], ["r-async"] * 3)
        self.assertEqual(bal.balance_micros, 5)


if __name__ == "__main__":
    unittest.main()
