"""Rollout.frames and Rollout.video(): decoded when numpy + an ffmpeg are found, else a clear error."""

import os
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from _support import FakeServer, json_reply, model_spec, no_sleep_client

import dream
from dream import _video
from dream._png import encode_png_rgb_bytes
from dream.rollout import Rollout


def _ffmpeg_or_none():
    try:
        return _video.find_ffmpeg()
    except dream.DecoderNotFoundError:
        return None


def _fake_exe(directory, name="ffmpeg"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexit 1\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class _FakeImageioFfmpeg:
    def __init__(self, exe):
        self.exe = exe

    def get_ffmpeg_exe(self):
        return self.exe


def _rollout(mp4=b"not an mp4"):
    return Rollout(mp4, request_id=None, cost_usd=0.0, engine_wall_ms=None, wall_s=0.0, resolution=(48, 64))


def make_mp4(ffmpeg, frames=5, size="64x48"):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "t.mp4")
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=size={size}:rate=10", "-frames:v", str(frames), "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-movflags", "+faststart", out], check=True)
        with open(out, "rb") as f:
            return f.read()


class VideoTest(unittest.TestCase):
    def test_frames_without_any_decoder_raises_saying_what_to_install_or_set(self):
        with tempfile.TemporaryDirectory() as empty, \
                mock.patch.dict(os.environ, {"PATH": empty}), \
                mock.patch.dict(sys.modules, {"imageio_ffmpeg": None}):
            os.environ.pop("DREAM_FFMPEG", None)
            self.assertIsNone(_video.find_ffmpeg())
            r = _rollout()
            with self.assertRaises(dream.DecoderNotFoundError) as cm:
                r.frames
            self.assertIsInstance(cm.exception, RuntimeError)
            for hint in ("DREAM_FFMPEG", "PATH", "imageio-ffmpeg"):
                self.assertIn(hint, str(cm.exception))
            self.assertEqual(r.video(), b"not an mp4", "video() needs no decoder")

    def test_a_dream_ffmpeg_that_is_not_executable_is_named_in_the_error(self):
        with mock.patch.dict(os.environ, {"DREAM_FFMPEG": "/nonexistent/ffmpeg"}):
            with self.assertRaises(dream.DecoderNotFoundError) as cm:
                _rollout().frames
            self.assertIn("/nonexistent/ffmpeg", str(cm.exception))

    def test_frames_without_numpy_raises_saying_to_install_it(self):
        with mock.patch.dict(sys.modules, {"numpy": None}):
            with self.assertRaises(dream.DecoderNotFoundError) as cm:
                _rollout().frames
            self.assertIn("numpy", str(cm.exception))

    def test_search_order_is_dream_ffmpeg_then_path_then_imageio_ffmpeg(self):
        with tempfile.TemporaryDirectory() as d:
            explicit = _fake_exe(d, "explicit-ffmpeg")
            on_path_dir = os.path.join(d, "bin")
            os.mkdir(on_path_dir)
            on_path = _fake_exe(on_path_dir)
            bundled = _fake_exe(d, "bundled-ffmpeg")
            fake_module = _FakeImageioFfmpeg(bundled)
            with mock.patch.dict(sys.modules, {"imageio_ffmpeg": fake_module}):
                with mock.patch.dict(os.environ, {"DREAM_FFMPEG": explicit, "PATH": on_path_dir}):
                    self.assertEqual(_video.find_ffmpeg(), explicit)
                with mock.patch.dict(os.environ, {"PATH": on_path_dir}):
                    os.environ.pop("DREAM_FFMPEG", None)
                    self.assertEqual(_video.find_ffmpeg(), on_path)
                with mock.patch.dict(os.environ, {"PATH": os.path.join(d, "nothing-here")}):
                    os.environ.pop("DREAM_FFMPEG", None)
                    self.assertEqual(_video.find_ffmpeg(), bundled)

    def test_video_returns_the_mp4_bytes_as_sent(self):
        with FakeServer() as srv:
            srv.on("GET", "/v1/models/tiny", json_reply(200, model_spec("tiny", resolution=[48, 64])))
            srv.on("POST", "/v1/models/tiny/predict", (200, {"Content-Type": "video/mp4"}, b"\x00\x00\x00\x18ftypmp42"))
            client = no_sleep_client(srv)
            r = client.models.get("tiny").predict(start_frame=encode_png_rgb_bytes(48, 64, bytes(48 * 64 * 3)), actions=[[0.0] * 384] * 4)
            self.assertEqual(r.video(), b"\x00\x00\x00\x18ftypmp42")

    @unittest.skipUnless(_ffmpeg_or_none(), "no ffmpeg (set DREAM_FFMPEG or put ffmpeg on PATH)")
    def test_predict_rollout_frames_decode_to_an_array(self):
        mp4 = make_mp4(_ffmpeg_or_none())
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
            self.assertEqual(r.video(), mp4)
            with tempfile.TemporaryDirectory() as d:
                path = r.save(os.path.join(d, "out.mp4"))
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), mp4)


if __name__ == "__main__":
    unittest.main()
