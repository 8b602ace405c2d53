"""How many API calls may be in flight: an AIMD window, as TCP's congestion window.

A fixed number of calls in flight either wastes a slow API's capacity (at 100 ms a round
trip, 8 in flight can never pass 80 calls a second) or overruns a fast one. ``Window``
finds the number by itself, from what each answer tells it:

- **Slow start.** From ``start`` calls in flight, the window grows by one for each call
  answered while it was full (it doubles every round trip), until the first sign of
  congestion, or until doubling stops raising the throughput (three round trips in a row
  without a quarter more calls answered per second: something else, the client's own CPU
  or the server, is the bottleneck).
- **Congestion avoidance.** Then it grows by one per round trip (``1 / size`` per answer),
  and only by one per ``probe_rounds`` round trips once it is past the size at which it
  last met congestion: near a known limit it probes slowly, so an overrun is small.
- **Multiplicative decrease.** A 429 or a 503 multiplies the window by ``decrease``; so
  do two round trips in a row whose mean latency rose past ``latency_rise`` times the
  lowest seen (the server, or the client's event loop, queues calls instead of answering
  them; one slow round trip alone is more often a pause: a state compaction, a collection
  of the garbage collector). One burst of refusals is one signal: answers to calls sent
  before the last cut are ignored.
- **Bounds.** Never below ``floor`` (1) nor above ``ceiling`` (``--parallelism``).

The window only grows while it is the limit: a round trip in which fewer calls than the
window were in flight (the executor had no more work ready) leaves it as it is.

Pure: no clock, no I/O. Every event carries its own times; ``Gate`` (below) is the
asynchronous side that makes callers wait for a place in the window.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field

#: calls in flight at the start (what a fixed setting used to allow)
START = 8
#: default ceiling (``--parallelism``)
CEILING = 64


@dataclass
class Window:
    """The AIMD window on calls in flight; ``size`` is fractional, ``limit`` what is used."""

    ceiling: int = CEILING
    start: int = START
    floor: int = 1
    decrease: float = 0.7
    latency_rise: float = 2.0
    probe_rounds: int = 4
    #: round trips whose latencies make the baseline (the lowest of their means)
    baseline_rounds: int = 30
    size: float = field(init=False)
    #: the largest window used so far
    peak: int = field(init=False)
    slow_start: bool = field(init=False, default=True)
    #: the window when congestion was last met (``inf``: never)
    last_congested: float = field(init=False, default=math.inf)
    #: cuts, by cause, for reports and tests
    cuts_throttled: int = field(init=False, default=0)
    cuts_latency: int = field(init=False, default=0)
    # the round trip being measured: answers, their latency sum, most in flight, start
    _answers: int = field(init=False, default=0)
    _latency_sum: float = field(init=False, default=0.0)
    _busiest: int = field(init=False, default=0)
    _round_started: float | None = field(init=False, default=None)
    _rounds: collections.deque[float] = field(init=False)
    _best_rate: float = field(init=False, default=0.0)
    _flat_rounds: int = field(init=False, default=0)
    _since_probe: int = field(init=False, default=0)
    _slow_rounds: int = field(init=False, default=0)
    _last_cut: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("the ceiling of calls in flight must be at least 1")
        self.floor = max(1, min(self.floor, self.ceiling))
        self.size = float(max(self.floor, min(self.start, self.ceiling)))
        self.peak = self.limit
        self._rounds = collections.deque(maxlen=self.baseline_rounds)

    @property
    def limit(self) -> int:
        """Calls that may be in flight now."""
        return max(self.floor, min(self.ceiling, int(self.size)))

    @property
    def baseline(self) -> float:
        """The lowest mean latency of a recent round trip (``inf`` before the first)."""
        return min(self._rounds, default=math.inf)

    def _set(self, size: float) -> None:
        self.size = max(float(self.floor), min(float(self.ceiling), size))
        self.peak = max(self.peak, self.limit)

    def on_answer(self, sent: float, now: float, in_flight: int) -> None:
        """A call sent at ``sent`` was answered (not refused) at ``now``, while
        ``in_flight`` calls (itself included) were in flight."""
        if self._round_started is None:
            self._round_started = sent
        self._answers += 1
        self._latency_sum += max(0.0, now - sent)
        self._busiest = max(self._busiest, in_flight)
        if self._answers >= self.limit:
            self._end_round(now)

    def _end_round(self, now: float) -> None:
        assert self._round_started is not None
        answers, mean = self._answers, self._latency_sum / self._answers
        full = self._busiest >= self.limit
        span = max(now - self._round_started, 1e-6)
        self._answers, self._latency_sum, self._busiest = 0, 0.0, 0
        self._round_started = now
        baseline = self.baseline
        self._rounds.append(mean)
        if mean > self.latency_rise * baseline:
            self._slow_rounds += 1
            if self._slow_rounds >= 2 and self._last_cut < now - 2 * mean:
                # calls wait in a queue somewhere instead of being answered: back off
                self.cuts_latency += 1
                self._cut(now)
            return
        self._slow_rounds = 0
        if not full:
            return  # the window was not the limit: growing it would say nothing
        rate = answers / span
        if self.slow_start:
            if rate > 1.25 * self._best_rate:
                self._best_rate, self._flat_rounds = rate, 0
            else:
                self._flat_rounds += 1
                if self._flat_rounds >= 3:  # more in flight no longer buys throughput
                    self.slow_start = False
                    self.last_congested = self.size
                    return
            self._set(self.size * 2)
            return
        if self.size < self.last_congested:
            self._set(self.size + 1)
            return
        self._since_probe += 1
        if self._since_probe >= self.probe_rounds:
            self._since_probe = 0
            self._set(self.size + 1)

    def on_throttled(self, sent: float, now: float) -> None:
        """The server refused a call sent at ``sent`` (429, or 503): it is overrun."""
        if sent < self._last_cut:
            return  # sent before the last cut: part of the burst already answered for
        self.cuts_throttled += 1
        self._cut(now)

    def _cut(self, now: float) -> None:
        self.last_congested = self.size
        self.slow_start = False
        self._since_probe = 0
        self._slow_rounds = 0
        self._last_cut = now
        self._set(self.size * self.decrease)
        # the round trip in progress was measured with the old window: start afresh
        self._answers, self._latency_sum, self._busiest = 0, 0.0, 0
        self._round_started = None

    def describe(self) -> str:
        """``up to 24 calls in flight (ceiling 64; 2 cuts on 429/503, 0 on latency)``."""
        return (
            f"up to {self.peak} calls in flight (ceiling {self.ceiling}, {self.limit} at the "
            f"end; cut {self.cuts_throttled} times on 429/503, {self.cuts_latency} on latency)"
        )


class Gate:
    """Callers wait here, first come first served, for a place in ``window``.

    ``enter()`` takes a place; ``leave(sent, answered=..., throttled=...)`` frees it and
    tells the window what the answer to the call that entered at ``sent`` said. Neither answered
    nor throttled (a transport failure, a 5xx other than 503) tells the window nothing.
    """

    def __init__(self, window: Window, clock: Callable[[], float]) -> None:
        self.window = window
        self._clock = clock
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self) -> None:
        """Wait for a place in the window (first come, first served)."""
        if self.in_flight >= self.window.limit or self._waiters:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut.done() and not fut.cancelled():
                    self._release()  # woken, then cancelled: pass the place on
                else:
                    self._waiters.remove(fut)
                raise
        else:
            self.in_flight += 1

    def leave(self, sent: float, *, answered: bool, throttled: bool = False) -> None:
        """Free the place; an answer (or a refusal) is told to the window first."""
        now = self._clock()
        if throttled:
            self.window.on_throttled(sent, now)
        elif answered:
            self.window.on_answer(sent, now, self.in_flight)
        self._release()

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.window.limit:
            fut = self._waiters.popleft()
            if fut.cancelled():
                continue
            self.in_flight += 1  # the place is handed over before the waiter runs
            fut.set_result(None)
