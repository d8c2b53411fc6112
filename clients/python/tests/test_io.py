"""dream.io: frames_from_dir (folders and manifest.jsonl), in-memory rows, RolloutSink.dir."""

import json
import os
import tempfile
import unittest

import numpy as np

from _bulk_support import A, actions, png, write_row

import dream
from dream.io import RESULT_KEYS, RolloutSink, RowResult, frames_from_dir, rows


class DirSourceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.base = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def fails(self, *fragments):
        with self.assertRaises(dream.InputValidationError) as cm:
            frames_from_dir(self.base)
        for fragment in fragments:
            self.assertIn(fragment, str(cm.exception))
        return cm.exception

    def test_one_folder_per_row_in_name_order(self):
        write_row(self.base, "b", t=4)
        write_row(self.base, "a", t=2, k=3)
        write_row(self.base, "c", t=5, start="start.jpg")
        os.makedirs(os.path.join(self.base, ".hidden"))
        with open(os.path.join(self.base, "notes.txt"), "w") as f:
            f.write("ignored")
        src = frames_from_dir(self.base)
        self.assertEqual(src.layout, "folders")
        self.assertEqual([r.name for r in src], ["a", "b", "c"])
        self.assertEqual([r.index for r in src], [0, 1, 2])
        self.assertEqual([r.shape for r in src], [(3, 2, A), (4, A), (5, A)])
        self.assertEqual([(r.k, r.t, r.frames) for r in src], [(3, 2, 9), (1, 4, 5), (1, 5, 6)])
        self.assertTrue(src[2].start.endswith("start.jpg"))
        self.assertEqual(len(src), 3)
        self.assertIs(dream.frames_from_dir, frames_from_dir)

    def test_manifest_wins_over_folders(self):
        write_row(self.base, "folder-row")
        os.makedirs(os.path.join(self.base, "data"))
        with open(os.path.join(self.base, "data", "s.png"), "wb") as f:
            f.write(png())
        np.save(os.path.join(self.base, "data", "a.npy"), actions(3))
        np.save(os.path.join(self.base, "data", "b.npy"), actions(2, k=2))
        lines = [{"name": "first", "start": "data/s.png", "actions": "data/a.npy"}, {},
                 {"name": "000001", "start": "data/s.png", "actions": "data/b.npy"}]
        with open(os.path.join(self.base, "manifest.jsonl"), "w") as f:
            f.write(json.dumps(lines[0]) + "\n\n" + json.dumps(lines[2]) + "\n")
        src = frames_from_dir(self.base)
        self.assertEqual(src.layout, "manifest")
        self.assertEqual([r.name for r in src], ["first", "000001"])
        self.assertEqual([r.frames for r in src], [4, 6])
        self.assertEqual(src[0].start, os.path.join(self.base, "data", "s.png"))

    def test_folder_errors_name_the_row_and_the_file(self):
        write_row(self.base, "ok")
        os.makedirs(os.path.join(self.base, "no-actions"))
        with open(os.path.join(self.base, "no-actions", "start.png"), "wb") as f:
            f.write(png())
        self.fails("row folder 'no-actions'", "no actions.npy")
        os.remove(os.path.join(self.base, "no-actions", "start.png"))
        np.save(os.path.join(self.base, "no-actions", "actions.npy"), actions())
        self.fails("row folder 'no-actions'", "no start.png or start.jpg")

    def test_bad_file_contents(self):
        write_row(self.base, "r")
        folder = os.path.join(self.base, "r")
        np.save(os.path.join(folder, "actions.npy"), np.zeros((4, A), np.int64))
        self.fails("'r'", "actions.npy", "dtype '<i8'", "float32")
        np.save(os.path.join(folder, "actions.npy"), np.zeros((4,), np.float32))
        self.fails("expected shape (T, action_dim) or (K, T, action_dim)", "(4,)")
        np.save(os.path.join(folder, "actions.npy"), np.zeros((0, A), np.float32))
        self.fails("no empty dimension")
        with open(os.path.join(folder, "actions.npy"), "wb") as f:
            f.write(b"not numpy at all")
        self.fails("not a .npy file")
        np.save(os.path.join(folder, "actions.npy"), actions())
        with open(os.path.join(folder, "start.png"), "wb") as f:
            f.write(b"GIF89a...")
        self.fails("start.png", "is not a PNG or JPEG image")

    def test_manifest_errors(self):
        with open(os.path.join(self.base, "s.png"), "wb") as f:
            f.write(png())
        np.save(os.path.join(self.base, "a.npy"), actions())

        def manifest(*lines):
            with open(os.path.join(self.base, "manifest.jsonl"), "w") as f:
                f.write("\n".join(lines) + "\n")

        manifest('{"name": "a", "start": "s.png", "actions": "a.npy"}', "{not json")
        self.fails("manifest.jsonl line 2", "not JSON")
        manifest('{"name": "a", "start": "s.png"}')
        self.fails("line 1", "missing 'actions'")
        manifest('{"start": "s.png", "actions": "a.npy"}')
        self.fails("line 1", "missing 'name'")
        manifest('{"name": "a", "start": "s.png", "actions": "a.npy", "frame": 1}')
        self.fails("unknown keys ['frame']")
        manifest('{"name": "a", "start": "../s.png", "actions": "a.npy"}')
        self.fails("points outside the directory")
        manifest(json.dumps({"name": "a", "start": os.path.join(self.base, "s.png"), "actions": "a.npy"}))
        self.fails("must be relative")
        manifest('{"name": "a", "start": "missing.png", "actions": "a.npy"}')
        self.fails("'missing.png' does not exist")
        manifest('{"name": "x", "start": "s.png", "actions": "a.npy"}', '{"name": "x", "start": "s.png", "actions": "a.npy"}')
        self.fails("line 2", "row name 'x' repeats line 1")
        manifest('{"name": "a/b", "start": "s.png", "actions": "a.npy"}')
        self.fails("row name 'a/b' is not usable as a file name")

    def test_empty_or_missing_directory(self):
        self.fails("no rows in")
        with self.assertRaises(dream.InputValidationError) as cm:
            frames_from_dir(os.path.join(self.base, "nope"))
        self.assertIn("is not a directory", str(cm.exception))


