"""Answers the vendor's documents leave room for, read by ``spsync plan`` and ``apply`` from
the simulator in the vendor's dialect over real HTTP, behind a front that rewrites them (a
report that answers 404, a field left out, a row twice, times without a zone...).

What a plan is allowed to make of them: never a change from missing or contradictory
evidence (docs/api-dialects.md, rule 2), and what the plan shows is all apply writes."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner, Result
from support.api import Rule, Tamper
from support.apply import sandbox_acme
from support.reliability import TOKEN, tampered

from spsync.cli import main
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.server import ThreadedServer

NOW = datetime(2027, 6, 1, tzinfo=UTC)
ENV = {"SPSYNC_ACME_TOKEN": TOKEN, "NO_COLOR": "1"}
HEAD = "Tenant acme (install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6, state serial 2)"
NO_CHANGES = "No changes. acme matches its manifests (44 resources unchanged)."
#: the warning every plan of the vendor's dialect carries (its users show no IANA zone)
TZ_WARNING = (
    "Warning: users: the API's reads do not return timeZone: spsync keeps their last "
    "applied values and cannot see a change made to them outside spsync "
    "(docs/api-dialects.md)"
)


#: the warning of every plan of the vendor's dialect about its exams: their reads list
#: the proctor types' SIDs alone
EXAMS_WARNING = (
    "Warning: exams: the API's reads do not return configuration.proctorTypes.options: "
    "spsync keeps their last applied values and cannot see a change made to them outside "
    "spsync (docs/api-dialects.md)"
)


def sessions_warning(fields: str = "notes, proctorLocation") -> str:
    """The warning of every plan of the vendor's dialect about its sessions: ``fields`` are
    those its report's rows do not carry (its enrollments' own lists carry fewer)."""
    return (
        f"Warning: sessions: the API's reads do not return {fields}: spsync keeps their last "
        "applied values and cannot see a change made to them outside spsync "
        "(docs/api-dialects.md)"
    )


NOT_FOUND = b'{"code":"RESOURCENOTFOUND","message":"not found","status":404}'


class Vendor:
    """The acme tenant applied on the vendor's dialect, with the front to tamper through."""

    def __init__(self, srv: ThreadedServer, front: Tamper, tenant: Path) -> None:
        self.srv = srv
        self.front = front
        self.tenant = tenant

    def cli(self, *args: str) -> Result:
        r = CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)
        assert "Traceback" not in r.output
        return r

    def plan(self) -> list[str]:
        """The plan's lines, blank ones left out."""
        r = self.cli("plan", str(self.tenant))
        assert r.exit_code == 0, r.output
        return [line for line in r.stdout.splitlines() if line.strip()]

    def answer(self, method: str, path: str, **kw: Any) -> None:
        """Every matching request from now on answered as ``kw`` says (``Rule``)."""
        self.front.add(Rule(method, path, times=10**6, **kw))

    def rewrite(self, method: str, path: str, edit: Callable[[Any], Any]) -> None:
        """Every matching answer's JSON handed to ``edit`` from now on."""

        def on_body(raw: bytes) -> bytes:
            return json.dumps(edit(json.loads(raw))).encode() if raw else raw

        self.answer(method, path, action="edit-after", edit=on_body)

    def control(self, method: str, path: str) -> Any:
        r = httpx.request(method, self.srv.url + path, headers={"token": TOKEN}, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else None

    def writes_of(self, args: tuple[str, ...]) -> dict[str, int]:
        """Run ``spsync ARGS`` and give the writes the server saw meanwhile."""
        self.control("DELETE", "/_sandbox/requests")
        r = self.cli(*args)
        assert r.exit_code == 0, r.output
        counts = self.control("GET", "/_sandbox/requests")["counts"]
        return {k: n for k, n in counts.items() if not k.startswith("GET ")}


@contextmanager
def applied_acme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: Dialect
) -> Iterator[Vendor]:
    """The acme tenant applied on a simulator speaking ``dialect``, behind a front."""
    with tampered(dialect=dialect, now=NOW, seed=1) as (srv, front):
        tenant = sandbox_acme(tmp_path, monkeypatch, "manifests")
        text = (tenant / "tenant.yaml").read_text()
        (tenant / "tenant.yaml").write_text(
            text.replace("https://api.smarterproctoring.com", srv.url)
        )
        v = Vendor(srv, front, tenant)
        first = v.cli("apply", str(tenant), "--auto-approve")
        assert first.exit_code == 0, first.output
        yield v


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vendor]:
    with applied_acme(tmp_path, monkeypatch, Dialect.vendor()) as v:
        assert v.plan()[-1] == NO_CHANGES
        yield v


