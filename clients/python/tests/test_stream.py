"""Model.stream (NDJSON stream_predict) and Client.cancel against the local fake server."""

import base64
import json
import unittest

from _support import FakeServer, error_reply, json_reply, model_spec, no_sleep_client

import dream
from dream._png import encode_png_rgb_bytes

H, W, D = 48, 64, 384
PNG = encode_png_rgb_bytes(H, W, bytes(H * W * 3))


def ndjson(*events):
    return 200, {"Content-Type": "application/x-ndjson"}, b"".join(json.dumps(e).encode() + b"\n" for e in events)


def chunk(index, cands):
    return {"chunk": {"chunk_index": index, "encoding": "RAW_RGB8", "candidates": [
        {"candidate_index": k, "first_frame_index": first, "frames": [base64.b64encode(bytes([k]) * 6).decode()] * n}
        for k, first, n in cands]}}


SUMMARY = {"summary": {"summary": {"request_id": "r-1", "model": "tiny", "cost": {"micros": "2000", "usd": "0.002"}},
                       "frames_per_candidate": [3, 1], "cancelled_candidates": [1]}}


class StreamTest(unittest.TestCase):
    def _model(self, srv):
        srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[H, W])))
        return no_sleep_client(srv).models.get("tiny")

    def test_stream_yields_chunks_then_sets_the_summary(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_predict", ndjson(chunk(0, [(0, 0, 1), (1, 0, 1)]), chunk(1, [(0, 1, 2)]), SUMMARY))
            model = self._model(srv)
            stream = model.stream(start_frame=PNG, actions=[[[0.5] * D] * 2, [[0.25] * D] * 2], seed=7, request_id="r-1")
            chunks = list(stream)
            self.assertEqual([c.chunk_index for c in chunks], [0, 1])
            self.assertEqual([c.candidate_index for c in chunks[0].candidates], [0, 1])
            self.assertEqual(chunks[1].candidates[0].first_frame_index, 1)
            self.assertEqual(chunks[1].candidates[0].frames, [b"\x00" * 6] * 2)
            self.assertEqual(stream.summary.frames_per_candidate, [3, 1])
            self.assertEqual(stream.summary.summary.cost.micros, 2000)
            sent = [r for r in srv.requests if r.method == "POST"][0]
            self.assertEqual(sent.headers["content-type"], "application/json")
            self.assertEqual(sent.headers["accept"], "application/x-ndjson")
            body = json.loads(sent.body)
            self.assertEqual(body["request_id"], "r-1")
            self.assertEqual(body["output"], {"encoding": "RAW_RGB8"})
            self.assertEqual(body["params"], {"seed": "7"})
            self.assertEqual(base64.b64decode(body["start_frame"]["data"]), PNG)
            self.assertEqual([c["shape"] for c in body["candidates"]], [[2, D], [2, D]])
            import struct
            self.assertEqual(struct.unpack("<f", base64.b64decode(body["candidates"][1]["data"])[:4])[0], 0.25)

    def test_one_t_by_d_sequence_is_one_candidate(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_predict", ndjson(SUMMARY))
            list(self._model(srv).stream(start_frame=PNG, actions=[[0.0] * D] * 3))
            body = json.loads([r for r in srv.requests if r.method == "POST"][0].body)
            self.assertEqual([c["shape"] for c in body["candidates"]], [[3, D]])

    def test_an_error_line_after_the_start_raises_the_mapped_error(self):
        with FakeServer() as srv:
            err = {"error": {"code": "RESOURCE_EXHAUSTED", "reason": "STREAM_STALLED", "message": "reader fell behind", "request_id": "r-2"}}
            srv.on("POST", "/v1/models/tiny/stream_predict", ndjson(chunk(0, [(0, 0, 1)]), err))
            stream = self._model(srv).stream(start_frame=PNG, actions=[[0.0] * D] * 2)
            seen = []
            with self.assertRaises(dream.ServerError) as cm:
                for c in stream:
                    seen.append(c)
            self.assertEqual(len(seen), 1)
            self.assertEqual(cm.exception.reason, "STREAM_STALLED")
            self.assertEqual(cm.exception.status_code, 503)
            self.assertEqual(cm.exception.request_id, "r-2")

    def test_an_error_before_the_stream_starts_is_raised_by_stream(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_predict", error_reply(402, "INSUFFICIENT_CREDITS", balance_cents=0))
            with self.assertRaises(dream.InsufficientCreditsError):
                self._model(srv).stream(start_frame=PNG, actions=[[0.0] * D] * 2)

    def test_a_stream_without_a_summary_is_a_transport_error(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/models/tiny/stream_predict", ndjson(chunk(0, [(0, 0, 1)])))
            with self.assertRaises(dream.TransportError):
                list(self._model(srv).stream(start_frame=PNG, actions=[[0.0] * D] * 2))

    def test_bad_encoding_is_rejected_before_the_network(self):
        with FakeServer() as srv:
            model = self._model(srv)
            with self.assertRaises(dream.InputValidationError):
                model.stream(start_frame=PNG, actions=[[0.0] * D] * 2, encoding="MP4")
            self.assertEqual(srv.count("POST"), 0)


class CancelTest(unittest.TestCase):
    def test_cancel_posts_the_candidate_indices_and_returns_the_answer(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/requests/r-1/cancel", json_reply(200, {"cancelled": [1], "still_running": [0]}))
            out = no_sleep_client(srv).cancel("r-1", [1])
            self.assertEqual(out.cancelled, [1])
            self.assertEqual(out.still_running, [0])
            self.assertEqual(json.loads(srv.requests[0].body), {"candidate_indices": [1]})

    def test_cancel_of_the_whole_request_sends_no_indices_and_a_finished_one_is_not_found(self):
        with FakeServer() as srv:
            srv.on("POST", "/v1/requests/r-9/cancel", error_reply(404, "NOT_FOUND", "request r-9 is not running"))
            with self.assertRaises(dream.DreamError) as cm:
                no_sleep_client(srv).cancel("r-9")
            self.assertEqual(cm.exception.reason, "NOT_FOUND")
            self.assertEqual(json.loads(srv.requests[0].body), {"candidate_indices": []})

    def test_async_client_cancel_mirrors_the_sync_one(self):
        import asyncio

        with FakeServer() as srv:
            srv.on("POST", "/v1/requests/r-1/cancel", json_reply(200, {"cancelled": [0, 1], "still_running": []}))
            client = dream.AsyncClient(api_key="k", base_url=srv.url)
            out = asyncio.run(client.cancel("r-1"))
            self.assertEqual(out.cancelled, [0, 1])
            self.assertEqual(json.loads(srv.requests[0].body), {"candidate_indices": []})

    def test_cancel_validates_its_inputs(self):
        with FakeServer() as srv:
            client = no_sleep_client(srv)
            for bad in ([-1], [True], ["0"]):
                with self.assertRaises(dream.InputValidationError):
                    client.cancel("r-1", bad)
            with self.assertRaises(dream.InputValidationError):
                client.cancel("")
            self.assertEqual(srv.count(), 0)


if __name__ == "__main__":
    unittest.main()
