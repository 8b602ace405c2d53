"""``spsync doctor`` from the command line, against the simulator over real HTTP: exact
findings, only GETs reaching the server, the token never shown, exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from support.apply import sandbox_acme
from support.doctor import CONTRACT_FORMS, VENDOR_FORMS

from spsync import doctor
from spsync.cli import main
from spsync.sandbox.server import ThreadedServer

TOKEN = "doctor-test-token-5b1e"
ENV = {
    "SPSYNC_ACME_TOKEN": TOKEN,
    "SPSYNC_ACME_CERT_PASSWORD": "cert-pw-secret",
    "SPSYNC_ACME_SAFETY_PASSWORD": "safety-pw-secret",
    "SPSYNC_ACME_ORIENTATION_PASSWORD": "orientation-pw-secret",
    "SPSYNC_SANDBOX_NOW": "2027-06-01T00:00:00Z",
    "NO_COLOR": "1",
}
#: what each probe's call comes to against a world where every kind exists
ALL_OK = {p: "ok" for p in doctor.PROBES} | {
    "report-limit-over": "refused",
    "unknown-sid": "refused",
    "unknown-route": "refused",
}


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(token=TOKEN, seed=5) as srv:
        yield srv


def acme_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Path:
    """The bundled acme tenant under ``tmp_path/manifests``, its API URL ``url``."""
    dest = sandbox_acme(tmp_path, monkeypatch, "manifests")
    text = (dest / "tenant.yaml").read_text()
    (dest / "tenant.yaml").write_text(text.replace("https://api.smarterproctoring.com", url))
    return dest


@pytest.fixture
def acme(tmp_path: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled acme tenant, pointed at ``server``; the working directory is tmp_path."""
    return acme_at(tmp_path, monkeypatch, server.url)


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or ENV, catch_exceptions=False)


def requests_seen(srv: ThreadedServer) -> dict[str, int]:
    r = httpx.get(srv.url + "/_sandbox/requests", headers={"token": TOKEN}, timeout=10)
    return dict(r.json()["counts"])


def reset_requests(srv: ThreadedServer) -> None:
    httpx.delete(srv.url + "/_sandbox/requests", headers={"token": TOKEN}, timeout=10)


def doctor_json(path: Path, *more: str, env: dict[str, str] | None = None) -> tuple[Result, Any]:
    r = cli("doctor", str(path), "--format", "json", *more, env=env)
    assert "Traceback" not in r.output + r.stderr
    return r, json.loads(r.stdout)["tenants"]


def outcomes(tenant: dict[str, Any]) -> dict[str, str]:
    return {c["probe"]: c["outcome"] for c in tenant["calls"]}


def test_doctor_after_an_apply_reads_every_kind_from_state_with_gets_only(
    acme: Path, server: ThreadedServer
) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    reset_requests(server)
    r, (t,) = doctor_json(acme)
    assert r.exit_code == 0, r.stderr
    assert outcomes(t) == ALL_OK
    assert t["forms"] == CONTRACT_FORMS
    assert t["resembles"] == "contract"
    assert t["unobservable"] == []
    assert t["problems"] == [] and t["warnings"] == []
    assert {k: v["from"] for k, v in t["read"].items()} == {
        k: "state" for k in ("course", "enrollment", "exam", "session", "user")
    }
    # every request doctor made was a GET, one per probe; nothing else reached the server
    seen = requests_seen(server)
    assert sum(seen.values()) == len(doctor.PROBES)
    assert sorted({k.split(" ", 1)[0] for k in seen}) == ["GET"]
    assert not any("assignment" in k or "onboard" in k for k in seen)
    assert TOKEN not in r.stdout + r.stderr


