"""client.jobs: durable batch jobs run by the server (proto/dream/v1/jobs.proto; REST /v1/jobs).

A job runs thousands of rows server-side at BATCH priority, from a source to a sink directory under the
server's jobs root, with no client process kept alive: create it, then ``wait`` (or come back later and
``get`` it). Each row is one engine request with the id ``job-<job_id>-row-<index>``, so it is never
run or billed twice; creating a job again with the same ``job_id`` returns the existing job, which is
what makes ``create`` safe to retry (the SDK always sends a ``job_id``, a fresh one when none is given).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import _inputs
from ._progress import progress_bar
from ._records import Record, normalize
from .errors import DreamError, InputValidationError
from .io import DirSource, MemorySource, Row, as_source
from .models import ModelHandle, check_priority

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Job", "Jobs", "JobTimeoutError", "TERMINAL_STATES", "NDJSON_UPLOAD_BYTES_MIN"]

STATES = ("JOB_STATE_UNSPECIFIED", "JOB_PENDING", "JOB_RUNNING", "JOB_SUCCEEDED", "JOB_FAILED", "JOB_CANCELLED",
          "JOB_BUDGET_EXHAUSTED")
TERMINAL_STATES = frozenset({"JOB_SUCCEEDED", "JOB_FAILED", "JOB_CANCELLED", "JOB_BUDGET_EXHAUSTED"})
#: Uploads of at least this many bytes of JSON go as NDJSON (a header line, then one line per row),
#: which the server reads row by row instead of as one JSON document.
NDJSON_UPLOAD_BYTES_MIN = 8 * 1024 * 1024
LIST_LIMIT_MAX = 500
ENCODINGS = ("MP4", "PNG", "JPEG", "RAW_RGB8")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class Job(Record):
    """A job as the server reports it: job_id, model, state, rows_total, rows_done, rows_failed,
    rows_pending, rows_running, frames, cost {micros, usd}, budget_micros, rows_per_s, frames_per_s,
    eta_s, created_at, updated_at, sink_dir, error, priority (a read-only record)."""

    __slots__ = ()

    @property
    def finished(self) -> bool:
        """The job has ended (SUCCEEDED, FAILED, CANCELLED or BUDGET_EXHAUSTED): it changes no more."""
        return self.get("state") in TERMINAL_STATES

    @property
    def rows_finished(self) -> int:
        return _int(self.get("rows_done")) + _int(self.get("rows_failed"))

    @property
    def cost_micros(self) -> int:
        return _int((self.get("cost") or {}).get("micros"))

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / 1_000_000

    def __repr__(self) -> str:
        return (f"<Job {self.get('job_id')} {self.get('state')} rows {self.rows_finished}/{_int(self.get('rows_total'))} "
                f"failed={_int(self.get('rows_failed'))} cost_usd={self.cost_usd}>")


def job_record(data: Any) -> Job:
    if not isinstance(data, dict):
        raise DreamError("the server's job answer is not a JSON object")
    data = normalize(data)
    state = data.get("state")
    if isinstance(state, int) and 0 <= state < len(STATES):  # an enum by number
        data["state"] = STATES[state]
    return Job(data)


class JobTimeoutError(DreamError, TimeoutError):
    """jobs.wait(timeout_s=…) passed before the job finished; ``job`` is its last state (it keeps running)."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message, reason="DEADLINE_EXCEEDED")
        self.job = job


def _job_path(job_id: Any) -> str:
    if not isinstance(job_id, str) or not job_id:
        raise InputValidationError(f"job_id: expected a non-empty string, got {job_id!r}")
    return f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}"


def _params(params: Optional[Mapping[str, Any]]) -> Optional[dict]:
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise InputValidationError(f"params: expected a dict with num_steps, guidance, seed, got {type(params).__name__}")
    unknown = set(params) - {"num_steps", "guidance", "seed"}
    if unknown:
        raise InputValidationError(f"params: unknown keys {sorted(unknown)}; expected num_steps, guidance, seed")
    fields = dict(_inputs.sampling_fields(params.get("num_steps"), params.get("guidance"), params.get("seed")))
    out: dict = {"seed": fields["seed"]}
    if "num_steps" in fields:
        out["num_steps"] = int(fields["num_steps"])
    if "guidance" in fields:
        out["guidance"] = float(fields["guidance"])
    return out


