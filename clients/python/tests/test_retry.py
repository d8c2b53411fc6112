import unittest

from _support import FakeServer, error_reply, json_reply, model_spec, no_sleep_client

import dream
from dream import RetryPolicy
from dream._reasons import REASONS, RETRYABLE_REASONS


class RetryTest(unittest.TestCase):
    def test_429_honours_retry_after_then_succeeds(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/models/m", error_reply(429, "RATE_LIMITED", headers={"Retry-After": "2"}),
                   json_reply(200, model_spec("m")))
            client = no_sleep_client(srv)
            handle = client.models.get("m")
            self.assertEqual(handle.slug, "m")
            self.assertEqual(srv.count(), 2)
            self.assertEqual(client.sleeps, [2.0])  # Retry-After, not the (shorter) backoff

    def test_500_is_not_retried(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(500, "ENGINE_FAILURE", "runner crashed"))
            client = no_sleep_client(srv)
            with self.assertRaises(dream.EngineError) as cm:
                client.status()
            self.assertIsInstance(cm.exception, dream.ServerError)
            self.assertEqual(cm.exception.status_code, 500)
            self.assertEqual(srv.count(), 1)
            self.assertEqual(client.sleeps, [])

    def test_503_is_retried_up_to_max_attempts_with_exponential_backoff(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(503, "UNAVAILABLE", "queue full"))
            client = no_sleep_client(srv, retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.25, jitter=False))
            with self.assertRaises(dream.ServerError) as cm:
                client.status()
            self.assertEqual(cm.exception.reason, "UNAVAILABLE")
            self.assertEqual(srv.count(), 3)
            self.assertEqual(client.sleeps, [0.25, 0.5])

    def test_502_and_504_are_retried(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", (502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>"),
                   error_reply(504, "DEADLINE_EXCEEDED"), json_reply(200, {"status": "ok"}))
            client = no_sleep_client(srv)
            self.assertEqual(client.status().status, "ok")
            self.assertEqual(srv.count(), 3)

    def test_never_retries_auth_or_other_4xx_or_model_unavailable(self):
        cases = [(401, "UNAUTHENTICATED", dream.AuthError), (403, "PERMISSION_DENIED", dream.AuthError),
                 (400, "INVALID_ARGUMENT", dream.ValidationError), (404, "MODEL_NOT_FOUND", dream.ModelNotFoundError),
                 (402, "INSUFFICIENT_CREDITS", dream.InsufficientCreditsError),
                 (503, "MODEL_UNAVAILABLE", dream.ModelNotActiveError)]
        for status, reason, cls in cases:
            with self.subTest(reason=reason), FakeServer() as srv:
                srv.on("GET", "/v1/status", error_reply(status, reason))
                client = no_sleep_client(srv)
                with self.assertRaises(cls):
                    client.status()
                self.assertEqual(srv.count(), 1)

    def test_retries_exactly_the_reasons_the_error_table_marks_retryable(self):
        # Walks the table generated from the server's errorTable: each reason, at its own HTTP status,
        # is retried to max_attempts when retryable and tried once otherwise, as its mapped class.
        self.assertEqual(RETRYABLE_REASONS, {r for r, info in REASONS.items() if info.retryable})
        for reason, info in REASONS.items():
            with self.subTest(reason=reason), FakeServer() as srv:
                srv.on("GET", "/v1/status", error_reply(info.http, reason))
                client = no_sleep_client(srv, retry_policy=RetryPolicy(max_attempts=3, jitter=False))
                with self.assertRaises(dream.DreamError) as cm:
                    client.status()
                self.assertIs(type(cm.exception), getattr(dream, info.exception))
                self.assertEqual(cm.exception.reason, reason)
                self.assertEqual(srv.count(), 3 if info.retryable else 1)
                self.assertEqual(RetryPolicy().should_retry_status(info.http, reason), info.retryable)

    def test_stream_stalled_503_is_not_retried_but_a_503_without_a_reason_is(self):
        self.assertFalse(REASONS["STREAM_STALLED"].retryable)
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(503, "STREAM_STALLED"))
            client = no_sleep_client(srv)
            with self.assertRaises(dream.ServerError):
                client.status()
            self.assertEqual(srv.count(), 1)
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", (503, {"Content-Type": "text/plain"}, b"upstream down"),
                   json_reply(200, {"status": "ok"}))
            client = no_sleep_client(srv)
            self.assertEqual(client.status().status, "ok")
            self.assertEqual(srv.count(), 2)

    def test_503_unavailable_honours_its_retry_after(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(503, "UNAVAILABLE", headers={"Retry-After": "3"}),
                   json_reply(200, {"status": "ok"}))
            client = no_sleep_client(srv)
            self.assertEqual(client.status().status, "ok")
            self.assertEqual(client.sleeps, [3.0])

    def test_a_reason_this_sdk_does_not_know_is_not_retried(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(503, "SOME_FUTURE_REASON"))
            client = no_sleep_client(srv)
            with self.assertRaises(dream.ServerError):
                client.status()
            self.assertEqual(srv.count(), 1)

    def test_retry_after_beyond_the_cap_is_raised_at_once(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(429, "RATE_LIMITED", headers={"Retry-After": "3600"}))
            client = no_sleep_client(srv)
            with self.assertRaises(dream.RateLimitError) as cm:
                client.status()
            self.assertEqual(cm.exception.retry_after, 3600.0)
            self.assertEqual(srv.count(), 1)

    def test_429_exhausting_attempts_raises_rate_limit_error(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/status", error_reply(429, "RATE_LIMITED", headers={"Retry-After": "1"}))
            client = no_sleep_client(srv, retry_policy=RetryPolicy(max_attempts=2, jitter=False))
            with self.assertRaises(dream.RateLimitError) as cm:
                client.status()
            self.assertEqual(cm.exception.retry_after, 1.0)
            self.assertEqual(srv.count(), 2)
            self.assertEqual(client.sleeps, [1.0])

    def test_transport_errors_are_retried_then_raised(self):
        with FakeServer() as srv:
            url = srv.url  # a port that is closed once the server stops
        client = dream.Client(api_key="k", base_url=url, retry_policy=RetryPolicy(max_attempts=3, jitter=False))
        sleeps = []
        client._transport.sleep = sleeps.append
        with self.assertRaises(dream.TransportError) as cm:
            client.status()
        self.assertIn("after 3 attempt(s)", str(cm.exception))
        self.assertEqual(sleeps, [0.25, 0.5])

    def test_backoff_is_capped_and_jittered_within_half_to_full(self):
        p = RetryPolicy(base_delay_s=0.25, max_delay_s=4.0, jitter=True)
        self.assertEqual(p.backoff_s(1, rng=lambda: 0.0), 0.125)
        self.assertEqual(p.backoff_s(1, rng=lambda: 1.0), 0.25)
        self.assertEqual(p.backoff_s(10, rng=lambda: 1.0), 4.0)
        self.assertEqual(RetryPolicy(jitter=False).backoff_s(3), 1.0)
        with self.assertRaises(ValueError):
            RetryPolicy(max_attempts=0)


if __name__ == "__main__":
    unittest.main()