def test_doctor_text_report_and_no_secret_in_it(acme: Path, server: ThreadedServer) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    r = cli("doctor", str(acme))
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert text.startswith(
        "Tenant acme: install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 at " + server.url + "\n"
        "  spsync can work with this install; 16 GETs sent, nothing written.\n"
        "  The answers follow spsync's API contract (the simulator's contract dialect).\n"
    )
    forms = text[text.index("\nForms\n") : text.index("\nNot observable")]
    assert forms == (
        "\nForms\n"
        "  exam type casing             lower-case\n"
        "  exam scope field             limitedScope\n"
        "  exam configuration form      provision\n"
        "  course code field            code\n"
        "  user time zone field         timeZone\n"
        "  enrollment row SID field     sid\n"
        "  report status filter         repeated\n"
        "  page size limit=100          accepted\n"
        "  page size limit=101          refused\n"
        "  paging links                 absolute\n"
        "  error body, unknown SID      code-message-status\n"
        "  error body, unknown path     code-message-status\n"
        "  assignment route form        not probed (see api.dialect below)\n"
        "  rate-limit headers seen      none\n"
    )
    assert (
        "  ok         GET /v1/installs/{installSid}/reports/appointments?status=Scheduled"
        "&status=Needs Proctor&offset=0&limit=1 -> 200\n"
        "             - a repeated status filter is accepted\n"
    ) in text
    # neither the token nor an exam password (the exam answer carries it) is shown
    for secret in (TOKEN, "cert-pw-secret", "safety-pw-secret", "orientation-pw-secret"):
        assert secret not in r.stdout + r.stderr


def test_doctor_without_state_takes_sids_from_the_lists(
    acme: Path, server: ThreadedServer, tmp_path: Path
) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    r, (t,) = doctor_json(acme, "--state-dir", str(tmp_path / "elsewhere"))
    assert r.exit_code == 0, r.stderr
    assert outcomes(t) == ALL_OK
    assert {k: v["from"] for k, v in t["read"].items()} == {
        "course": "first item of the appointments report",
        "enrollment": "first item of the appointments report",
        "exam": "first item of the appointments report",
        "session": "first item of the appointments report",
        "user": "first item of the user list",
    }
    assert t["forms"] == CONTRACT_FORMS


def test_doctor_on_an_empty_install_says_what_it_could_not_check(
    acme: Path, server: ThreadedServer
) -> None:
    r, (t,) = doctor_json(acme)
    assert r.exit_code == 0, r.stderr
    assert outcomes(t) == ALL_OK | {
        p: "skipped"
        for p in ("user", "course", "exams", "exam", "enrollments", "sessions", "session")
    }
    notes = {c["probe"]: c["notes"] for c in t["calls"]}
    assert notes["exam"] == [
        "not checked: no course or exam SID "
        "(none in the tenant's state, none in the answers before)"
    ]
    assert notes["users"] == ["empty page"]
    assert notes["users-paging"] == ["too few items to see a next link"]
    unseen = {k for k, v in t["forms"].items() if v is None}
    assert unseen == {
        "exam.type",
        "exam.scope",
        "exam.configuration",
        "course.code",
        "user.timeZone",
        "enrollment.sid",
        "page.links",
    }
    assert t["read"] == {}


def test_the_state_of_another_install_is_not_used(acme: Path, server: ThreadedServer) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    other = "AI" + "f" * 32
    text = (acme / "tenant.yaml").read_text()
    (acme / "tenant.yaml").write_text(text.replace("AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", other))
    r, (t,) = doctor_json(acme)
    assert r.exit_code == 0, r.stderr
    assert t["warnings"] == [
        "the state of acme is of install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6, not "
        f"{other}: its SIDs were not used"
    ]
    assert t["read"] == {}  # the other install is empty: nothing to take SIDs from


def test_a_refused_token_exits_1_after_one_call_and_is_never_shown(
    acme: Path, server: ThreadedServer
) -> None:
    wrong = "wrong-token-a41c"
    r, (t,) = doctor_json(acme, env=ENV | {"SPSYNC_ACME_TOKEN": wrong})
    assert r.exit_code == 1
    assert r.stderr == (
        "error: doctor: acme: GET /v1/installs/AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6/settings: the "
        "token was refused (403 AUTHENTICATIONFAILED: missing or unknown API token (header: "
        "token)); check the variable tenant.yaml's api.token names, and that the token belongs "
        "to this install\n"
    )
    assert outcomes(t) == {"settings": "refused"} | {
        p: "skipped" for p in doctor.PROBES if p != "settings"
    }
    assert sum(requests_seen(server).values()) == 1
    assert wrong not in r.stdout + r.stderr and TOKEN not in r.stdout + r.stderr


def test_an_unreachable_api_exits_1_with_a_located_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = acme_at(tmp_path, monkeypatch, f"http://127.0.0.1:{port}")
    r = cli("doctor", str(dest))
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "error: doctor: acme: GET /v1/installs/AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6/settings: no "
        f"answer: cannot connect to http://127.0.0.1:{port} (ConnectError)"
    )
    assert "Traceback" not in r.output + r.stderr
    assert "spsync cannot work with this install as it answers (1 problem below)" in r.stdout


