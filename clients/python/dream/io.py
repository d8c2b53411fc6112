"""Sources and sinks for bulk work: ``client.predict_many`` and ``client.jobs.create``.

A *source* is a sequence of rows, each a start frame and one action sequence ``(T, action_dim)`` or K
of them ``(K, T, action_dim)``. ``frames_from_dir(path)`` reads the layout the server's jobs read
(proto/dream/v1/jobs.proto ``JobSource.dir``):

- one folder per row holding ``start.png`` (or ``start.jpg``) and ``actions.npy``; the folder's name is
  the row's name, rows in name order; or
- a ``manifest.jsonl`` with one ``{"name": …, "start": "<file>", "actions": "<file.npy>"}`` object per
  line, paths relative to the directory (it wins when both are present).

Row names become file names in the sink: 1-128 characters of ``[A-Za-z0-9._-]`` starting with a letter
or digit (the server's rule).

``rows(iterable)`` wraps rows held in memory: ``(name, start, actions)`` tuples, ``{"name", "start",
"actions"}`` dicts or ``Row``s, where start is PNG/JPEG bytes, a path, an (H, W, 3) array or a PIL image,
and actions an array, a nested list, ``.npy`` bytes or a path.

A *sink* takes each row's outcome exactly once. ``RolloutSink.dir(path)`` writes the layout a job's sink
gets (``JobSink``): ``<name>.mp4`` (MP4, K = 1), ``<name>/c<k>.mp4`` (MP4, K > 1) or
``<name>/c<k>/<frame>.png|.jpg`` (PNG/JPEG), plus one line per row in ``results.jsonl``:
``{"row", "name", "request_id", "frames", "cost_micros", "state", "error"}``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ._inputs import _is_ndarray, _is_pathlike, _list_shape
from ._npy import read_npy_header
from ._png import sniff_image
from .errors import InputValidationError

__all__ = ["Row", "RowResult", "DirSource", "MemorySource", "RolloutSink", "DirSink", "frames_from_dir", "rows",
           "as_source", "RESULT_KEYS"]

#: The keys of a results.jsonl line, in order (the server's job sink writes the same).
RESULT_KEYS = ("row", "name", "request_id", "frames", "cost_micros", "state", "error")
START_NAMES = ("start.png", "start.jpg", "start.jpeg")
ACTIONS_NAME = "actions.npy"
MANIFEST_NAME = "manifest.jsonl"
RESULTS_NAME = "results.jsonl"
#: A row name becomes a file or folder name in the sink: no separators, no leading dot.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # the server's (src/jobs/paths.ts)
#: Enough bytes to read any .npy header (numpy's own header limit is 10000 bytes).
_NPY_HEADER_READ = 12 + 10000


def default_name(index: int) -> str:
    """A row's name when none is given: its index, zero-padded to six digits ("000042")."""
    return f"{index:06d}"