def _output(output: Any) -> Optional[dict]:
    if output is None:
        return None
    if isinstance(output, str):
        output = {"encoding": output}
    if not isinstance(output, Mapping):
        raise InputValidationError(f"output: expected 'MP4', 'PNG', 'JPEG', 'RAW_RGB8' or a dict, got {type(output).__name__}")
    unknown = set(output) - {"encoding", "jpeg_quality"}
    if unknown:
        raise InputValidationError(f"output: unknown keys {sorted(unknown)}; expected encoding, jpeg_quality")
    encoding = output.get("encoding")
    if not isinstance(encoding, str) or encoding.upper() not in ENCODINGS:
        raise InputValidationError(f"output.encoding: expected one of {', '.join(ENCODINGS)}, got {encoding!r}")
    out: dict = {"encoding": encoding.upper()}
    quality = output.get("jpeg_quality")
    if quality is not None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise InputValidationError(f"output.jpeg_quality: expected an integer in [1, 100], got {quality!r}")
        out["jpeg_quality"] = quality
    return out


def row_json(row: Row, handle: ModelHandle) -> dict:
    """A JobRow in the proto's JSON form, checked against the model (size, action_dim) first."""
    where = f"row {row.index} ({row.name})"
    try:
        frame, _, frame_type = _inputs.frame_to_wire(("obj", row.start), handle.resolution)
        npy, shape = _inputs.actions_to_wire(("obj", row.actions), handle.action_dim, len(row.shape) == 3)
    except InputValidationError as exc:
        raise InputValidationError(f"{where}: {exc.message}") from None
    return {
        "name": row.name,
        "start_frame": {"encoding": "JPEG" if frame_type == "image/jpeg" else "PNG", "data": base64.b64encode(frame).decode()},
        "actions": {"data": base64.b64encode(_inputs._npy_payload_f32(npy)).decode(), "shape": list(shape)},
    }


