"""client.predict_many (many predicts from this process) and client.estimate_cost (the price first).

predict_many runs one predict per row of a source over the REST predict endpoint, ``concurrency`` rows
in flight on worker threads, and hands each row's outcome to a sink exactly once. Request ids are
deterministic: row i of run R is first sent as ``R-row-<i>`` (a job's rows are ``job-<id>-row-<i>``). What a retry sends depends on what the
failed attempt told us, so that no row is ever billed twice:

- the server answered with a retryable reason (RATE_LIMITED, UNAVAILABLE, DEADLINE_EXCEEDED): that
  request is over and settled (refused, voided, or billed only for frames it made), and the server
  refuses a used id (docs/API.md), so the retry is a new request, ``R-row-<i>-r<n>`` (n = 1, 2, …, as
  the server's jobs name their rows' retries);
- no answer at all (TransportError): the request may have run, so the retry repeats the same id; if it
  did run, the server answers 400 "request_id already used" and the row is reported failed — never
  run or billed a second time.

Each attempt is a single HTTP request (the client's RetryPolicy supplies the backoff, not the attempt
count), so ``retries`` is the one knob for how often a row is tried again.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ._progress import progress_bar
from .errors import DreamError, InputValidationError, RateLimitError, TransportError
from .io import DirSink, RolloutSink, Row, RowResult, as_source, source_len
from .models import ModelHandle, check_priority

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BulkSummary", "CostEstimate", "RowError", "predict_many", "estimate_cost", "CONCURRENCY_MAX",
           "RETRIES_MAX"]

#: Rows in flight at once, at most (each is a thread and an open request).
CONCURRENCY_MAX = 64
#: Retries of one row, at most.
RETRIES_MAX = 10
#: A run id leaves room in the server's 64-byte request id for "-row-<index>-r<n>".
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,40}$")
OUTPUTS = ("MP4", "PNG", "JPEG")
MICROS_PER_USD = 1_000_000


@dataclass(frozen=True)
class CostEstimate:
    """What a source would cost on a model before anything runs: rows, frames (K × (T+1) per row)."""

    model: str
    rows: int
    frames: int
    price_per_frame_micros: int
    cost_micros: int

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / MICROS_PER_USD


@dataclass(frozen=True)
class RowError:
    row: int
    name: str
    request_id: Optional[str]
    reason: Optional[str]
    message: str
    attempts: int


@dataclass
class BulkSummary:
    """What predict_many did. ``cost_micros`` is what the server reported charging for the rows done."""

    run_id: str
    model: str
    rows_total: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    #: Not run: the budget would have been passed.
    rows_skipped: int = 0
    #: Not run: the sink already had them done (RolloutSink.dir(..., resume=True)).
    rows_already_done: int = 0
    frames: int = 0
    cost_micros: int = 0
    retries: int = 0
    wall_s: float = 0.0
    errors: List[RowError] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / MICROS_PER_USD

    @property
    def ok(self) -> bool:
        return self.rows_failed == 0 and self.rows_skipped == 0


def resolve_model(client: "Client", model: Any) -> ModelHandle:
    if isinstance(model, ModelHandle):
        return model
    inner = getattr(model, "_handle", None)  # AsyncModelHandle
    if isinstance(inner, ModelHandle):
        return inner
    if isinstance(model, str):
        return client.models.get(model)
    raise InputValidationError(f"model: expected a slug or a ModelHandle, got {type(model).__name__}")


def price_per_frame_micros(handle: ModelHandle) -> int:
    pricing = handle.spec.get("pricing") or {}
    micros = pricing.get("price_per_frame_micros")
    if isinstance(micros, int) and not isinstance(micros, bool):
        return micros
    usd = pricing.get("price_per_frame_usd")
    if isinstance(usd, (int, float)) and not isinstance(usd, bool):
        return int(round(usd * MICROS_PER_USD))
    raise DreamError(f"model {handle.slug}: its spec has no pricing.price_per_frame_micros")


def budget_micros_of(budget_usd: Optional[float], budget_micros: Optional[int]) -> Optional[int]:
    if budget_usd is not None and budget_micros is not None:
        raise InputValidationError("pass budget_usd= or budget_micros=, not both")
    if budget_micros is not None:
        if isinstance(budget_micros, bool) or not isinstance(budget_micros, int) or budget_micros <= 0:
            raise InputValidationError(f"budget_micros: expected a positive integer, got {budget_micros!r}")
        return budget_micros
    if budget_usd is not None:
        if isinstance(budget_usd, bool) or not isinstance(budget_usd, (int, float)) or not budget_usd > 0:
            raise InputValidationError(f"budget_usd: expected a positive number, got {budget_usd!r}")
        return int(round(budget_usd * MICROS_PER_USD))
    return None


def _check_row_fits(row: Row, handle: ModelHandle) -> None:
    if row.action_dim != handle.action_dim:
        raise InputValidationError(
            f"row {row.index} ({row.name}) actions: model {handle.slug} expects action_dim {handle.action_dim}, "
            f"got shape {tuple(row.shape)}"
        )


def estimate_cost(client: "Client", source: Any, model: Any) -> CostEstimate:
    """Rows, frames and price of ``source`` on ``model`` (its catalog pricing), before anything runs.

    A server configured to round each debit up to the cent charges up to 9,999 micros more per row.
    """
    handle = resolve_model(client, model)
    price = price_per_frame_micros(handle)
    rows = frames = 0
    for row in as_source(source):
        _check_row_fits(row, handle)
        rows += 1
        frames += row.frames
    return CostEstimate(handle.slug, rows, frames, price, frames * price)


# ---------------------------------------------------------------------------------------------
# predict_many
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Options:
    output: str
    priority: Optional[str]
    num_steps: Optional[int]
    guidance: Optional[float]
    seed: int
    retries: int


def _retryable(exc: DreamError, client: "Client") -> bool:
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, InputValidationError) or exc.status_code is None:
        return False
    return client.retry_policy.should_retry_status(exc.status_code, exc.reason)


def _micros_of_usd(usd: float) -> int:
    return int(round(usd * MICROS_PER_USD))


def _run_once(handle: ModelHandle, row: Row, request_id: str, o: _Options) -> RowResult:
    batch = len(row.shape) == 3
    if o.output == "MP4":
        kwargs = dict(start_frame=row.start, actions=row.actions, num_steps=o.num_steps, guidance=o.guidance,
                      seed=o.seed, request_id=request_id, priority=o.priority)
        if batch:
            b = handle.predict_batch(**kwargs)
            return RowResult(row.index, row.name, b.request_id or request_id, b.num_frames or row.frames,
                             _micros_of_usd(b.cost_usd), "done", encoding="MP4", media=[r.mp4_bytes for r in b])
        r = handle.predict(**kwargs)
        return RowResult(row.index, row.name, r.request_id or request_id, r.num_frames or row.frames,
                         _micros_of_usd(r.cost_usd), "done", encoding="MP4", media=[r.mp4_bytes])
    frames, summary = handle._predict_frames(batch, row.start, row.actions, o.num_steps, o.guidance, o.seed,
                                             o.output, request_id, o.priority)
    cost = summary.get("cost") or {}
    micros = cost.get("micros")
    return RowResult(row.index, row.name, summary.get("request_id") or request_id,
                     int(summary.get("frames") or sum(len(f) for f in frames)),
                     int(micros) if micros is not None else 0, "done", encoding=o.output, media=frames)


def _run_row(client: "Client", handle: ModelHandle, row: Row, base_id: str, o: _Options) -> RowResult:
    """One row to its end: done, or failed after its retries. Never raises a DreamError."""
    transport = client._transport
    request_id = base_id
    attempt = 1
    generation = 0
    while True:
        try:
            result = _run_once(handle, row, request_id, o)
            result.attempts = attempt
            return result
        except DreamError as exc:
            message = str(exc)
            if getattr(exc, "field", None) == "request_id" and exc.status_code == 400:
                message += (" — an earlier attempt of this row reached the server (its reply was lost), so it was "
                            "not run again; it may have been billed once: see billing.transactions()")
            retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
            give_up = (attempt > o.retries or not _retryable(exc, client)
                       or (retry_after is not None and retry_after > client.retry_policy.retry_after_max_s))
            if give_up:
                return RowResult(row.index, row.name, request_id, 0, 0, "failed", error=message, encoding=o.output,
                                 reason=exc.reason, attempts=attempt)
            delay = retry_after if retry_after is not None else client.retry_policy.backoff_s(attempt, transport.rng)
            transport.sleep(delay)
            attempt += 1
            if not isinstance(exc, TransportError):
                generation += 1
                request_id = f"{base_id}-r{generation}"


def _single_attempt_twin(client: "Client") -> "Client":
    """The same client with one HTTP attempt per call: predict_many owns the retries (and their ids)."""
    from .client import Client

    twin = Client(api_key=client.api_key, base_url=client.base_url, timeout_s=client.timeout_s,
                  retry_policy=dataclasses.replace(client.retry_policy, max_attempts=1))
    twin._transport.sleep = client._transport.sleep
    twin._transport.rng = client._transport.rng
    return twin


class _NoSink(RolloutSink):
    def write(self, result: RowResult) -> None:
        pass


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputValidationError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def predict_many(client: "Client", source: Any, sink: Any = None, *, model: Any, concurrency: int = 4,
                 progress: bool = True, retries: int = 3, run_id: Optional[str] = None,
                 priority: Optional[str] = "BATCH", output: str = "MP4", num_steps: Optional[int] = None,
                 guidance: Optional[float] = None, seed: int = 0, budget_usd: Optional[float] = None,
                 budget_micros: Optional[int] = None) -> BulkSummary:
    concurrency = _check_int("concurrency", concurrency, 1, CONCURRENCY_MAX)
    retries = _check_int("retries", retries, 0, RETRIES_MAX)
    if run_id is None:
        run_id = f"pm-{uuid.uuid4().hex[:20]}"
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InputValidationError(f"run_id: expected 1-40 characters of [A-Za-z0-9._:-], got {run_id!r}")
    if not isinstance(output, str) or output.upper() not in OUTPUTS:
        raise InputValidationError(f"output: expected one of {', '.join(OUTPUTS)}, got {output!r}")
    options = _Options(output.upper(), check_priority(priority), num_steps, guidance, seed, retries)
    budget = budget_micros_of(budget_usd, budget_micros)
    src = as_source(source)

    handle = resolve_model(client, model)
    handle._ensure_active()
    price = price_per_frame_micros(handle)
    twin = _single_attempt_twin(client)
    row_handle = ModelHandle(twin, handle.spec)

    own_sink = sink is None or isinstance(sink, (str, os.PathLike))
    the_sink: RolloutSink = _NoSink() if sink is None else DirSink(os.fspath(sink)) if own_sink else sink
    if not isinstance(the_sink, RolloutSink):
        raise InputValidationError(f"sink: expected RolloutSink.dir(path), a path or None, got {type(sink).__name__}")
    skip = the_sink.done_rows()

    summary = BulkSummary(run_id=run_id, model=handle.slug)
    started = time.monotonic()
    bar = progress_bar(progress, source_len(src), f"predict_many {handle.slug}")
    in_flight: Dict["futures.Future[RowResult]", Tuple[Row, int]] = {}
    pending_micros = 0

    def record(result: RowResult) -> None:
        the_sink.write(result)
        summary.rows_total += 1
        summary.retries += max(0, result.attempts - 1)
        if result.state == "done":
            summary.rows_done += 1
            summary.frames += result.frames
            summary.cost_micros += result.cost_micros
        elif result.state == "skipped":
            summary.rows_skipped += 1
        else:
            summary.rows_failed += 1
            summary.errors.append(RowError(result.row, result.name, result.request_id, result.reason,
                                           result.error or "", result.attempts))
        bar.update(1)
        bar.set_postfix_str(f"failed {summary.rows_failed}, ${summary.cost_usd:.4f}")

    pool = futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dream-predict-many")
    rows_iter = iter(src)
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < concurrency:
                row = next(rows_iter, None)
                if row is None:
                    exhausted = True
                    break
                if row.index in skip:
                    summary.rows_already_done += 1
                    summary.rows_total += 1
                    bar.update(1)
                    continue
                estimate = row.frames * price
                if budget is not None and summary.cost_micros + pending_micros + estimate > budget:
                    record(RowResult(row.index, row.name, None, 0, 0, "skipped", encoding=options.output,
                                     error=f"budget: {budget} micros would be passed (this row is priced {estimate})"))
                    continue
                pending_micros += estimate
                future = pool.submit(_run_row, twin, row_handle, row, f"{run_id}-row-{row.index}", options)
                in_flight[future] = (row, estimate)
            if not in_flight:
                break
            done, _ = futures.wait(list(in_flight), return_when=futures.FIRST_COMPLETED)
            for future in done:
                _, estimate = in_flight.pop(future)
                pending_micros -= estimate
                record(future.result())
    except BaseException:
        # Rows already sent run (and are billed) anyway: record their outcomes before giving up.
        for future in list(in_flight):
            if future.cancel():
                continue
            try:
                the_sink.write(future.result())
            except BaseException:
                pass
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
        the_sink.close()  # a sink serves one run: its files are complete and synced once this returns
        summary.wall_s = time.monotonic() - started
    return summary
