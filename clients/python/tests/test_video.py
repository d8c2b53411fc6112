"""Rollout.frames: decoded when numpy + an ffmpeg are available, None otherwise."""

import os
import subprocess
import tempfile
import unittest
from unittest import mock

from _support import FakeServer, json_reply, model_spec, no_sleep_client

from dream import _video
from dream.rollout import Rollout


def make_mp4(ffmpeg, frames=5, size="64x48"):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "t.mp4")
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=size={size}:rate=10", "-frames:v", str(frames), "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-movflags", "+faststart", out], check=True)
        with open(out, "rb") as f:
            return f.read()


class VideoTest(unittest.TestCase):
    def test_frames_is_none_without_a_decoder(self):
        with mock.patch.dict(os.environ, {"DREAM_FFMPEG": "/nonexistent/ffmpeg"}):
            r = Rollout(b"not decoded", request_id=None, cost_usd=0.0, engine_wall_ms=None, wall_s=0.0,
                        resolution=(48, 64))
            self.assertIsNone(r.frames)

    @unittest.skipUnless(_video.find_ffmpeg(), "no ffmpeg (set DREAM_FFMPEG or put ffmpeg on PATH)")
    def test_predict_rollout_frames_decode_to_an_array(self):
        mp4 = make_mp4(_video.find_ffmpeg())
        with FakeServer() as srv:
            srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[48, 64])))
            srv.on("POST", "/v1/models/tiny/predict", (200, {"Content-Type": "video/mp4", "X-DreamEngine-Frames": "5"}, mp4))
            client = no_sleep_client(srv)
            import numpy as np

            r = client.models.get("tiny").predict(start_frame=np.zeros((48, 64, 3), np.uint8),
                                                  actions=np.zeros((4, 384), np.float32))
            frames = r.frames
            self.assertEqual(frames.shape, (5, 48, 64, 3))
            self.assertEqual(frames.dtype, np.uint8)
            self.assertIs(r.frames, frames, "decoded once, then cached")
            with tempfile.TemporaryDirectory() as d:
                path = r.save(os.path.join(d, "out.mp4"))
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), mp4)


if __name__ == "__main__":
    unittest.main()
