"""Which of an enrollment's sessions of an exam observation takes as the current one
(``observe_sessions.current_session``): decided by status, times only break ties, and the
same set of sessions gives the same pick whatever their order. What observation keeps of a
listed session (``observe_reads.ListedSession``) picks and reads as its answer model did."""

from __future__ import annotations

import itertools

import pytest

from spsync.api import wire
from spsync.observe_reads import ListedSession
from spsync.observe_sessions import current_session
from spsync.observed import LiveSession
from spsync.translate import live_session, session_fields

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
@pytest.mark.parametrize("booked_status", ["Scheduled", "Pending Approval"])
def test_among_active_sessions_the_booked_one_wins(
    scheduled_sid: str, open_sid: str, booked_status: str
) -> None:
    # a booking waiting for approval is a booking too: the one never to book twice
    booked = session(scheduled_sid, booked_status)
    fresh = session(open_sid, "Needs Proctor", created=T1, edited=T1)  # newer, and yet
    assert picks([booked, fresh]) == {scheduled_sid}


@pytest.mark.parametrize("status", ["In Progress", "Checked In", "CHECKED_IN", "onboarding"])
def test_an_active_session_beats_a_cancelled_one_edited_later(status: str) -> None:
    live = session(LOW, status)
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


EN = "EN" + "2" * 32


def row_of(body: dict[str, object]) -> wire.SessionRow:
    """A session row as observation reads it from a list."""
    return wire.Page[wire.SessionRow].model_validate({"results": [body]}).results[0]


def test_a_listed_session_keeps_what_its_answer_model_gave() -> None:
    """Its live session and its fields are what the answer model gives, and only the
    fields the service sent with a value (a field left out or sent as null stays unknown,
    not ``None``)."""
    body: dict[str, object] = {
        "sid": MID,
        "status": "Scheduled",
        "enrollmentSid": EN,
        "sessionType": "automated",
        "appointmentDate": "2027-03-02T14:00:00.000Z",
        "notes": None,
        "createdDate": T0,
        "editDate": T1,
        "examSid": "EX" + "3" * 32,
        "duration": 120,
    }
    model = wire.Session.model_validate(body)
    listed = ListedSession(row_of(body))
    assert listed.fields() == session_fields(model)
    assert listed.fields() == {"appointment": "2027-03-02T14:00:00Z", "type": "automated"}
    assert (listed.sid, listed.status, listed.statusReason) == (MID, "Scheduled", None)
    assert (listed.createdDate, listed.editDate, listed.enrollmentSid) == (T0, T1, EN)
    assert listed.live == LiveSession(
        sid=MID,
        status="Scheduled",
        enrollment=EN,
        appointment="2027-03-02T14:00:00Z",
        type="automated",
        created=T0,
    )
    # the same from the answer model (an enrollment's own list is read as models)
    assert ListedSession(wire.session_row(model)).live == listed.live
    assert ListedSession(wire.session_row(model)).sent == listed.sent
    # read from the enrollment's own list, whose rows may not name it
    other = ListedSession(row_of({**body, "enrollmentSid": None}), enrollment=EN)
    assert other.live == listed.live
    assert live_session(row_of({**body, "enrollmentSid": None})).enrollment == ""


def test_listed_sessions_are_picked_as_their_answer_models() -> None:
    rows = [
        session(LOW, "Cancelled", edited=T1),
        session(MID, "Needs Proctor"),
        session(HIGH, "Cancelled", reason="removed-by-limited-scope", edited=T1),
    ]
    listed = [ListedSession(wire.session_row(r)) for r in rows]
    assert current_session(listed).sid == current_session(rows).sid == MID  # type: ignore[union-attr]
    assert current_session(listed[::2]).sid == current_session(rows[::2]).sid == HIGH  # type: ignore[union-attr]
