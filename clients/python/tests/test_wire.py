"""The bytes on the wire: multipart/form-data requests and multipart/mixed batch responses."""

import io
import unittest

import numpy as np

from _support import FakeServer, decode_png, json_reply, model_spec, no_sleep_client, parse_form

import dream
from dream._multipart import encode_form_data, parse_multipart

SLUG = "dreamdojo-2b-gr1"
FAKE_MP4 = b"\x00\x00\x00\x18ftypisom" + b"fake-mp4-payload" * 4


def mixed_reply(candidates, order=None, boundary="b0und4ry"):
    order = order if order is not None else list(range(len(candidates)))
    chunks = [b"preamble to ignore\r\n"]
    for i in order:
        chunks.append(f"--{boundary}\r\nContent-Type: video/mp4\r\nX-DreamEngine-Candidate-Index: {i}\r\n"
                      f"X-DreamEngine-Frames: 49\r\n\r\n".encode() + candidates[i] + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    headers = {"Content-Type": f'multipart/mixed; boundary="{boundary}"', "X-DreamEngine-Request-Id": "batch-req-1",
               "X-DreamEngine-Estimated-Charge-USD": "0.0735", "X-DreamEngine-Frames": "147",
               "X-DreamEngine-Engine-Wall-Ms": "1234", "X-DreamEngine-Customer-Id": "cus_42"}
    return 200, headers, b"".join(chunks)


class WireTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeServer().__enter__()
        self.srv.on("GET", f"/v1/models/{SLUG}", json_reply(200, model_spec()))
        self.client = no_sleep_client(self.srv)
        self.model = self.client.models.get(SLUG)
        rng = np.random.default_rng(1)
        self.frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        self.actions = rng.standard_normal((48, 384)).astype(np.float32)

    def tearDown(self):
        self.srv.__exit__(None, None, None)

    def test_predict_request_is_multipart_png_plus_npy_and_response_headers_map_to_rollout(self):
        self.srv.on("POST", f"/v1/models/{SLUG}/predict",
                    (200, {"Content-Type": "video/mp4", "X-DreamEngine-Request-Id": "req-123",
                           "X-DreamEngine-Estimated-Charge-USD": "0.0245", "X-DreamEngine-Frames": "49",
                           "X-DreamEngine-Engine-Wall-Ms": "812"}, FAKE_MP4))
        r = self.model.predict(start_frame=self.frame, actions=self.actions, num_steps=8, guidance=2.5, seed=7)
        rec = self.srv.requests[-1]
        self.assertEqual(rec.headers["authorization"], "Bearer dre_testkey")
        self.assertEqual(rec.headers["accept"], "video/mp4")
        self.assertTrue(rec.headers["content-type"].startswith("multipart/form-data; boundary="))
        parts = parse_form(rec)
        self.assertEqual(set(parts), {"frame", "actions", "num_steps", "guidance", "seed", "output", "request_id"})
        self.assertRegex(parts["request_id"][2].decode(), r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                         "a fresh idempotency id per call")
        ctype, filename, png = parts["frame"]
        self.assertEqual((ctype, filename), ("image/png", "frame.png"))
        h, w, rgb = decode_png(png)
        self.assertEqual((h, w), (480, 640))
        self.assertEqual(rgb, self.frame.tobytes(), "frame must survive PNG encoding losslessly")
        actions = np.load(io.BytesIO(parts["actions"][2]), allow_pickle=False)
        self.assertEqual(actions.dtype.str, "<f4")
        np.testing.assert_array_equal(actions, self.actions)
        self.assertEqual(parts["num_steps"][2], b"8")
        self.assertEqual(float(parts["guidance"][2]), 2.5)
        self.assertEqual(parts["seed"][2], b"7")
        self.assertEqual(parts["output"][2], b"mp4")

        self.assertIsInstance(r, dream.Rollout)
        self.assertEqual(r.mp4_bytes, FAKE_MP4)
        self.assertEqual((r.request_id, r.cost_usd, r.num_frames, r.engine_wall_ms), ("req-123", 0.0245, 49, 812))
        self.assertGreater(r.wall_s, 0)

    def test_optional_fields_are_omitted_and_seed_defaults_to_zero(self):
        self.srv.on("POST", f"/v1/models/{SLUG}/predict", (200, {"Content-Type": "video/mp4"}, FAKE_MP4))
        self.model.predict(start_frame=self.frame.astype(np.float32) / 255.0, actions=self.actions.tolist())
        parts = parse_form(self.srv.requests[-1])
        self.assertNotIn("num_steps", parts)
        self.assertNotIn("guidance", parts)
        self.assertEqual(parts["seed"][2], b"0")
        _, _, rgb = decode_png(parts["frame"][2])
        self.assertEqual(rgb, self.frame.tobytes(), "float [0,1] frames are scaled to uint8 exactly")

    def test_channels_first_and_byte_level_inputs(self):
        self.srv.on("POST", f"/v1/models/{SLUG}/predict", (200, {"Content-Type": "video/mp4"}, FAKE_MP4))
        self.model.predict(start_frame=self.frame.transpose(2, 0, 1), actions=self.actions)
        _, _, rgb = decode_png(parse_form(self.srv.requests[-1])["frame"][2])
        self.assertEqual(rgb, self.frame.tobytes())

        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" \
               b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9"
        npy = io.BytesIO()
        np.save(npy, self.actions)
        self.model.predict(frame_bytes=jpeg, actions_bytes=npy.getvalue())
        parts = parse_form(self.srv.requests[-1])
        self.assertEqual(parts["frame"], ("image/jpeg", "frame.jpg", jpeg))  # passed through untouched
        self.assertEqual(parts["actions"][2], npy.getvalue())

    def test_predict_batch_sends_one_k_t_d_npy_and_parses_multipart_mixed(self):
        mp4s = [FAKE_MP4 + bytes([i]) * 10 for i in range(3)]
        self.srv.on("POST", f"/v1/models/{SLUG}/predict_batch", mixed_reply(mp4s, order=[0, 1, 2]))
        cands = [self.actions, self.actions * 2, self.actions * 3]
        batch = self.model.predict_batch(start_frame=self.frame, actions=cands)
        rec = self.srv.requests[-1]
        self.assertEqual(rec.path, f"/v1/models/{SLUG}/predict_batch")
        parts = parse_form(rec)
        arr = np.load(io.BytesIO(parts["actions"][2]))
        self.assertEqual(arr.shape, (3, 48, 384))
        np.testing.assert_array_equal(arr[2], self.actions * 3)

        self.assertIsInstance(batch, dream.BatchRollout)
        self.assertEqual((batch.batch_size, batch.request_id, batch.cost_usd, batch.engine_wall_ms, batch.customer_id),
                         (3, "batch-req-1", 0.0735, 1234, "cus_42"))
        self.assertEqual([r.mp4_bytes for r in batch.rollouts], mp4s)
        self.assertEqual([r.candidate_index for r in batch], [0, 1, 2])
        self.assertEqual({r.cost_usd for r in batch}, {0.0})
        self.assertEqual({r.request_id for r in batch}, {"batch-req-1"})
        self.assertEqual(batch[1].num_frames, 49)

    def test_batch_parts_are_ordered_by_candidate_index(self):
        mp4s = [b"A" * 5, b"B" * 5, b"C" * 5]
        self.srv.on("POST", f"/v1/models/{SLUG}/predict_batch", mixed_reply(mp4s, order=[2, 0, 1]))
        batch = self.model.predict_batch(start_frame=self.frame, actions=np.stack([self.actions] * 3))
        self.assertEqual([r.mp4_bytes for r in batch], mp4s)

    def test_batch_with_missing_candidates_is_an_error(self):
        self.srv.on("POST", f"/v1/models/{SLUG}/predict_batch", mixed_reply([b"A", b"B"]))
        with self.assertRaisesRegex(dream.DreamError, r"expected candidates 0..2"):
            self.model.predict_batch(start_frame=self.frame, actions=np.stack([self.actions] * 3))


class MultipartUnitTest(unittest.TestCase):
    def test_form_data_round_trip_through_the_mixed_parser(self):
        body, ctype = encode_form_data([("seed", "3")], [("frame", "f.png", "image/png", b"\r\n--not-a-boundary\r\n")])
        parts = parse_multipart(ctype, body)
        self.assertEqual([p.body for p in parts], [b"3", b"\r\n--not-a-boundary\r\n"])
        self.assertIn('name="frame"', parts[1].headers["content-disposition"])

    def test_parser_rejects_truncated_bodies(self):
        with self.assertRaises(ValueError):
            parse_multipart("multipart/mixed; boundary=x", b"--x\r\nContent-Type: a\r\n\r\nbody-without-end")
        with self.assertRaises(ValueError):
            parse_multipart("multipart/mixed", b"")


if __name__ == "__main__":
    unittest.main()
