"""The client against the simulator: every endpoint, paging, error mapping, URL rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.api import (
    APPOINTMENT,
    INSTALL,
    PASSWORD,
    PL,
    TOKEN,
    TS_AUTO,
    FakeTime,
    Rule,
    Tamper,
    asgi_client,
    configuration,
    new_world,
    sandbox_app,
    schedule_request,
    seed_course,
)

from spsync.api import Client, run, wire
from spsync.api.client import R_APPOINTMENTS, R_ENROLLMENTS, R_SESSION, R_USERS, CallRecord
from spsync.errors import (
    ApiError,
    AuthError,
    InvalidInputError,
    NoSuchRouteError,
    NotFoundError,
    ResponseError,
    ServerError,
    UsageError,
)
from spsync.sandbox.dialect import Dialect
from spsync.secrets import Secret


def provision_body(**over: Any) -> wire.ProvisionRequest:
    conf = pl.configuration(
        minimal=True,
        url="https://exams.example.com/1",
        duration=90,
        password=Secret(PASSWORD, "env:PW"),
        proctorTypes={TS_AUTO: {"options": {"recordScreen": {}}}},
    )
    body = pl.full(
        course=pl.course("acct-1", title="Acme", code="ACME-1"),
        exam=pl.exam("exam-1", title="Final", type=None, configuration=conf),
        user=pl.user("u-1", email="jane@example.com"),
        **over,
    )
    return wire.ProvisionRequest.model_validate(body)


def test_integration_flow_end_to_end() -> None:
    """Provision, assign, find the session, schedule, onboard, reschedule, cancel, read."""
    world = new_world()
    records: list[CallRecord] = []

    async def go() -> None:
        async with asgi_client(sandbox_app(world), on_call=records.append) as api:
            out = await api.provision(provision_body())
            assert (out.course.result, out.exam.result, out.user.result) == ("Created",) * 3  # type: ignore[union-attr]
            assert out.enrollment is not None and out.configuration is not None
            cu, ex, en = out.course.sid, out.exam.sid, out.enrollment.sid  # type: ignore[union-attr]
            again = await api.provision(provision_body())
            assert again.course.result == "Found Existing" and again.course.sid == cu

            assigned = await api.update_assignments(cu, ex, add=[en])
            assert assigned == wire.AssignmentList(examSid=ex, assigned=[en])
            assert (await api.update_assignments(cu, ex, add=[en])).assigned == [en]

            sessions = await api.list_enrollment_sessions(en, ex)
            assert [s.status for s in sessions] == ["Needs Proctor"]
            es = sessions[0].sid

            booked = await api.schedule_session(ex, es, schedule_request(), enrollment_sid=en)
            assert (booked.sid, booked.status, booked.appointmentDate) == (
                es,
                "Scheduled",
                APPOINTMENT,
            )
            assert booked.externalAppointmentId == "appt-1" and booked.proctorLocationSid == PL
            url = await api.onboard_url(ex, es)
            assert url.startswith("https://onboarding.smarterproctoring.com/")

            moved = await api.reschedule_session(ex, es, "2027-03-02T09:30:00Z", notes="moved")
            assert (moved.status, moved.appointmentDate, moved.notes) == (
                "Scheduled",
                "2027-03-02T09:30:00Z",
                "moved",
            )
            gone = await api.cancel_session(ex, es, memo="no longer needed", reason="changed-time")
            assert gone.status == "Cancelled"
            after = await api.list_enrollment_sessions(en, ex)
            assert [(s.sid == es, s.status) for s in after] == [
                (True, "Cancelled"),
                (False, "Needs Proctor"),
            ]
            past = await api.list_enrollment_sessions(en, ex, include_active=False)
            assert [s.sid for s in past] == [es]

            course = await api.get_course(cu)
            assert (course.title, course.code, course.ids.external) == ("Acme", "ACME-1", "acct-1")  # type: ignore[union-attr]
            exam = await api.get_exam(cu, ex)
            assert exam.limitedScope is True and exam.configuration is not None
            assert exam.configuration.duration == 90
            assert exam.configuration.password == Secret(PASSWORD)
            assert [e.sid for e in await api.list_exams(cu)] == [ex]
            user = await api.get_user(out.user.sid)  # type: ignore[union-attr]
            assert (user.email, user.externalId, user.timeZone) == (
                "jane@example.com",
                "u-1",
                "America/New_York",
            )
            assert [u.sid for u in await api.find_users(external_id="u-1")] == [user.sid]
            assert await api.find_users(external_id="nobody") == []
            enrollments = await api.list_enrollments(cu)
            assert [(e.sid, e.userSid, e.role) for e in enrollments] == [(en, user.sid, "learner")]
            report = await api.appointments(exam_sid=ex, status=["Cancelled"])
            assert [s.sid for s in report] == [es]
            settings = await api.settings()
            assert settings.defaultTimezone and TS_AUTO in settings.proctorTypes

    asyncio.run(go())
    assert all(r.error is None and r.attempt == 1 for r in records)
    assert records[0].route == "/v2/installs/{installSid}/provision"
    assert records[0].path == f"/v2/installs/{INSTALL}/provision"


def test_paged_reads_cost_about_n_over_100_calls() -> None:
    world = new_world()
    seeded = seed_course(world, 250)

    async def go() -> dict[str, int]:
        async with asgi_client(sandbox_app(world)) as api:
            sessions = await api.exam_sessions(seeded.exam)
            assert sorted(s.sid for s in sessions) == sorted(seeded.sessions.values())
            assert {s.status for s in sessions} == {"Needs Proctor"}
            users = await api.list_users()
            assert sorted(u.sid for u in users) == sorted(seeded.users)
            enrollments = await api.list_enrollments(seeded.course)
            assert sorted(e.sid for e in enrollments) == sorted(seeded.enrollments)
            return dict(api.calls)

    calls = asyncio.run(go())
    assert calls == {f"GET {R_APPOINTMENTS}": 3, f"GET {R_USERS}": 3, f"GET {R_ENROLLMENTS}": 3}


def test_users_by_external_id_picks_the_cheaper_way() -> None:
    world = new_world()
    seed_course(world, 450, assign=False)

    async def go() -> tuple[dict[str, str], dict[str, int], dict[str, str], dict[str, int]]:
        async with asgi_client(sandbox_app(world)) as api:
            few = await api.users_by_external_id(["c-user-3", "c-user-7", "missing"])
            few_calls = dict(api.calls)
            api.calls.clear()
            many = await api.users_by_external_id([f"c-user-{i}" for i in range(0, 450, 30)])
            return (
                {k: v.lastName or "" for k, v in few.items()},
                few_calls,
                {k: v.lastName or "" for k, v in many.items()},
                dict(api.calls),
            )

    few, few_calls, many, many_calls = asyncio.run(go())
    assert few == {"c-user-3": "No3", "c-user-7": "No7"}
    # one first page of the full list (to learn the total), then 3 filtered lookups
    assert few_calls == {f"GET {R_USERS}": 4}
    assert many == {f"c-user-{i}": f"No{i}" for i in range(0, 450, 30)}
    assert many_calls == {f"GET {R_USERS}": 5}  # the whole list: 5 pages < 15 lookups


def test_paging_follows_next_when_pages_are_not_predictable() -> None:
    """A server whose ``next`` is not plain offset arithmetic is followed link by link."""
    pages = {
        None: {"results": [{"sid": "US" + "1" * 32}], "next": "http://x/?cursor=b", "total": 3},
        "b": {"results": [{"sid": "US" + "2" * 32}], "next": "http://x/?cursor=c", "total": 3},
        "c": {"results": [{"sid": "US" + "3" * 32}, {"sid": "US" + "1" * 32}], "next": None},
    }
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        seen.append(cursor)
        return httpx.Response(200, json=pages[cursor])

    async def go() -> list[str]:
        async with Client(
            "http://127.0.0.1", INSTALL, Secret(TOKEN), transport=httpx.MockTransport(handler)
        ) as api:
            return [u.sid for u in await api.list_users()]

    assert asyncio.run(go()) == ["US" + "1" * 32, "US" + "2" * 32, "US" + "3" * 32]
    assert seen == [None, "b", "c"]


def test_400_surfaces_the_api_message_and_is_not_retried() -> None:
    world = new_world()
    seeded = seed_course(world, 1)
    en = seeded.enrollments[0]
    es = seeded.sessions[en]
    fake = FakeTime()

    async def go() -> InvalidInputError:
        async with asgi_client(sandbox_app(world), fake) as api:
            past = schedule_request(at="2026-01-01T10:00:00Z")
            with pytest.raises(InvalidInputError) as info:
                await api.schedule_session(seeded.exam, es, past, enrollment_sid=en)
            assert api.calls == {f"POST {R_SESSION}": 1}
            return info.value

    err = asyncio.run(go())
    assert fake.sleeps == []
    assert (err.status, err.code, err.method) == (400, "INVALIDINPUT", "POST")
    assert err.path == f"/v1/installs/{INSTALL}/exams/{seeded.exam}/sessions/{es}"
    assert "appointmentDateTime: must be in the future" in err.api_message
    assert str(err).startswith(f"POST {err.path}: 400 INVALIDINPUT: ")


def test_403_is_an_auth_error_and_404_not_found() -> None:
    world = new_world()
    seeded = seed_course(world, 1)

    async def go() -> None:
        async with asgi_client(sandbox_app(world), FakeTime(), token="wrong-token") as api:
            with pytest.raises(AuthError) as info:
                await api.settings()
            assert (info.value.status, info.value.code) == (403, "AUTHENTICATIONFAILED")
            assert api.calls.total() == 1
        async with asgi_client(sandbox_app(world), FakeTime(), token=None) as api:
            with pytest.raises(AuthError):
                await api.settings()
        async with asgi_client(sandbox_app(world), FakeTime()) as api:
            with pytest.raises(NotFoundError) as nf:
                await api.get_exam(seeded.course, "EX" + "f" * 32)
            assert (nf.value.status, nf.value.code) == (404, "RESOURCENOTFOUND")

    asyncio.run(go())


def test_malformed_sids_are_refused_before_sending() -> None:
    world = new_world()

    async def go() -> None:
        async with asgi_client(sandbox_app(world), FakeTime()) as api:
            with pytest.raises(ApiError, match=r"malformed examSid 'EX123'"):
                await api.get_session("EX123", "ES" + "0" * 32)
            with pytest.raises(ApiError, match=r"malformed courseSid '../../x'"):
                await api.get_course("../../x")
            with pytest.raises(ApiError, match=r"malformed examSid"):
                await api.appointments(exam_sid="CU" + "0" * 32)
            assert api.calls.total() == 0

    asyncio.run(go())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.9.8.7",
        "http://localhost:1234/api",
        "http://[::1]:8765",
        "https://api.smarterproctoring.com",
    ],
)
def test_allowed_base_urls(url: str) -> None:
    api = Client(url, INSTALL, Secret(TOKEN))
    assert api.base_url == url.rstrip("/")
    asyncio.run(api.aclose())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.smarterproctoring.com", "refusing plain-HTTP API URL"),
        ("http://10.0.0.5:8765", "refusing plain-HTTP API URL"),
        ("http://localhost.evil.example", "refusing plain-HTTP API URL"),
        ("ftp://example.com", "expected https://HOST"),
        ("api.smarterproctoring.com", "expected https://HOST"),
    ],
)
def test_refused_base_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        Client(url, INSTALL, Secret(TOKEN))
    if "plain-HTTP" in message:
        assert "127.0.0.0/8, ::1, localhost" in str(info.value)


def test_bad_install_sid_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="malformed install SID"):
        Client("https://api.smarterproctoring.com", "AI-nope", Secret(TOKEN))


def _garbage_client(status: int, body: bytes, content_type: str = "application/json") -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    fake = FakeTime()
    return asgi_client_mock(handler, fake)


def asgi_client_mock(handler: Any, fake: FakeTime) -> Client:
    from support.api import fast_policy

    return Client(
        "http://127.0.0.1",
        INSTALL,
        Secret(TOKEN),
        transport=httpx.MockTransport(handler),
        retry=fast_policy(fake, max_attempts=2),
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"sid": "ES', "Invalid JSON"),
        (b"<html>maintenance</html>", "Invalid JSON"),
        (b"", "Invalid JSON"),
        (b"[]", "Input should be an object"),
        (b'{"sid": "EX' + b"0" * 32 + b'", "status": "Scheduled"}', "sid: String should match"),
        (b'{"status": "Scheduled"}', "sid: Field required"),
    ],
)
def test_unreadable_2xx_is_a_response_error(body: bytes, problem: str) -> None:
    async def go() -> ResponseError:
        async with _garbage_client(200, body) as api:
            with pytest.raises(ResponseError) as info:
                await api.get_session("EX" + "0" * 32, "ES" + "0" * 32)
            assert api.calls.total() == 1
            return info.value

    err = asyncio.run(go())
    assert err.status == 200 and problem in err.api_message
    assert "maintenance" not in str(err)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "cls", "code", "message"),
    [
        (400, b'{"code": "5003", "message": "bad thing"}', "application/json",
         InvalidInputError, "5003", "bad thing"),
        (400, b'{"code": 5003, "message": "numeric"}', "application/json",
         InvalidInputError, "5003", "numeric"),
        (400, b'{"error": {"code": "X1", "message": "wrapped"}}', "application/json",
         InvalidInputError, "X1", "wrapped"),
        (400, b'{"code": "INVALIDINPUT", "message": "bad", "details": [{"path": "a.b", '
              b'"message": "must be x"}]}', "application/json",
         InvalidInputError, "INVALIDINPUT", "bad (a.b: must be x)"),
        (400, b'{"code": "INVALIDINPUT", "message": "a.b: must be x", "details": [{"path": '
              b'"a.b", "message": "must be x"}, {"path": "c", "message": "y"}]}',
         "application/json", InvalidInputError, "INVALIDINPUT", "a.b: must be x (c: y)"),
        (404, b"<html><body>Not here</body></html>", "text/html",
         NotFoundError, None, "Not Found (non-JSON text/html body of 34 bytes)"),
        (405, b'{"code": "UNSUPPORTEDHTTPVERB"}', "application/json",
         NoSuchRouteError, "UNSUPPORTEDHTTPVERB", "Method Not Allowed (no message)"),
        (404, b'{"statusCode": 404, "error": "Not Found", "message": "Not Found"}',
         "application/json; charset=utf-8", NoSuchRouteError, None, "Not Found"),
        (404, b'{"code": "INVALIDURI", "message": "no route"}', "application/json",
         NoSuchRouteError, "INVALIDURI", "no route"),
        (409, b"", "", ApiError, None, "Conflict (empty body)"),
        (401, b'{"message": "expired"}', "application/json", AuthError, None, "expired"),
        (500, b'{"code": "INTERNALERROR", "message": "tru', "application/json",
         ServerError, None, "Internal Server Error (non-JSON application/json body of 41 bytes)"),
        (302, b"", "text/html", ResponseError, None, "Found (empty body)"),
    ],
)  # fmt: skip
def test_error_bodies_of_every_shape(
    status: int,
    body: bytes,
    content_type: str,
    cls: type[ApiError],
    code: str | None,
    message: str,
) -> None:
    async def go() -> ApiError:
        async with _garbage_client(status, body, content_type) as api:
            with pytest.raises(ApiError) as info:
                await api.get_session("EX" + "0" * 32, "ES" + "0" * 32)
            return info.value

    err = asyncio.run(go())
    assert type(err) is cls
    assert (err.status, err.code) == (status, code)
    assert err.api_message.startswith(message), err.api_message


def test_html_502_from_a_proxy_is_retried_then_reported_cleanly() -> None:
    world = new_world()
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=502, times=10, body=page),
    )
    fake = FakeTime()

    async def go() -> ServerError:
        async with asgi_client(app, fake) as api:
            with pytest.raises(ServerError) as info:
                await api.settings()
            return info.value

    err = asyncio.run(go())
    assert err.status == 502 and err.code is None
    assert err.api_message == (
        "Bad Gateway (non-JSON text/html body of 74 bytes) (gave up after 6 attempts)"
    )
    assert "nginx" not in str(err)
    assert len(fake.sleeps) == 5


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"code":"INTERNALERROR","message":"boom","status":500}', "INTERNALERROR: boom"),
        (b'{"code":"5003","message":"Forbidden"}', "5003: Forbidden"),
        (b'{"code":"X","message":"\\u001b[31mred","status":503}', "X: \\x1b[31mred"),
    ],
)
def test_a_read_answered_200_with_an_error_body_is_an_error(body: bytes, said: str) -> None:
    # the install's settings have no required field: the error body would read as
    # settings with every field unknown
    app = Tamper(
        sandbox_app(new_world()),
        Rule("GET", "/settings$", "before", status=200, body=body, content_type="application/json"),
    )

    async def go() -> ResponseError:
        async with asgi_client(app, FakeTime()) as api:
            with pytest.raises(ResponseError) as info:
                await api.settings()
            assert api.calls.total() == 1  # not retried
            return info.value

    err = asyncio.run(go())
    assert err.status == 200
    assert err.api_message == f"an error body on a success status ({said})"
    # a body of the same keys that is an answer is read as one
    ok = Tamper(
        sandbox_app(new_world()),
        Rule(
            "GET", "/settings$", "before", status=200, content_type="application/json",
            body=b'{"defaultTimezone":"UTC","message":"hi","code":"x"}',
        ),
    )  # fmt: skip

    async def read() -> wire.Settings:
        async with asgi_client(ok, FakeTime()) as api:
            return await api.settings()

    assert asyncio.run(read()).defaultTimezone == "UTC"


def test_reschedule_and_cancel_accept_an_empty_answer() -> None:
    """The contract leaves those answers open: an empty 2xx is read back instead."""
    world = new_world()
    seeded = seed_course(world, 1)
    en = seeded.enrollments[0]
    es = seeded.sessions[en]
    app = Tamper(sandbox_app(world))

    async def go() -> tuple[wire.Session, wire.Session]:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(seeded.exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("PUT", "/sessions/", "after", status=204, content_type=""))
            moved = await api.reschedule_session(seeded.exam, es, "2027-03-03T10:00:00Z")
            app.add(Rule("DELETE", "/sessions/", "after", status=200, content_type=""))
            gone = await api.cancel_session(seeded.exam, es, memo="x")
            return moved, gone

    moved, gone = asyncio.run(go())
    assert (moved.status, moved.appointmentDate) == ("Scheduled", "2027-03-03T10:00:00Z")
    assert gone.status == "Cancelled"


def test_request_bodies_as_sent() -> None:
    """What goes on the wire: the token header, JSON, the password revealed only there."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/provision"):
            return httpx.Response(
                200,
                json={"course": {"sid": "CU" + "0" * 32, "result": "Created"},
                      "exam": {"sid": "EX" + "0" * 32, "result": "Created"},
                      "configuration": {"sid": "EC" + "0" * 32, "result": "Created"},
                      "user": {"sid": "US" + "0" * 32, "result": "Created"},
                      "enrollment": {"sid": "EN" + "0" * 32, "result": "Created"}},
            )  # fmt: skip
        return httpx.Response(200, json={"examSid": "EX" + "0" * 32, "assigned": []})

    async def go() -> None:
        async with Client(
            "http://127.0.0.1", INSTALL, Secret(TOKEN), transport=httpx.MockTransport(handler)
        ) as api:
            await api.provision(provision_body())
            await api.update_assignments("CU" + "0" * 32, "EX" + "0" * 32, remove=["EN" + "1" * 32])

    asyncio.run(go())
    prov, assign = sent
    assert prov.headers["token"] == TOKEN
    assert prov.headers["content-type"] == "application/json"
    assert json.loads(prov.content)["exam"]["configuration"]["password"] == PASSWORD
    assert assign.method == "PUT"
    assert json.loads(assign.content) == {"remove": [{"enrollmentSid": "EN" + "1" * 32}]}


