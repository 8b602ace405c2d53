"""Retry policy: how often, and how long to wait before the next attempt.

Which failures are retried is decided in ``retry_decision`` (pure, table-tested).

Backoff is exponential with *full jitter* (a uniformly random wait between 0 and the
exponential cap), which spreads the retries of many concurrent callers instead of letting
them hit the server again in lock-step. A ``Retry-After`` header is a floor: the client
never comes back earlier than the server asked.

Clock, sleep and random source are injectable so tests run without real waiting.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from spsync.api.retry_decision import RETRYABLE_5XX, Safety

__all__ = ["RETRYABLE_5XX", "RetryPolicy", "Safety", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one API call.

    ``max_attempts`` counts every HTTP attempt (the first included); ``max_elapsed`` caps
    the wall time from the first attempt, waits included: a retry whose wait would end
    after it is not made. ``base_delay`` doubles per attempt up to ``max_delay``.
    """

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0
    max_elapsed: float = 120.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return self.random() * cap

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt; at least ``retry_after`` when the server gave one."""
        wait = self.backoff(attempt)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns ``None`` for a missing or unreadable header (the backoff then applies alone);
    negative values and dates in the past give 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN / inf: unreadable
        return None
    return max(0.0, seconds)
