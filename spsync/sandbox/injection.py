"""Misbehaviour on purpose: injected faults and a rate limit, as a real SaaS shows them."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Every kind of injected fault: answer 500 or 503 (the service's JSON error body), answer
#: 502 or 504 (an HTML page, as a load balancer in front of a service answers), drop the
#: connection unanswered, or stall without answering (the client times out).
ALL_FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "504", "drop", "timeout")
#: The kinds injected unless others are chosen. Kept as they were first released: seeded
#: fault sequences (``seed``) that tests rely on depend on this tuple.
FAULT_KINDS: tuple[str, ...] = ("500", "503", "drop")
#: When: before the request has any effect, or after (the change happened, the answer is lost).
FAULT_PHASES: tuple[str, ...] = ("before", "after")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    phase: str


class FaultInjector:
    """Decides, request by request, whether and how to misbehave.

    A fraction ``rate`` of requests get a fault, its kind (one of ``kinds``, by default
    ``FAULT_KINDS``) and phase picked uniformly. With a ``seed`` the sequence of decisions is
    reproducible (in request arrival order).
    """

    def __init__(
        self,
        rate: float = 0.0,
        *,
        seed: int | None = None,
        kinds: tuple[str, ...] = FAULT_KINDS,
        phases: tuple[str, ...] = FAULT_PHASES,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        bad = [k for k in kinds if k not in ALL_FAULT_KINDS] + [
            p for p in phases if p not in FAULT_PHASES
        ]
        if bad or not kinds or not phases:
            raise ValueError(f"bad fault kinds/phases: {bad}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.phases = phases
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def draw(self) -> Fault | None:
        """The fault for the next request, or ``None``."""
        if self.rate <= 0.0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            self.injected += 1
            return Fault(self._rng.choice(self.kinds), self._rng.choice(self.phases))


class RateLimiter:
    """A token bucket: ``rate`` requests per second on average, bursts up to ``burst``.

    ``take()`` returns 0 when the request may proceed, else the whole seconds (at least 1) a
    client should wait: the ``Retry-After`` value.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate limit must be greater than 0")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - self._tokens) / self.rate))


def parse_fault_kinds(text: str) -> tuple[str, ...]:
    """``"502,504,timeout"`` → ``("502", "504", "timeout")``; ``ValueError`` naming any kind
    not in ``ALL_FAULT_KINDS``."""
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    bad = [k for k in kinds if k not in ALL_FAULT_KINDS]
    if bad or not kinds:
        raise ValueError(
            f"unknown fault kind {', '.join(bad) or '(none given)'}; choose from "
            f"{', '.join(ALL_FAULT_KINDS)}"
        )
    return kinds
