"""The simulator's HTTP behaviour beyond the API: faults, rate limit, TLS, persistence,
observability, the simulated clock and the embedded mode."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import SANDBOX_INSTALL as AI
from support.sandbox_flow import SANDBOX_NOW, SANDBOX_TOKEN, Flow

from spsync.sandbox.app import DroppedConnection, create_app
from spsync.sandbox.embedded import open_embedded
from spsync.sandbox.injection import FaultInjector
from spsync.sandbox.persistence import load_world
from spsync.sandbox.server import ThreadedServer
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.world import World

HEADERS = {"token": SANDBOX_TOKEN}
PROVISION = f"/v2/installs/{AI}/provision"


def _client(srv: ThreadedServer) -> httpx.Client:
    return httpx.Client(base_url=srv.url, headers=HEADERS, timeout=10)


def _course_exists(client: httpx.Client, ext: str) -> bool:
    r = client.post(PROVISION, json={"course": {"ids": {"external": ext}}})
    assert r.status_code in (200, 400), r.text
    return r.status_code == 200


# ---------------------------------------------------------------------------- faults
@pytest.mark.parametrize("seed", [1, 2])
def test_injected_faults_over_http_follow_the_seed(seed: int) -> None:
    expected = FaultInjector(0.6, seed=seed)
    with ThreadedServer(token=SANDBOX_TOKEN, fault_rate=0.6, seed=seed) as srv, _client(srv) as c:
        outcomes: list[tuple[str, Any]] = []
        for i in range(24):
            fault = expected.draw()
            try:
                r = c.post(PROVISION, json={"course": pl.course(f"c{i}")})
                got: Any = r.status_code
                if r.status_code != 200:
                    body = r.json()
                    assert body["status"] == r.status_code
                    assert body["code"] in ("INTERNALERROR", "SERVICEUNAVAILABLE")
            except httpx.TransportError:
                got = "drop"
            outcomes.append((str(got), fault))
        counts = c.get("/_sandbox/requests").json()
        c.put("/_sandbox/config", json={"faultRate": 0})
        for i, (got, fault) in enumerate(outcomes):
            if fault is None:
                assert got == "200"
                assert _course_exists(c, f"c{i}")
            else:
                assert got == fault.kind, (i, fault)
                # After-effect faults lost the answer, not the change.
                assert _course_exists(c, f"c{i}") == (fault.phase == "after"), (i, fault)
        kinds = {f.kind for _, f in outcomes if f}
        phases = {f.phase for _, f in outcomes if f}
        assert kinds == {"500", "503", "drop"} and phases == {"before", "after"}
        assert counts["faultsInjected"] == sum(1 for _, f in outcomes if f)
        assert counts["counts"]["POST /v2/installs/{installSid}/provision"] == 24


def test_dropped_connection_under_asgi_transport_is_a_transport_error() -> None:
    app = create_app(World(seed=1), fault_rate=1.0, seed=3)
    app.controls.faults = FaultInjector(1.0, seed=3, kinds=("drop",), phases=("after",))

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers=HEADERS
        ) as c:
            with pytest.raises(httpx.TransportError) as info:
                await c.post(PROVISION, json={"course": pl.course()})
            assert isinstance(info.value, DroppedConnection)

    asyncio.run(run())
    assert [inst["courses"][0]["title"] for inst in app.world.to_json()["installs"]] == [
        pl.course()["title"]
    ]


def test_lost_schedule_answer_then_retry_is_refused_not_double_booked() -> None:
    with ThreadedServer(token=SANDBOX_TOKEN, now=SANDBOX_NOW, seed=4) as srv, _client(srv) as c:
        flow = Flow(c, AI)
        _, ex, en, es = flow.setup()
        srv.app.controls.faults = FaultInjector(1.0, seed=1, kinds=("503",), phases=("after",))
        r = c.post(f"{flow.v1}/exams/{ex}/sessions/{es}", json=pl.schedule())
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        srv.app.controls.faults = FaultInjector(0.0)
        again = c.post(f"{flow.v1}/exams/{ex}/sessions/{es}", json=pl.schedule())
        assert again.status_code == 400
        assert "already scheduled" in again.json()["message"]
        active = flow.active(en, ex)
        assert (active["sid"], active["status"], active["externalAppointmentId"]) == (
            es,
            "Scheduled",
            "acme-appt-0001",
        )


# ---------------------------------------------------------------------------- rate limit
def test_rate_limit_answers_429_with_retry_after() -> None:
    with ThreadedServer(token=SANDBOX_TOKEN, rate_limit=0.01) as srv, _client(srv) as c:
        assert c.get(f"/v1/installs/{AI}/settings").status_code == 200
        r = c.get(f"/v1/installs/{AI}/settings")
        assert r.status_code == 429
        assert r.json()["status"] == 429 and r.json()["code"] == "TOOMANYREQUESTS"
        retry = int(r.headers["retry-after"])
        assert 1 <= retry <= 100
        # The observability namespace is never limited.
        assert c.get("/_sandbox/requests").json()["statuses"] == {"200": 1, "429": 1}
        c.put("/_sandbox/config", json={"rateLimit": None})
        assert c.get(f"/v1/installs/{AI}/settings").status_code == 200


# ---------------------------------------------------------------------------- TLS
def test_require_tls_refuses_plain_http_but_serves_https() -> None:
    with ThreadedServer(token=SANDBOX_TOKEN, require_tls=True) as srv, _client(srv) as c:
        r = c.get(f"/v1/installs/{AI}/settings")
        assert r.status_code == 400
        assert r.json() == {
            "code": "INVALIDPROTOCOL",
            "message": r.json()["message"],
            "status": 400,
        }
    app = create_app(World(), require_tls=True)

    async def run() -> int:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://sandbox", headers=HEADERS
        ) as ac:
            return (await ac.get(f"/v1/installs/{AI}/settings")).status_code

    assert asyncio.run(run()) == 200


# ---------------------------------------------------------------------------- persistence
def test_persistence_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "sub" / "world.json"
    with ThreadedServer(token=SANDBOX_TOKEN, now=SANDBOX_NOW, data_path=data) as srv:
        with _client(srv) as c:
            first = Flow(c, AI).provision(pl.full())
            cu, ex, en, es = Flow(c, AI).setup()
            Flow(c, AI).schedule(ex, es)
        saved = json.loads(data.read_bytes())
        assert saved == json.loads(json.dumps(srv.world.to_json()))
    assert stat.S_IMODE(data.stat().st_mode) == 0o600
    assert [p.name for p in data.parent.iterdir()] == ["world.json"]
    assert load_world(data).to_json() == saved
    srv2 = ThreadedServer(token=SANDBOX_TOKEN, now=SANDBOX_NOW, data_path=data)
    with srv2, _client(srv2) as c:
        again = Flow(c, AI).provision(pl.full())
        assert {k: v["sid"] for k, v in again.items()} == {k: v["sid"] for k, v in first.items()}
        assert Flow(c, AI).active(en, ex)["status"] == "Scheduled"
        assert cu == first["course"]["sid"]


def test_world_file_must_be_a_world(tmp_path: Path) -> None:
    bad = tmp_path / "world.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a readable sandbox world"):
        load_world(bad)


# ---------------------------------------------------------------------------- observability
def test_request_counts_world_dump_and_reset(sandbox_server: ThreadedServer) -> None:
    with _client(sandbox_server) as c:
        flow = Flow(c, AI)
        _, ex, _, es = flow.setup()
        c.get("/nowhere")
        c.delete(f"/v1/installs/{AI}/settings")
        got = c.get("/_sandbox/requests").json()
        assert got["counts"] == {
            "DELETE /v1/installs/{installSid}/settings": 1,
            "GET (unknown path)": 1,
            "GET /v1/installs/{installSid}/enrollments/{enrollmentSid}/exams/{examSid}/sessions": 1,
            "POST /v2/installs/{installSid}/provision": 1,
            "PUT /v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/assignments": 1,
        }
        assert got["total"] == 5
        assert got["statuses"] == {"200": 3, "400": 1, "405": 1}
        assert c.delete("/_sandbox/requests").json()["total"] == 0
        assert c.get("/_sandbox/requests").json()["counts"] == {}
        world = c.get("/_sandbox/world").json()
        assert [i["sid"] for i in world["installs"]] == [AI]
        assert [s["sid"] for s in world["installs"][0]["sessions"]] == [es]
        assert world["installs"][0]["exams"][0]["sid"] == ex
        assert c.get("/_sandbox/requests", headers={"token": ""}).status_code == 403
        assert c.get("/_sandbox/nothing").status_code == 404


def test_clock_control_moves_the_simulated_now(sandbox_client: httpx.Client) -> None:
    c = sandbox_client
    assert c.get("/_sandbox/clock").json() == {"now": "2027-01-15T12:00:00Z", "fixed": True}
    flow = Flow(c, AI)
    _, ex, _, es = flow.setup()
    got = c.put("/_sandbox/clock", json={"now": "2027-03-02T00:00:00Z"})
    assert got.json() == {"now": "2027-03-02T00:00:00Z", "fixed": True}
    err = flow.schedule(ex, es, status=400, appointmentDateTime="2027-03-01T14:00:00Z")
    assert "future" in err["details"][0]["message"]
    flow.schedule(ex, es, appointmentDateTime="2027-03-03T14:00:00Z")
    assert c.put("/_sandbox/clock", json={"now": "soon"}).status_code == 400
    real = c.put("/_sandbox/clock", json={"now": None}).json()
    assert real["fixed"] is False and real["now"].startswith("20")


def test_settings_and_session_status_controls(sandbox_client: httpx.Client) -> None:
    c = sandbox_client
    flow = Flow(c, AI)
    r = c.put(
        f"/_sandbox/installs/{AI}/settings",
        json={
            "defaultTimezone": "Europe/Paris",
            "defaultCurrencyCode": "EUR",
            "proctorTypes": [pl.TS_LIVE],
        },
    )
    assert r.status_code == 200
    settings = flow.call("GET", f"{flow.v1}/settings")
    assert settings["defaultTimezone"] == "Europe/Paris"
    assert [t["sid"] for t in settings["proctorTypes"]] == [pl.TS_LIVE]
    err = flow.provision(pl.full(), status=400)
    assert [d["path"] for d in err["details"]] == [f"exam.configuration.proctorTypes.{pl.TS_AUTO}"]
    body = pl.full()
    body["exam"]["configuration"]["proctorTypes"] = {pl.TS_LIVE: {}}
    _, ex, en, es = flow.setup(body)
    flow.schedule(ex, es)
    path = f"/_sandbox/installs/{AI}/sessions/{es}/status"
    assert c.post(path, json={"status": "In Progress"}).json()["status"] == "In Progress"
    assert c.post(path, json={"status": "Onboarding"}).status_code == 400
    flow.session(ex, es, "DELETE", 400, json={"cancellationMemo": "m"})
    assert c.post(path, json={"status": "Closed"}).json()["status"] == "Closed"
    assert flow.sessions(en, ex)["results"][0]["status"] == "Closed"
    assert flow.sessions(en, ex, includeActive="true")["total"] == 1


# ---------------------------------------------------------------------------- embedded
def test_embedded_mode_persists_between_opens(tmp_path: Path) -> None:
    async def provision(app: Any, token: str) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
        ) as c:
            return await c.post(PROVISION, json=pl.full(), headers={"token": token})

    app, world = open_embedded(tmp_path / "sb", now=SANDBOX_NOW)
    first = asyncio.run(provision(app, "anything"))
    assert first.status_code == 200
    assert first.json()["course"]["result"] == "Created"
    assert (tmp_path / "sb" / "world.json").is_file()
    assert asyncio.run(provision(app, "")).status_code == 403
    app2, world2 = open_embedded(tmp_path / "sb")
    again = asyncio.run(provision(app2, "other"))
    assert again.json()["course"] == {
        "sid": first.json()["course"]["sid"],
        "result": "Found Existing",
    }
    assert world2.to_json()["installs"] == world.to_json()["installs"]


def test_latency_and_config_controls(sandbox_client: httpx.Client) -> None:
    c = sandbox_client
    got = c.put("/_sandbox/config", json={"latencyMs": 1, "faultRate": 0.25})
    assert got.json() == {
        "faultRate": 0.25,
        "faultKinds": ["500", "503", "drop"],
        "latencyMs": 1.0,
        "rateLimit": None,
        "requireTls": False,
    }
    assert c.put("/_sandbox/config", json={"faultRate": 2}).status_code == 400
    assert c.put("/_sandbox/config", json={"speed": 2}).status_code == 400


def test_clock_is_settable_in_process() -> None:
    clock = SettableClock()
    world = World(clock=clock)
    clock.set(SANDBOX_NOW)
    assert world.clock() == SANDBOX_NOW


def test_concurrent_http_clients_with_persistence(tmp_path: Path) -> None:
    """Several clients at once; every answered change is in the saved file."""
    data = tmp_path / "world.json"
    with ThreadedServer(token=SANDBOX_TOKEN, now=SANDBOX_NOW, data_path=data, seed=2) as srv:
        with _client(srv) as c:
            r = Flow(c, AI).provision({"course": pl.course(), "exam": pl.exam(limited=False)})
        cu = r["course"]["sid"]
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                with _client(srv) as c:
                    flow = Flow(c, AI)
                    for i in range(6):
                        flow.add_learner(cu, f"w{n}-{i}")
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        saved = json.loads(data.read_bytes())
        assert saved == json.loads(json.dumps(srv.world.to_json()))
        inst = saved["installs"][0]
        assert len(inst["enrollments"]) == 36
        assert sorted(s["status"] for s in inst["sessions"]) == ["Needs Proctor"] * 36
        assert srv.world.check_invariants() == []


GUIDE_PROVISION = {
    "course": {
        "ids": {"external": "client-account-123"},
        "title": "Client Account - Acme Corp",
        "code": "ACME-001",
    },
    "exam": {
        "ids": {"external": "certification-exam-456"},
        "title": "Professional Certification Exam",
        "type": "online",
        "limitedScope": True,
        "configuration": {
            "url": "https://your-exam-platform.com/exam/456",
            "access": {"open": "2025-01-01T00:00:00Z", "close": "2025-12-31T23:59:59Z"},
            "duration": 120,
            "password": "exam-secure-password",
            "attempts": 1,
            "proctorTypes": {"TS4b894875d26194988853e490dfb9bc41": {}},
            "notes": {
                "student": "Please have your government-issued ID ready.",
                "proctor": "Verify student identity before exam begins.",
            },
        },
    },
    "user": {
        "ids": {"external": "user-789"},
        "firstName": "Jane",
        "lastName": "Smith",
        "email": "jane.smith@example.com",
        "timeZone": "America/New_York",
    },
    "enrollment": {"role": "learner"},
}
GUIDE_SCHEDULE = {
    "type": "automated",
    "proctorLocationSid": "PTa17h8i9j0k1l2m3n4o5b2c3d4e5f6g",
    "appointmentDateTime": "2025-06-15T14:00:00Z",
    "amount": 0,
    "currencyCode": "USD",
    "externalAppointmentId": "your-system-id",
}


def test_the_integration_guide_walkthrough_verbatim() -> None:
    """The four steps of the vendor's guide, with its example bodies as printed."""
    now = datetime(2025, 3, 1, tzinfo=UTC)
    ai = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    with ThreadedServer(token=SANDBOX_TOKEN, now=now) as srv, _client(srv) as c:
        r = c.post(f"/v2/installs/{ai}/provision", json=GUIDE_PROVISION)
        assert r.status_code == 200
        ids = {k: v["sid"] for k, v in r.json().items()}
        v1 = f"/v1/installs/{ai}"
        path = f"{v1}/courses/{ids['course']}/exams/{ids['exam']}/assignments"
        r = c.put(path, json={"add": [{"enrollmentSid": ids["enrollment"]}]})
        assert r.json() == {"examSid": ids["exam"], "assigned": [ids["enrollment"]]}
        r = c.get(
            f"{v1}/enrollments/{ids['enrollment']}/exams/{ids['exam']}/sessions",
            params={"includeActive": "true"},
        )
        es = r.json()["results"][0]["sid"]
        r = c.post(f"{v1}/exams/{ids['exam']}/sessions/{es}", json=GUIDE_SCHEDULE)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "Scheduled"
        assert r.json()["proctorLocationSid"] == GUIDE_SCHEDULE["proctorLocationSid"]
        r = c.get(f"{v1}/exams/{ids['exam']}/sessions/{es}/onboard")
        assert r.status_code == 200 and r.json()["url"].startswith("https://")


def test_a_client_gone_mid_body_is_not_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    """A client that closes its connection before sending the whole body (a killed apply)
    is not a bug of the simulator: no traceback, no error in its log, nothing changed."""
    caplog.set_level(logging.INFO, logger="spsync.sandbox")
    with ThreadedServer(token=SANDBOX_TOKEN) as srv, _client(srv) as c:
        host, port = httpx.URL(srv.url).host, httpx.URL(srv.url).port
        head = (
            f"POST {PROVISION} HTTP/1.1\r\nhost: {host}\r\ntoken: {SANDBOX_TOKEN}\r\n"
            "content-type: application/json\r\ncontent-length: 500\r\n\r\n"
        )
        with socket.create_connection((host, port)) as sock:
            sock.sendall(head.encode() + b'{"course": {"ids": {"external": "gone"}')
        for _ in range(100):  # the server notices the closed socket shortly after
            if any("client" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.02)
        assert not _course_exists(c, "gone")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == []
    assert [r.getMessage() for r in caplog.records if "client" in r.getMessage()] == [
        f"sandbox: POST {PROVISION}: the client closed the connection before its body ended"
    ]
