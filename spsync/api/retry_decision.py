"""The retry decision: what one failed attempt of an API call leads to.

Pure: no I/O, no clock, no random source. The request loop (``calls.Caller._call``)
gathers the facts of a failed attempt into a ``Failure``, asks ``decide``, and acts: it
tells the rate limiter, reads an unknown outcome back, raises, or draws the wait
(``retry.RetryPolicy.delay``: full jitter, ``Retry-After`` as a floor) and asks
``out_of_time`` whether the call's budget of time allows it.

The rules by the call's safety (``Safety``; docs/api-client.md):

=====================  =======================  ==========================================
failure                read / idempotent write  unsafe write (schedule, reschedule, cancel)
=====================  =======================  ==========================================
connect error/timeout  retry                    retry (nothing was sent)
429 (+ Retry-After)    retry                    retry (refused before any effect)
500 / 502 / 503 / 504  retry                    read the outcome; retry only if not applied
read timeout, dropped  retry                    read the outcome; retry only if not applied
TLS failure, bug       raise                    raise
other 4xx              raise                    raise (a 400 after an unknown outcome is
                                                read first: it may be our own success)
=====================  =======================  ==========================================

A retry is made only while attempts are left (``max_attempts`` counts every attempt);
past them the call gives up, after reading an unknown outcome first (it may have landed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: how safe it is to send a request again when its outcome is unknown
#: - ``read``: no effect; always safe
#: - ``idempotent``: repeating it gives the same result (provision, assignments)
#: - ``unsafe``: repeating it may act twice (schedule) or fail confusingly (reschedule,
#:   cancel); its outcome is checked by a read before any retry
Safety = Literal["read", "idempotent", "unsafe"]

#: server errors worth another attempt. 500 INTERNALERROR is included: it is as often a
#: passing fault as a bug, and a bounded number of attempts costs little. A write that is
#: not idempotent is re-sent after a 5xx only once a read has shown it did not take effect
#: (a 5xx can come after the effect); reads and idempotent writes are simply re-sent.
RETRYABLE_5XX = frozenset({500, 502, 503, 504})

#: where a request that got no answer may have got to:
#: - ``unsent``: it never left (connect error or timeout, pool timeout, proxy refusal)
#: - ``sent``: it may have reached the server (read timeout, dropped connection, the call
#:   deadline): its outcome is unknown
#: - ``fatal``: retrying cannot help (a TLS failure, a protocol error on our side)
Reach = Literal["unsent", "sent", "fatal"]

#: what the call does next:
#: - ``raise``: the failure is final
#: - ``check``: read whether the write took effect before anything else (then ``decide``
#:   again with ``checked``, if it did not)
#: - ``retry``: send it again, after a wait, if the budget of time allows (``out_of_time``)
#: - ``give-up``: it could be retried, but no attempt is left
Step = Literal["raise", "check", "retry", "give-up"]

#: what the rate limiter learns from an answer: ``throttled`` (a 429: slow down) or
#: ``answered`` (any other answer: the server keeps up); nothing when no answer came
Signal = Literal["throttled", "answered"]


@dataclass(frozen=True)
class Failure:
    """The facts of one failed attempt: an error answer (``status``) or no answer (``reach``).

    ``attempt`` is the number of the attempt just made (1-based), ``max_attempts`` how many
    the policy allows in all. ``retry_after``: the seconds the answer's ``Retry-After``
    asked for. ``maybe_applied``: an earlier attempt of this call had an unknown outcome,
    so it may have taken effect. ``checked``: this attempt's outcome was read back and it
    did not take effect.
    """

    safety: Safety
    attempt: int
    max_attempts: int
    status: int | None = None
    reach: Reach | None = None
    retry_after: float | None = None
    maybe_applied: bool = False
    checked: bool = False

    def __post_init__(self) -> None:
        if (self.status is None) == (self.reach is None):
            raise ValueError("a failure has either an answer's status or a reach, not both")
        if self.status is not None and 200 <= self.status < 300:
            raise ValueError(f"status {self.status} is not a failure")


@dataclass(frozen=True)
class Decision:
    """What the call does next (``step``), and what the rate limiter is told first:
    ``signal`` and ``pause`` (a 503 with ``Retry-After`` holds every call that long)."""

    step: Step
    signal: Signal | None = None
    pause: float | None = None


def decide(failure: Failure) -> Decision:
    """What ``failure`` leads to; see the module's table."""
    signal, pause = _limiter_news(failure)
    retryable, unknown = _nature(failure)
    if unknown and not failure.checked:
        return Decision("check", signal, pause)
    if not retryable:
        return Decision("raise", signal, pause)
    if failure.attempt >= failure.max_attempts:
        return Decision("give-up", signal, pause)
    return Decision("retry", signal, pause)


def out_of_time(elapsed: float, wait: float, max_elapsed: float) -> bool:
    """Whether a retry after ``wait`` seconds would start past the call's budget of time
    (``max_elapsed`` seconds from its first attempt, ``elapsed`` of them gone)."""
    return elapsed + wait > max_elapsed


def _nature(failure: Failure) -> tuple[bool, bool]:
    """``(retryable, outcome unknown)`` of ``failure``, attempts and time aside."""
    unsafe = failure.safety == "unsafe"
    status = failure.status
    if status is None:
        if failure.reach == "fatal":
            return False, False
        return True, failure.reach == "sent" and unsafe
    if status == 429:  # refused before any effect
        return True, False
    if status in RETRYABLE_5XX:  # an unsafe write may have landed before the error
        return True, unsafe
    if status == 400 and failure.maybe_applied:
        # e.g. "already scheduled": possibly our own earlier attempt; read, never re-send
        return False, True
    return False, False


def _limiter_news(failure: Failure) -> tuple[Signal | None, float | None]:
    """What the rate limiter is told of ``failure``: a 429 slows it down, any other answer
    says the server keeps up, and a 503 with a ``Retry-After`` (unavailable for everyone,
    not only this call) pauses every call."""
    if failure.status is None:
        return None, None
    if failure.status == 429:
        return "throttled", None
    pause = failure.retry_after if failure.status == 503 and failure.retry_after else None
    return "answered", pause
