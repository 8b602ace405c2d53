"""Tolerance of the vendor's documented shapes, without a server: the read-shape translation
(``spsync.api.aliases``), the assignment forms, route-missing 404s, and the planner's rule
that a field the API did not return is unknown, never changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.plan import KEY, PL2, acts, applied_state, observed_matching, sid

from spsync.api import aliases, assignments, wire
from spsync.api.errormap import error_from_response, route_missing
from spsync.errors import NoSuchRouteError, NotFoundError
from spsync.model import ApiDialect, Desired
from spsync.observed import Observed
from spsync.planner import build_plan
from spsync.translate import exam_fields, session_fields, unobserved_of, user_fields

EX, CU, EN, EN2 = sid("EX", "x"), sid("CU", "c"), sid("EN", "a"), sid("EN", "b")
TS1, TS2 = "TS4b894875d26194988853e490dfb9bc41", "TS63dda27a6ba54c218449b934b7bb1ba8"


# --- read shapes -------------------------------------------------------------------------------

#: the v1 configuration's permitted items (``permitted<Item>`` + ``…Information``)
ALL_ITEMS = (
    "BathroomBreak",
    "BlankPaper",
    "Calculator",
    "Dictionary",
    "Earplugs",
    "FormulaSheet",
    "Notes",
    "Textbook",
    "Websites",
)


def v1_exam() -> dict[str, Any]:
    return {
        "sid": EX,
        "courseSid": CU,
        "title": "Final",
        "type": "Online",
        "isLimitedScope": True,
        "status": "active",
        "configuration": {
            "sid": sid("EC", "x"),
            "url": "https://lms.example.com/final",
            "examOpenDate": "2027-03-01T00:00:00.000Z",
            "examCloseDate": "2027-03-10T00:00:00.000Z",
            "scheduleOpenDate": "2000-01-01T00:00:00.000Z",
            "scheduleCloseDate": "2070-01-01T00:00:00.000Z",
            "duration": 90,
            "attempts": 1,
            "studentNotes": "Bring ID",
            "proctorNotes": "",
            "proctorTypes": [TS1, TS2],
            # the vendor documents every pair as always sent
            **{f"permitted{item}": False for item in ALL_ITEMS},
            **{f"permitted{item}Information": "" for item in ALL_ITEMS},
            "permittedCalculator": True,
            "permittedCalculatorInformation": "basic only",
            "permittedNotes": True,
            "permittedOtherItems": "",
        },
    }


def test_a_v1_exam_reads_in_the_manifests_normal_form() -> None:
    known = {"configuration": {"proctorTypes": {TS1: {"options": {"recordScreen": {}}}}}}
    fields = exam_fields(wire.Exam.model_validate(v1_exam()), known)
    assert fields == {
        "title": "Final",
        "type": "online",
        "limitedScope": True,
        "configuration": {
            "url": "https://lms.example.com/final",
            "duration": 90,
            "attempts": 1,
            "access": {"open": "2027-03-01T00:00:00Z", "close": "2027-03-10T00:00:00Z"},
            "scheduling": {"open": "2000-01-01T00:00:00Z", "close": "2070-01-01T00:00:00Z"},
            "notes": {"student": "Bring ID", "proctor": ""},
            # the list names the types; their options are not shown: the recorded ones stay
            "proctorTypes": {TS1: {"options": {"recordScreen": {}}}, TS2: {}},
            "permittedItems": {"calculator": {"notes": "basic only"}, "notes": {}},
        },
    }
    # what the read left out is unobserved (description), not None
    assert "description" not in fields
    assert unobserved_of("exam", fields) == ["description"]


def _v1_items(**changes: Any) -> dict[str, Any] | None:
    """The permitted items of ``v1_exam``'s configuration with ``changes`` (``...=DROP``:
    the key left out), as its translation reads them."""
    config = {**v1_exam()["configuration"], **changes}
    return aliases.permitted_items({k: v for k, v in config.items() if v is not DROP})


DROP = object()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("permittedCalculator", DROP),
        ("permittedCalculator", None),
        ("permittedWebsites", DROP),
        ("permittedWebsites", None),
        ("permittedCalculatorInformation", DROP),
        ("permittedCalculatorInformation", None),
        ("permittedNotesInformation", None),
    ],
    ids=lambda v: "dropped" if v is DROP else str(v),
)
def test_an_unknown_permitted_item_leaves_the_items_unobserved(key: str, value: object) -> None:
    changes = {key: value}
    # a missing switch is not "not permitted", missing notes of a permitted item not "none"
    assert _v1_items() == {"calculator": {"notes": "basic only"}, "notes": {}}
    assert _v1_items(**changes) is None
    config = {**v1_exam()["configuration"], **changes}
    fields = exam_fields(wire.Exam.model_validate({**v1_exam(), "configuration": {
        k: v for k, v in config.items() if v is not DROP}}))  # fmt: skip
    assert "permittedItems" not in fields["configuration"]
    assert unobserved_of("exam", fields) == ["description", "configuration.permittedItems"]


def test_the_notes_of_an_item_not_permitted_do_not_matter() -> None:
    for changes in ({"permittedTextbookInformation": DROP}, {"permittedTextbookInformation": None}):
        assert _v1_items(**changes) == {"calculator": {"notes": "basic only"}, "notes": {}}


def test_the_contract_exam_shape_is_unchanged_by_the_translation() -> None:
    body = {
        "sid": EX,
        "type": "written",
        "limitedScope": False,
        "description": None,
        "configuration": {"proctorTypes": {TS1: {"options": {"verifyId": {}}}}},
    }
    fields = exam_fields(wire.Exam.model_validate(body))
    # a null is unknown, like a field left out: never read as "none"
    assert fields == {
        "type": "written",
        "limitedScope": False,
        "configuration": {"proctorTypes": {TS1: {"options": {"verifyId": {}}}}},
    }


def test_v1_user_enrollment_and_course_shapes() -> None:
    u = wire.User.model_validate(
        {
            "sid": sid("US", "j"),
            "firstName": "Jane",
            "lastName": "Doe",
            "email": " Jane@Example.com",
            "currencyCode": "USD",
            "timeZoneSid": "TZ" + "0" * 32,
            "timezone": {"sid": "TZ" + "0" * 32},
        }
    )
    # no IANA name comes back: the time zone is unknown, not changed
    assert user_fields(u) == {
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "jane@example.com",
        "currencyCode": "USD",
    }
    e = wire.Enrollment.model_validate(
        {"enrollmentSid": EN, "userSid": sid("US", "j"), "courseSid": CU, "role": "learner"}
    )
    assert (e.sid, e.role) == (EN, "learner")
    c = wire.Course.model_validate({"sid": CU, "title": "Main", "courseCode": "M-1"})
    assert (c.title, c.code) == ("Main", "M-1")


def test_sparse_session_rows_leave_unshown_fields_out() -> None:
    row = wire.Session.model_validate(
        {
            "sid": sid("ES", "1"),
            "examSid": EX,
            "enrollmentSid": EN,
            "status": "Scheduled",
            "sessionType": "automated",
            "appointmentDate": "2027-03-02T14:00:00.000Z",
            "dateScheduled": "2027-02-01T10:00:00.000Z",
            "externalAppointmentId": "x-1",
            "exam": {"sid": EX},
            "enrollment": {"enrollmentSid": EN},
        }
    )
    assert session_fields(row) == {
        "appointment": "2027-03-02T14:00:00Z",
        "type": "automated",
        "externalAppointmentId": "x-1",
    }
    assert unobserved_of("session", session_fields(row)) == ["proctorLocation", "notes"]


def test_a_guide_style_pt_location_is_read_but_never_sent() -> None:
    pt = "PTa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
    read = wire.Session.model_validate({"sid": sid("ES", "1"), "status": "Scheduled",
                                        "proctorLocationSid": pt})  # fmt: skip
    assert read.proctorLocationSid == pt
    with pytest.raises(ValueError, match="proctorLocationSid"):
        wire.ScheduleRequest(
            type="automated", proctorLocationSid=pt, appointmentDateTime="2027-03-01T14:00:00Z"
        )


# --- assignment forms and missing routes ------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "route", "body"),
    [
        ("guide", assignments.R_GUIDE,
         {"add": [{"enrollmentSid": EN}], "remove": [{"enrollmentSid": EN2}]}),
        ("exam", assignments.R_EXAM,
         {"added": {"courseSid": CU, "enrollmentSid": [EN]},
          "removed": {"courseSid": CU, "enrollmentSid": [EN2]}}),
        ("newest", assignments.R_NEWEST, {"added": [EN], "removed": [EN2]}),
    ],
)  # fmt: skip
def test_each_assignment_form_sends_its_documented_body(
    form: str, route: str, body: dict[str, Any]
) -> None:
    got_route, params, req = assignments.request(form, CU, EX, [EN], [EN2])
    assert got_route == route
    assert params == ({"courseSid": CU, "examSid": EX} if form == "guide" else {"examSid": EX})
    assert json.loads(wire.request_json(req)[0]) == body
    # one side only: the other key is left out, never sent empty
    _, _, only_add = assignments.request(form, CU, EX, [EN], [])
    assert set(json.loads(wire.request_json(only_add)[0])) == {
        "add" if form == "guide" else "added"
    }


def test_which_forms_are_tried() -> None:
    assert assignments.candidates("auto", None) == ["guide", "newest", "exam"]
    assert assignments.candidates("auto", "exam") == ["exam"]
    assert assignments.candidates("newest", None) == ["newest"]


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (404, b'{"statusCode":404,"error":"Not Found","message":"Not Found"}', NoSuchRouteError),
        (404, b'{"code":"INVALIDURI","message":"x"}', NoSuchRouteError),
        (405, b"", NoSuchRouteError),
        (404, b'{"code":"RESOURCENOTFOUND","message":"no exam"}', NotFoundError),
        (404, b'{"code":"1200","message":"data not found","status":404}', NotFoundError),
        (404, b"", NotFoundError),
        (404, b"<html>gone</html>", NotFoundError),
    ],
)
def test_a_missing_endpoint_is_never_read_as_a_missing_object(
    status: int, body: bytes, cls: type
) -> None:
    err = error_from_response(
        method="GET", path="/x", status=status, reason="", content_type="", body=body
    )
    assert type(err) is cls
    assert route_missing(status, body) is (cls is NoSuchRouteError)


# --- the planner: absent means unknown ----------------------------------------------------------


def _sparse(o: Observed, *dropped: str, unobserved: tuple[str, ...] = ()) -> Observed:
    """``o`` with ``dropped`` session fields missing from every live session."""
    objects = {
        a: (
            v.replace(fields={k: x for k, x in v.fields.items() if k not in dropped})
            if a.startswith("session.")
            else v
        )
        for a, v in o.objects.items()
    }
    return o.model_copy(
        update={"objects": objects, "unobserved": {"session": unobserved or dropped}}
    )


def test_a_location_the_api_does_not_return_plans_nothing(d: Desired) -> None:
    st = applied_state(d)
    observed = _sparse(observed_matching(st, d), "proctorLocation", "notes")
    tp = build_plan(d, st, observed, secret_key=KEY)
    assert acts(tp) == []
    assert tp.warnings == (
        "sessions: the API's reads do not return proctorLocation: spsync keeps their last "
        "applied values and cannot see a change made to them outside spsync "
        "(docs/api-dialects.md)",
    )


def test_a_manifest_edit_of_an_unobservable_field_still_replaces(d: Desired) -> None:
    st = applied_state(d)
    observed = _sparse(observed_matching(st, d), "proctorLocation")
    s = d.sessions["session.cert.jane"]
    moved = d.model_copy(
        update={
            "sessions": {**d.sessions, s.address: s.model_copy(update={"proctorLocation": PL2})}
        }
    )
    tp = build_plan(moved, st, observed, secret_key=KEY)
    assert acts(tp) == [("session.cert.jane", "replace", "manifest-changed")]


def test_a_visible_live_change_is_still_drift(d: Desired) -> None:
    st = applied_state(d)
    observed = _sparse(observed_matching(st, d), "proctorLocation")
    obj = observed.objects["session.cert.jane"]
    edited = obj.replace(fields={**obj.fields, "type": "vtc"})
    observed = observed.model_copy(
        update={"objects": {**observed.objects, "session.cert.jane": edited}}
    )
    tp = build_plan(d, st, observed, secret_key=KEY)
    assert acts(tp) == [("session.cert.jane", "replace", "drift")]


def test_unassigning_through_the_guide_form_is_warned_of(d: Desired) -> None:
    st = applied_state(d)
    guide = d.tenant.model_copy(
        update={"api": d.tenant.api.model_copy(update={"dialect": ApiDialect(assignments="guide")})}
    )
    fewer = {a: v for a, v in d.assignments.items() if not a.endswith(".bob")}
    sessions = {a: v for a, v in d.sessions.items() if not a.endswith(".bob")}
    edited = d.model_copy(update={"tenant": guide, "assignments": fewer, "sessions": sessions})
    tp = build_plan(edited, st, observed_matching(st, d), secret_key=KEY)
    assert ("assignment.cert.bob", "unassign", "removed") in acts(tp)
    assert tp.warnings == (
        "api.dialect.assignments is guide, whose documented body has no removal: the 1 "
        "unassign(s) fail unless the install honours it (docs/api-dialects.md)",
    )
    # with any other form, no such warning
    tp = build_plan(edited.model_copy(update={"tenant": d.tenant}), st, None, secret_key=KEY)
    assert tp.warnings == ()