def test_a_rate_limited_install_is_waited_out_and_its_headers_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ThreadedServer(token=TOKEN, seed=5, rate_limit=4) as srv:
        r, (t,) = doctor_json(acme_at(tmp_path, monkeypatch, srv.url))
        seen = requests_seen(srv)
    assert r.exit_code == 0, r.stderr
    assert t["forms"]["rateLimitHeaders"] == ["retry-after"]
    throttled = [c for c in t["calls"] if c["throttled"]]
    assert throttled and all(c["status"] != 429 for c in t["calls"])
    assert throttled[0]["notes"][0].startswith("throttled: ")
    assert throttled[0]["headers"]["retry-after"] == "1"
    # each probe sent was answered once past its 429s: nine probes need no SID here
    assert sum(seen.values()) == 9 + sum(c["throttled"] for c in t["calls"])
    assert sorted({k.split(" ", 1)[0] for k in seen}) == ["GET"]


def test_doctor_on_the_embedded_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox_acme(tmp_path, monkeypatch, "manifests")
    assert cli("--sandbox", "apply", "manifests/acme", "--auto-approve").exit_code == 0
    r = cli("--sandbox", "doctor", "manifests", "--format", "json")
    assert r.exit_code == 0, r.stderr
    (t,) = json.loads(r.stdout)["tenants"]
    assert t["api_url"] == "sandbox (embedded simulator)"
    assert outcomes(t) == ALL_OK
    assert t["forms"] == CONTRACT_FORMS


def test_the_read_only_client_refuses_every_write_before_sending(server: ThreadedServer) -> None:
    """Whatever doctor's code would call, only a GET without a body leaves the client."""
    from spsync.api import Client, run
    from spsync.doctor_probe import WriteRefused, read_only
    from spsync.secrets import Secret

    install = "AI" + "a" * 32
    exam, session = "EX" + "b" * 32, "ES" + "c" * 32

    async def attempts() -> list[str]:
        refused = []
        async with read_only(Client(server.url, install, Secret(TOKEN, "test"))) as c:
            writes = (
                c.cancel_session(exam, session, memo="m"),
                c.reschedule_session(exam, session, "2027-03-01T14:00:00Z"),
                c.update_assignments("CU" + "d" * 32, exam, add=["EN" + "e" * 32]),
            )
            for write in writes:
                try:
                    await write
                except WriteRefused as exc:
                    refused.append(str(exc).split(":")[0])
            status, _headers, _body = await c.get_raw("/v1/installs/{installSid}/settings", {})
            refused.append(str(status))
        return refused

    reset_requests(server)
    assert run(attempts()) == [
        "doctor sends only GETs",
        "doctor sends only GETs",
        "doctor sends only GETs",
        "200",
    ]
    assert requests_seen(server) == {"GET /v1/installs/{installSid}/settings": 1}


def _probe_in_process(app: Any, **client_options: Any) -> doctor.Report:
    """doctor's probes and verdict against an ASGI app (no state: SIDs from the lists)."""
    from support.api import INSTALL

    from spsync.api import Client, run
    from spsync.doctor_probe import probe_install, read_only
    from spsync.secrets import Secret

    async def go() -> tuple[list[doctor.Answer], dict[str, tuple[str, str]]]:
        transport = httpx.ASGITransport(app=app)
        client = Client(
            "http://127.0.0.1", INSTALL, Secret(TOKEN, "t"), transport=transport, **client_options
        )
        async with read_only(client) as c:
            return await probe_install(c, {})

    answers, sids = run(go())
    return doctor.analyse("acme", INSTALL, "http://127.0.0.1", answers, sids)


def _requests_in_process(app: Any) -> dict[str, int]:
    """The simulator's request counts, by method and route."""
    from spsync.api import run

    async def go() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as h:
            return dict(
                (await h.get("/_sandbox/requests", headers={"token": TOKEN})).json()["counts"]
            )

    return run(go())


