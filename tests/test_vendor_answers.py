"""Answers the vendor's documents leave room for, read by ``spsync plan`` and ``apply`` from
the simulator in the vendor's dialect over real HTTP, behind a front that rewrites them (a
report that answers 404, a field left out, a row twice, times without a zone...).

What a plan is allowed to make of them: never a change from missing or contradictory
evidence (docs/api-dialects.md, rule 2), and what the plan shows is all apply writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vendor]:
    with tampered(dialect=Dialect.vendor(), now=NOW, seed=1) as (srv, front):
        tenant = sandbox_acme(tmp_path, monkeypatch, "manifests")
        text = (tenant / "tenant.yaml").read_text()
        (tenant / "tenant.yaml").write_text(
            text.replace("https://api.smarterproctoring.com", srv.url)
        )
        v = Vendor(srv, front, tenant)
        first = v.cli("apply", str(tenant), "--auto-approve")
        assert first.exit_code == 0, first.output
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
    assert vendor.plan() == [HEAD, ROLE_WARNING, sessions_warning(), TZ_WARNING, NO_CHANGES]
    assert vendor.writes_of(("apply", str(vendor.tenant), "--auto-approve")) == {}
