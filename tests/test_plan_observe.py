"""Which of an enrollment's sessions of an exam observation takes as the current one
(``observe_sessions.current_session``): decided by status, times only break ties, and the
same set of sessions gives the same pick whatever their order."""

from __future__ import annotations

import itertools

import pytest

from spsync.api import wire
from spsync.observe_sessions import current_session

T0 = "2027-01-15T12:00:00Z"
T1 = "2027-01-15T12:00:01Z"
LOW = "ES" + "0" * 31 + "1"
HIGH = "ES" + "f" * 32
MID = "ES" + "8" * 32


def session(
    sid: str,
    status: str,
    *,
    reason: str | None = None,
    created: str = T0,
    edited: str = T0,
) -> wire.Session:
    return wire.Session.model_validate(
        {
            "sid": sid,
            "status": status,
            "statusReason": reason,
            "createdDate": created,
            "editDate": edited,
        }
    )


def picks(sessions: list[wire.Session]) -> set[str]:
    """The SIDs picked over every order of ``sessions`` (one SID: the order does not matter)."""
    return {current_session(list(p)).sid for p in itertools.permutations(sessions)}  # type: ignore[union-attr]


def test_no_session_no_pick() -> None:
    assert current_session([]) is None


@pytest.mark.parametrize(("cancelled_sid", "active_sid"), [(LOW, HIGH), (HIGH, LOW)])
@pytest.mark.parametrize("active", ["Needs Proctor", "Scheduled", "Pending Approval"])
def test_an_active_session_beats_a_cancelled_one_of_the_same_second(
    cancelled_sid: str, active_sid: str, active: str
) -> None:
    # unassigned and assigned again within one second: both sessions have equal times
    gone = session(cancelled_sid, "Cancelled", reason="removed-by-limited-scope")
    now = session(active_sid, active)
    assert picks([gone, now]) == {active_sid}


@pytest.mark.parametrize(("scheduled_sid", "open_sid"), [(LOW, HIGH), (HIGH, LOW)])
def test_among_active_sessions_the_scheduled_one_wins(scheduled_sid: str, open_sid: str) -> None:
    booked = session(scheduled_sid, "Scheduled")
    fresh = session(open_sid, "Needs Proctor", created=T1, edited=T1)  # newer, and yet
    assert picks([booked, fresh]) == {scheduled_sid}


def test_an_active_session_beats_a_cancelled_one_edited_later() -> None:
    live = session(LOW, "In Progress")
    gone = session(HIGH, "Cancelled", reason="other-reason", created=T1, edited=T1)
    assert picks([live, gone]) == {LOW}


@pytest.mark.parametrize(("first", "second"), [(LOW, HIGH), (HIGH, LOW)])
def test_ended_sessions_the_latest_edit_wins_then_the_latest_creation(
    first: str, second: str
) -> None:
    # created first, cancelled last: the cancellation is the latest news
    older = session(first, "Cancelled", reason="removed-by-limited-scope", edited=T1)
    newer = session(second, "Closed", created=T1, edited=T0)
    assert picks([older, newer]) == {first}
    # equal edits: the one created later
    older = session(first, "Cancelled", reason="other-reason", edited=T1)
    newer = session(second, "Cancelled", reason="other-reason", created=T1, edited=T1)
    assert picks([older, newer]) == {second}


@pytest.mark.parametrize(("unassigned_sid", "other_sid"), [(LOW, HIGH), (HIGH, LOW)])
@pytest.mark.parametrize("other", ["Closed", "Cancelled"])
def test_equal_times_an_unassignment_is_the_last_word(
    unassigned_sid: str, other_sid: str, other: str
) -> None:
    unassigned = session(unassigned_sid, "Cancelled", reason="removed-by-limited-scope")
    ended = session(other_sid, other, reason="other-reason" if other == "Cancelled" else None)
    assert picks([unassigned, ended]) == {unassigned_sid}


def test_sessions_alike_in_everything_but_their_sid() -> None:
    a, b, c = (session(s, "Cancelled", reason="other-reason") for s in (LOW, MID, HIGH))
    assert picks([a, b, c]) == {HIGH}
