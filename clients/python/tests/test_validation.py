"""Inputs the server would reject are rejected client-side, before any network call."""

import io
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

from _support import FakeServer, json_reply, model_spec, no_sleep_client

import dream
from dream import _inputs


class ValidationBeforeNetworkTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeServer().__enter__()
        self.srv.on("GET", "/v1/models/dreamdojo-2b-gr1", json_reply(200, model_spec()))
        self.srv.on("GET", "/v1/models/off", json_reply(200, model_spec("off", active=False)))
        self.client = no_sleep_client(self.srv)
        self.model = self.client.models.get("dreamdojo-2b-gr1")
        self.before = len(self.srv.requests)
        self.frame = np.zeros((480, 640, 3), np.uint8)
        self.actions = np.zeros((48, 384), np.float32)

    def tearDown(self):
        self.srv.__exit__(None, None, None)

    def assertRejected(self, pattern, fn, *args, **kwargs):
        with self.assertRaisesRegex(dream.InputValidationError, pattern):
            fn(*args, **kwargs)
        self.assertEqual(len(self.srv.requests), self.before, "no request may reach the server")

    def test_wrong_action_dim(self):
        self.assertRejected(r"^actions: model expects 384, got array with shape \(49, 100\)",
                            self.model.predict, start_frame=self.frame, actions=np.zeros((49, 100), np.float32))

    def test_wrong_rank_and_dtype(self):
        self.assertRejected(r"model expects 384, got array with shape \(384,\)",
                            self.model.predict, start_frame=self.frame, actions=np.zeros(384, np.float32))
        self.assertRejected(r"expected a float array, got dtype complex64",
                            self.model.predict, start_frame=self.frame, actions=np.zeros((4, 384), np.complex64))
        self.assertRejected(r"NaN or infinite", self.model.predict, start_frame=self.frame,
                            actions=np.full((4, 384), np.nan, np.float32))
        self.assertRejected(r"expected \(K, T, 384\)", self.model.predict_batch, start_frame=self.frame,
                            actions=self.actions)

    def test_wrong_frame_size_is_never_resized(self):
        self.assertRejected(r"^start_frame: model expects 480x640 \(HxW\) RGB, got 640x480",
                            self.model.predict, start_frame=np.zeros((640, 480, 3), np.uint8), actions=self.actions)
        self.assertRejected(r"got shape \(480, 640, 4\); drop alpha",
                            self.model.predict, start_frame=np.zeros((480, 640, 4), np.uint8), actions=self.actions)
        self.assertRejected(r"float frames must lie in \[0, 1\]",
                            self.model.predict, start_frame=np.full((480, 640, 3), 2.0), actions=self.actions)
        self.assertRejected(r"not a PNG or JPEG", self.model.predict, frame_bytes=b"GIF89a....", actions_bytes=b"x")

    def test_encoded_frame_bytes_are_checked_from_their_header(self):
        from dream._png import encode_png_rgb_bytes

        png = encode_png_rgb_bytes(480, 320, bytes(480 * 320 * 3))
        npy = io.BytesIO()
        np.save(npy, self.actions)
        self.assertRejected(r"expects 480x640 \(HxW\) RGB, got 480x320", self.model.predict, frame_bytes=png,
                            actions_bytes=npy.getvalue())

    def test_npy_bytes_are_checked_from_their_header(self):
        for arr, pattern in [(np.zeros((48, 384), np.int32), r"unsupported dtype '<i4'"),
                             (np.asfortranarray(np.zeros((48, 384), np.float32)), r"fortran_order"),
                             (np.zeros((48, 385), np.float32), r"model expects 384, got array with shape \(48, 385\)")]:
            buf = io.BytesIO()
            np.save(buf, arr)
            self.assertRejected(pattern, self.model.predict, start_frame=self.frame, actions=buf.getvalue())

    def test_mixing_input_styles(self):
        self.assertRejected(r"mix of input styles", self.model.predict, start_frame=self.frame, actions_bytes=b"x")
        self.assertRejected(r"mix of input styles", self.model.predict, actions=self.actions, frame_path="f.png")
        self.assertRejected(r"frame_bytes= or frame_path=, not both", self.model.predict, frame_bytes=b"a",
                            frame_path="b", actions_bytes=b"c")
        self.assertRejected(r"actions is required", self.model.predict, start_frame=self.frame)
        self.assertTrue(issubclass(dream.InputValidationError, ValueError))

    def test_ragged_candidates_and_params(self):
        self.assertRejected(r"actions\[1\]: every candidate must have the same T",
                            self.model.predict_batch, start_frame=self.frame,
                            actions=[np.zeros((48, 384), np.float32), np.zeros((36, 384), np.float32)])
        self.assertRejected(r"num_steps", self.model.predict, start_frame=self.frame, actions=self.actions, num_steps=0)
        self.assertRejected(r"guidance", self.model.predict, start_frame=self.frame, actions=self.actions,
                            guidance=float("nan"))
        self.assertRejected(r"seed", self.model.predict, start_frame=self.frame, actions=self.actions, seed=-1)

    def test_missing_file_path(self):
        self.assertRejected(r"cannot read", self.model.predict, frame_path="/nonexistent/frame.png",
                            actions_path="/nonexistent/a.npy")

    def test_inactive_model_raises_model_not_active(self):
        off = self.client.models.get("off")
        self.before = len(self.srv.requests)
        with self.assertRaises(dream.ModelNotActiveError) as cm:
            off.predict(start_frame=self.frame, actions=self.actions)
        self.assertIsInstance(cm.exception, RuntimeError)
        self.assertIn("ONNX files not installed", str(cm.exception))
        self.assertEqual(len(self.srv.requests), self.before)

    def test_billing_bounds(self):
        for amount in (4.99, 10_000.01, float("inf"), "25"):
            self.assertRejected(r"amount_usd", self.client.billing.topup, amount)
        for limit in (0, 501, 2.5):
            self.assertRejected(r"limit", self.client.billing.transactions, limit)

    def test_billing_without_a_key_fails_before_the_network(self):
        with mock.patch.dict(os.environ, {}, clear=False):
            for k in ("DREAM_API_KEY", "DREAM_ENGINE_API_KEY"):
                os.environ.pop(k, None)
            keyless = dream.Client(base_url=self.srv.url)
            with self.assertRaises(dream.AuthError):
                keyless.billing.balance()
        self.assertEqual(len(self.srv.requests), self.before)


