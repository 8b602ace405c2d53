"""Retry policy arithmetic and the adaptive rate limiter, on an injected clock."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

from spsync.api.limiter import AdaptiveRateLimiter
from spsync.api.retry import RetryPolicy, parse_retry_after


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_full_jitter_backoff_is_capped_exponential() -> None:
    top = RetryPolicy(base_delay=0.5, max_delay=5.0, random=lambda: 1.0)
    assert [top.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    low = RetryPolicy(base_delay=0.5, max_delay=5.0, random=lambda: 0.0)
    assert [low.backoff(n) for n in range(1, 4)] == [0.0, 0.0, 0.0]
    half = RetryPolicy(base_delay=0.5, max_delay=5.0, random=lambda: 0.5)
    assert half.backoff(3) == 1.0
    # Retry-After is a floor, never shortened by jitter
    assert half.delay(3, retry_after=7.0) == 7.0
    assert half.delay(3, retry_after=0.2) == 1.0


def test_parse_retry_after() -> None:
    now = datetime(2027, 3, 1, 14, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Mon, 01 Mar 2027 14:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Mon, 01 Mar 2027 13:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_limiter_paces_at_its_rate() -> None:
    t = FakeTime()
    limiter = AdaptiveRateLimiter(10.0, clock=t.clock, sleep=t.sleep, burst=0.1)

    async def go() -> None:
        for _ in range(21):
            await limiter.acquire()

    asyncio.run(go())
    # one token in the bucket at start, then one every 1/10 s
    assert math.isclose(t.now, 2.0, abs_tol=1e-9)


def test_limiter_aimd() -> None:
    t = FakeTime()
    limiter = AdaptiveRateLimiter(
        20.0, clock=t.clock, sleep=t.sleep, decrease=0.5, increase=1.0, cooldown=1.0
    )
    limiter.on_throttled()
    assert limiter.rate == 10.0
    limiter.on_throttled()  # same burst of refusals: counted once
    assert limiter.rate == 10.0 and limiter.throttled == 2 and limiter.decreases == 1
    t.now += 1.5
    limiter.on_throttled()
    assert limiter.rate == 5.0
    for _ in range(5):  # five successes at 5/s: about one second's worth
        limiter.on_success()
    assert 5.9 < limiter.rate < 6.0
    for _ in range(100):
        limiter.on_throttled()
        t.now += 2
    assert limiter.rate == limiter.min_rate


def test_limiter_retry_after_pauses_everyone() -> None:
    t = FakeTime()
    limiter = AdaptiveRateLimiter(100.0, clock=t.clock, sleep=t.sleep)
    limiter.on_throttled(retry_after=3.0)

    async def go() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(3)))

    asyncio.run(go())
    assert t.now >= 3.0
    assert limiter.rate == 50.0


def test_unlimited_limiter_learns_its_rate_from_throughput() -> None:
    t = FakeTime()
    limiter = AdaptiveRateLimiter(None, clock=t.clock, sleep=t.sleep, window=2.0)
    assert limiter.rate == math.inf

    async def go() -> None:
        for _ in range(40):  # 40 starts over 1 s: 40/s observed
            await limiter.acquire()
            t.now += 0.025

    asyncio.run(go())
    assert t.sleeps == []
    limiter.on_throttled()
    assert math.isclose(limiter.rate, 20.0, rel_tol=0.05)