def check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputValidationError(
            f"{where}: row name {name!r} is not usable as a file name; expected 1-128 characters of "
            "[A-Za-z0-9._-] starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Row:
    """One row of a source. ``shape`` is the actions' shape: (T, A) for one rollout, (K, T, A) for K."""

    index: int
    name: str
    start: Any
    actions: Any
    shape: Tuple[int, ...]

    @property
    def k(self) -> int:
        return 1 if len(self.shape) == 2 else int(self.shape[0])

    @property
    def t(self) -> int:
        return int(self.shape[-2])

    @property
    def action_dim(self) -> int:
        return int(self.shape[-1])

    @property
    def frames(self) -> int:
        """Frames this row generates, and is billed for: K × (T + 1) (the start frame counts)."""
        return self.k * (self.t + 1)


# ---------------------------------------------------------------------------------------------
# Shapes without loading (or needing numpy for) the data
# ---------------------------------------------------------------------------------------------

def _npy_shape(header: bytes, where: str) -> Tuple[int, ...]:
    try:
        descr, fortran, shape, _ = read_npy_header(header)
    except ValueError as exc:
        raise InputValidationError(f"{where}: {exc}") from None
    if descr not in ("<f4", "<f8"):
        raise InputValidationError(f"{where}: dtype {descr!r}; expected float32 ('<f4')")
    if fortran:
        raise InputValidationError(f"{where}: fortran_order=True is not supported; save numpy.ascontiguousarray(a)")
    return tuple(shape)


def _read_head(path: str, n: int, where: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise InputValidationError(f"{where}: cannot read {path!r}: {exc.strerror or exc}") from None


def actions_shape(actions: Any, where: str) -> Tuple[int, ...]:
    """The shape of actions given as an array, a nested list, .npy bytes or a .npy path; (T, A) or (K, T, A)."""
    if _is_pathlike(actions):
        shape = _npy_shape(_read_head(os.fspath(actions), _NPY_HEADER_READ, where), where)
    elif isinstance(actions, (bytes, bytearray, memoryview)):
        shape = _npy_shape(bytes(actions[:_NPY_HEADER_READ]), where)
    elif _is_ndarray(actions) or hasattr(actions, "shape"):
        shape = tuple(int(d) for d in actions.shape)
    elif isinstance(actions, (list, tuple)):
        try:
            shape = _list_shape(actions, [])
        except InputValidationError as exc:
            raise InputValidationError(str(exc.message).replace("actions:", f"{where}:", 1)) from None
    else:
        raise InputValidationError(f"{where}: expected an array, a nested list, .npy bytes or a path, got {type(actions).__name__}")
    if len(shape) not in (2, 3) or any(d == 0 for d in shape):
        raise InputValidationError(
            f"{where}: expected shape (T, action_dim) or (K, T, action_dim) with no empty dimension, got {tuple(shape)}"
        )
    return shape


def _check_start(start: Any, where: str) -> None:
    if _is_pathlike(start):
        if sniff_image(_read_head(os.fspath(start), 16, where)) is None:
            raise InputValidationError(f"{where}: {os.fspath(start)!r} is not a PNG or JPEG image")
    elif isinstance(start, (bytes, bytearray, memoryview)):
        if sniff_image(bytes(start[:16])) is None:
            raise InputValidationError(f"{where}: bytes are not a PNG or JPEG image")
    elif start is None:
        raise InputValidationError(f"{where}: a start frame is required")
    # arrays and PIL images are checked against the model's resolution when the row is sent


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

class DirSource(Sequence[Row]):
    """Rows read from a directory (``frames_from_dir``). ``layout`` is "folders" or "manifest"."""

    def __init__(self, path: str, layout: str, rows_: List[Row]) -> None:
        self.path = path
        self.layout = layout
        self._rows = rows_

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:
        return self._rows[i]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"<DirSource {self.path!r} layout={self.layout} rows={len(self._rows)}>"


def _inside(base: str, rel: Any, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise InputValidationError(f"{where}: expected a relative path string, got {rel!r}")
    if os.path.isabs(rel) or rel.startswith(("/", "\\")):
        raise InputValidationError(f"{where}: {rel!r} must be relative to the directory (the server reads it there too)")
    full = os.path.normpath(os.path.join(base, rel))
    if os.path.commonpath([os.path.abspath(base), os.path.abspath(full)]) != os.path.abspath(base):
        raise InputValidationError(f"{where}: {rel!r} points outside the directory")
    if not os.path.isfile(full):
        raise InputValidationError(f"{where}: {rel!r} does not exist (looked for {full!r})")
    return full


def _manifest_rows(base: str) -> List[Row]:
    manifest = os.path.join(base, MANIFEST_NAME)
    out: List[Row] = []
    seen: Dict[str, int] = {}
    with open(manifest, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{MANIFEST_NAME} line {lineno}"
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise InputValidationError(f"{where}: not JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise InputValidationError(f"{where}: expected an object {{\"name\", \"start\", \"actions\"}}, got {type(obj).__name__}")
            unknown = set(obj) - {"name", "start", "actions"}
            if unknown:
                raise InputValidationError(f"{where}: unknown keys {sorted(unknown)}; expected name, start, actions")
            for key in ("name", "start", "actions"):
                if key not in obj:
                    raise InputValidationError(f"{where}: missing {key!r} (each line is {{\"name\", \"start\", \"actions\"}})")
            index = len(out)
            name = check_name(obj["name"], where)
            if name in seen:
                raise InputValidationError(f"{where}: row name {name!r} repeats line {seen[name]}'s")
            seen[name] = lineno
            start = _inside(base, obj["start"], f"{where} start")
            actions = _inside(base, obj["actions"], f"{where} actions")
            _check_start(start, f"{where} start")
            out.append(Row(index, name, start, actions, actions_shape(actions, f"{where} actions")))
    return out


def _folder_rows(base: str) -> List[Row]:
    out: List[Row] = []
    for entry in sorted(os.listdir(base)):
        folder = os.path.join(base, entry)
        if entry.startswith(".") or not os.path.isdir(folder):
            continue
        where = f"row folder {entry!r}"
        check_name(entry, where)
        start = next((os.path.join(folder, n) for n in START_NAMES if os.path.isfile(os.path.join(folder, n))), None)
        if start is None:
            raise InputValidationError(f"{where}: no start.png or start.jpg in {folder!r}")
        actions = os.path.join(folder, ACTIONS_NAME)
        if not os.path.isfile(actions):
            raise InputValidationError(f"{where}: no {ACTIONS_NAME} in {folder!r}")
        _check_start(start, f"{where} {os.path.basename(start)}")
        out.append(Row(len(out), entry, start, actions, actions_shape(actions, f"{where} {ACTIONS_NAME}")))
    return out


def frames_from_dir(path: Union[str, "os.PathLike[str]"]) -> DirSource:
    """Rows from a directory in the jobs layout (one folder per row, or a manifest.jsonl).

    Every row is checked now — files present, PNG/JPEG magic, ``.npy`` header (float32, (T, A) or
    (K, T, A)) — so a bad file is an ``InputValidationError`` naming it before anything is sent.
    Pixel data and actions are read when each row is sent.
    """
    base = os.fspath(path)
    if not os.path.isdir(base):
        raise InputValidationError(f"frames_from_dir: {base!r} is not a directory")
    if os.path.isfile(os.path.join(base, MANIFEST_NAME)):
        found, layout = _manifest_rows(base), "manifest"
    else:
        found, layout = _folder_rows(base), "folders"
    if not found:
        raise InputValidationError(
            f"frames_from_dir: no rows in {base!r}: expected a {MANIFEST_NAME} or folders holding start.png "
            f"(or start.jpg) and {ACTIONS_NAME}"
        )
    return DirSource(base, layout, found)


class MemorySource:
    """Rows given in memory (``rows(iterable)``). Checked one by one as they are read; a generator is
    read once, so give a list when the same rows feed estimate_cost and predict_many."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Row]:
        seen: Set[str] = set()
        for index, item in enumerate(self._items):
            where = f"row {index}"
            if isinstance(item, Row):
                name, start, actions = item.name, item.start, item.actions
            elif isinstance(item, dict):
                unknown = set(item) - {"name", "start", "actions"}
                if unknown:
                    raise InputValidationError(f"{where}: unknown keys {sorted(unknown)}; expected name, start, actions")
                name, start, actions = item.get("name"), item.get("start"), item.get("actions")
            elif isinstance(item, (tuple, list)) and len(item) == 3:
                name, start, actions = item
            else:
                raise InputValidationError(f"{where}: expected (name, start, actions), a dict or a Row, got {type(item).__name__}")
            name = check_name(default_name(index) if name is None else name, where)
            if name in seen:
                raise InputValidationError(f"{where}: row name {name!r} is used by an earlier row")
            seen.add(name)
            _check_start(start, f"{where} start")
            yield Row(index, name, start, actions, actions_shape(actions, f"{where} actions"))


def rows(items: Iterable[Any]) -> MemorySource:
    """A source of in-memory rows: (name, start, actions) tuples, dicts or Rows (name None: the index)."""
    return MemorySource(items)


def as_source(source: Any) -> Union[DirSource, MemorySource]:
    """A DirSource or MemorySource as given; a path → frames_from_dir(path); any other iterable → rows()."""
    if isinstance(source, (DirSource, MemorySource)):
        return source
    if _is_pathlike(source):
        return frames_from_dir(source)
    if isinstance(source, (bytes, bytearray, dict)) or not hasattr(source, "__iter__"):
        raise InputValidationError(
            f"source: expected frames_from_dir(path), a directory path or an iterable of rows, got {type(source).__name__}"
        )
    return MemorySource(source)


def source_len(source: Any) -> Optional[int]:
    try:
        return len(source)
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------
# Sinks
# ---------------------------------------------------------------------------------------------

@dataclass
class RowResult:
    """One row's outcome, as a sink receives it.

    ``state``: "done", "failed" (after its retries) or "skipped" (not run: the budget). ``media`` holds,
    per candidate, the MP4 bytes (``encoding`` "MP4") or the list of encoded frames ("PNG" / "JPEG").
    """

    row: int
    name: str
    request_id: Optional[str]
    frames: int
    cost_micros: int
    state: str
    error: Optional[str] = None
    encoding: str = "MP4"
    media: List[Any] = field(default_factory=list)
    reason: Optional[str] = None
    attempts: int = 0

    def line(self) -> Dict[str, Any]:
        """The results.jsonl object (RESULT_KEYS, in order)."""
        return {"row": self.row, "name": self.name, "request_id": self.request_id, "frames": self.frames,
                "cost_micros": self.cost_micros, "state": self.state, "error": self.error}


class RolloutSink:
    """Where predict_many puts each row's outcome: ``write(result)`` is called exactly once per row.

    Subclass it for other destinations; ``done_rows()`` names rows to skip (already done).
    """

    def done_rows(self) -> Set[int]:
        return set()

    def write(self, result: RowResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    @staticmethod
    def dir(path: Union[str, "os.PathLike[str]"], *, resume: bool = False, overwrite: bool = False) -> "DirSink":
        """A sink writing the job sink layout under ``path`` (created if missing).

        A ``results.jsonl`` already there is an error unless ``resume=True`` (rows recorded "done" are
        skipped, the others run again and their old lines are dropped) or ``overwrite=True`` (start over).
        """
        return DirSink(os.fspath(path), resume=resume, overwrite=overwrite)


_EXT = {"PNG": "png", "JPEG": "jpg"}


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class DirSink(RolloutSink):
    def __init__(self, path: str, *, resume: bool = False, overwrite: bool = False) -> None:
        if resume and overwrite:
            raise InputValidationError("RolloutSink.dir: pass resume=True or overwrite=True, not both")
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.results_path = os.path.join(path, RESULTS_NAME)
        self._done: Set[int] = set()
        self._written: Set[int] = set()
        kept: List[str] = []
        if os.path.isfile(self.results_path) and os.path.getsize(self.results_path) > 0:
            if not resume and not overwrite:
                raise InputValidationError(
                    f"RolloutSink.dir: {self.results_path!r} already holds results; pass resume=True to skip the rows "
                    "done there, overwrite=True to start over, or choose another directory"
                )
            if resume:
                with open(self.results_path, "r", encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        if not line.strip():
                            continue
                        try:
                            obj = json.loads(line)
                        except ValueError:
                            raise InputValidationError(f"{self.results_path} line {lineno}: not JSON; cannot resume") from None
                        if obj.get("state") == "done" and isinstance(obj.get("row"), int) and obj["row"] not in self._done:
                            self._done.add(obj["row"])
                            kept.append(json.dumps(obj) + "\n")
        # Resume keeps only the done rows' lines, so every row still ends with exactly one line.
        _atomic_write(self.results_path, "".join(kept).encode("utf-8"))
        self._results = open(self.results_path, "a", encoding="utf-8")

    def __repr__(self) -> str:
        return f"<DirSink {self.path!r}>"

    def done_rows(self) -> Set[int]:
        return set(self._done)

    def media_paths(self, result: RowResult) -> List[str]:
        if result.encoding == "MP4":
            if len(result.media) == 1:
                return [os.path.join(self.path, f"{result.name}.mp4")]
            return [os.path.join(self.path, result.name, f"c{k}.mp4") for k in range(len(result.media))]
        ext = _EXT.get(result.encoding, "bin")
        return [os.path.join(self.path, result.name, f"c{k}", f"{i:04d}.{ext}")
                for k, frames in enumerate(result.media) for i in range(len(frames))]

    def write(self, result: RowResult) -> None:
        if result.row in self._written or result.row in self._done:
            raise ValueError(f"RolloutSink.dir: row {result.row} ({result.name}) was already written")
        if result.state == "done":
            blobs = list(result.media) if result.encoding == "MP4" else [f for frames in result.media for f in frames]
            for target, blob in zip(self.media_paths(result), blobs):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                _atomic_write(target, bytes(blob))
        # The line goes last: a row listed "done" has its files in place.
        self._results.write(json.dumps(result.line()) + "\n")
        self._results.flush()
        self._written.add(result.row)

    def close(self) -> None:
        if not self._results.closed:
            self._results.flush()
            os.fsync(self._results.fileno())
            self._results.close()

    def __enter__(self) -> "DirSink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
