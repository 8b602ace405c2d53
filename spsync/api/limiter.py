"""An adaptive client-side rate limiter: a token bucket whose rate follows the server.

The rate falls multiplicatively when the server says 429 and climbs back additively while
calls succeed (AIMD, as in TCP congestion control), so a large apply settles just under the
server's limit instead of alternating between bursts and back-offs. A ``Retry-After``
pauses every caller, not only the one that was refused: they would all be refused too.

Started without a rate, the limiter lets everything through until the first 429, then sets
its rate from the throughput it measured just before (times the decrease factor): the
calls the server accepted, when it accepted any in the last ``window`` seconds (what it
refused is not throughput), else the calls started.

The API client also keeps a window of calls in flight (``spsync.api.window``), which makes
the main cut on a 429; its limiter is built with a gentle decrease, as a cap just under
what got through and as the keeper of ``Retry-After`` pauses.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable


class AdaptiveRateLimiter:
    """Token bucket with AIMD rate control.

    ``rate``: requests per second, or ``None`` (unlimited until the first 429).
    ``decrease``: factor applied to the rate on a 429 (at most once per ``cooldown``
    seconds, so one burst of refusals counts as one signal).
    ``increase``: requests/second gained per second of successful calls (each success adds
    ``increase / rate``), or ``growth`` times the rate when that is more (at hundreds of
    requests a second, one more a second would take minutes to recover from a cut).
    ``burst``: seconds' worth of tokens the bucket holds (at least one token).
    ``max_pause``: the longest ``Retry-After`` that holds every caller; one asking for
    more (days, from a broken or hostile server) holds no one: the call that met it gives
    up, as its wait would end past its budget, and the others learn for themselves.
    """

    def __init__(
        self,
        rate: float | None = None,
        *,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        decrease: float = 0.5,
        increase: float = 1.0,
        growth: float = 0.02,
        cooldown: float = 1.0,
        burst: float = 0.25,
        window: float = 2.0,
        max_pause: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        self._rate = math.inf if rate is None else float(rate)
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.decrease = decrease
        self.increase = increase
        self.growth = growth
        self.cooldown = cooldown
        self.burst = burst
        self.window = window
        self.max_pause = max_pause
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._capacity()
        self._stamp = clock()
        self._paused_until = -math.inf
        self._last_decrease = -math.inf
        self._recent: deque[float] = deque()
        self._accepted: deque[float] = deque()
        self._lock = asyncio.Lock()
        #: counters, for tests and benchmarks
        self.throttled = 0
        self.decreases = 0
        self.waited = 0.0

    @property
    def rate(self) -> float:
        """Current rate in requests per second (``math.inf`` when unlimited)."""
        return self._rate

    def _capacity(self) -> float:
        if math.isinf(self._rate):
            return math.inf
        return max(1.0, self._rate * self.burst)

    def _refill(self, now: float) -> None:
        if math.isinf(self._rate):
            self._tokens = math.inf
        else:
            gained = max(0.0, now - self._stamp) * self._rate
            self._tokens = min(self._capacity(), self._tokens + gained)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until one request may start."""
        async with self._lock:  # FIFO: callers start in the order they asked
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._wait(self._paused_until - now)
                    continue
                self._refill(now)
                # a hair of tolerance: float refills can land at 0.99999… forever
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    self._note_start(now)
                    return
                await self._wait((1.0 - self._tokens) / self._rate)

    async def _wait(self, seconds: float) -> None:
        self.waited += seconds
        await self._sleep(seconds)

    def _note_start(self, now: float) -> None:
        self._recent.append(now)
        while self._recent and self._recent[0] < now - self.window:
            self._recent.popleft()

    def _measured_rate(self, now: float) -> float:
        for stamps in (self._recent, self._accepted):
            while stamps and stamps[0] < now - self.window:
                stamps.popleft()
        stamps = self._accepted or self._recent
        if not stamps:
            return self.min_rate
        # over the span actually observed (a short run has not filled the window), but not
        # less than half a second, so a handful of simultaneous starts is not read as a
        # huge rate
        span = max(now - stamps[0], 0.5)
        return len(stamps) / span

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 503 with ``Retry-After``), unless that is
        more than ``max_pause``; the rate is unchanged."""
        if seconds > self.max_pause:
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def on_throttled(self, retry_after: float | None = None) -> None:
        """The server answered 429: slow down, and pause everyone for ``retry_after``."""
        now = self._clock()
        self.throttled += 1
        if retry_after:
            self.pause(retry_after)
        if now - self._last_decrease < self.cooldown:
            return
        self._last_decrease = now
        self.decreases += 1
        current = self._measured_rate(now) if math.isinf(self._rate) else self._rate
        self._refill(now)
        self._rate = max(self.min_rate, current * self.decrease)
        self._tokens = min(self._tokens, self._capacity())

    def on_success(self) -> None:
        """A call went through: grow the rate by ``max(increase, growth * rate) / rate``."""
        now = self._clock()
        self._accepted.append(now)
        while self._accepted[0] < now - self.window:
            self._accepted.popleft()
        if math.isinf(self._rate):
            return
        self._refill(now)
        self._rate += max(self.increase, self.growth * self._rate) / self._rate
        if self.max_rate is not None and self._rate > self.max_rate:
            self._rate = self.max_rate

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self._rate:.2f}/s, throttled={self.throttled})"
