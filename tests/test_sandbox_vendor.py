"""The simulator's ``vendor`` dialect over real HTTP: every answer that differs from the
contract, each switch, the serve options and the embedded sandbox's environment variables.

Requests are raw (httpx), answers compared exactly: the dialect exists so that clients can
be tried against the sparsest shapes the vendor documents.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from click.testing import CliRunner
from support.apply import sandbox_acme
from support.sandbox_flow import SANDBOX_INSTALL as AI
from support.sandbox_flow import SANDBOX_NOW, SANDBOX_TOKEN

from spsync.cli import main
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.embedded import open_embedded
from spsync.sandbox.server import ThreadedServer
from spsync.sandbox.vendor_views import timezone_sid

V1 = f"/v1/installs/{AI}"
PROVISION = f"/v2/installs/{AI}/provision"
NOW = "2027-01-15T12:00:00Z"
APPOINTMENT = "2027-03-01T14:00:00Z"
HAPI_404 = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
SESSION_KEYS = [
    "sid",
    "installSid",
    "examSid",
    "enrollmentSid",
    "userSid",
    "courseSid",
    "status",
    "statusReason",
    "sessionType",
    "proctorTypeSid",
    "duration",
    "appointmentDate",
    "appointmentEndDate",
    "dateScheduled",
    "externalAppointmentId",
    "notes",
    "createdDate",
    "editDate",
]
LIST_ITEM_KEYS = ["sid", "status", "sessionType", "appointmentDate", "createdDate", "editDate"]
MEMO = {"cancellationMemo": "learner asked", "reason": "changed-time"}


class Api:
    """One vendor-dialect server and a client of it (token set)."""

    def __init__(self, client: httpx.Client, server: ThreadedServer) -> None:
        self.c = client
        self.server = server

    def send(self, method: str, path: str, status: int = 200, **kw: Any) -> httpx.Response:
        r = self.c.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def json(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.send(method, path, status, **kw)
        assert r.headers["content-type"] == "application/json"
        return r.json()

    def provision(self, body: Any) -> dict[str, Any]:
        return self.json("POST", PROVISION, json=body)

    def setup(self, *, limited: bool = False) -> tuple[str, str, str]:
        """Course, exam (unlimited unless told) and one learner: (course, exam, enrollment)."""
        r = self.provision(pl.full(exam=pl.exam(limited=limited)))
        return r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]

    def sessions(self, en: str, ex: str) -> list[dict[str, Any]]:
        path = f"{V1}/enrollments/{en}/exams/{ex}/sessions"
        return self.json("GET", path, params={"includeActive": "true"})["results"]

    def active(self, en: str, ex: str) -> list[dict[str, Any]]:
        return [s for s in self.sessions(en, ex) if s["status"] in ("Needs Proctor", "Scheduled")]

    def session_path(self, ex: str, es: str) -> str:
        return f"{V1}/exams/{ex}/sessions/{es}"

    def schedule(self, ex: str, es: str, **over: Any) -> dict[str, Any]:
        body = pl.schedule(APPOINTMENT, **over)
        return self.json("POST", self.session_path(ex, es), json=body)

    def world_session(self, es: str) -> dict[str, Any]:
        """The stored session, as ``/_sandbox/world`` shows it (all fields)."""
        world = self.json("GET", "/_sandbox/world")
        (found,) = [s for s in world["installs"][0]["sessions"] if s["sid"] == es]
        return found

    def report(self, expect: int = 200, **params: Any) -> Any:
        return self.json("GET", f"{V1}/reports/appointments", expect, params=params)


def _ok(r: httpx.Response) -> None:
    """The answer of a hapi handler returning the string OK."""
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "OK"


@pytest.fixture
def vendor() -> Iterator[Callable[..., Api]]:
    """Starts a vendor-dialect server with the given switches (``after_cancel="same"``)."""
    with ExitStack() as stack:

        def start(**switches: Any) -> Api:
            srv = ThreadedServer(
                token=SANDBOX_TOKEN, now=SANDBOX_NOW, seed=11, dialect=Dialect.vendor(**switches)
            )
            stack.enter_context(srv)
            client = httpx.Client(base_url=srv.url, headers={"token": SANDBOX_TOKEN}, timeout=10)
            return Api(stack.enter_context(client), srv)

        yield start


# ------------------------------------------------------------------ 1. errors
def test_unknown_paths_and_methods_answer_hapis_404(vendor: Callable[..., Api]) -> None:
    api = vendor()
    _, ex, _ = api.setup()
    for method, path in [
        ("GET", f"{V1}/no-such-thing"),
        ("GET", "/v3/anything"),
        ("PATCH", f"{V1}/exams/{ex}/sessions/ES{'0' * 32}"),
        ("POST", f"{V1}/settings"),
    ]:
        r = api.c.request(method, path, headers={"token": ""})
        assert (r.status_code, r.json()) == (404, HAPI_404), (method, path)


def test_errors_of_known_routes_carry_no_details(vendor: Callable[..., Api]) -> None:
    api = vendor()
    got = api.json("GET", f"{V1}/exams/EXnope/sessions/ES{'0' * 32}", 400)
    assert got == {
        "code": "INVALIDINPUT",
        "message": "examSid: 'EXnope' is not a valid SID",
        "status": 400,
    }
    got = api.json("GET", f"{V1}/courses/CU{'0' * 32}", 404)
    assert got == {
        "code": "RESOURCENOTFOUND",
        "message": f"course CU{'0' * 32} not found",
        "status": 404,
    }
    r = httpx.get(f"{api.server.url}{V1}/settings")
    assert (r.status_code, r.json()) == (
        403,
        {
            "code": "AUTHENTICATIONFAILED",
            "message": "missing or unknown API token (header: token)",
            "status": 403,
        },
    )


# ------------------------------------------------------------------ 2. bodies
def test_unknown_keys_are_stripped_at_every_level_and_strings_trimmed(
    vendor: Callable[..., Api],
) -> None:
    api = vendor()
    body = pl.full(exam=pl.exam(limited=False))
    body["extra"] = {"anything": 1}
    body["course"]["ids"]["sisId"] = "ignored"
    body["course"]["title"] = "  Client Account - Acme Corp  "
    body["exam"]["practice"] = False
    body["exam"]["ids"]["api"] = "not an exam id kind"
    config = body["exam"]["configuration"]
    config["ids"] = {"api": "config-1"}
    config["access"]["timezone"] = "UTC"
    config["proctorTypes"][pl.TS_AUTO]["options"]["glowInTheDark"] = {}
    config["proctorTypes"][pl.TS_AUTO]["priority"] = 1
    config["permittedItems"]["calculator"]["brand"] = "any"
    config["permittedItems"]["slideRule"] = {"notes": "no"}
    body["user"]["nickname"] = "JJ"
    body["user"]["ids"]["email"] = "x@example.com"
    body["enrollment"]["state"] = "active"
    got = api.provision(body)
    assert got["course"]["result"] == "Created" and got["exam"]["result"] == "Created"
    world = api.json("GET", "/_sandbox/world")["installs"][0]
    (course,) = world["courses"]
    assert course["title"] == "Client Account - Acme Corp"
    assert course["ids"] == {"external": "client-account-123"}
    (exam,) = world["exams"]
    assert exam["ids"] == {"external": "certification-exam-456"}
    assert exam["configuration"]["proctorTypes"] == {
        pl.TS_LIVE: {},
        pl.TS_AUTO: {"options": {"recordScreen": {}}},
    }
    assert exam["configuration"]["permittedItems"] == {"calculator": {"notes": "Basic only"}}
    assert exam["configuration"]["access"] == {
        "open": "2027-02-01T00:00:00Z",
        "close": "2027-12-31T23:59:59Z",
    }
    (user,) = world["users"]
    assert user["ids"] == {"external": "user-789"}
    # Stripped inside objects in lists too: the guide form's items.
    api2 = vendor(assignment_form="guide")
    cu, ex, en = api2.setup(limited=True)
    body = {"add": [{"enrollmentSid": f"  {en} ", "role": "learner"}], "note": "x"}
    _ok(api2.send("PUT", f"{V1}/courses/{cu}/exams/{ex}/assignments", json=body))
    assert len(api2.active(en, ex)) == 1


@pytest.mark.parametrize(
    ("method", "suffix", "body", "field"),
    [
        ("POST", "", pl.schedule(APPOINTMENT, notes=""), "notes"),
        ("POST", "", pl.schedule(APPOINTMENT, externalAppointmentId="  "), "externalAppointmentId"),
        ("PUT", "", {"appointmentDateTime": APPOINTMENT, "notes": ""}, "notes"),
        ("DELETE", "", {"cancellationMemo": "", "reason": "no-show"}, "cancellationMemo"),
    ],
)
def test_empty_optional_strings_are_refused_on_v1_routes(
    vendor: Callable[..., Api], method: str, suffix: str, body: dict[str, Any], field: str
) -> None:
    api = vendor()
    _, ex, en = api.setup()
    (session,) = api.active(en, ex)
    path = api.session_path(ex, session["sid"])
    if method == "PUT":
        api.schedule(ex, session["sid"])
    got = api.json(method, path, 400, json=body)
    assert got == {
        "code": "INVALIDINPUT",
        "message": f'"{field}" is not allowed to be empty',
        "status": 400,
    }


def test_the_vendors_sample_provision_request_is_accepted(vendor: Callable[..., Api]) -> None:
    """The shape of the vendor's published sample (values our own): documented keys the
    simulator does not model (``practice``, ``deliverySystem``, configuration ``ids`` and
    ``type``) and ``""`` scheduling dates."""
    sample = {
        "course": {"ids": {"api": "demo-course"}, "title": "Demo Course", "code": "demo"},
        "exam": {
            "ids": {"external": "final-2027"},
            "title": "Final",
            "description": "The final exam.",
            "type": "online",
            "practice": False,
            "limitedScope": False,
            "deliverySystem": "",
            "configuration": {
                "ids": {"api": "final-config"},
                "type": "primary",
                "url": "https://exams.example.org/final",
                "access": {"open": "2027-02-01T09:00:00Z", "close": "2027-02-05T17:00:00Z"},
                "scheduling": {"open": "", "close": ""},
                "duration": 90,
                "password": "final-pw-2027",
                "attempts": 1,
                "notes": {"student": "Bring ID", "proctor": "Check desk"},
                "proctorTypes": {
                    "TS6d6011935f4646848ea4f7a29b4f61a5": {
                        "options": {"recordScreen": {}, "verifyId": {}, "roomScan": {}}
                    }
                },
                "permittedItems": {
                    "bathroomBreak": {"notes": "One break"},
                    "formulaSheet": {"notes": ""},
                    "websites": {"notes": ""},
                },
            },
        },
    }
    api = vendor()
    got = api.provision(sample)
    assert {k: v["result"] for k, v in got.items()} == {
        "course": "Created",
        "exam": "Created",
        "configuration": "Created",
    }
    exam = api.json("GET", f"{V1}/courses/{got['course']['sid']}/exams/{got['exam']['sid']}")
    config = exam["configuration"]
    assert (config["scheduleOpenDate"], config["scheduleCloseDate"]) == (None, None)
    assert (config["permittedFormulaSheet"], config["permittedFormulaSheetInformation"]) == (
        True,
        "",
    )
    assert api.provision(sample)["exam"]["result"] == "Found Existing"
    # The second sample: a learner into an existing course, with a sign-on link.
    enroll = {
        "course": {"ids": {"sid": got["course"]["sid"]}},
        "user": {
            "ids": {"api": "learner-42"},
            "firstName": "Ada",
            "lastName": "Byron",
            "email": "ada@example.org",
            "currencyCode": "USD",
            "timeZone": "Europe/London",
        },
        "enrollment": {"role": "learner"},
        "signon": {"integrationSid": "II" + "ab12" * 8},
    }
    got = api.provision(enroll)
    assert [got[k]["result"] for k in ("course", "user", "enrollment")] == [
        "Found Existing",
        "Created",
        "Created",
    ]
    assert got["signon"]["redirect"].startswith("https://signon.smarterproctoring.com/sso/II")


def test_pt_locations_are_refused_and_currency_code_is_no_alias(
    vendor: Callable[..., Api],
) -> None:
    api = vendor()
    _, ex, en = api.setup()
    (session,) = api.active(en, ex)
    path = api.session_path(ex, session["sid"])
    pt = pl.schedule(APPOINTMENT, proctorLocationSid="PT" + "a" * 32)
    assert api.json("POST", path, 400, json=pt) == {
        "code": "INVALIDINPUT",
        "message": '"proctorLocationSid" must be a proctor location SID: PL followed by 32 '
        "lowercase hex characters",
        "status": 400,
    }
    body = pl.schedule(APPOINTMENT, currencyCode="EUR", amount=25)
    del body["currency"]
    api.json("POST", path, json=body)
    stored = api.world_session(session["sid"])
    assert (stored["currency"], stored["amount"]) == ("USD", 25)


# ------------------------------------------------------------------ 3, 4. assignments, answers
def _assignment(form: str, cu: str, ex: str, add: list[str], remove: list[str]) -> tuple:
    if form == "guide":
        body: dict[str, Any] = {"add": [{"enrollmentSid": e} for e in add]}
        if remove:
            body["remove"] = [{"enrollmentSid": e} for e in remove]
        return f"{V1}/courses/{cu}/exams/{ex}/assignments", body
    if form == "exam":
        body = {}
        if add:
            body["added"] = {"courseSid": cu, "sectionSid": ["CS" + "1" * 32], "enrollmentSid": add}
        if remove:
            body["removed"] = {"courseSid": cu, "enrollmentSid": remove}
        return f"{V1}/exams/{ex}/assignments", body
    return f"{V1}/exams/{ex}/assignment", {"added": add, "removed": remove}


@pytest.mark.parametrize("form", ["guide", "exam", "newest"])
def test_each_assignment_form_and_its_effect(vendor: Callable[..., Api], form: str) -> None:
    api = vendor(assignment_form=form)
    cu, ex, en = api.setup(limited=True)
    assert api.sessions(en, ex) == []
    path, body = _assignment(form, cu, ex, [en], [])
    _ok(api.send("PUT", path, json=body))
    (session,) = api.active(en, ex)
    assert session["status"] == "Needs Proctor"
    _ok(api.send("PUT", path, json=body))  # again: still one active session
    assert [s["sid"] for s in api.active(en, ex)] == [session["sid"]]
    path, body = _assignment(form, cu, ex, [], [en])
    _ok(api.send("PUT", path, json=body))
    if form == "guide":
        # ``remove`` is not a documented key of the guide's form: stripped, no effect.
        assert [s["sid"] for s in api.active(en, ex)] == [session["sid"]]
    else:
        assert api.active(en, ex) == []
        stored = api.world_session(session["sid"])
        assert (stored["status"], stored["statusReason"]) == (
            "Cancelled",
            "removed-by-limited-scope",
        )
    others = {"guide", "exam", "newest"} - {form}
    for other in sorted(others):
        path, body = _assignment(other, cu, ex, [en], [])
        r = api.c.put(path, json=body)
        assert (r.status_code, r.json()) == (404, HAPI_404), other


def test_exam_form_checks_the_course(vendor: Callable[..., Api]) -> None:
    api = vendor(assignment_form="exam")
    _, ex, en = api.setup(limited=True)
    other = "CU" + "2" * 32
    body = {"added": {"courseSid": other, "enrollmentSid": [en]}}
    got = api.json("PUT", f"{V1}/exams/{ex}/assignments", 404, json=body)
    assert got == {
        "code": "RESOURCENOTFOUND",
        "message": f"course {other} not found",
        "status": 404,
    }
    body = {"added": {"enrollmentSid": [en]}}
    got = api.json("PUT", f"{V1}/exams/{ex}/assignments", 400, json=body)
    assert got["message"] == '"added.courseSid" must be a course SID: CU + 32 lowercase hex'


def test_schedule_answers_the_session_and_reschedule_and_cancel_answer_ok(
    vendor: Callable[..., Api],
) -> None:
    api = vendor()
    _, ex, en = api.setup()
    (session,) = api.active(en, ex)
    es = session["sid"]
    got = api.schedule(ex, es, notes="Quiet room")
    assert list(got) == SESSION_KEYS
    assert {k: got[k] for k in ("status", "sessionType", "appointmentDate", "notes")} == {
        "status": "Scheduled",
        "sessionType": "automated",
        "appointmentDate": APPOINTMENT,
        "notes": "Quiet room",
    }
    assert got["appointmentEndDate"] == "2027-03-01T16:00:00Z"
    assert got["externalAppointmentId"] == "acme-appt-0001"
    assert api.json("GET", api.session_path(ex, es)) == got
    moved = {"appointmentDateTime": "2027-03-02T09:00:00Z", "type": "proctoru"}
    _ok(api.send("PUT", api.session_path(ex, es), json=moved))
    after = api.json("GET", api.session_path(ex, es))
    assert (after["appointmentDate"], after["sessionType"]) == ("2027-03-02T09:00:00Z", "automated")
    _ok(api.send("DELETE", api.session_path(ex, es), json=MEMO))
    assert api.json("GET", api.session_path(ex, es))["status"] == "Cancelled"


# ------------------------------------------------------------------ 6-8. reads of sessions
def test_list_items_details_and_report_rows_have_exactly_the_documented_keys(
    vendor: Callable[..., Api],
) -> None:
    api = vendor()
    cu, ex, en = api.setup()
    (item,) = api.sessions(en, ex)
    assert list(item) == LIST_ITEM_KEYS
    api.schedule(ex, item["sid"])
    details = api.json("GET", api.session_path(ex, item["sid"]))
    assert list(details) == SESSION_KEYS
    user_sid = details["userSid"]
    (row,) = api.report()["results"]
    assert row == {
        "sid": item["sid"],
        "examSid": ex,
        "enrollmentSid": en,
        "status": "Scheduled",
        "sessionType": "automated",
        "appointmentDate": APPOINTMENT,
        "dateScheduled": NOW,
        "externalAppointmentId": "acme-appt-0001",
        "exam": {
            "sid": ex,
            "courseSid": cu,
            "title": "Professional Certification Exam",
            "type": "Online",
        },
        "enrollment": {
            "userSid": user_sid,
            "enrollmentSid": en,
            "courseSid": cu,
            "role": "learner",
        },
    }


def test_report_status_takes_one_value(vendor: Callable[..., Api]) -> None:
    api = vendor()
    _, ex, en = api.setup()
    (session,) = api.active(en, ex)
    assert [r["sid"] for r in api.report(status="Needs Proctor")["results"]] == [session["sid"]]
    assert api.report(status="Scheduled")["results"] == []
    got = api.report(400, status=["Scheduled", "Needs Proctor"])
    assert got == {
        "code": "INVALIDINPUT",
        "message": '"status" must be a single value',
        "status": 400,
    }
    assert api.report(400, status="Scheduled,Needs Proctor")["message"] == (
        '"status" must be one of Needs Proctor, Scheduled, Cancelled, In Progress, Closed'
    )
    assert api.report(400, status="active")["code"] == "INVALIDINPUT"


@pytest.mark.parametrize(("rows", "expect"), [("all", 2), ("booked", 1)])
def test_report_rows_switch(vendor: Callable[..., Api], rows: str, expect: int) -> None:
    api = vendor(report_rows=rows)
    cu, ex, en = api.setup()
    en2 = api.provision(pl.in_course(cu, user=pl.user("u-2"), enrollment={}))["enrollment"]["sid"]
    (booked,) = api.active(en, ex)
    api.schedule(ex, booked["sid"])
    (unbooked,) = api.active(en2, ex)
    got = api.report()
    assert got["total"] == expect
    sids = [r["sid"] for r in got["results"]]
    assert sids == ([booked["sid"], unbooked["sid"]] if rows == "all" else [booked["sid"]])


# ------------------------------------------------------------------ 9. after cancel
def test_after_cancel_new_gives_a_fresh_session(vendor: Callable[..., Api]) -> None:
    api = vendor(after_cancel="new")
    _, ex, en = api.setup()
    (first,) = api.active(en, ex)
    api.schedule(ex, first["sid"])
    _ok(api.send("DELETE", api.session_path(ex, first["sid"]), json=MEMO))
    (fresh,) = api.active(en, ex)
    assert fresh["sid"] != first["sid"] and fresh["status"] == "Needs Proctor"
    assert api.json("GET", api.session_path(ex, first["sid"]))["status"] == "Cancelled"


def test_after_cancel_same_reopens_the_session(vendor: Callable[..., Api]) -> None:
    api = vendor(after_cancel="same")
    _, ex, en = api.setup()
    (first,) = api.active(en, ex)
    api.schedule(ex, first["sid"], notes="n")
    _ok(api.send("DELETE", api.session_path(ex, first["sid"]), json=MEMO))
    assert [s["sid"] for s in api.sessions(en, ex)] == [first["sid"]]
    got = api.json("GET", api.session_path(ex, first["sid"]))
    assert {k: got[k] for k in SESSION_KEYS[6:]} == {
        "status": "Needs Proctor",
        "statusReason": None,
        "sessionType": None,
        "proctorTypeSid": None,
        "duration": 120,
        "appointmentDate": None,
        "appointmentEndDate": None,
        "dateScheduled": None,
        "externalAppointmentId": None,
        "notes": None,
        "createdDate": NOW,
        "editDate": NOW,
    }
    assert api.world_session(first["sid"])["proctorLocationSid"] is None
    assert api.server.world.check_invariants() == []
    # It can be booked again.
    assert api.schedule(ex, first["sid"])["status"] == "Scheduled"


@pytest.mark.parametrize("form", ["guide", "exam", "newest"])
def test_after_cancel_none_leaves_no_session_until_assigned_again(
    vendor: Callable[..., Api], form: str
) -> None:
    api = vendor(after_cancel="none", assignment_form=form)
    cu, ex, en = api.setup(limited=True)
    path, body = _assignment(form, cu, ex, [en], [])
    _ok(api.send("PUT", path, json=body))
    (first,) = api.active(en, ex)
    _ok(api.send("DELETE", api.session_path(ex, first["sid"]), json=MEMO))
    assert api.active(en, ex) == []
    world = api.server.world
    assert world.check_invariants(require_sessions=False) == []
    assert world.check_invariants() == [f"{AI}: {en} lacks an active session of {ex}"]
    _ok(api.send("PUT", path, json=body))
    (again,) = api.active(en, ex)
    assert again["sid"] != first["sid"] and again["status"] == "Needs Proctor"
    assert world.check_invariants() == []


# ------------------------------------------------------------------ 10. v1 reads
def test_v1_exam_shape_and_permitted_items(vendor: Callable[..., Api]) -> None:
    api = vendor()
    config = pl.configuration(
        permittedItems={
            "formulaSheet": {"notes": "One page"},
            "notes": {},
            "calculator": {"notes": "Basic only"},
        }
    )
    got = api.provision(pl.full(exam=pl.exam(configuration=config)))
    cu, ex = got["course"]["sid"], got["exam"]["sid"]
    exam = api.json("GET", f"{V1}/courses/{cu}/exams/{ex}")
    permitted = {}
    for item in [
        "BathroomBreak",
        "BlankPaper",
        "Calculator",
        "Dictionary",
        "Earplugs",
        "FormulaSheet",
        "Notes",
        "Textbook",
        "Websites",
    ]:
        permitted[f"permitted{item}"] = False
        permitted[f"permitted{item}Information"] = ""
    permitted.update(
        permittedFormulaSheet=True,
        permittedFormulaSheetInformation="One page",
        permittedNotes=True,
        permittedCalculator=True,
        permittedCalculatorInformation="Basic only",
    )
    assert exam == {
        "sid": ex,
        "courseSid": cu,
        "title": "Professional Certification Exam",
        "description": None,
        "type": "Online",
        "isLimitedScope": True,
        "status": "active",
        "useProctorManager": False,
        "requireApproval": False,
        "enableAppointmentSuggestions": False,
        "url": "https://exams.example.com/exam/456",
        "createdDate": NOW,
        "editDate": NOW,
        "configuration": {
            "sid": got["configuration"]["sid"],
            "url": "https://exams.example.com/exam/456",
            "examOpenDate": "2027-02-01T00:00:00Z",
            "examCloseDate": "2027-12-31T23:59:59Z",
            "scheduleOpenDate": "2027-01-01T00:00:00Z",
            "scheduleCloseDate": "2027-12-30T00:00:00Z",
            "duration": 120,
            "attempts": 1,
            "password": "exam-secure-password",
            "studentNotes": "Have your ID ready.",
            "proctorNotes": "Verify identity.",
            "proctorTypes": [pl.TS_LIVE, pl.TS_AUTO],
            **permitted,
            "permittedOtherItems": "",
        },
    }
    listed = api.json("GET", f"{V1}/courses/{cu}/exams")["results"]
    assert listed == [exam]
    written = pl.exam("written-1", type="written")
    api.provision(pl.in_course(cu, exam=written))
    types = [e["type"] for e in api.json("GET", f"{V1}/courses/{cu}/exams")["results"]]
    assert types == ["Online", "Written"]


def test_v1_user_enrollment_and_course_shapes(vendor: Callable[..., Api]) -> None:
    api = vendor()
    cu, _, en = api.setup()
    (user,) = api.json("GET", f"{V1}/users")["results"]
    tz = timezone_sid("America/New_York")
    assert user == {
        "sid": user["sid"],
        "firstName": "Jane",
        "lastName": "Smith",
        "email": "user-789@example.com",
        "currencyCode": "USD",
        "timeZoneSid": tz,
        "timezone": {"sid": tz},
        "externalId": "user-789",
        "apiId": None,
        "lmsId": None,
        "enabled": True,
        "createdDate": NOW,
        "editDate": NOW,
    }
    assert api.json("GET", f"{V1}/users/{user['sid']}/profile") == user
    rows = api.json("GET", f"{V1}/courses/{cu}/enrollments")["results"]
    assert rows == [
        {
            "enrollmentSid": en,
            "userSid": user["sid"],
            "courseSid": cu,
            "role": "learner",
            "state": "active",
        }
    ]
    assert api.json("GET", f"{V1}/courses/{cu}") == {
        "sid": cu,
        "title": "Client Account - Acme Corp",
        "courseCode": "ACME-001",
        "createdDate": NOW,
        "editDate": NOW,
    }


# ------------------------------------------------------------------ 11, 12. paging, rate limit
def test_page_max(vendor: Callable[..., Api]) -> None:
    api = vendor()
    cu, _, _ = api.setup()
    path = f"{V1}/courses/{cu}/enrollments"
    assert api.json("GET", path, params={"limit": 100})["count"] == 1
    assert api.json("GET", path, 400, params={"limit": 101}) == {
        "code": "INVALIDINPUT",
        "message": '"limit" must be an integer from 1 to 100',
        "status": 400,
    }
    small = vendor(page_max=2)
    cu, _, _ = small.setup()
    for i in range(2):
        small.provision(pl.in_course(cu, user=pl.user(f"u{i}"), enrollment={}))
    got = small.json("GET", f"{V1}/courses/{cu}/enrollments")
    assert (got["total"], got["count"]) == (3, 2)
    assert got["next"].endswith("offset=2&limit=2")
    assert small.json("GET", f"{V1}/users", 400, params={"limit": 3})["message"] == (
        '"limit" must be an integer from 1 to 2'
    )
    large = vendor(page_max=150)
    large.setup()
    assert large.json("GET", f"{V1}/reports/appointments", params={"limit": 150})["total"] == 1


def test_rate_limit_answers_only_retry_after() -> None:
    # One request's worth of burst, refilled every 100 s: the first passes, the rest wait.
    with (
        ThreadedServer(token="t", rate_limit=0.01, dialect=Dialect.vendor()) as srv,
        httpx.Client(base_url=srv.url, headers={"token": "t"}, timeout=10) as c,
    ):
        answers = [c.get(f"{V1}/settings") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 429, 429]
    for r in answers[1:]:
        assert r.json()["code"] == "TOOMANYREQUESTS" and "details" not in r.json()
        assert sorted(r.headers) == [
            "content-length",
            "content-type",
            "date",
            "retry-after",
            "server",
        ]
    assert answers[0].json() == {
        "sid": AI,
        "defaultCurrencyCode": "USD",
        "defaultTimezone": "America/New_York",
        "proctorTypes": [
            {"sid": "TS4b894875d26194988853e490dfb9bc41"},
            {"sid": "TS63dda27a6ba54c218449b934b7bb1ba8"},
            {"sid": "TS9531c6b112f145018dae3cd2a9f60c4c"},
            {"sid": "TS6d6011935f4646848ea4f7a29b4f61a5"},
            {"sid": "TSbff39e6956b84f6399ecaac991d9a529"},
            {"sid": "TSc93c23e553ba4e2f9758e3f0649b667b"},
        ],
    }


def test_config_view_shows_the_dialect(vendor: Callable[..., Api]) -> None:
    api = vendor(assignment_form="exam", after_cancel="none", page_max=7, report_rows="booked")
    assert api.json("GET", "/_sandbox/config")["dialect"] == {
        "name": "vendor",
        "assignmentForm": "exam",
        "afterCancel": "none",
        "pageMax": 7,
        "reportRows": "booked",
    }


# ------------------------------------------------------------------ serve and embedded
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialect", "vendr"], "--dialect: must be one of contract, vendor, got 'vendr'"),
        (
            ["--dialect", "vendor", "--assignment-form", "course"],
            "--assignment-form: must be one of guide, exam, newest, got 'course'",
        ),
        (
            ["--dialect", "vendor", "--after-cancel", "later"],
            "--after-cancel: must be one of new, same, none, got 'later'",
        ),
        (["--dialect", "vendor", "--page-max", "0"], "--page-max: must be from 1 to 10000, got 0"),
        (["--dialect", "vendor", "--page-max", "ten"], "--page-max: must be an integer, got 'ten'"),
        (
            ["--dialect", "vendor", "--page-max", "9" * 30],
            "--page-max: must be from 1 to 10000, got 999999999999999999999...",
        ),
        (
            ["--dialect", "vendor", "--report-rows", "some"],
            "--report-rows: must be one of all, booked, got 'some'",
        ),
        (["--after-cancel", "same"], "--after-cancel: applies only to the vendor dialect"),
    ],
)
def test_bad_dialect_options_exit_1_naming_the_option(args: list[str], message: str) -> None:
    r = CliRunner().invoke(main, ["sandbox", "serve", *args])
    assert r.exit_code == 1
    assert r.stderr == f"error: {message}\n"


def test_serve_speaks_the_vendor_dialect() -> None:
    cmd = [sys.executable, "-m", "spsync", "sandbox", "serve", "--port", "0", "--token", "t"]
    cmd += ["--dialect", "vendor", "--assignment-form", "exam", "--after-cancel", "same"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    popen = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    with popen as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("spsync sandbox listening on http://127.0.0.1:"), line
            url = line.rsplit(" ", 1)[1].strip()
            with httpx.Client(base_url=url, headers={"token": "t"}, timeout=10) as c:
                assert c.get("/_sandbox/config").json()["dialect"] == {
                    "name": "vendor",
                    "assignmentForm": "exam",
                    "afterCancel": "same",
                    "pageMax": 100,
                    "reportRows": "all",
                }
                r = c.put(f"{V1}/exams/EX{'0' * 32}/assignment", json={"added": []})
                assert (r.status_code, r.json()) == (404, HAPI_404)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


async def _config_and_unknown_path(app: Any) -> tuple[dict[str, Any], httpx.Response]:
    """``GET /_sandbox/config`` and an unknown API path, through the ASGI transport."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox", headers={"token": "t"}
    ) as c:
        return (await c.get("/_sandbox/config")).json(), await c.get(f"{V1}/nothing-here")


