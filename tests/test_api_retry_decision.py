"""The retry decision (``spsync.api.retry_decision``) as a table: each failure a call can
meet, by the call's safety, and what follows; no HTTP, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from spsync.api.retry_decision import Decision, Failure, Safety, decide, out_of_time

SAFETIES: tuple[Safety, ...] = ("read", "idempotent", "unsafe")
RESENDABLE: tuple[Safety, ...] = ("read", "idempotent")


def failure(safety: Safety, attempt: int = 1, **facts: Any) -> Failure:
    """A failure of the first of six attempts unless told otherwise."""
    return Failure(safety, attempt, 6, **facts)


# --- error answers ----------------------------------------------------------------------

#: (safety, status, Retry-After, what follows)
ANSWERS: list[tuple[Safety, int, float | None, Decision]] = [
    # 5xx worth another attempt: re-sent, except an unsafe write, whose outcome is read first
    *[(s, st, None, Decision("retry", "answered")) for s in RESENDABLE for st in (500, 502, 504)],
    *[(s, 503, None, Decision("retry", "answered")) for s in RESENDABLE],
    *[("unsafe", st, None, Decision("check", "answered")) for st in (500, 502, 503, 504)],
    # a 503 with Retry-After: every call holds (the service is down for all of them)
    *[(s, 503, 7.0, Decision("retry", "answered", 7.0)) for s in RESENDABLE],
    ("unsafe", 503, 7.0, Decision("check", "answered", 7.0)),
    ("read", 503, 0.0, Decision("retry", "answered")),  # "Retry-After: 0" pauses no one
    ("read", 502, 7.0, Decision("retry", "answered")),  # only a 503 speaks for everyone
    ("read", 500, 7.0, Decision("retry", "answered")),
    # 429: refused before any effect, so re-sent whatever the safety; the limiter slows down
    *[(s, 429, None, Decision("retry", "throttled")) for s in SAFETIES],
    *[(s, 429, 30.0, Decision("retry", "throttled")) for s in SAFETIES],
    # other answers are final
    *[
        (s, st, None, Decision("raise", "answered"))
        for s in SAFETIES
        for st in (400, 401, 403, 404, 405, 409, 413, 422, 501, 505, 599, 302, 100)
    ],
    ("read", 404, 5.0, Decision("raise", "answered")),
]


@pytest.mark.parametrize(("safety", "status", "retry_after", "expected"), ANSWERS)
def test_an_error_answer(
    safety: Safety, status: int, retry_after: float | None, expected: Decision
) -> None:
    assert decide(failure(safety, status=status, retry_after=retry_after)) == expected


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_an_unsafe_write_read_back_as_not_applied_is_sent_again(status: int) -> None:
    checked = failure("unsafe", status=status, checked=True)
    assert decide(checked) == Decision("retry", "answered")


@pytest.mark.parametrize("safety", SAFETIES)
def test_a_400_after_an_unknown_outcome_is_read_first_and_never_re_sent(safety: Safety) -> None:
    """ "already scheduled" may be our own earlier attempt: read it; if it did not land,
    the 400 stands."""
    assert decide(failure(safety, 2, status=400, maybe_applied=True)) == Decision(
        "check", "answered"
    )
    assert decide(failure(safety, 2, status=400, maybe_applied=True, checked=True)) == (
        Decision("raise", "answered")
    )
    # any other 4xx after an unknown outcome is final at once
    assert decide(failure(safety, 2, status=409, maybe_applied=True)) == Decision(
        "raise", "answered"
    )


# --- no answer --------------------------------------------------------------------------

#: (safety, where the request got to, what follows): no answer tells the limiter nothing
NO_ANSWER: list[tuple[Safety, str, Decision]] = [
    # nothing was sent: safe to repeat, whatever the call
    *[(s, "unsent", Decision("retry")) for s in SAFETIES],
    # it may have reached the server: re-sent, but an unsafe write is read back first
    *[(s, "sent", Decision("retry")) for s in RESENDABLE],
    ("unsafe", "sent", Decision("check")),
    # TLS failures and our own protocol errors: retrying cannot help
    *[(s, "fatal", Decision("raise")) for s in SAFETIES],
]


@pytest.mark.parametrize(("safety", "reach", "expected"), NO_ANSWER)
def test_no_answer(safety: Safety, reach: str, expected: Decision) -> None:
    assert decide(failure(safety, reach=reach)) == expected


def test_an_unsafe_write_sent_without_answer_and_read_back_as_not_applied_is_sent_again() -> None:
    assert decide(failure("unsafe", reach="sent", checked=True)) == Decision("retry")
    # an earlier unknown outcome changes nothing for a failure without an answer
    assert decide(failure("unsafe", 3, reach="unsent", maybe_applied=True)) == Decision("retry")
    assert decide(failure("read", 3, reach="fatal", maybe_applied=True)) == Decision("raise")


# --- attempts and time ------------------------------------------------------------------

#: (facts at the sixth and last attempt, what follows)
LAST_ATTEMPT: list[tuple[dict[str, Any], Decision]] = [
    ({"safety": "read", "status": 503}, Decision("give-up", "answered")),
    ({"safety": "idempotent", "status": 429}, Decision("give-up", "throttled")),
    ({"safety": "read", "reach": "unsent"}, Decision("give-up")),
    ({"safety": "idempotent", "reach": "sent"}, Decision("give-up")),
    # an unknown outcome is read even with no attempt left: the write may have landed
    ({"safety": "unsafe", "status": 502}, Decision("check", "answered")),
    ({"safety": "unsafe", "status": 502, "checked": True}, Decision("give-up", "answered")),
    ({"safety": "unsafe", "reach": "sent"}, Decision("check")),
    ({"safety": "unsafe", "reach": "sent", "checked": True}, Decision("give-up")),
    # a final failure stays final, not "gave up"
    ({"safety": "read", "status": 404}, Decision("raise", "answered")),
    ({"safety": "read", "reach": "fatal"}, Decision("raise")),
]


@pytest.mark.parametrize(("facts", "expected"), LAST_ATTEMPT)
def test_the_last_attempt(facts: dict[str, Any], expected: Decision) -> None:
    assert decide(Failure(attempt=6, max_attempts=6, **facts)) == expected


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "step"),
    [(1, 6, "retry"), (5, 6, "retry"), (6, 6, "give-up"), (7, 6, "give-up"), (1, 1, "give-up")],
)
def test_attempts_left(attempt: int, max_attempts: int, step: str) -> None:
    assert decide(Failure("read", attempt, max_attempts, status=500)).step == step


@pytest.mark.parametrize(
    ("elapsed", "wait", "max_elapsed", "over"),
    [
        (0.0, 0.5, 120.0, False),
        (119.0, 1.0, 120.0, False),  # a retry starting at the very end is still made
        (119.0, 1.5, 120.0, True),
        (0.0, 121.0, 120.0, True),  # a Retry-After longer than the whole budget
        (120.5, 0.0, 120.0, True),  # the read-back of an unknown outcome took the rest
        (0.0, 0.0, 0.0, False),
    ],
)
def test_the_budget_of_time(elapsed: float, wait: float, max_elapsed: float, over: bool) -> None:
    assert out_of_time(elapsed, wait, max_elapsed) is over


# --- the facts themselves ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({}, "either an answer's status or a reach"),
        ({"status": 500, "reach": "sent"}, "either an answer's status or a reach"),
        ({"status": 200}, "status 200 is not a failure"),
        ({"status": 204}, "status 204 is not a failure"),
    ],
)
def test_a_failure_is_an_error_answer_or_no_answer(facts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        failure("read", **facts)
