import json
import unittest

from _support import FakeServer, error_reply, no_sleep_client

import dream
from dream.errors import error_from_response


def err(status, reason, headers=None, **details):
    body = {"error": {"code": status, "reason": reason, "message": f"{reason} happened", "request_id": "rid-7", **details}}
    return error_from_response(status, headers or {}, json.dumps(body).encode())


class ErrorMappingTest(unittest.TestCase):
    def test_reason_to_class(self):
        table = {
            "INVALID_ARGUMENT": dream.ValidationError,
            "UNAUTHENTICATED": dream.AuthError,
            "PERMISSION_DENIED": dream.AuthError,
            "INSUFFICIENT_CREDITS": dream.InsufficientCreditsError,
            "MODEL_NOT_FOUND": dream.ModelNotFoundError,
            "RATE_LIMITED": dream.RateLimitError,
            "ENGINE_FAILURE": dream.EngineError,
            "UNAVAILABLE": dream.ServerError,
            "MODEL_UNAVAILABLE": dream.ModelNotActiveError,
        }
        status = {"INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "INSUFFICIENT_CREDITS": 402,
                  "MODEL_NOT_FOUND": 404, "RATE_LIMITED": 429, "ENGINE_FAILURE": 500, "UNAVAILABLE": 503,
                  "MODEL_UNAVAILABLE": 503}
        for reason, cls in table.items():
            with self.subTest(reason=reason):
                e = err(status[reason], reason)
                self.assertIs(type(e), cls)
                self.assertIsInstance(e, dream.DreamError)
                self.assertEqual((e.status_code, e.reason, e.request_id), (status[reason], reason, "rid-7"))
                self.assertEqual(e.message, f"{reason} happened")
                self.assertEqual(e.body["error"]["reason"], reason)

    def test_hierarchy(self):
        self.assertTrue(issubclass(dream.EngineError, dream.ServerError))
        self.assertTrue(issubclass(dream.ModelNotActiveError, RuntimeError))
        self.assertTrue(issubclass(dream.InputValidationError, ValueError))
        self.assertTrue(issubclass(dream.InputValidationError, dream.ValidationError))

    def test_insufficient_credits_fields_accept_numbers_and_strings(self):
        e = err(402, "INSUFFICIENT_CREDITS", balance_cents="3", requested_cents=20, balance_micros="25000",
                requested_micros="196000")
        self.assertEqual((e.balance_cents, e.requested_cents), (3, 20))
        self.assertAlmostEqual(e.balance_usd, 0.025)
        self.assertAlmostEqual(e.requested_usd, 0.196)
        e2 = err(402, "INSUFFICIENT_CREDITS", balance_cents=1, requested_cents=3)
        self.assertAlmostEqual(e2.balance_usd, 0.01)  # derived from cents when micros/usd are absent

    def test_rate_limit_retry_after_from_header_or_body(self):
        self.assertEqual(err(429, "RATE_LIMITED", headers={"Retry-After": "7"}).retry_after, 7.0)
        self.assertEqual(err(429, "RATE_LIMITED", retry_after_s=3).retry_after, 3.0)

    def test_non_json_bodies_fall_back_to_the_status(self):
        e = error_from_response(502, {"X-DreamEngine-Request-Id": "hdr-1"}, b"<html>bad gateway</html>")
        self.assertIs(type(e), dream.ServerError)
        self.assertEqual(e.request_id, "hdr-1")
        self.assertIn("502", e.message)
        self.assertIs(type(error_from_response(401, {}, b"")), dream.AuthError)
        self.assertIs(type(error_from_response(418, {}, b"")), dream.DreamError)

    def test_mapping_through_a_real_http_exchange(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/models/nope", error_reply(404, "MODEL_NOT_FOUND", "unknown model 'nope'"))
            client = no_sleep_client(srv)
            with self.assertRaises(dream.ModelNotFoundError) as cm:
                client.models.get("nope")
            self.assertEqual(cm.exception.message, "unknown model 'nope'")
            self.assertIn("MODEL_NOT_FOUND", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