def test_embedded_sandbox_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPSYNC_SANDBOX_DIALECT", "vendor")
    monkeypatch.setenv("SPSYNC_SANDBOX_ASSIGNMENT_FORM", "guide")
    monkeypatch.setenv("SPSYNC_SANDBOX_AFTER_CANCEL", "none")
    monkeypatch.setenv("SPSYNC_SANDBOX_PAGE_MAX", "20")
    monkeypatch.setenv("SPSYNC_SANDBOX_REPORT_ROWS", "booked")
    app, _world = open_embedded(tmp_path / "sb", now=SANDBOX_NOW)
    config, unknown = asyncio.run(_config_and_unknown_path(app))
    assert config["dialect"] == {
        "name": "vendor",
        "assignmentForm": "guide",
        "afterCancel": "none",
        "pageMax": 20,
        "reportRows": "booked",
    }
    assert (unknown.status_code, unknown.json()) == (404, HAPI_404)
    monkeypatch.delenv("SPSYNC_SANDBOX_DIALECT")
    for var in ("ASSIGNMENT_FORM", "AFTER_CANCEL", "PAGE_MAX", "REPORT_ROWS"):
        monkeypatch.setenv(f"SPSYNC_SANDBOX_{var}", "")
    app, _world = open_embedded(tmp_path / "sb2", now=SANDBOX_NOW)
    config, unknown = asyncio.run(_config_and_unknown_path(app))
    assert "dialect" not in config
    assert (unknown.status_code, unknown.json()["code"]) == (400, "INVALIDURI")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SPSYNC_SANDBOX_DIALECT": "hapi"},
            "SPSYNC_SANDBOX_DIALECT: must be one of contract, vendor, got 'hapi'",
        ),
        (
            {"SPSYNC_SANDBOX_DIALECT": "vendor", "SPSYNC_SANDBOX_AFTER_CANCEL": "maybe"},
            "SPSYNC_SANDBOX_AFTER_CANCEL: must be one of new, same, none, got 'maybe'",
        ),
        (
            {"SPSYNC_SANDBOX_DIALECT": "vendor", "SPSYNC_SANDBOX_PAGE_MAX": "-5"},
            "SPSYNC_SANDBOX_PAGE_MAX: must be from 1 to 10000, got -5",
        ),
        (
            {"SPSYNC_SANDBOX_REPORT_ROWS": "booked"},
            "SPSYNC_SANDBOX_REPORT_ROWS: applies only to the vendor dialect",
        ),
    ],
)
def test_bad_embedded_settings_are_located_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    sandbox_acme(tmp_path, monkeypatch, "tenants")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = CliRunner().invoke(main, ["--sandbox", "plan", "tenants/acme"])
    assert r.exit_code == 1, r.stdout + r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_contract_is_still_the_default() -> None:
    assert Dialect() == Dialect.contract()
    assert Dialect.vendor() == Dialect("vendor", "newest", "new", 100, "all")
    assert copy.copy(Dialect.vendor(after_cancel="same")).after_cancel == "same"
