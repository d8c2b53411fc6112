"""Client (blocking) and AsyncClient (asyncio).

AsyncClient runs the blocking client's calls in the default thread executor (``run_in_executor``) rather than
reimplementing HTTP on asyncio: the SDK stays stdlib-only and both clients behave identically. Each
in-flight call occupies one thread of the default executor while it waits on the network.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import urllib.parse
from typing import Any, Callable, List, Optional, TypeVar

from ._http import Transport
from ._records import Record, record
from .billing import Billing
from .bulk import BulkSummary, CostEstimate
from .bulk import estimate_cost as _estimate_cost
from .bulk import predict_many as _predict_many
from .errors import AuthError, DreamError, InputValidationError
from .jobs import Job, Jobs
from .models import ModelHandle, Models
from .planning import Plan
from .retry import RetryPolicy
from .rollout import BatchRollout, Rollout
from .sessions import Session, SessionSummary, Sessions, Step

__version__ = "0.1.0"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"

T = TypeVar("T")


def _env_key() -> Optional[str]:
    # DREAM_API_KEY wins; DREAM_ENGINE_API_KEY is the legacy name.
    for name in ("DREAM_API_KEY", "DREAM_ENGINE_API_KEY"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class Client:
    """Blocking client. No network call happens in the constructor."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, timeout_s: float = 300.0,
                 retry_policy: RetryPolicy = RetryPolicy()) -> None:
        self.api_key = api_key or _env_key()
        self.base_url = (base_url or os.environ.get("DREAM_BASE_URL", "").strip() or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not timeout_s or timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.retry_policy = retry_policy
        self._transport = Transport(self.base_url, self.api_key, self.timeout_s, retry_policy,
                                    user_agent=f"dream-python/{__version__}")
        self.models = Models(self)
        self.billing = Billing(self)
        self.sessions = Sessions(self)
        self.jobs = Jobs(self)

    def __repr__(self) -> str:
        key = f"{self.api_key[:8]}…" if self.api_key else None
        return f"<dream.Client base_url={self.base_url!r} api_key={key!r}>"

    def _require_key(self, what: str) -> None:
        if not self.api_key:
            raise AuthError(f"{what} needs an API key: pass api_key= or set DREAM_API_KEY", reason="UNAUTHENTICATED")

    def status(self) -> Record:
        """Rolling per-model and overall request counts, error rates, latencies, queue depth."""
        return record(self._transport.request("GET", "/v1/status").json())

    def cancel(self, request_id: str, candidates: "Optional[List[int]]" = None) -> Record:
        """Cancel candidates of a running request (None: the whole request) → cancelled, still_running.

        Only generated frames are billed. An unknown or finished request raises DreamError with
        reason NOT_FOUND (HTTP 404).
        """
        if not isinstance(request_id, str) or not request_id:
            raise InputValidationError(f"request_id: expected a non-empty string, got {request_id!r}")
        indices = [] if candidates is None else list(candidates)
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in indices):
            raise InputValidationError(f"candidates: expected non-negative integers or None, got {candidates!r}")
        path = f"/v1/requests/{urllib.parse.quote(request_id, safe='')}/cancel"
        body = json.dumps({"candidate_indices": indices}).encode()
        return record(self._transport.request("POST", path, body=body, content_type="application/json").json())

    def predict_many(self, source: Any, sink: Any = None, *, model: Any, concurrency: int = 4, progress: bool = True,
                     retries: int = 3, run_id: Optional[str] = None, priority: Optional[str] = "BATCH",
                     output: str = "MP4", num_steps: Optional[int] = None, guidance: Optional[float] = None,
                     seed: int = 0, budget_usd: Optional[float] = None,
                     budget_micros: Optional[int] = None) -> BulkSummary:
        """One predict per row of ``source``, ``concurrency`` rows in flight, each outcome to ``sink`` once.

        ``source``: ``dream.io.frames_from_dir(path)`` (or the path itself), or in-memory rows
        (``dream.io.rows(...)`` / an iterable of (name, start, actions)); a row with (K, T, A) actions
        runs predict_batch. ``sink``: ``dream.io.RolloutSink.dir(path)`` (or the path), any RolloutSink,
        or None (only the summary); it is closed when this returns. ``model``: a slug or a ModelHandle. A row failing with a retryable
        reason (or no answer) is retried up to ``retries`` times; request ids derive from ``run_id``
        (default: a fresh one, in the summary) and the row index, so no row is billed twice (see
        dream/bulk.py). ``priority`` BATCH by default, so bulk work never delays control loops.
        ``output``: "MP4" (default), "PNG" or "JPEG" (frame files). The budget stops sending rows once
        their price would pass it (the rest are "skipped"). ``progress``: a bar on stderr (tqdm when
        installed). → BulkSummary (rows done/failed/skipped, frames, cost, per-row errors).
        """
        return _predict_many(self, source, sink, model=model, concurrency=concurrency, progress=progress,
                             retries=retries, run_id=run_id, priority=priority, output=output, num_steps=num_steps,
                             guidance=guidance, seed=seed, budget_usd=budget_usd, budget_micros=budget_micros)

    def estimate_cost(self, source: Any, model: Any) -> CostEstimate:
        """Rows, frames (K × (T+1) per row) and price (micros, USD) of ``source`` on ``model``, from the
        model's catalog pricing (``GET /v1/models/{slug}`` unless a ModelHandle is given); nothing runs."""
        return _estimate_cost(self, source, model)

    def healthz(self) -> Record:
        """Liveness/readiness. A not-ready server (503 with a health body) is returned, not raised."""
        try:
            return record(self._transport.request("GET", "/healthz", retry=False).json())
        except DreamError as exc:
            body = exc.body
            if exc.status_code == 503 and isinstance(body, dict) and "status" in body and "error" not in body:
                return record(body)
            raise

    def close(self) -> None:
        """Nothing to release (no pooled connections); here for symmetry and `with` blocks."""

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# asyncio mirror
# ---------------------------------------------------------------------------------------------

