"""The serve options (rate limit, faults, latency, ``--data``, SIGTERM, secrets in the log), and
the defects the fuzz found, each a regression test. Part of the simulator's contract suite
(see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.sandbox_probe import (
    HEX32,
    TOKEN,
    TS_LIVE,
    Api,
    Served,
    assert_error,
    course_body,
    exam_body,
    schedule_body,
    serving,
    sid,
    user_body,
)

from spsync.sandbox.app import create_app
from spsync.sandbox.world import World

SERVE = [sys.executable, "-m", "spsync", "sandbox", "serve"]


# ---------------------------------------------------------------------------------------
# serve options: rate limit, faults, latency, persistence, signals
# ---------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after() -> None:
    for served in serving("--rate-limit", "5"):
        c = served.client()
        answers = [c.get(f"{c.v1}/settings") for _ in range(40)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        assert {r.status_code for r in answers} <= {200, 429}
        for r in limited:
            assert int(r.headers["Retry-After"]) >= 0
            assert_error(r, 429)
        c.close()


def test_fault_rate_injects_5xx_and_drops() -> None:
    for served in serving("--fault-rate", "0.5", "--seed", "3"):
        c = served.client()
        statuses: list[int | str] = []
        for _ in range(60):
            try:
                r = c.get(f"{c.v1}/settings")
            except httpx.TransportError:
                statuses.append("dropped")
                continue
            statuses.append(r.status_code)
            if r.status_code >= 500:
                assert r.status_code in (500, 502, 503, 504), r.status_code
                if r.headers.get("content-type", "").startswith("application/json"):
                    assert_error(r, r.status_code)
        assert 200 in statuses
        assert any(s != 200 for s in statuses), statuses
        assert set(statuses) <= {200, 500, 502, 503, 504, "dropped"}
        c.close()


def test_fault_kinds_502_and_504_are_gateway_pages() -> None:
    # The contract's 502/504 come from what stands in front of the service: not its JSON.
    for served in serving("--fault-rate", "1", "--fault-kinds", "502,504", "--seed", "2"):
        c = served.client()
        statuses = []
        for _ in range(8):
            r = c.get(f"{c.v1}/settings")
            statuses.append(r.status_code)
            assert r.headers["content-type"].startswith("text/html"), r.headers
            assert str(r.status_code) in r.text
        assert set(statuses) == {502, 504}


def test_fault_kind_timeout_leaves_the_client_waiting() -> None:
    # Seed 15 at rate 0.5 faults the second request of three (seeded decisions are in
    # arrival order).
    served = Served("--fault-rate", "0.5", "--fault-kinds", "timeout", "--seed", "15")
    try:
        c = served.client(timeout=httpx.Timeout(10, read=1.0))
        outcomes: list[int | str] = []
        for _ in range(3):
            try:
                outcomes.append(c.get(f"{c.v1}/settings").status_code)
            except httpx.ReadTimeout:
                outcomes.append("timeout")
        assert outcomes == [200, "timeout", 200]
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.stderr)


def test_unknown_fault_kind_is_a_usage_error() -> None:
    r = subprocess.run(
        [*SERVE, "--fault-kinds", "500,teapot"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "--fault-kinds: unknown fault kind teapot" in r.stderr
    assert "Traceback" not in r.stderr


def test_latency_delays_answers() -> None:
    for served in serving("--latency-ms", "400"):
        c = served.client(timeout=httpx.Timeout(10, read=0.05))
        with pytest.raises(httpx.ReadTimeout):
            c.get(f"{c.v1}/settings")
        c.close()


def test_data_file_survives_a_restart_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "world.json"
    first = Served("--data", str(data))
    try:
        c = first.client()
        f = c.setup()
        es = c.only_active(f.enrollment, f.exam)
        c.schedule(f.exam, es, schedule_body("2026-07-01T14:00:00Z"))
        c.close()
    finally:
        code = first.stop()
    assert code == 0  # SIGTERM: a clean stop
    assert "".join(first.stderr).strip().splitlines()[-1] == "spsync sandbox stopped"
    assert "Traceback" not in "".join(first.stderr)
    assert data.exists()
    second = Served("--data", str(data))
    try:
        c2 = second.client(c.install)
        assert c2.get(f"{c2.v1}/courses/{f.course}").status_code == 200
        s = c2.session(f.exam, es)
        assert (s["status"], s["appointmentDate"]) == ("Scheduled", "2026-07-01T14:00:00Z")
        out = c2.provision_ok({"course": {"ids": {"sid": f.course}}})
        assert out["course"]["result"] == "Found Existing"
        c2.close()
    finally:
        assert second.stop() == 0


def test_an_unwritable_data_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    r = subprocess.run(
        [*SERVE, "--port", "0", "--data", str(blocker / "world.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert f"--data: cannot write {blocker / 'world.json'}" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_failed_save_is_an_error_shaped_500(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    served = Served("--data", str(folder / "world.json"))
    try:
        c = served.client()
        assert c.provision({"course": course_body()}).status_code == 200
        # The disk goes away under the server (a file where its directory was).
        shutil.rmtree(folder)
        folder.write_text("x")
        r = c.provision({"course": course_body()})
        err = assert_error(r, 500, "INTERNALERROR")
        assert "could not be saved" in err["message"]
        assert c.get(f"{c.v1}/settings").status_code == 200  # reads still work
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.stderr)
    assert "could not be saved" in "".join(served.stderr)


def test_secrets_do_not_leak_into_server_output(srv: Served) -> None:
    c = srv.client()
    c.setup()
    out = "".join(srv.stdout + srv.stderr)
    assert "pw-secret-1" not in out
    c.close()


# ---------------------------------------------------------------------------------------
# found by the fuzz: each was a 500 before it was fixed
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["schedule", "reschedule"])
def test_appointment_at_the_end_of_time_is_400_not_500(api: Api, verb: str) -> None:
    f = api.setup(access={"open": "2026-01-01T00:00:00Z", "close": "9999-12-31T23:59:59Z"})
    es = api.only_active(f.enrollment, f.exam)
    late = {"appointmentDateTime": "9999-12-31T23:59:59Z"}
    if verb == "reschedule":
        assert api.schedule(f.exam, es, schedule_body()).status_code == 200
        r = api.reschedule(f.exam, es, late)
    else:
        r = api.schedule(f.exam, es, schedule_body(late["appointmentDateTime"]))
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "appointmentDateTime"
    assert "access window" in err["message"]


@pytest.mark.parametrize("field", ["duration", "attempts"])
@pytest.mark.parametrize("value", [2**31, 10**30, 10**400], ids=["2^31", "1e30", "1e400"])
def test_integers_beyond_int32_are_400(api: Api, field: str, value: int) -> None:
    exam = exam_body()
    exam["configuration"][field] = value
    r = api.provision({"course": course_body(), "exam": exam})
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == f"exam.configuration.{field}"


def test_largest_int32_duration_is_kept_and_never_fits(api: Api) -> None:
    f = api.setup(duration=2**31 - 1)
    es = api.only_active(f.enrollment, f.exam)
    assert api.session(f.exam, es)["duration"] == 2**31 - 1
    assert_error(api.schedule(f.exam, es, schedule_body()), 400, "INVALIDINPUT")


def _raw(api: Api, method: str, path: str, text: str) -> httpx.Response:
    return api.http.request(
        method, path, content=text.encode(), headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_tokens_are_400(api: Api, token: str) -> None:
    # Python's JSON reader takes these; RFC 8259 does not, and stored they broke every read.
    course = api.course()
    exam = exam_body(proctorTypes={TS_LIVE: {"options": {"recordScreen": {"level": 0}}}})
    text = json.dumps({"course": {"ids": {"sid": course}}, "exam": exam})
    text = text.replace('"level": 0', f'"level": {token}')
    err = assert_error(_raw(api, "POST", f"/v2/installs/{api.install}/provision", text), 400)
    assert err["code"] == "INVALIDINPUT" and err["details"][0]["path"] == "body"
    assert api.collect(f"{api.v1}/courses/{course}/exams") == []
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    body = json.dumps(schedule_body()).replace('"amount": 0', f'"amount": {token}')
    assert_error(_raw(api, "POST", api.session_path(f.exam, es), body), 400, "INVALIDINPUT")


@pytest.mark.parametrize(
    "text",
    [
        '{"course": {"ids": {"external": "x"}, "title": "T\\ud800", "code": "C"}}',
        '{"course": {"ids": {"external": "\\udfff"}, "title": "T", "code": "C"}}',
        '{"course": {"ids": {"external": "x"}, "title": "T", "code": "C", "\\ud800": 1}}',
    ],
)
def test_lone_surrogates_are_400(api: Api, text: str) -> None:
    # Escaped lone surrogates parse, but no UTF-8 answer can carry them back.
    r = _raw(api, "POST", f"/v2/installs/{api.install}/provision", text)
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "body"


def test_a_valid_surrogate_pair_is_fine(api: Api) -> None:
    text = '{"course": {"ids": {"external": "x"}, "title": "Music \\ud834\\udd1e", "code": "C"}}'
    r = _raw(api, "POST", f"/v2/installs/{api.install}/provision", text)
    assert r.status_code == 200, r.text
    course = api.get(f"{api.v1}/courses/{r.json()['course']['sid']}").json()
    assert course["title"] == "Music \U0001d11e"


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_bodies_are_400(api: Api, depth: int) -> None:
    course = api.course()
    inner = "{}"
    text = '{"a": ' * depth + inner + "}" * depth
    body = json.dumps(
        {
            "course": {"ids": {"sid": course}},
            "exam": exam_body(proctorTypes={TS_LIVE: {"options": {"recordScreen": "HOLE"}}}),
        }
    ).replace('"HOLE"', text)
    for path, content in [
        (f"/v2/installs/{api.install}/provision", body),
        (f"/v2/installs/{api.install}/provision", "[" * depth + "]" * depth),
    ]:
        err = assert_error(_raw(api, "POST", path, content), 400, "INVALIDINPUT")
        assert err["details"][0]["path"] == "body"
    assert api.collect(f"{api.v1}/courses/{course}/exams") == []


def test_nesting_a_client_would_send_is_fine(api: Api) -> None:
    course = api.course()
    opts = {"recordScreen": {"a": {"b": {"c": {"d": {}}}}}}
    out = api.exam(course, proctorTypes={TS_LIVE: {"options": opts}})
    got = api.get(f"{api.v1}/courses/{course}/exams/{out['exam']['sid']}").json()
    assert got["configuration"]["proctorTypes"][TS_LIVE]["options"] == opts


class _UnrenderableWorld(World):
    """A world whose answers cannot be rendered as JSON, or whose reads fail: stands in for
    any bug the checks above have not found yet."""

    def get_settings(self, install_sid: str) -> dict[str, Any]:
        return {"installSid": install_sid, "ratio": float("nan")}

    def to_json(self) -> dict[str, Any]:
        raise RuntimeError("broken on purpose")


def test_a_simulator_bug_is_still_an_error_shaped_500() -> None:
    app = create_app(_UnrenderableWorld(), tokens={TOKEN})

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers={"token": TOKEN}
        ) as client:
            return [
                await client.get(f"/v1/installs/{sid('AI')}/settings"),
                await client.get("/_sandbox/world"),
            ]

    for r in asyncio.run(go()):
        assert_error(r, 500, "INTERNALERROR")


@pytest.mark.parametrize("value", ["1_0", "+5", " 5", "１２", "5.0", "0x10", "9" * 5000])
def test_paging_numbers_are_plain_decimal_digits(api: Api, value: str) -> None:
    # int() also reads "1_0", "+5", " 5" and full-width digits; a URL parameter should not.
    err = assert_error(api.report(limit=value), 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "limit"
    assert len(err["message"]) < 200
    assert_error(api.report(offset=value), 400, "INVALIDINPUT")


def test_paging_numbers_accept_leading_zeros_and_big_offsets(api: Api) -> None:
    assert api.report(limit="007").json()["results"] == []
    page = api.report(offset="123456789012345678901234567890").json()
    assert (page["count"], page["next"]) == (0, None)


def test_a_trailing_newline_never_passes_a_format_check(api: Api) -> None:
    # A regular expression ending in `$` also matches before a final newline.
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.get(f"{api.v1}/courses/{f.course}%0A"), 400, "INVALIDINPUT")
    assert_error(api.get(f"/v1/installs/{api.install}%0A/settings"), 400, "INVALIDINPUT")
    assert_error(api.report(courseSid=f.course + "\n"), 400, "INVALIDINPUT")
    assert_error(api.report(appointmentAfter="2026-07-01T00:00:00Z\n"), 400, "INVALIDINPUT")
    assert_error(api.report(limit="5\n"), 400, "INVALIDINPUT")
    for user in (
        user_body(currencyCode="USD\n"),
        user_body(email="nl@example.com\n"),
        {"ids": {"sid": f.user + "\n"}},
    ):
        r = api.provision({"course": {"ids": {"sid": f.course}}, "user": user})
        assert_error(r, 400, "INVALIDINPUT")
    exam = exam_body(url="https://exam.example/x\n")
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    exam = exam_body(proctorTypes={TS_LIVE + "\n": {}})
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    exam = exam_body(access={"open": "2026-01-01T00:00:00Z\n", "close": "2026-12-31T00:00:00Z"})
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    for over in (
        {"appointmentDateTime": "2026-07-01T14:00:00Z\n"},
        {"proctorLocationSid": "PL" + HEX32 + "\n"},
        {"currency": "USD\n"},
        {"proctorTypeSubCategorySid": TS_LIVE + "\n"},
    ):
        assert_error(api.schedule(f.exam, es, schedule_body(**over)), 400, "INVALIDINPUT")
    r = api.assignments(f.course, f.exam, {"add": [{"enrollmentSid": f.enrollment + "\n"}]})
    assert_error(r, 400, "INVALIDINPUT")


def test_fault_kinds_under_the_asgi_transport_and_the_config_control() -> None:
    app = create_app(World(), tokens={TOKEN}, fault_rate=1.0, fault_kinds=("timeout",), seed=1)
    settings = f"/v1/installs/{sid('AI')}/settings"

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers={"token": TOKEN}
        ) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(settings)
            r = await client.get("/_sandbox/config")
            assert (r.json()["faultKinds"], r.json()["faultRate"]) == (["timeout"], 1.0)
            r = await client.put("/_sandbox/config", json={"faultKinds": ["502", "nope"]})
            err = assert_error(r, 400, "INVALIDINPUT")
            assert err["details"][0]["path"] == "faultKinds"
            r = await client.put("/_sandbox/config", json={"faultKinds": ["504"]})
            assert r.json()["faultKinds"] == ["504"]
            r = await client.get(settings)
            assert (r.status_code, r.headers["content-type"][:9]) == (504, "text/html")
            await client.put("/_sandbox/config", json={"faultRate": 0})
            assert (await client.get(settings)).status_code == 200

    asyncio.run(go())
