"""The rows observation reads of the large lists (``wire.SessionRow``, ``UserRow``,
``EnrollmentRow``) give what the answer models gave: the same live sessions, fields and
identifiers, the same fields left unknown (not sent), and a page refused exactly when an
answer model refused a field observation reads. Any page: hypothesis draws rows of every
shape the service might send (fields left out, ``null``, the v1 names, wrong SID prefixes,
times in other forms or none, unknown fields)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from spsync.api import wire
from spsync.observe_reads import ListedSession
from spsync.observed import LiveSession
from spsync.translate import session_fields, user_fields, user_row_fields


def _mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` values, and now and then an ``invalid`` one (so that many pages are read
    whole, and some are refused)."""
    return st.integers(0, 59).flatmap(lambda i: invalid if i == 0 else valid)


def _sid(prefix: str, *, required: bool = False) -> st.SearchStrategy[Any]:
    hexes = st.integers(0, 2**128 - 1).map("{:032x}".format)
    well_formed = hexes.map(lambda h: prefix + h)
    return _mostly(
        well_formed if required else st.one_of(well_formed, st.none()),
        st.one_of(
            hexes.map(lambda h: "ZZ" + h),  # another entity's prefix
            st.sampled_from(["", prefix, prefix + "ABC"]),
            st.integers(0, 9),
        ),
    )


_TIMES = _mostly(
    st.one_of(
        st.sampled_from(
            [
                "2027-03-02T14:00:00Z",
                "2027-03-02T14:00:00.123Z",
                "2027-03-02T09:00:00-05:00",
                "2027-03-02T14:00:00",
                "2027-03-02T14:00:00.000000+00:00",
            ]
        ),
        st.none(),
    ),
    st.one_of(st.sampled_from(["2030-13-45T99:99:99Z", "yesterday", ""]), st.integers(0, 9)),
)
_TEXTS = _mostly(st.one_of(st.text(max_size=6), st.none()), st.one_of(st.integers(), st.booleans()))
_STATUSES = _mostly(
    st.sampled_from(["Scheduled", "Needs Proctor", "Cancelled", "Closed", "Odd"]),
    st.one_of(st.none(), st.integers()),
)

_SESSION = {
    "sid": _sid("ES", required=True),
    "status": _STATUSES,
    "installSid": _sid("AI"),
    "examSid": _sid("EX"),
    "enrollmentSid": _sid("EN"),
    "userSid": _sid("US"),
    "courseSid": _sid("CU"),
    "statusReason": st.one_of(st.just("removed-by-limited-scope"), _TEXTS),
    "sessionType": _TEXTS,
    "proctorLocationSid": st.one_of(_sid("PL"), _sid("PT")),
    "proctorTypeSid": _sid("TS"),
    "appointmentDate": _TIMES,
    "appointmentEndDate": _TIMES,
    "duration": _mostly(st.one_of(st.integers(0, 200), st.none()), st.just("long")),
    "externalAppointmentId": _TEXTS,
    "notes": _TEXTS,
    "createdDate": _TIMES,
    "editDate": _TIMES,
    "dateScheduled": _TIMES,
    # fields no model names (the vendor's report rows nest these)
    "exam": st.just({"sid": "EX" + "1" * 32}),
    "somethingNew": _TEXTS,
}
_USER = {
    "sid": _sid("US", required=True),
    "firstName": _TEXTS,
    "lastName": _TEXTS,
    "email": st.one_of(st.just(" Jane@Example.COM "), _TEXTS),
    "timeZone": _TEXTS,
    "currencyCode": _TEXTS,
    "externalId": _TEXTS,
    "apiId": _TEXTS,
    "lmsId": _TEXTS,
    "timeZoneSid": _TEXTS,
    "createdDate": _TIMES,
}
_ENROLLMENT = {
    "sid": _sid("EN", required=True),
    "enrollmentSid": _sid("EN", required=True),
    "userSid": _sid("US", required=True),
    "courseSid": _sid("CU"),
    "role": _TEXTS,
    "state": _TEXTS,
}


def _rows(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of ``fields``: most of them (as the contract's reads), or any few (as the
    vendor's sparse rows); the ``required`` ones are mostly there."""
    optional = sorted(set(fields) - set(required))
    left_out = st.one_of(
        st.sets(st.sampled_from(optional), max_size=3), st.sets(st.sampled_from(optional))
    )
    required_left_out = _mostly(st.just(set()), st.sets(st.sampled_from(required), min_size=1))
    return st.tuples(left_out, required_left_out).flatmap(
        lambda out: st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k not in out[0] and k not in out[1]}
        )
    )