class MemoryRowsTest(unittest.TestCase):
    def test_tuples_dicts_rows_and_default_names(self):
        src = rows([("a", png(), actions(2)), {"start": png(), "actions": actions(3, k=2).tolist()},
                    (None, np.zeros((4, 6, 3), np.uint8), actions(1))])
        got = list(src)
        self.assertEqual([r.name for r in got], ["a", "000001", "000002"])
        self.assertEqual([r.shape for r in got], [(2, A), (2, 3, A), (1, A)])
        self.assertEqual(len(src), 3)

    def test_bad_rows(self):
        cases = [
            ([("a", png())], "expected (name, start, actions)"),
            ([("a", b"nope", actions())], "row 0 start: bytes are not a PNG or JPEG image"),
            ([("a", png(), "x")], "cannot read"),
            ([("a", png(), actions()), ("a", png(), actions())], "row 1: row name 'a' is used by an earlier row"),
            ([("a", png(), [[1.0, 2.0], [3.0]])], "ragged"),
            ([{"name": "a", "frame": png()}], "unknown keys ['frame']"),
        ]
        for items, fragment in cases:
            with self.assertRaises(dream.InputValidationError, msg=fragment) as cm:
                list(rows(items))
            self.assertIn(fragment, str(cm.exception))


class DirSinkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.base = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        self.tmp.cleanup()

    def lines(self):
        with open(os.path.join(self.base, "results.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_layouts_and_results_lines(self):
        with RolloutSink.dir(self.base) as sink:
            sink.write(RowResult(0, "one", "r-0", 5, 2500, "done", media=[b"mp4-0"]))
            sink.write(RowResult(1, "many", "r-1", 9, 4500, "done", media=[b"c0", b"c1", b"c2"]))
            sink.write(RowResult(2, "pngs", "r-2", 3, 1500, "done", encoding="PNG", media=[[b"f0", b"f1", b"f2"]]))
            sink.write(RowResult(3, "jpgs", "r-3", 4, 2000, "done", encoding="JPEG", media=[[b"a", b"b"], [b"c", b"d"]]))
            sink.write(RowResult(4, "bad", "r-4", 0, 0, "failed", error="boom", media=[b"never written"]))
        def read(*p):
            with open(os.path.join(self.base, *p), "rb") as f:
                return f.read()
        self.assertEqual(read("one.mp4"), b"mp4-0")
        self.assertEqual([read("many", f"c{k}.mp4") for k in range(3)], [b"c0", b"c1", b"c2"])
        self.assertEqual([read("pngs", "c0", f"000{i}.png") for i in range(3)], [b"f0", b"f1", b"f2"])
        self.assertEqual(read("jpgs", "c1", "0001.jpg"), b"d")
        self.assertFalse(os.path.exists(os.path.join(self.base, "bad.mp4")))
        lines = self.lines()
        self.assertEqual([tuple(line) for line in lines], [RESULT_KEYS] * 5)
        self.assertEqual(lines[0], {"row": 0, "name": "one", "request_id": "r-0", "frames": 5, "cost_micros": 2500,
                                    "state": "done", "error": None})
        self.assertEqual((lines[4]["state"], lines[4]["error"]), ("failed", "boom"))
        self.assertFalse([f for _, _, fs in os.walk(self.base) for f in fs if f.endswith(".part")])

    def test_a_row_is_written_once(self):
        sink = RolloutSink.dir(self.base)
        sink.write(RowResult(0, "a", "r", 5, 1, "done", media=[b"x"]))
        with self.assertRaises(ValueError):
            sink.write(RowResult(0, "a", "r-a2", 5, 1, "done", media=[b"y"]))
        sink.close()
        self.assertEqual(len(self.lines()), 1)

    def test_existing_results_need_resume_or_overwrite(self):
        with RolloutSink.dir(self.base) as sink:
            sink.write(RowResult(0, "a", "r-0", 5, 1, "done", media=[b"x"]))
            sink.write(RowResult(1, "b", "r-1", 0, 0, "failed", error="e"))
        with self.assertRaises(dream.InputValidationError) as cm:
            RolloutSink.dir(self.base)
        self.assertIn("resume=True", str(cm.exception))
        with RolloutSink.dir(self.base, resume=True) as sink:
            self.assertEqual(sink.done_rows(), {0})
            self.assertEqual([line["row"] for line in self.lines()], [0])  # the failed row's line is dropped
            with self.assertRaises(ValueError):
                sink.write(RowResult(0, "a", "r", 5, 1, "done", media=[b"x"]))
            sink.write(RowResult(1, "b", "r-1b", 5, 1, "done", media=[b"y"]))
        self.assertEqual([(line["row"], line["state"]) for line in self.lines()], [(0, "done"), (1, "done")])
        RolloutSink.dir(self.base, overwrite=True).close()
        self.assertEqual(self.lines(), [])


if __name__ == "__main__":
    unittest.main()
