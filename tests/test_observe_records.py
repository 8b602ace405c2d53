"""The live records observation builds (``LiveObject``, ``LiveSession``): slotted objects
with the attributes, defaults and equality of the models they replace, held by
``Observed`` as they are."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spsync.observed import LiveObject, LiveSession, Observed

EN = "EN" + "1" * 32
ES = "ES" + "2" * 32


def test_a_live_object_has_its_fields_and_defaults() -> None:
    empty = LiveObject()
    assert (empty.sid, empty.refs, empty.fields, empty.status) == (None, {}, {}, None)
    assert LiveObject().refs is not LiveObject().refs  # each its own maps
    obj = LiveObject("US" + "3" * 32, {"course": "CU" + "4" * 32}, {"firstName": "A"}, None)
    assert obj == LiveObject(sid=obj.sid, refs=dict(obj.refs), fields={"firstName": "A"})
    assert obj.as_dict() == {"sid": obj.sid, "refs": obj.refs, "fields": obj.fields,
                             "status": None}  # fmt: skip
    assert not hasattr(obj, "__dict__")


def test_records_are_equal_by_class_and_every_field() -> None:
    a = LiveObject(sid="x", fields={"role": "learner"}, status="Scheduled")
    for changed in (
        a.replace(sid="y"),
        a.replace(refs={"course": "c"}),
        a.replace(fields={"role": "instructor"}),
        a.replace(status=None),
    ):
        assert changed != a
    assert a.replace() == a and a.replace() is not a
    s = LiveSession(sid=ES, status="Scheduled", enrollment=EN)
    assert s == LiveSession(sid=ES, status="Scheduled", enrollment=EN, statusReason=None)
    assert s != s.replace(notes="late")
    assert s != a and a != s  # another class, however alike
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError):
        a.replace(colour="blue")


def test_a_live_session_lists_every_field_in_order() -> None:
    s = LiveSession(
        sid=ES,
        status="Cancelled",
        statusReason="removed-by-limited-scope",
        enrollment=EN,
        appointment="2027-03-01T14:00:00Z",
        created="2027-01-01T00:00:00Z",
    )
    assert list(s.as_dict()) == [
        "sid", "status", "statusReason", "enrollment", "appointment", "type",
        "proctorLocation", "externalAppointmentId", "notes", "created",
    ]  # fmt: skip
    assert s.as_dict()["statusReason"] == "removed-by-limited-scope"
    assert repr(s).startswith(f"LiveSession(sid={ES!r}, status='Cancelled'")
    with pytest.raises(TypeError):
        LiveSession(sid=ES, status="Scheduled")  # type: ignore[call-arg]  # no enrollment


def test_observed_holds_records_as_they_are() -> None:
    obj = LiveObject(sid="x")
    s = LiveSession(sid=ES, status="Scheduled", enrollment=EN)
    o = Observed(objects={"user.a": obj}, sessions={"session.c.a": s})
    assert o.objects["user.a"] is obj and o.sessions["session.c.a"] is s
    with pytest.raises(ValidationError):
        Observed(objects={"user.a": {"sid": "x"}})  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        Observed(sessions={"session.c.a": obj})  # type: ignore[dict-item]