def test_a_failing_on_call_hook_does_not_fail_the_call(caplog: pytest.LogCaptureFixture) -> None:
    world = new_world()
    seen: list[CallRecord] = []

    def hook(record: CallRecord) -> None:
        seen.append(record)
        raise OSError("audit log disk full")

    async def go() -> wire.Settings:
        async with asgi_client(sandbox_app(world), on_call=hook) as api:
            return await api.settings()

    assert run(go()).defaultCurrencyCode == "USD"
    assert [(r.method, r.status, r.attempt) for r in seen] == [("GET", 200, 1)]
    assert "on_call hook failed for GET /v1/installs/" in caplog.text


def test_find_users_without_filters_lists_everyone() -> None:
    world = new_world()
    seeded = seed_course(world, 3, assign=False)

    async def go() -> list[str]:
        async with asgi_client(sandbox_app(world)) as api:
            return [u.sid for u in await api.find_users()]

    assert sorted(run(go())) == sorted(seeded.users)


def test_paged_items_are_handed_on_page_by_page_in_list_order() -> None:
    """``each_user`` gives each page as soon as the pages before it came, in the list's order,
    whatever order the concurrent pages answer in; an item repeated by a shifting list once."""
    sids = ["US" + f"{i:032x}" for i in range(350)]
    answered: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        limit = int(request.url.params["limit"])
        if offset == 100:
            await asyncio.sleep(0.2)  # the second page answers last
        answered.append(offset)
        # the last page repeats the item before it, as offset paging over a growing list can
        start = offset - 1 if offset == 300 else offset
        body = {
            "results": [{"sid": s} for s in sids[start : offset + limit]],
            "total": len(sids),
            "next": f"http://x/?offset={offset + limit}&limit={limit}"
            if offset + limit < len(sids)
            else None,
        }
        return httpx.Response(200, json=body)

    async def go() -> list[list[str]]:
        got: list[list[str]] = []
        async with Client(
            "http://127.0.0.1", INSTALL, Secret(TOKEN), transport=httpx.MockTransport(handler)
        ) as api:
            await api.each_user(lambda page: got.append([u["sid"] for u in page]))
        return got

    pages = asyncio.run(go())
    assert answered[0] == 0 and answered[-1] == 100  # the pages after the first overlapped
    assert pages == [sids[0:100], sids[100:200], sids[200:300], sids[300:350]]


