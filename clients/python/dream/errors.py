"""The SDK's exception hierarchy, mapped from the server's JSON error body by its ``reason``.

The server answers every error with ``{"error": {"code", "reason", "message", "request_id", ...details}}``;
``reason`` is the stable machine-readable key (see the server's ``src/core/errors.ts``), so mapping by
reason rather than by HTTP status keeps 401/403, 404-model vs 404-route and 503-retryable vs
503-not-installed apart.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from ._reasons import REASONS

__all__ = [
    "DreamError",
    "AuthError",
    "InsufficientCreditsError",
    "RateLimitError",
    "ModelNotFoundError",
    "ValidationError",
    "InputValidationError",
    "ServerError",
    "EngineError",
    "ModelNotActiveError",
    "TransportError",
    "DecoderNotFoundError",
    "error_from_response",
]


class DreamError(Exception):
    """Base class of every error the SDK raises."""

    def __init__(
        self,
        message: str,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
        body: Any = None,
        reason: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.reason = reason

    def __str__(self) -> str:
        extra = []
        if self.status_code is not None:
            extra.append(f"HTTP {self.status_code}")
        if self.reason:
            extra.append(self.reason)
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(extra)})" if extra else self.message


class AuthError(DreamError):
    """401 UNAUTHENTICATED (missing/unknown key) or 403 PERMISSION_DENIED (revoked key)."""


class InsufficientCreditsError(DreamError):
    """402: the balance does not cover the request's price. Nothing was charged."""

    def __init__(
        self,
        message: str,
        status_code: Optional[int] = 402,
        request_id: Optional[str] = None,
        body: Any = None,
        reason: Optional[str] = "INSUFFICIENT_CREDITS",
        balance_cents: Optional[int] = None,
        requested_cents: Optional[int] = None,
        balance_usd: Optional[float] = None,
        requested_usd: Optional[float] = None,
    ) -> None:
        super().__init__(message, status_code, request_id, body, reason)
        self.balance_cents = balance_cents
        self.requested_cents = requested_cents
        self.balance_usd = balance_usd
        self.requested_usd = requested_usd


class RateLimitError(DreamError):
    """429: the key's token bucket is empty. ``retry_after`` is in seconds (None if not given)."""

    def __init__(self, message: str, status_code: Optional[int] = 429, request_id: Optional[str] = None,
                 body: Any = None, reason: Optional[str] = "RATE_LIMITED", retry_after: Optional[float] = None) -> None:
        super().__init__(message, status_code, request_id, body, reason)
        self.retry_after = retry_after


class ModelNotFoundError(DreamError):
    """404 MODEL_NOT_FOUND: unknown model slug."""


class ValidationError(DreamError):
    """400 INVALID_ARGUMENT (and 413/415): the server rejected the request's inputs.

    ``field`` names the offending field as the request spells it (``"cem.elites"``,
    ``"sampling.mask[0]"``) when the server said which; None otherwise.
    """

    field: Optional[str] = None

    def __init__(self, message: str, status_code: Optional[int] = None, request_id: Optional[str] = None,
                 body: Any = None, reason: Optional[str] = None, field: Optional[str] = None) -> None:
        super().__init__(message, status_code, request_id, body, reason)
        self.field = field


class InputValidationError(ValidationError, ValueError):
    """Raised client-side, before any network call, for inputs the server would reject."""


class ServerError(DreamError):
    """5xx: the server failed or is unavailable (the RetryPolicy retries the retryable reasons)."""


class EngineError(ServerError):
    """500 ENGINE_FAILURE: the engine failed after admission; the pre-debit was refunded."""


class ModelNotActiveError(DreamError, RuntimeError):
    """The model is listed but not live (weights not installed / failed to load)."""


class TransportError(DreamError):
    """The request never got an HTTP answer (connection refused/reset, timeout), after retries."""


def _classes_by_reason() -> Mapping[str, type]:
    # The reason -> exception table is generated from the server's errorTable (see _reasons.py).
    return {reason: globals()[info.exception] for reason, info in REASONS.items()}


class DecoderNotFoundError(DreamError, RuntimeError):
    """Decoding a rollout's MP4 needs numpy and an ffmpeg ($DREAM_FFMPEG, PATH, or imageio-ffmpeg)."""


_BY_REASON = _classes_by_reason()


def _by_status(status: int) -> type:
    if status in (401, 403):
        return AuthError
    if status == 402:
        return InsufficientCreditsError
    if status == 429:
        return RateLimitError
    if status in (400, 413, 415):
        return ValidationError
    if status >= 500:
        return ServerError
    return DreamError


def _int(v: Any) -> Optional[int]:
    # int64 fields may arrive as JSON numbers or (proto3 JSON mapping) as strings.
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> Optional[float]:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    import datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> DreamError:
    """Build the right DreamError subclass from an HTTP error response."""
    parsed: Any = None
    err: Mapping[str, Any] = {}
    try:
        parsed = json.loads(body.decode("utf-8")) if body else None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
    except (UnicodeDecodeError, ValueError):
        parsed = body.decode("utf-8", "replace")[:2000] if body else None

    reason = err.get("reason") if isinstance(err.get("reason"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else None
    if not message:
        message = f"HTTP {status}" + (f": {parsed.strip()[:200]}" if isinstance(parsed, str) and parsed.strip() else "")
    request_id = err.get("request_id") or headers.get("X-DreamEngine-Request-Id")
    cls = _BY_REASON.get(reason or "") or _by_status(status)
    common = dict(status_code=status, request_id=request_id, body=parsed, reason=reason)

    if cls is InsufficientCreditsError:
        balance_cents = _int(err.get("balance_cents"))
        requested_cents = _int(err.get("requested_cents"))
        balance_usd = _float(err.get("balance_usd"))
        requested_usd = _float(err.get("requested_usd"))
        if balance_usd is None:
            micros = _int(err.get("balance_micros"))
            balance_usd = micros / 1e6 if micros is not None else (balance_cents / 100 if balance_cents is not None else None)
        if requested_usd is None:
            micros = _int(err.get("requested_micros"))
            requested_usd = micros / 1e6 if micros is not None else (requested_cents / 100 if requested_cents is not None else None)
        return InsufficientCreditsError(message, balance_cents=balance_cents, requested_cents=requested_cents,
                                        balance_usd=balance_usd, requested_usd=requested_usd, **common)
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if retry_after is None:
            retry_after = _float(err.get("retry_after_s"))
        return RateLimitError(message, retry_after=retry_after, **common)
    if issubclass(cls, ValidationError):
        field = err.get("field")
        return cls(message, field=field if isinstance(field, str) and field else None, **common)
    return cls(message, **common)
