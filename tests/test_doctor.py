"""``spsync doctor``'s judgement (spsync/doctor.py), table-tested on answers built by hand:
the contract's shapes, and the vendor's as VENDOR.md fixes them for the simulator."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from support.doctor import VENDOR_FORMS

from spsync import doctor
from spsync.doctor import Answer, analyse, error_shape, object_forms, sids_from_answer

AI = "AI" + "1" * 32
CU = "CU" + "2" * 32
CU_OTHER = "CU" + "9" * 32
EX = "EX" + "3" * 32
EN = "EN" + "4" * 32
ES = "ES" + "5" * 32
US = "US" + "6" * 32
R = "/v1/installs/{installSid}"


def page(*items: dict[str, Any], total: int | None = None, nxt: str | None = None) -> dict:
    return {
        "total": len(items) if total is None else total,
        "count": len(items),
        "offset": 0,
        "first": "https://api.example.com/x?offset=0",
        "next": nxt,
        "prev": None,
        "last": "https://api.example.com/x?offset=0",
        "results": list(items),
    }


def ok(probe: str, body: Any, query: tuple[tuple[str, str], ...] = (), **kw: Any) -> Answer:
    return Answer(
        probe, R + "/x", path="/p", query=query, status=200, body=body, is_json=True, **kw
    )


def err(probe: str, status: int, body: Any, **kw: Any) -> Answer:
    return Answer(
        probe, R + "/x", path="/p", status=status, body=body, is_json=body is not None, **kw
    )


# --- shapes -----------------------------------------------------------------------------------

CONTRACT_EXAM = {
    "sid": EX,
    "type": "online",
    "limitedScope": True,
    "configuration": {"access": {}, "proctorTypes": {"TS" + "7" * 32: {}}},
}
VENDOR_EXAM = {
    "sid": EX,
    "type": "Online",
    "isLimitedScope": True,
    "configuration": {"examOpenDate": "2027-01-01T00:00:00Z", "proctorTypes": ["TS" + "7" * 32]},
}


@pytest.mark.parametrize(
    ("probe", "obj", "want"),
    [
        (
            "exam",
            CONTRACT_EXAM,
            {
                "exam.type": "lower-case",
                "exam.scope": "limitedScope",
                "exam.configuration": "provision",
            },
        ),
        (
            "exams",
            VENDOR_EXAM,
            {
                "exam.type": "capitalised",
                "exam.scope": "isLimitedScope",
                "exam.configuration": "v1",
            },
        ),
        (
            "exam",
            {"sid": EX, "type": "remote"},
            {"exam.type": "unrecognised", "exam.scope": "absent", "exam.configuration": "absent"},
        ),
        ("course", {"sid": CU, "code": "A"}, {"course.code": "code"}),
        ("course", {"sid": CU, "courseCode": "A"}, {"course.code": "courseCode"}),
        ("course", {"sid": CU}, {"course.code": "absent"}),
        ("user", {"timeZone": "UTC"}, {"user.timeZone": "timeZone"}),
        ("users", {"timeZoneSid": "TZ1", "timezone": {}}, {"user.timeZone": "timeZoneSid"}),
        ("enrollments", {"sid": EN}, {"enrollment.sid": "sid"}),
        ("enrollments", {"enrollmentSid": EN}, {"enrollment.sid": "enrollmentSid"}),
        ("session", {"sid": ES}, {}),
    ],
)
def test_object_forms(probe: str, obj: dict[str, Any], want: dict[str, str]) -> None:
    assert object_forms(probe, obj) == want


@pytest.mark.parametrize(
    ("answer", "want"),
    [
        (
            err("unknown-sid", 404, {"code": "RESOURCENOTFOUND", "message": "m", "status": 404}),
            "code-message-status",
        ),
        (
            err(
                "unknown-route",
                404,
                {"statusCode": 404, "error": "Not Found", "message": "Not Found"},
            ),
            "hapi",
        ),
        (err("unknown-route", 404, {"detail": "nope"}), "other"),
        (err("unknown-route", 404, None), "not-json"),
        (ok("unknown-route", {}), None),
        (Answer("unknown-sid", R, error="no answer"), None),
    ],
)
def test_error_shape(answer: Answer, want: str | None) -> None:
    assert error_shape(answer) == want


# --- SIDs -------------------------------------------------------------------------------------


def test_sids_from_state_take_a_session_and_what_it_refers_to() -> None:
    refs = {"exam": EX, "course": CU, "enrollment": EN, "user": US}
    resources = {
        "course.a": ("CU" + "8" * 32, {}),
        "session.e.u": (ES, refs),
        "user.zed": ("US" + "8" * 32, {}),
    }
    got = doctor.sids_from_state(resources)
    assert got == {"session": ES, "exam": EX, "course": CU, "enrollment": EN, "user": US}


def test_sids_from_state_without_sessions_keep_the_exam_and_its_course() -> None:
    resources = {
        "course.a": (CU_OTHER, {}),
        "enrollment.a.u": ("EN" + "8" * 32, {"course": CU_OTHER, "user": US}),
        "exam.e": (EX, {"course": CU, "configuration": "EC" + "1" * 32}),
        "user.u": (US, {}),
        "course.b": ("malformed", {}),
    }
    # the exam decides the course; the enrollment of another course is not taken
    assert doctor.sids_from_state(resources) == {"exam": EX, "course": CU, "user": US}
    assert doctor.sids_from_state({}) == {}


def test_sids_from_a_vendor_report_row_and_never_from_another_course() -> None:
    row = {
        "sid": ES,
        "examSid": EX,
        "enrollmentSid": EN,
        "status": "Scheduled",
        "exam": {"sid": EX, "courseSid": CU, "title": "t", "type": "Online"},
        "enrollment": {"userSid": US, "enrollmentSid": EN, "courseSid": CU, "role": "learner"},
    }
    report = ok("report", page(row))
    assert sids_from_answer(report, {}) == {
        "course": CU,
        "exam": EX,
        "enrollment": EN,
        "session": ES,
    }
    assert sids_from_answer(report, {"course": CU_OTHER}) == {}
    enrollments = ok("enrollments", page({"enrollmentSid": EN, "userSid": US}))
    assert sids_from_answer(enrollments, {}) == {"enrollment": EN, "user": US}
    assert sids_from_answer(ok("users", page()), {}) == {}
    assert sids_from_answer(err("users", 500, None), {}) == {}


# --- the verdict ------------------------------------------------------------------------------

LIMIT = (("offset", "0"), ("limit", "100"))


def vendor_answers() -> list[Answer]:
    """Every probe answered as the simulator's vendor dialect answers (VENDOR.md)."""
    row = {
        "sid": ES,
        "examSid": EX,
        "enrollmentSid": EN,
        "status": "Scheduled",
        "sessionType": "automated",
        "appointmentDate": "2027-03-01T14:00:00Z",
        "dateScheduled": "2027-01-01T00:00:00Z",
        "externalAppointmentId": None,
        "exam": {"sid": EX, "courseSid": CU, "title": "t", "type": "Online"},
        "enrollment": {"userSid": US, "enrollmentSid": EN, "courseSid": CU, "role": "learner"},
    }
    user = {
        "sid": US,
        "email": "a@b.c",
        "currencyCode": "USD",
        "timeZoneSid": "TZ1",
        "timezone": {},
    }
    user |= {"externalId": "x", "apiId": None, "lmsId": None}
    item = {"sid": ES, "status": "Scheduled", "sessionType": "automated"}
    item |= {"appointmentDate": None, "createdDate": "c", "editDate": "e"}
    session = {k: None for k in ("sid", "status", "statusReason", "externalAppointmentId", "notes")}
    session |= {"createdDate": "c", "editDate": "e"}
    hapi = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
    return [
        ok("settings", {"sid": AI}, headers=(("content-type", "application/json"),)),
        ok("users", page(user), LIMIT),
        ok("users-paging", page(user, total=3, nxt="https://api.example.com/u?offset=1&limit=1")),
        ok("user", user),
        ok("report", page(row), LIMIT),
        ok("report-status-one", page(row)),
        err("report-status-repeated", 400, {"code": "INVALIDINPUT", "message": "m", "status": 400}),
        err("report-limit-over", 400, {"code": "INVALIDINPUT", "message": "m", "status": 400}),
        ok("course", {"sid": CU, "title": "t", "courseCode": "C", "createdDate": "c"}),
        ok("exams", page(VENDOR_EXAM), LIMIT),
        ok("exam", VENDOR_EXAM, unreadable="configuration.proctorTypes: Input should be an object"),
        ok("enrollments", page({"enrollmentSid": EN, "userSid": US, "role": "learner"}), LIMIT),
        ok("sessions", page(item), LIMIT),
        ok("session", session, headers=(("retry-after", "1"), ("x-ratelimit-remaining", "9"))),
        err("unknown-sid", 404, {"code": "RESOURCENOTFOUND", "message": "m", "status": 404}),
        err("unknown-route", 404, hapi),
    ]