# --- the vendor dialect -----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["guide", "exam", "newest"])
def test_doctor_on_the_vendor_dialect(form: str) -> None:
    """Whichever assignment route the install serves, doctor sends it nothing and reports
    the vendor's forms, every one of which spsync reads."""
    from support.api import new_world, seed_course

    from spsync.sandbox.app import create_app
    from spsync.sandbox.dialect import Dialect

    world = new_world()
    seeded = seed_course(world, 3)
    app = create_app(world, tokens={TOKEN}, dialect=Dialect.vendor(assignment_form=form))
    report = _probe_in_process(app)
    seen = _requests_in_process(app)
    assert report.forms == VENDOR_FORMS
    assert report.resembles == "vendor"
    assert {k: s for k, (s, _src) in report.sids.items()} == {
        "course": seeded.course,
        "exam": seeded.exam,
        "enrollment": seeded.enrollments[0],
        "session": seeded.sessions[seeded.enrollments[0]],
        "user": seeded.users[0],
    }
    assert report.unobservable == [
        "report.createdDate",
        "report.editDate",
        "report.notes",
        "report.proctorLocationSid",
        "report.statusReason",
        "course.ids",
        "exams.ids",
        "exam.ids",
        "sessions.externalAppointmentId",
        "session.proctorLocationSid",
    ]
    # the v1 exam and the enrollment rows named by enrollmentSid are read through the
    # translation layer: spsync reads every answer
    assert {c.answer.probe: c.outcome for c in report.checks} == ALL_OK | {
        "report-status-repeated": "refused",
    }
    assert report.problems == []
    assert sum(seen.values()) == len(doctor.PROBES)
    assert sorted({k.split(" ", 1)[0] for k in seen}) == ["GET"]
    assert not any("assignment" in k or "onboard" in k for k in seen)


@pytest.mark.parametrize("form", ["guide", "exam", "newest"])
def test_doctor_cli_on_a_vendor_install_reads_every_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    from support.api import INSTALL, new_world, seed_course

    from spsync.sandbox.dialect import Dialect

    world = new_world()
    seed_course(world, 2)
    vendor = Dialect.vendor(assignment_form=form)
    with ThreadedServer(world, token=TOKEN, dialect=vendor) as srv:
        dest = acme_at(tmp_path, monkeypatch, srv.url)
        text = (dest / "tenant.yaml").read_text()
        (dest / "tenant.yaml").write_text(
            text.replace("AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", INSTALL)
        )
        r = cli("doctor", str(dest))
        seen = requests_seen(srv)
    assert (r.exit_code, r.stderr) == (0, ""), r.stderr
    assert "  The answers follow the vendor's documents (the simulator's vendor dialect).\n" in (
        r.stdout
    )
    assert sum(seen.values()) == len(doctor.PROBES)
    assert sorted({k.split(" ", 1)[0] for k in seen}) == ["GET"]
    assert TOKEN not in r.stdout + r.stderr


def test_a_body_that_is_not_json_or_too_large_is_a_located_problem() -> None:
    from support.api import Rule, Tamper, new_world

    from spsync.sandbox.app import create_app

    html = Rule("GET", r"/settings$", "after", status=200, body=b"<html>proxy</html>")
    report = _probe_in_process(Tamper(create_app(new_world(), tokens={TOKEN}), html))
    assert report.problems[0].endswith(
        "/settings: spsync cannot read this answer: the body is not JSON"
    )
    report = _probe_in_process(create_app(new_world(), tokens={TOKEN}), max_body=64)
    assert report.checks[0].outcome == "unreadable"
    assert report.problems[0].endswith(
        "/settings: spsync cannot read this answer: response body larger than 64 bytes "
        "(the limit): not read"
    )


def test_doctor_on_an_empty_embedded_vendor_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded sandbox speaks the vendor dialect when told by the environment; with
    nothing in it, what doctor tells apart comes from the report and the error bodies."""
    sandbox_acme(tmp_path, monkeypatch, "manifests")
    env = ENV | {"SPSYNC_SANDBOX_DIALECT": "vendor", "SPSYNC_SANDBOX_ASSIGNMENT_FORM": "guide"}
    r = cli("--sandbox", "doctor", "manifests", "--format", "json", env=env)
    assert r.exit_code == 0, r.stderr
    (t,) = json.loads(r.stdout)["tenants"]
    assert t["resembles"] == "vendor"
    assert {k: v for k, v in t["forms"].items() if v is not None} == {
        "report.status": "single",
        "page.limit100": "accepted",
        "page.limitOver": "refused",
        "error.unknownSid": "code-message-status",
        "error.unknownRoute": "hapi",
        "assignments": "not-probed",
        "rateLimitHeaders": [],
    }