def _pages(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...]
) -> st.SearchStrategy[bytes]:
    return st.lists(_rows(fields, required), max_size=4).map(
        lambda rows: json.dumps({"results": rows, "total": len(rows)}).encode()
    )


#: a shared machine under load must not fail a property on time alone
_PATIENT = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(model: type[BaseModel], body: bytes) -> tuple[list[Any] | None, set[tuple[Any, ...]]]:
    """The page's items, or ``None`` and the places of its errors (item, field)."""
    try:
        return list(model.model_validate_json(body).results), set()
    except ValidationError as exc:
        return None, {tuple(e["loc"][:3]) for e in exc.errors()}


def _same_refusal(
    models: list[Any] | None,
    model_errors: set[tuple[Any, ...]],
    rows: list[Any] | None,
    row_errors: set[tuple[Any, ...]],
    read: frozenset[str],
) -> bool:
    """Rows are refused exactly for the errors of the answer models in the fields they read
    (an error in a field observation does not use is left to the answer models)."""
    if rows is None:
        return models is None and row_errors == {e for e in model_errors if e[2] in read}
    return not {e for e in model_errors if e[2] in read}


@_PATIENT
@given(_pages(_SESSION, ("sid", "status")))
def test_session_rows_read_as_their_answer_models(body: bytes) -> None:
    models, model_errors = _read(wire.Page[wire.Session], body)
    rows, row_errors = _read(wire.Page[wire.SessionRow], body)
    assert _same_refusal(models, model_errors, rows, row_errors, wire.SESSION_ROW_KEYS)
    if models is None or rows is None:
        return
    for model, row in zip(models, rows, strict=True):
        got = ListedSession(row)
        assert got.live == _live_session(model)
        assert got.fields() == session_fields(model)
        assert list(got.fields()) == list(session_fields(model))  # in the same order
        assert got.editDate == model.editDate
        # the enrollment's own list: its SID given, whatever the row says
        en = "EN" + "9" * 32
        assert ListedSession(row, en).live == _live_session(model, en)
        # a session read as an answer model (an enrollment's own list) reads the same
        again = ListedSession(wire.session_row(model))
        assert (again.live, again.editDate, again.sent) == (got.live, got.editDate, got.sent)


def _live_session(s: wire.Session, enrollment: str | None = None) -> LiveSession:
    """The live session of an answer model, as observation built it from one."""
    return LiveSession(
        sid=s.sid,
        status=s.status,
        statusReason=s.statusReason,
        enrollment=enrollment if enrollment is not None else s.enrollmentSid or "",
        appointment=s.appointmentDate,
        type=s.sessionType,
        proctorLocation=s.proctorLocationSid,
        externalAppointmentId=s.externalAppointmentId,
        notes=s.notes,
        created=s.createdDate,
    )


@_PATIENT
@given(_pages(_USER, ("sid",)))
def test_user_rows_read_as_their_answer_models(body: bytes) -> None:
    models, model_errors = _read(wire.Page[wire.User], body)
    rows, row_errors = _read(wire.Page[wire.UserRow], body)
    keys = frozenset(wire.UserRow.__annotations__)
    assert _same_refusal(models, model_errors, rows, row_errors, keys)
    if models is None or rows is None:
        return
    for model, row in zip(models, rows, strict=True):
        fields = user_row_fields(row)
        assert fields == user_fields(model)
        assert list(fields) == list(user_fields(model))  # in the same order
        assert row["sid"] == model.sid
        for key in ("externalId", "apiId", "lmsId"):
            assert row.get(key) == getattr(model, key)


@_PATIENT
@given(_pages(_ENROLLMENT, ("sid", "userSid")))
def test_enrollment_rows_read_as_their_answer_models(body: bytes) -> None:
    models, model_errors = _read(wire.Page[wire.Enrollment], body)
    rows, row_errors = _read(wire.Page[wire.EnrollmentRow], body)
    # the SID may come as ``enrollmentSid``: its errors are the row's ``sid`` errors
    models_sid = {(a, b, "sid" if c == "enrollmentSid" else c) for a, b, c in model_errors}
    rows_sid = {(a, b, "sid" if c == "enrollmentSid" else c) for a, b, c in row_errors}
    keys = frozenset({"sid", "userSid", "courseSid", "role"})
    assert _same_refusal(models, models_sid, rows, rows_sid, keys)
    if models is None or rows is None:
        return
    for model, row in zip(models, rows, strict=True):
        assert (row["sid"], row.get("courseSid"), row["userSid"], row.get("role")) == (
            model.sid,
            model.courseSid,
            model.userSid,
            model.role,
        )