def test_vendor_answers_give_the_vendor_forms_and_what_is_unobservable() -> None:
    report = analyse("acme", AI, "https://api.example.com", vendor_answers(), {})
    assert report.forms == VENDOR_FORMS | {
        "rateLimitHeaders": ["retry-after", "x-ratelimit-remaining"],
    }
    assert report.resembles == "vendor"
    assert report.unobservable == [
        "report.createdDate",
        "report.editDate",
        "report.notes",
        "report.proctorLocationSid",
        "report.statusReason",
        "course.ids",
        "exams.description",
        "exams.ids",
        "exam.description",
        "exam.ids",
        "sessions.externalAppointmentId",
        "session.proctorLocationSid",
    ]
    # the exam answer spsync's reader refuses is the one problem; the deliberate 400s are not
    assert report.problems == [
        "GET /p: spsync cannot read this answer: "
        "configuration.proctorTypes: Input should be an object"
    ]
    assert report.warnings == []
    notes = {c.answer.probe: c.notes for c in report.checks}
    assert notes["report-status-repeated"] == [
        "a repeated status filter is refused (400): the filter takes one value"
    ]
    assert notes["report-limit-over"] == ["limit=101 refused (400): pages hold 100 at most"]
    assert notes["users-paging"] == ["next link: absolute URL, offset=1"]
    assert notes["unknown-route"] == [
        "404: error body {statusCode, error, message} (hapi's answer to a path without a route)"
    ]
    assert notes["report"] == [
        "absent: createdDate, editDate, notes, proctorLocationSid, statusReason",
        "nested objects: exam, enrollment",
    ]
    assert notes["enrollments"] == ["enrollment rows name their SID enrollmentSid"]