def _unlimited_with_one_assigned() -> tuple[Any, str, str, str]:
    """A world whose exam has one learner assigned while limited, then made unlimited (she
    keeps her session): ``(world, course, exam, enrollment)``."""
    world = new_world()
    seeded = seed_course(world, 1)
    exam = pl.exam("c-exam", limited=False, title="Exam", type=None, configuration=configuration())
    world.provision(INSTALL, pl.provision(course=pl.course("c-course"), exam=exam))
    return world, seeded.course, seeded.exam, seeded.enrollments[0]


def _assigned(world: Any, exam: str) -> list[str]:
    (inst,) = world.to_json()["installs"]
    (found,) = [x for x in inst["exams"] if x["sid"] == exam]
    return list(found["assigned"])


@pytest.mark.parametrize("limited", [True, False])
def test_a_removal_from_an_unlimited_exam_is_confirmed_by_the_vendor_accepting_it(
    limited: bool,
) -> None:
    # the vendor answers a text OK; the learner keeps her session of the unlimited exam
    # whether assigned or not, so her sessions read back cannot confirm the removal
    world, course, exam, enrollment = _unlimited_with_one_assigned()
    app = sandbox_app(world, dialect=Dialect.vendor(assignment_form="newest"))

    async def go() -> wire.AssignmentList | None:
        async with asgi_client(app, assignment_form="newest") as api:
            return await api.update_assignments(course, exam, remove=[enrollment], limited=limited)

    if limited:  # the exam said to be limited: the open session reads as still assigned
        with pytest.raises(ResponseError, match=rf"shows 1 still assigned \({enrollment}\)$"):
            run(go())
    else:
        assert run(go()) is None
    assert _assigned(world, exam) == []


def test_a_removal_from_an_unlimited_exam_in_the_guide_form_is_not_taken_as_done() -> None:
    # the guide form documents no removal (the vendor strips it): with nothing to read it
    # back from, the removal is not taken as done
    world, course, exam, enrollment = _unlimited_with_one_assigned()
    app = sandbox_app(world, dialect=Dialect.vendor(assignment_form="guide"))

    async def go() -> None:
        async with asgi_client(app, assignment_form="guide") as api:
            await api.update_assignments(course, exam, remove=[enrollment], limited=False)

    with pytest.raises(ResponseError) as e:
        run(go())
    assert str(e.value).endswith(
        f"1 still assigned ({enrollment}); the guide form documents no removal: set "
        "api.dialect.assignments to exam or newest if the install serves one "
        "(docs/api-dialects.md)"
    )
    assert _assigned(world, exam) == [enrollment]