class NoNumpyPathTest(unittest.TestCase):
    """Nested lists work without numpy (the SDK's runtime is stdlib only)."""

    def test_nested_lists_without_numpy(self):
        with mock.patch.object(_inputs, "_np", return_value=None):
            npy, shape = _inputs.actions_to_wire(("obj", [[0.5] * 384] * 3), 384, batch=False)
            self.assertEqual(shape, (3, 384))
            arr = np.load(io.BytesIO(npy))
            self.assertEqual((arr.dtype.str, arr.shape, float(arr.sum())), ("<f4", (3, 384), 576.0))
            with self.assertRaisesRegex(dream.InputValidationError, r"model expects 384, got array with shape \(2, 3\)"):
                _inputs.actions_to_wire(("obj", [[1, 2, 3], [4, 5, 6]]), 384, batch=False)
            with self.assertRaisesRegex(dream.InputValidationError, "ragged"):
                _inputs.actions_to_wire(("obj", [[1.0] * 384, [1.0] * 383]), 384, batch=False)
            with self.assertRaisesRegex(dream.InputValidationError, "expected numbers, got str"):
                _inputs.actions_to_wire(("obj", [["a"] * 384]), 384, batch=False)
            npy3, shape3 = _inputs.actions_to_wire(("obj", [[[1.0] * 384] * 2] * 3), 384, batch=True)
            self.assertEqual(shape3, (3, 2, 384))
            self.assertEqual(np.load(io.BytesIO(npy3)).shape, (3, 2, 384))

    def test_paths_and_float64_npy_are_accepted(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "a.npy")
            np.save(p, np.ones((5, 384)))  # float64: passed through, the server narrows it
            npy, shape = _inputs.actions_to_wire(("path", p), 384, batch=False)
            self.assertEqual(shape, (5, 384))
            self.assertEqual(np.load(io.BytesIO(npy)).dtype, np.float64)
            # a list of K paths/bytes becomes one float32 (K, T, D) file
            npy3, shape3 = _inputs.actions_to_wire(("obj", [p, p]), 384, batch=True)
            self.assertEqual(shape3, (2, 5, 384))
            arr = np.load(io.BytesIO(npy3))
            self.assertEqual((arr.dtype.str, float(arr.sum())), ("<f4", 2 * 5 * 384.0))


if __name__ == "__main__":
    unittest.main()