class Jobs:
    def __init__(self, client: "Client") -> None:
        self._client = client

    def create(self, model: Any, source: Any, sink_dir: str, *, params: Optional[Mapping[str, Any]] = None,
               output: Any = None, budget_usd: Optional[float] = None, budget_micros: Optional[int] = None,
               job_id: Optional[str] = None, priority: Optional[str] = None, upload: str = "auto") -> Job:
        """Create a job → Job (state JOB_PENDING). ``POST /v1/jobs``.

        ``source``: a ``str`` is a directory on the server, relative to its jobs root (DREAM_JOBS_DIR),
        in the frames_from_dir layout; ``dream.io.frames_from_dir(local_path)`` or in-memory rows
        (``dream.io.rows(...)``, or any iterable of (name, start, actions)) are uploaded with the request
        — checked against the model first — as one JSON body, or as NDJSON (``upload="ndjson"``, or
        ``"auto"`` for uploads of NDJSON_UPLOAD_BYTES_MIN or more). ``sink_dir``: where the server writes
        the results, relative to its jobs root. ``params``: {num_steps, guidance, seed}; ``output``:
        "MP4" (default), "PNG", "JPEG", "RAW_RGB8" or {"encoding", "jpeg_quality"}; the budget stops the
        job once its charges would pass it (default: none but the balance); ``priority`` defaults to BATCH
        on the server.
        """
        from .bulk import budget_micros_of

        slug = model.slug if isinstance(model, ModelHandle) else getattr(model, "slug", model)
        if not isinstance(slug, str) or not slug:
            raise InputValidationError(f"model: expected a slug or a ModelHandle, got {model!r}")
        if not isinstance(sink_dir, str) or not sink_dir:
            raise InputValidationError(f"sink_dir: expected a directory relative to the server's jobs root, got {sink_dir!r}")
        if upload not in ("auto", "json", "ndjson"):
            raise InputValidationError(f"upload: expected 'auto', 'json' or 'ndjson', got {upload!r}")
        if job_id is None:
            job_id = uuid.uuid4().hex
        elif not isinstance(job_id, str) or not job_id:
            raise InputValidationError(f"job_id: expected a non-empty string or None, got {job_id!r}")
        request: Dict[str, Any] = {"model": slug, "sink": {"dir": sink_dir}, "job_id": job_id}
        for key, value in (("params", _params(params)), ("output", _output(output)),
                           ("budget_micros", budget_micros_of(budget_usd, budget_micros)),
                           ("priority", check_priority(priority))):
            if value is not None:
                request[key] = value

        rows_json: Optional[List[str]] = None
        if isinstance(source, str):
            request["source"] = {"dir": source}
        elif isinstance(source, Mapping) and set(source) == {"dir"} and isinstance(source["dir"], str):
            request["source"] = {"dir": source["dir"]}
        elif isinstance(source, (DirSource, MemorySource)) or (hasattr(source, "__iter__") and not isinstance(source, (bytes, Mapping))
                                                             and not hasattr(source, "__fspath__")):
            handle = model if isinstance(model, ModelHandle) else self._client.models.get(slug)
            rows_json = [json.dumps(row_json(row, handle)) for row in as_source(source)]
            if not rows_json:
                raise InputValidationError("source: no rows to upload")
        else:
            raise InputValidationError(
                "source: expected a directory on the server (str), frames_from_dir(local_path) or an iterable of rows, "
                f"got {type(source).__name__}"
            )

        transport = self._client._transport
        if rows_json is None:
            body, ctype = json.dumps(request).encode(), "application/json"
        else:
            size = sum(len(line) + 1 for line in rows_json)
            if upload == "ndjson" or (upload == "auto" and size >= NDJSON_UPLOAD_BYTES_MIN):
                body, ctype = ("\n".join([json.dumps(request)] + rows_json) + "\n").encode(), "application/x-ndjson"
            else:
                head = json.dumps({**request, "source": {"rows": {"rows": []}}})
                # Splice the already-encoded rows in rather than decoding and re-encoding them.
                body = head.replace('"rows": []', '"rows": [' + ", ".join(rows_json) + "]", 1).encode()
                ctype = "application/json"
        return job_record(transport.request("POST", "/v1/jobs", body=body, content_type=ctype).json())

    def get(self, job_id: str) -> Job:
        """``GET /v1/jobs/{job_id}`` → Job; an unknown id is a DreamError with reason NOT_FOUND (404)."""
        return job_record(self._client._transport.request("GET", _job_path(job_id)).json())

    def list(self, limit: int = 50) -> List[Job]:
        """The newest ``limit`` jobs (1 … 500), newest first. ``GET /v1/jobs?limit=N``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX:
            raise InputValidationError(f"limit: expected an integer in [1, {LIST_LIMIT_MAX}], got {limit!r}")
        data = self._client._transport.request("GET", "/v1/jobs", query={"limit": limit}).json()
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, list):
            raise DreamError("GET /v1/jobs: response has no 'jobs' list")
        return [job_record(j) for j in jobs]

    def cancel(self, job_id: str) -> Job:
        """Stop a job: rows running finish (and are billed), rows pending never start. → Job."""
        path = _job_path(job_id) + ":cancel"
        return job_record(self._client._transport.request("POST", path, body=b"{}", content_type="application/json").json())

    def wait(self, job_id: str, progress: bool = True, poll_s: float = 1.0, timeout_s: Optional[float] = None) -> Job:
        """Poll the job every ``poll_s`` until it finishes → the final Job (check ``job.state``: a job that
        FAILED or ran out of budget is returned, not raised). ``progress`` draws rows done / total;
        ``timeout_s`` raises JobTimeoutError (the job keeps running on the server)."""
        if isinstance(poll_s, bool) or not isinstance(poll_s, (int, float)) or not poll_s > 0:
            raise InputValidationError(f"poll_s: expected a number > 0, got {poll_s!r}")
        if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s < 0):
            raise InputValidationError(f"timeout_s: expected a number >= 0 or None, got {timeout_s!r}")
        started = time.monotonic()
        bar = None
        shown = 0
        try:
            while True:
                job = self.get(job_id)
                total = _int(job.get("rows_total")) or None
                if bar is None:
                    bar = progress_bar(progress, total, f"job {job_id}")
                bar.set_total(total)
                bar.set_postfix_str(f"{job.get('state')}, failed {_int(job.get('rows_failed'))}, ${job.cost_usd:.4f}")
                if job.rows_finished > shown:
                    bar.update(job.rows_finished - shown)
                    shown = job.rows_finished
                if job.finished:
                    return job
                if timeout_s is not None and time.monotonic() - started >= timeout_s:
                    raise JobTimeoutError(f"job {job_id} still {job.get('state')} after {timeout_s} s "
                                          f"({job.rows_finished}/{total or '?'} rows)", job)
                self._client._transport.sleep(poll_s)
        finally:
            if bar is not None:
                bar.close()