def test_a_report_answering_404_for_an_exam_that_reads_is_asked_again(vendor: Vendor) -> None:
    # the exams read 200, their appointments report 404: not "no sessions"; each
    # enrollment's own list is read as for a report that lists nothing
    vendor.answer(
        "GET", r"/reports/appointments", action="before", status=404, body=NOT_FOUND,
        content_type="application/json",
    )  # fmt: skip
    assert vendor.plan() == [
        HEAD,
        EXAMS_WARNING,
        sessions_warning("externalAppointmentId, notes, proctorLocation"),
        TZ_WARNING,
        NO_CHANGES,
    ]
    assert vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve")) == {}


def test_both_session_lists_answering_404_for_an_exam_that_reads_stop_it(vendor: Vendor) -> None:
    # the report and the enrollment's own list both 404 while the exam reads: a contradiction,
    # never "no sessions" (which would plan every assignment and booking again)
    for route in (r"/reports/appointments", r"/enrollments/EN[0-9a-f]+/exams/EX[0-9a-f]+/sessions"):
        vendor.answer(
            "GET", route, action="before", status=404, body=NOT_FOUND,
            content_type="application/json",
        )  # fmt: skip
    for args in (("plan",), ("apply", "--auto-approve")):
        r = vendor.cli(*args, str(vendor.tenant))
        assert r.exit_code == 1
        assert re.fullmatch(
            r"error: GET /v1/installs/\{installSid\}/enrollments/\{enrollmentSid\}/exams/"
            r"\{examSid\}/sessions: 404 RESOURCENOTFOUND for the sessions of enrollment "
            r"EN[0-9a-f]{32} in exam EX[0-9a-f]{32}, and for the exam's appointments report, "
            r"while the exam itself reads: spsync cannot tell which sessions it has "
            r"\(see docs/api-dialects.md\)\n",
            r.stderr,
        ), r.stderr


#: the warning of a plan whose enrollment rows carry no role
ROLE_WARNING = (
    "Warning: enrollments: the API's reads do not return role: spsync keeps their last "
    "applied values and cannot see a change made to them outside spsync "
    "(docs/api-dialects.md)"
)