async def _in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))


class AsyncModelHandle:
    def __init__(self, handle: ModelHandle) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Any:  # slug, active, spec, action_dim, resolution, ...
        return getattr(self._handle, name)

    def __repr__(self) -> str:
        return repr(self._handle).replace("<ModelHandle", "<AsyncModelHandle", 1)

    async def predict(self, *args: Any, **kwargs: Any) -> Rollout:
        return await _in_thread(self._handle.predict, *args, **kwargs)

    async def predict_batch(self, *args: Any, **kwargs: Any) -> BatchRollout:
        return await _in_thread(self._handle.predict_batch, *args, **kwargs)

    async def predict_frames(self, *args: Any, **kwargs: Any) -> Any:
        return await _in_thread(self._handle.predict_frames, *args, **kwargs)

    async def plan(self, *args: Any, **kwargs: Any) -> Plan:
        return await _in_thread(self._handle.plan, *args, **kwargs)

    async def rank(self, *args: Any, **kwargs: Any) -> Plan:
        return await _in_thread(self._handle.rank, *args, **kwargs)


class AsyncSession:
    """asyncio mirror of Session (``async with await client.sessions.create(...) as s``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:  # session_id, model, ttl_s, execute_steps, steps, closed
        return getattr(self._session, name)

    async def step(self, *args: Any, **kwargs: Any) -> Step:
        return await _in_thread(self._session.step, *args, **kwargs)

    async def close(self) -> SessionSummary:
        return await _in_thread(self._session.close)

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncSessions:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def create(self, model: Any, *args: Any, **kwargs: Any) -> AsyncSession:
        if isinstance(model, AsyncModelHandle):
            model = model._handle
        return AsyncSession(await _in_thread(self._sessions.create, model, *args, **kwargs))


class AsyncModels:
    def __init__(self, models: Models) -> None:
        self._models = models

    async def list(self) -> List[AsyncModelHandle]:
        return [AsyncModelHandle(h) for h in await _in_thread(self._models.list)]

    async def get(self, slug: str) -> AsyncModelHandle:
        return AsyncModelHandle(await _in_thread(self._models.get, slug))


class AsyncBilling:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def balance(self) -> Record:
        return await _in_thread(self._billing.balance)

    async def topup(self, amount_usd: float) -> Record:
        return await _in_thread(self._billing.topup, amount_usd)

    async def transactions(self, limit: int = 50) -> List[Record]:
        return await _in_thread(self._billing.transactions, limit)


class AsyncJobs:
    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs

    async def create(self, model: Any, *args: Any, **kwargs: Any) -> Job:
        if isinstance(model, AsyncModelHandle):
            model = model._handle
        return await _in_thread(self._jobs.create, model, *args, **kwargs)

    async def get(self, job_id: str) -> Job:
        return await _in_thread(self._jobs.get, job_id)

    async def list(self, limit: int = 50) -> List[Job]:
        return await _in_thread(self._jobs.list, limit)

    async def cancel(self, job_id: str) -> Job:
        return await _in_thread(self._jobs.cancel, job_id)

    async def wait(self, job_id: str, *args: Any, **kwargs: Any) -> Job:
        return await _in_thread(self._jobs.wait, job_id, *args, **kwargs)


class AsyncClient:
    """asyncio mirror of Client; each call runs the blocking client in a worker thread."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, timeout_s: float = 300.0,
                 retry_policy: RetryPolicy = RetryPolicy()) -> None:
        self._sync = Client(api_key=api_key, base_url=base_url, timeout_s=timeout_s, retry_policy=retry_policy)
        self.api_key = self._sync.api_key
        self.base_url = self._sync.base_url
        self.models = AsyncModels(self._sync.models)
        self.billing = AsyncBilling(self._sync.billing)
        self.sessions = AsyncSessions(self._sync.sessions)
        self.jobs = AsyncJobs(self._sync.jobs)

    @property
    def sync_client(self) -> Client:
        return self._sync

    async def status(self) -> Record:
        return await _in_thread(self._sync.status)

    async def cancel(self, request_id: str, candidates: Optional[List[int]] = None) -> Record:
        return await _in_thread(self._sync.cancel, request_id, candidates)

    async def healthz(self) -> Record:
        return await _in_thread(self._sync.healthz)

    async def predict_many(self, source: Any, sink: Any = None, **kwargs: Any) -> BulkSummary:
        """Client.predict_many in a worker thread (its rows run on their own threads)."""
        return await _in_thread(self._sync.predict_many, source, sink, **kwargs)

    async def estimate_cost(self, source: Any, model: Any) -> CostEstimate:
        if isinstance(model, AsyncModelHandle):
            model = model._handle
        return await _in_thread(self._sync.estimate_cost, source, model)

    async def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
