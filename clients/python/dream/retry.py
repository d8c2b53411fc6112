"""When and how long to retry.

Retried: 429 (honouring Retry-After), 502, 503, 504 and transport errors (no HTTP answer at all).
Never retried: 401/403, any other 4xx, 500 (an engine failure after admission would fail again and
the user should see it), and 503 MODEL_UNAVAILABLE (weights not installed: not fixed by waiting).
Backoff is exponential from ``base_delay_s``, capped at ``max_delay_s``, with "equal jitter" (half
fixed, half random) so a herd of clients spreads out without ever retrying instantly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["RetryPolicy"]

_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_NEVER_RETRY_REASONS = frozenset({"MODEL_UNAVAILABLE"})


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
        return status in _RETRYABLE_STATUS and reason not in _NEVER_RETRY_REASONS

    def backoff_s(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number ``retry_number`` (1 = the first retry)."""
        delay = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, retry_number - 1)))
        if self.jitter:
            delay = delay / 2 + rng() * delay / 2
        return delay