def _each_row(edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    """An edit of a list answer: ``edit`` applied to each of its rows."""

    def on_page(page: Any) -> Any:
        return {**page, "results": [edit(dict(row)) for row in page["results"]]}

    return on_page


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda row: {k: v for k, v in row.items() if k != "role"}, id="left-out"),
        pytest.param(lambda row: {**row, "role": None}, id="null"),
    ],
)
def test_an_enrollment_role_not_shown_is_unknown_not_changed(
    vendor: Vendor, edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    vendor.rewrite("GET", r"/courses/CU[0-9a-f]+/enrollments$", _each_row(edit))
    assert vendor.plan() == [
        HEAD,
        ROLE_WARNING,
        EXAMS_WARNING,
        sessions_warning(),
        TZ_WARNING,
        NO_CHANGES,
    ]
    assert vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve")) == {}


# --- a booking made again by hand --------------------------------------------------------

INSTALL = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
LOCATION = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"


def api(vendor: Vendor, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(
        method, f"{vendor.srv.url}/v1/installs/{INSTALL}{path}", json=body,
        headers={"token": TOKEN}, timeout=10,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json() if r.headers.get("content-type", "").startswith("application/json") else None


def rebook_by_hand(vendor: Vendor, appointment: str) -> tuple[str, str]:
    """Cancel jane's cert-456 booking as a person would, and book the session the service
    opened for her at ``appointment`` (same type and location). Gives (old SID, new SID)."""
    state = json.loads((vendor.tenant.parent.parent / "state" / "acme.json").read_text())
    rec = state["resources"]["session.cert-456.jane"]
    exam, old = rec["refs"]["exam"], rec["sid"]
    enrollment = rec["refs"]["enrollment"]
    memo = {"cancellationMemo": "by hand", "reason": "other-reason"}
    api(vendor, "DELETE", f"/exams/{exam}/sessions/{old}", memo)
    listed = api(
        vendor, "GET", f"/enrollments/{enrollment}/exams/{exam}/sessions?includeActive=true"
    )
    (new,) = [s["sid"] for s in listed["results"] if s["status"] == "Needs Proctor"]
    booking = {
        "type": "automated", "proctorLocationSid": LOCATION, "appointmentDateTime": appointment,
        "externalAppointmentId": "acme-appt-0001", "amount": 0, "currency": "USD",
        "proctorTypeSubCategorySid": "TS63dda27a6ba54c218449b934b7bb1ba8",
    }  # fmt: skip
    api(vendor, "POST", f"/exams/{exam}/sessions/{new}", booking)
    return old, new


def test_a_booking_made_again_by_hand_at_another_time_is_planned_as_its_move(
    vendor: Vendor,
) -> None:
    _old, new = rebook_by_hand(vendor, "2028-03-09T14:00:00Z")
    r = vendor.cli("plan", str(vendor.tenant), "--out", "p.json")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines == [
        HEAD,
        "  ~ session.cert-456.jane  (reschedule: drift)",
        '      ~ appointment: "2028-03-09T14:00:00Z" -> "2028-03-01T14:00:00Z"',
        "        (6 unchanged fields hidden)",
        EXAMS_WARNING,
        sessions_warning(),
        TZ_WARNING,
        "Plan: 1 to reschedule; 43 unchanged.",
    ]
    # apply moves the booking found, as shown: one PUT of that session, nothing else
    writes = vendor.writes_of(("apply", "p.json"))
    assert writes == {"PUT /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}": 1}
    state = json.loads((vendor.tenant.parent.parent / "state" / "acme.json").read_text())
    assert state["resources"]["session.cert-456.jane"]["sid"] == new
    assert vendor.plan()[-1] == NO_CHANGES


def test_a_booking_made_again_by_hand_as_the_manifest_says_is_taken_over(
    vendor: Vendor,
) -> None:
    _old, new = rebook_by_hand(vendor, "2028-03-01T14:00:00Z")
    assert vendor.plan() == [
        HEAD,
        "Found remotely, to be recorded in state (no API change):",
        f"  = session.cert-456.jane ({new})",
        EXAMS_WARNING,
        sessions_warning(),
        TZ_WARNING,
        "Plan: 1 to record in state; 44 unchanged.",
    ]
    assert vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve")) == {}
    state = json.loads((vendor.tenant.parent.parent / "state" / "acme.json").read_text())
    assert state["resources"]["session.cert-456.jane"]["sid"] == new
    assert vendor.plan()[-1] == NO_CHANGES


def test_a_dropped_session_booked_again_by_hand_is_only_forgotten(vendor: Vendor) -> None:
    rebook_by_hand(vendor, "2028-03-09T14:00:00Z")
    sessions = vendor.tenant / "sessions.yaml"
    text = sessions.read_text()
    start = text.index("  - exam: cert-456\n    user: jane\n")
    sessions.write_text(text[:start] + text[text.index("  - exam: cert-456", start + 1) :])
    roster = vendor.tenant / "roster.yaml"
    roster.write_text(roster.read_text().replace("[li, mateo]", "[li, mateo, jane]"))
    r = vendor.cli("plan", str(vendor.tenant), "--out", "p.json")
    assert r.exit_code == 0, r.output
    assert [line for line in r.stdout.splitlines() if line.strip()] == [
        HEAD,
        "  . session.cert-456.jane  (forget: removed; left untouched remotely)",
        EXAMS_WARNING,
        sessions_warning(),
        TZ_WARNING,
        "Plan: 1 to forget; 43 unchanged.",
    ]
    assert vendor.writes_of(("apply", "p.json")) == {}


# --- spsync doctor -----------------------------------------------------------------------


def doctor(vendor: Vendor) -> tuple[Result, dict[str, Any]]:
    r = vendor.cli("doctor", str(vendor.tenant), "--format", "json")
    (tenant,) = json.loads(r.stdout)["tenants"]
    return r, tenant


def test_doctor_reports_an_error_body_answered_with_200(vendor: Vendor) -> None:
    vendor.answer(
        "GET", r"/settings$", action="before", status=200,
        body=b'{"code":"INTERNALERROR","message":"boom","status":500}',
        content_type="application/json",
    )  # fmt: skip
    r, tenant = doctor(vendor)
    assert r.exit_code == 1
    assert {c["probe"]: c["outcome"] for c in tenant["calls"]}["settings"] == "unreadable"
    assert tenant["problems"] == [
        f"GET /v1/installs/{INSTALL}/settings: spsync cannot read this answer: an error body "
        "on a success status (INTERNALERROR: boom)"
    ]


# --- statuses in another casing ----------------------------------------------------------


def _walk(doc: Any, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """``doc`` with ``edit`` applied to every object in it, innermost first."""
    if isinstance(doc, dict):
        return edit({k: _walk(v, edit) for k, v in doc.items()})
    if isinstance(doc, list):
        return [_walk(v, edit) for v in doc]
    return doc


def test_a_move_read_back_as_scheduled_in_capitals_is_done(vendor: Vendor) -> None:
    sessions = vendor.tenant / "sessions.yaml"
    sessions.write_text(
        sessions.read_text().replace('"2028-03-01T14:00:00Z"', '"2028-03-01T16:00:00Z"')
    )

    def shout(obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, "status": "SCHEDULED"} if obj.get("status") == "Scheduled" else obj

    vendor.rewrite("GET", r"/sessions|/reports/appointments", lambda doc: _walk(doc, shout))
    assert vendor.plan() == [
        HEAD,
        "  ~ session.cert-456.jane  (reschedule: manifest-changed)",
        '      ~ appointment: "2028-03-01T14:00:00Z" -> "2028-03-01T16:00:00Z"',
        "        (6 unchanged fields hidden)",
        EXAMS_WARNING,
        sessions_warning(),
        TZ_WARNING,
        "Plan: 1 to reschedule; 43 unchanged.",
    ]
    writes = vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve"))
    assert writes == {"PUT /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}": 1}
    assert vendor.plan()[-1] == NO_CHANGES


# --- times without a time zone -----------------------------------------------------------


def _naive_local(obj: dict[str, Any]) -> dict[str, Any]:
    """Every UTC time of ``obj`` written as New York's wall-clock time, with no zone."""
    out = {}
    for k, v in obj.items():
        if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", v):
            when = datetime.fromisoformat(v).astimezone(ZoneInfo("America/New_York"))
            v = when.strftime("%Y-%m-%dT%H:%M:%S")
        out[k] = v
    return out


NAIVE = (
    "Value error, a time without a time zone: spsync cannot tell which instant it is, and "
    "reads no answer that has one (docs/api-dialects.md#times)"
)


def naive_fields(text: str, where: str) -> list[str]:
    """The fields ``text`` (an error ``where``: the text before the reasons) says held a
    time without a zone; every reason it gives must be that one."""
    m = re.fullmatch(rf"{where}(.+)", text)
    assert m is not None, text
    fields = []
    for part in m[1].split("; "):
        field, _, why = part.partition(": ")
        assert why == NAIVE or part.startswith("and "), text
        fields.append(field)
    return fields


def test_times_without_a_zone_are_refused_never_taken_for_utc(vendor: Vendor) -> None:
    vendor.rewrite("GET", r"/v1/", lambda doc: _walk(doc, _naive_local))
    for args in (("plan",), ("apply", "--auto-approve")):
        r = vendor.cli(*args, str(vendor.tenant))
        assert r.exit_code == 1
        assert r.stdout == ""
        where = rf"error: GET /v1/installs/{INSTALL}/\S+: 200: unexpected response body: "
        assert naive_fields(r.stderr.rstrip("\n"), where)
    # doctor names each answer spsync would refuse, and the fields that hold such times
    r, tenant = doctor(vendor)
    assert r.exit_code == 1
    refused = {c["probe"] for c in tenant["calls"] if c["outcome"] == "unreadable"}
    assert refused == {
        "course",
        "exam",
        "exams",
        "report",
        "report-status-one",
        "session",
        "sessions",
    }
    where = rf"GET /v1/installs/{INSTALL}/\S+: spsync cannot read this answer: "
    fields = {f for p in tenant["problems"] for f in naive_fields(p, where)}
    assert {"appointmentDate", "results.0.appointmentDate"} <= fields, fields


# --- one session listed twice ------------------------------------------------------------


@pytest.mark.parametrize("first", [True, False], ids=["cancelled-first", "cancelled-last"])
def test_a_session_listed_as_cancelled_and_as_scheduled_is_read_again(
    vendor: Vendor, first: bool
) -> None:
    listed: set[str] = set()

    def twice(page: Any) -> Any:
        rows = []
        for row in page["results"]:
            listed.add(row["sid"])
            copy = {**row, "status": "Cancelled"}
            rows += [copy, row] if first else [row, copy]
        return {**page, "results": rows}

    vendor.rewrite("GET", r"/reports/appointments", twice)
    vendor.control("DELETE", "/_sandbox/requests")
    # read again, the sessions' details show their notes (the report's rows do not)
    assert vendor.plan() == [
        HEAD,
        EXAMS_WARNING,
        sessions_warning("proctorLocation"),
        TZ_WARNING,
        NO_CHANGES,
    ]
    # each session listed was asked again: its details, once
    counts = vendor.control("GET", "/_sandbox/requests")["counts"]
    details = counts["GET /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"]
    assert details == len(listed) > 7
    assert vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve")) == {}


@pytest.mark.parametrize(
    ("page_max", "asked"),
    [
        # the refusal names its largest page: asked for at once
        (3, ["100", "3"]),
        # a page of 1 (the refusal names only the range's bounds, 1 and 1)
        (1, ["100", "50", "25", "10", "5", "2", "1"]),
    ],
)
def test_a_service_taking_smaller_pages_than_five_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page_max: int, asked: list[str]
) -> None:
    # pages of 50, 25, 10 and 5 were tried after a refused 100, and then the plan stopped on
    # "limit must be an integer from 1 to 3"
    with applied_acme(tmp_path, monkeypatch, Dialect.vendor(page_max=page_max)) as v:
        r = v.cli("plan", str(v.tenant))
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[-1] == NO_CHANGES
        notices = [line for line in r.stderr.splitlines() if "refused pages" in line]
        assert notices == [
            f"acme: the service refused pages of {a}; asking for {b}"
            for a, b in itertools.pairwise(asked)
        ]
