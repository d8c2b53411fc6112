"""When and how long to retry.

Retried: exactly the reasons the server's ``errorTable`` marks retryable (``RETRYABLE_REASONS``,
generated into ``_reasons.py``; today RATE_LIMITED, DEADLINE_EXCEEDED, UNAVAILABLE), honouring
``Retry-After``; answers with no reason of ours (a proxy's 429, 502, 503 or 504); and transport errors
(no HTTP answer at all). Never retried: every other reason (401/403, other 4xx, 500 ENGINE_FAILURE,
503 MODEL_UNAVAILABLE and STREAM_STALLED), a reason this SDK does not know, and a reasonless 500.
Backoff is exponential from ``base_delay_s``, capped at ``max_delay_s``, with "equal jitter" (half
fixed, half random) so a herd of clients spreads out without ever retrying instantly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Optional

from ._reasons import RETRYABLE_REASONS

__all__ = ["RetryPolicy"]

#: Statuses retried when the body carries no reason (a proxy or load balancer answered, not the server).
_RETRYABLE_STATUS_WITHOUT_REASON = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    jitter: bool = True
    #: A Retry-After longer than this is not waited out; the error is raised at once instead.
    retry_after_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {self.max_attempts!r}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.retry_after_max_s < 0:
            raise ValueError("delays must be >= 0")

    def should_retry_status(self, status: int, reason: Optional[str] = None) -> bool:
        if reason is None:
            return status in _RETRYABLE_STATUS_WITHOUT_REASON
        return reason in RETRYABLE_REASONS

    def backoff_s(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number ``retry_number`` (1 = the first retry)."""
        delay = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, retry_number - 1)))
        if self.jitter:
            delay = delay / 2 + rng() * delay / 2
        return delay