@pytest.mark.parametrize(
    ("answer", "problems", "warnings"),
    [
        (
            err("settings", 403, None, error="403 AUTHENTICATIONFAILED: bad token"),
            [
                "GET /p: the token was refused (403 AUTHENTICATIONFAILED: bad token); check the "
                "variable tenant.yaml's api.token names, and that the token belongs to this install"
            ],
            [],
        ),
        (
            Answer("settings", R, path="/p", error="cannot connect to http://h (ConnectError)"),
            ["GET /p: no answer: cannot connect to http://h (ConnectError)"],
            [],
        ),
        (
            err("settings", 404, None, error="404 RESOURCENOTFOUND: m"),
            ["GET /p: install not found (404 RESOURCENOTFOUND: m); check install: in tenant.yaml"],
            [],
        ),
        (
            err("exam", 404, None, error="404 RESOURCENOTFOUND: m"),
            [],
            [
                "GET /p: not found (404 RESOURCENOTFOUND: m); "
                "the state may name an object that is gone"
            ],
        ),
        (
            err("users", 400, None, error="400 INVALIDINPUT: limit"),
            ["GET /p: 400 INVALIDINPUT: limit"],
            [],
        ),
        (
            err("unknown-route", 502, None, error="502: Bad Gateway"),
            [],
            ["GET /p: 502: Bad Gateway"],
        ),
        (Answer("exam", R, skipped="no exam SID"), [], []),
    ],
)
def test_problems_and_warnings(answer: Answer, problems: list[str], warnings: list[str]) -> None:
    report = analyse("acme", AI, "https://h", [answer], {})
    assert (report.problems, report.warnings) == (problems, warnings)
    assert report.ok is (not problems)


def test_json_document_keys() -> None:
    report = analyse("acme", AI, "https://h", vendor_answers(), {"exam": (EX, "state")})
    doc = json.loads(doctor.render_json([report]))
    assert sorted(doc) == ["format_version", "tenants"]
    (t,) = doc["tenants"]
    assert sorted(t) == [
        "api_url",
        "calls",
        "dialect",
        "forms",
        "install",
        "ok",
        "problems",
        "read",
        "resembles",
        "tenant",
        "unobservable",
        "warnings",
    ]
    assert t["read"] == {"exam": {"sid": EX, "from": "state"}}
    assert [c["probe"] for c in t["calls"]] == list(doctor.PROBES)
    assert sorted(t["calls"][0]) == [
        "fields",
        "headers",
        "method",
        "notes",
        "outcome",
        "path",
        "probe",
        "query",
        "route",
        "status",
        "throttled",
    ]
    assert t["dialect"]["assignments"]["value"] is None


def test_field_names_from_the_server_are_cleaned_and_bounded() -> None:
    body = {f"k{i:03d}": 1 for i in range(doctor.MAX_FIELDS + 5)} | {"evil\x1b[31m": 1}
    (check,) = analyse("acme", AI, "https://h", [ok("course", body)], {}).checks
    assert check.fields[-1] == "… and 6 more"
    assert len(check.fields) == doctor.MAX_FIELDS + 1
    text = doctor.render_text([analyse("acme", AI, "https://h", [ok("user", {"a\x1bb": 1})], {})])
    assert "\x1b" not in text and "a\\x1bb" in text


def test_the_analysis_does_no_io() -> None:
    """doctor.py judges answers it is given: no HTTP, no CLI, no clock, no environment."""
    tree = ast.parse(Path(doctor.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    forbidden = ("httpx", "click", "os", "time", "spsync.api", "spsync.cli", "spsync.sandbox")
    assert {n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)} == set()
