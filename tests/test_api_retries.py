"""Retries against the simulator: every retry path, and never a second booking.

Faults come from the simulator itself (seeded ``fault_rate``: 500, 503, dropped connection,
before or after the effect) and, for what it does not emit (502/504, timeouts at a chosen
request), from the ``Tamper`` front in support.api.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from support.api import (
    APPOINTMENT,
    INSTALL,
    STATUS_FORMS,
    TOKEN,
    FakeTime,
    Rule,
    Tamper,
    asgi_client,
    fast_policy,
    fault_seed,
    http_client,
    new_world,
    predicted_faults,
    restatus,
    sandbox_app,
    schedule_request,
    seed_course,
    served,
    world_sessions,
)

from spsync.api import Client, wire
from spsync.api.client import (
    R_ASSIGNMENTS,
    R_ENROLLMENT_SESSIONS,
    R_SESSION,
    R_SETTINGS,
)
from spsync.errors import ApiError, InvalidInputError, ServerError, TransportError
from spsync.secrets import Secret

GET_SESSION = f"GET {R_SESSION}"
POST_SESSION = f"POST {R_SESSION}"
LIST_SESSIONS = f"GET {R_ENROLLMENT_SESSIONS}"


# --- reads and idempotent writes: simply sent again -------------------------------------------


def test_simulator_faults_on_reads_are_retried() -> None:
    """Seeded 500/503/dropped connections: each costs exactly one more attempt."""
    world = new_world()
    seeded = seed_course(world, 1)
    es = seeded.sessions[seeded.enrollments[0]]
    rate, seed, reads = 0.3, 11, 40
    fake = FakeTime()

    async def go() -> Client:
        async with asgi_client(sandbox_app(world, fault_rate=rate, seed=seed), fake) as api:
            for _ in range(reads):
                assert (await api.get_session(seeded.exam, es)).sid == es
            return api

    api = asyncio.run(go())
    # the draws of the first attempts and retries, in order, as the simulator makes them
    draws = predicted_faults(rate, seed, api.calls[GET_SESSION])
    assert sum(d is None for d in draws) == reads
    assert [r.error for r in api.records if r.error] == [
        {"500": "INTERNALERROR", "503": "SERVICEUNAVAILABLE", "drop": "DroppedConnection"}[d[0]]
        for d in draws
        if d is not None
    ]
    kinds = {d[0] for d in draws if d is not None}
    assert kinds == {"500", "503", "drop"}
    # backoff 0.1 * 2**(attempt-1) (jitter pinned at its top); 503s carry Retry-After: 1,
    # which is a floor
    assert fake.sleeps == [
        max(min(2.0, 0.1 * 2 ** (r.attempt - 1)), 1.0 if r.error == "SERVICEUNAVAILABLE" else 0)
        for r in api.records
        if r.error is not None
    ]


@pytest.mark.parametrize("status", [502, 504, 500, 503])
def test_gateway_errors_on_reads_are_retried(status: int) -> None:
    world = new_world()
    app = Tamper(sandbox_app(world), Rule("GET", "/settings$", "before", status=status, times=2))
    fake = FakeTime()

    async def go() -> Client:
        async with asgi_client(app, fake) as api:
            assert (await api.settings()).defaultTimezone
            return api

    api = asyncio.run(go())
    assert [(r.status, r.attempt) for r in api.records] == [(status, 1), (status, 2), (200, 3)]
    assert fake.sleeps == [0.1, 0.2]  # full jitter at its top (random = 1.0): 0.1 * 2**n


def test_429_honours_retry_after() -> None:
    world = new_world()
    body = b'{"code": "TOOMANYREQUESTS", "message": "slow down"}'
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=429, times=2, body=body,
             content_type="application/json", headers={"Retry-After": "3"}),
    )  # fmt: skip
    fake = FakeTime()

    async def go() -> Client:
        async with asgi_client(app, fake) as api:
            await api.settings()
            return api

    api = asyncio.run(go())
    assert [r.status for r in api.records] == [429, 429, 200]
    assert [r.error for r in api.records] == ["TOOMANYREQUESTS", "TOOMANYREQUESTS", None]
    # the retry waits Retry-After (the limiter's pause and the backoff overlap, not add up)
    assert fake.now == pytest.approx(6.0)
    assert api.limiter.throttled == 2


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=429, headers={"Retry-After": "600"}),
    )
    fake = FakeTime()

    async def go() -> ApiError:
        async with asgi_client(app, fake, retry=fast_policy(fake, max_elapsed=60)) as api:
            with pytest.raises(ApiError) as info:
                await api.settings()
            return info.value

    err = asyncio.run(go())
    assert (err.status, type(err).__name__) == (429, "RateLimitedError")
    assert "retry budget exhausted" in err.api_message
    assert fake.sleeps == []


def test_attempts_are_capped() -> None:
    world = new_world()
    app = Tamper(sandbox_app(world), Rule("GET", "/settings$", "before", status=503, times=99))
    fake = FakeTime()

    async def go() -> tuple[ServerError, int]:
        async with asgi_client(app, fake, retry=fast_policy(fake, max_attempts=4)) as api:
            with pytest.raises(ServerError) as info:
                await api.settings()
            return info.value, api.calls[f"GET {R_SETTINGS}"]

    err, calls = asyncio.run(go())
    assert calls == 4
    assert err.api_message == "Service Unavailable (empty body) (gave up after 4 attempts)"


def test_elapsed_time_is_capped() -> None:
    world = new_world()
    app = Tamper(sandbox_app(world), Rule("GET", "/settings$", "before", status=502, times=99))
    fake = FakeTime()
    policy = fast_policy(fake, base_delay=0.4, max_elapsed=1.0)

    async def go() -> ServerError:
        async with asgi_client(app, fake, retry=policy) as api:
            with pytest.raises(ServerError) as info:
                await api.settings()
            return info.value

    err = asyncio.run(go())
    assert fake.sleeps == [0.4]  # the next wait (0.8) would end past the 1 s budget
    assert err.api_message.endswith("(gave up after 2 attempts: retry budget exhausted)")


def test_read_timeout_over_http_is_retried() -> None:
    world = new_world()
    slow = Rule("GET", "/settings$", "slow-after", delay=1.0)
    fake = FakeTime()
    with served(world, slow) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, fake, timeout=0.25) as api:
                await api.settings()
                return api

        api = asyncio.run(go())
    assert [(r.status, r.error) for r in api.records] == [(None, "ReadTimeout"), (200, None)]


def test_dropped_connection_over_http_is_retried() -> None:
    """The simulator's own fault: it closes the connection without answering."""
    world = new_world()
    seeded = seed_course(world, 1)
    es = seeded.sessions[seeded.enrollments[0]]
    seed = fault_seed(0.5, [("drop", "before"), ("drop", "after"), None])
    fake = FakeTime()
    with served(world, fault_rate=0.5, seed=seed) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, fake) as api:
                assert (await api.get_session(seeded.exam, es)).status == "Needs Proctor"
                return api

        api = asyncio.run(go())
    assert [(r.status, r.attempt) for r in api.records] == [(None, 1), (None, 2), (200, 3)]
    assert {r.error for r in api.records[:2]} <= {"RemoteProtocolError", "ReadError"}


def test_connect_errors_are_retried_then_reported() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeTime()
    api = Client(
        f"http://127.0.0.1:{port}", INSTALL, Secret(TOKEN), retry=fast_policy(fake, max_attempts=3)
    )

    async def go() -> TransportError:
        async with api:
            with pytest.raises(TransportError) as info:
                await api.schedule_session(
                    "EX" + "0" * 32,
                    "ES" + "0" * 32,
                    schedule_request(),
                    enrollment_sid="EN" + "0" * 32,
                )
            return info.value

    err = asyncio.run(go())
    # nothing was sent, so the schedule is simply tried again: no read to settle anything
    assert api.calls == {POST_SESSION: 3}
    assert f"cannot connect to http://127.0.0.1:{port} (ConnectError)" in err.api_message
    assert err.api_message.endswith("(gave up after 3 attempts)")


def test_tls_verification_failure_is_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    fake = FakeTime()
    api = Client(
        "https://api.example.test",
        INSTALL,
        Secret(TOKEN),
        transport=httpx.MockTransport(handler),
        retry=fast_policy(fake),
    )

    async def go() -> TransportError:
        async with api:
            with pytest.raises(TransportError) as info:
                await api.settings()
            return info.value

    err = asyncio.run(go())
    assert api.calls.total() == 1 and fake.sleeps == []
    assert "TLS certificate verification failed" in err.api_message
    assert "SSL_CERT_FILE" in err.api_message


@pytest.mark.parametrize("action", ["after", "drop-after"])
def test_assignments_are_sent_again_after_a_lost_answer(action: str) -> None:
    world = new_world()
    seeded = seed_course(world, 3, assign=False)
    app = Tamper(sandbox_app(world), Rule("PUT", "/assignments$", action, status=502))

    async def go() -> tuple[wire.AssignmentList, int]:
        async with asgi_client(app, FakeTime()) as api:
            out = await api.update_assignments(seeded.course, seeded.exam, add=seeded.enrollments)
            return out, api.calls[f"PUT {R_ASSIGNMENTS}"]

    out, calls = asyncio.run(go())
    assert calls == 2
    assert out.assigned == seeded.enrollments
    for en in seeded.enrollments:  # one active session each, not two
        assert [s["status"] for s in world_sessions(world, en, seeded.exam)] == ["Needs Proctor"]


def test_provision_is_repeated_safely_after_a_lost_answer() -> None:
    world = new_world()
    app = Tamper(sandbox_app(world), Rule("POST", "/provision$", "drop-after"))
    body = wire.ProvisionRequest.model_validate(
        {"course": {"ids": {"external": "k-1"}, "title": "K", "code": "K1"}}
    )

    async def go() -> wire.ProvisionResponse:
        async with asgi_client(app, FakeTime()) as api:
            return await api.provision(body)

    out = asyncio.run(go())
    assert out.course.result == "Found Existing"  # the first attempt had created it
    assert world.get_course(INSTALL, out.course.sid)["code"] == "K1"
    (install,) = world.to_json()["installs"]
    assert [c["ids"] for c in install["courses"]] == [{"external": "k-1"}]


# --- schedule: the outcome is read before anything is sent again ------------------------------


def _one_learner() -> tuple[object, str, str, str]:
    world = new_world()
    seeded = seed_course(world, 1)
    en = seeded.enrollments[0]
    return world, seeded.exam, en, seeded.sessions[en]


def _assert_booked_once(world: object, exam: str, en: str, es: str) -> None:
    rows = world_sessions(world, en, exam)  # type: ignore[arg-type]
    assert [(s["sid"], s["status"], s["appointmentDate"], s["externalAppointmentId"])
            for s in rows] == [(es, "Scheduled", APPOINTMENT, "appt-1")]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "status"),
    [("after", 500), ("after", 502), ("after", 503), ("after", 504), ("drop-after", 0),
     ("timeout-after", 0)],
)  # fmt: skip
def test_no_second_booking_when_the_answer_of_a_schedule_is_lost(action: str, status: int) -> None:
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world), Rule("POST", "/sessions/", action, status=status))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            got = await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            return got, api

    got, api = asyncio.run(go())
    assert (got.sid, got.status, got.appointmentDate) == (es, "Scheduled", APPOINTMENT)
    assert api.calls == {POST_SESSION: 1, LIST_SESSIONS: 1, GET_SESSION: 1}
    _assert_booked_once(world, exam, en, es)


@pytest.mark.parametrize("kind", ["drop", "500", "503"])
def test_no_second_booking_over_http_with_the_simulators_own_faults(kind: str) -> None:
    """The simulator applies the schedule, then fails the answer (or the connection)."""
    world, exam, en, es = _one_learner()
    seed = fault_seed(0.5, [(kind, "after"), None, None])
    with served(world, fault_rate=0.5, seed=seed) as (srv, _front):  # type: ignore[arg-type]

        async def go() -> Client:
            async with http_client(srv, FakeTime()) as api:
                await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
                return api

        api = asyncio.run(go())
    assert api.calls == {POST_SESSION: 1, LIST_SESSIONS: 1, GET_SESSION: 1}
    _assert_booked_once(world, exam, en, es)


def test_no_second_booking_after_a_real_timeout() -> None:
    world, exam, en, es = _one_learner()
    slow = Rule("POST", "/sessions/", "slow-after", delay=1.0)
    with served(world, slow) as (srv, _front):  # type: ignore[arg-type]

        async def go() -> Client:
            async with http_client(srv, FakeTime(), timeout=0.25) as api:
                await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
                return api

        api = asyncio.run(go())
    assert [(r.method, r.error) for r in api.records] == [
        ("POST", "ReadTimeout"),
        ("GET", None),
        ("GET", None),
    ]
    _assert_booked_once(world, exam, en, es)


@pytest.mark.parametrize(("action", "status"), [("before", 503), ("before", 500)])
def test_a_schedule_that_did_not_land_is_sent_again(action: str, status: int) -> None:
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world), Rule("POST", "/sessions/", action, status=status))  # type: ignore[arg-type]

    async def go() -> Client:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            return api

    api = asyncio.run(go())
    assert [(r.method, r.route, r.status) for r in api.records] == [
        ("POST", R_SESSION, status),
        ("GET", R_ENROLLMENT_SESSIONS, 200),  # still Needs Proctor: safe to send again
        ("POST", R_SESSION, 200),
    ]
    _assert_booked_once(world, exam, en, es)


def test_a_late_effect_of_the_first_attempt_is_recognised() -> None:
    """The first POST's effect lands after our read said it had not: the second POST meets
    "already scheduled", which is checked, found to be ours, and reported as success."""
    world, exam, en, es = _one_learner()
    body = {"type": "automated", "proctorLocationSid": schedule_request().proctorLocationSid,
            "appointmentDateTime": APPOINTMENT, "externalAppointmentId": "appt-1"}  # fmt: skip
    app = Tamper(
        sandbox_app(world),  # type: ignore[arg-type]
        Rule("POST", "/sessions/", "before", status=504),
        Rule("POST", "/sessions/", "pass",
             on_hit=lambda: world.schedule_session(INSTALL, exam, es, body)),  # type: ignore[attr-defined]
    )  # fmt: skip

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            got = await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            return got, api

    got, api = asyncio.run(go())
    assert got.status == "Scheduled"
    assert [(r.method, r.status) for r in api.records] == [
        ("POST", 504),
        ("GET", 200),
        ("POST", 400),
        ("GET", 200),
        ("GET", 200),
    ]
    _assert_booked_once(world, exam, en, es)


def test_someone_elses_booking_is_reported_not_taken_for_ours() -> None:
    world, exam, en, es = _one_learner()
    other = {"type": "automated", "proctorLocationSid": schedule_request().proctorLocationSid,
             "appointmentDateTime": "2027-04-01T08:00:00Z"}  # fmt: skip
    app = Tamper(
        sandbox_app(world),  # type: ignore[arg-type]
        Rule("POST", "/sessions/", "before", status=504,
             on_hit=lambda: world.schedule_session(INSTALL, exam, es, other)),  # type: ignore[attr-defined]
    )  # fmt: skip

    async def go() -> ServerError:
        async with asgi_client(app, FakeTime()) as api:
            with pytest.raises(ServerError) as info:
                await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            assert api.calls == {POST_SESSION: 1, LIST_SESSIONS: 1}
            return info.value

    err = asyncio.run(go())
    assert err.status == 504
    assert (
        f"(the outcome is unknown: session {es} is Scheduled for 2027-04-01T08:00:00Z, "
        "not as requested; re-run plan to check)" in err.api_message
    )


def test_a_plain_400_on_the_first_attempt_is_not_checked() -> None:
    world, exam, en, es = _one_learner()
    world.schedule_session(  # type: ignore[attr-defined]
        INSTALL, exam, es, {"type": "automated", "appointmentDateTime": APPOINTMENT}
    )

    async def go() -> InvalidInputError:
        async with asgi_client(sandbox_app(world), FakeTime()) as api:  # type: ignore[arg-type]
            with pytest.raises(InvalidInputError) as info:
                await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            assert api.calls == {POST_SESSION: 1}
            return info.value

    assert "already scheduled" in asyncio.run(go()).api_message


# --- reschedule and cancel ------------------------------------------------------------------


@pytest.mark.parametrize("action", ["after", "drop-after", "timeout-after"])
def test_reschedule_with_a_lost_answer_is_checked_by_reading(action: str) -> None:
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("PUT", "/sessions/", action, status=502))
            api.calls.clear()
            moved = await api.reschedule_session(exam, es, "2027-05-05T05:00:00Z")
            return moved, api

    moved, api = asyncio.run(go())
    assert (moved.status, moved.appointmentDate) == ("Scheduled", "2027-05-05T05:00:00Z")
    assert api.calls == {f"PUT {R_SESSION}": 1, GET_SESSION: 1}


def test_reschedule_that_did_not_land_is_sent_again() -> None:
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world))  # type: ignore[arg-type]

    async def go() -> Client:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("PUT", "/sessions/", "before", status=503))
            api.calls.clear()
            await api.reschedule_session(exam, es, "2027-05-05T05:00:00Z")
            return api

    api = asyncio.run(go())
    assert api.calls == {f"PUT {R_SESSION}": 2, GET_SESSION: 1}
    assert world.get_session(INSTALL, exam, es)["appointmentDate"] == "2027-05-05T05:00:00Z"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("action", "puts"), [("before", 2), ("after", 1), ("drop-after", 1)])
def test_a_move_of_the_notes_alone_is_checked_by_its_notes(action: str, puts: int) -> None:
    """A reschedule that changes only the notes keeps the appointment: the read that settles
    an unknown outcome must look at the notes. It looked at the appointment alone, so a
    notes change refused before it took effect (a 503) counted as done and was never sent
    again (apply said `1 reschedule` done; the next plan showed the same change as drift)."""
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("PUT", "/sessions/", action, status=503))
            api.calls.clear()
            moved = await api.reschedule_session(exam, es, APPOINTMENT, notes="Bring your ID.")
            return moved, api

    moved, api = asyncio.run(go())
    assert (moved.status, moved.appointmentDate, moved.notes) == (
        "Scheduled",
        APPOINTMENT,
        "Bring your ID.",
    )
    assert api.calls == {f"PUT {R_SESSION}": puts, GET_SESSION: 1}
    kept = world.get_session(INSTALL, exam, es)  # type: ignore[attr-defined]
    assert (kept["appointmentDate"], kept["notes"]) == (APPOINTMENT, "Bring your ID.")


@pytest.mark.parametrize("action", ["after", "drop-after"])
def test_cancel_with_a_lost_answer_is_checked_by_reading(action: str) -> None:
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world), Rule("DELETE", "/sessions/", action, status=500))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            gone = await api.cancel_session(exam, es, memo="not needed")
            return gone, api

    gone, api = asyncio.run(go())
    assert gone.status == "Cancelled"
    # a blind retry would have been refused ("only a Needs Proctor or Scheduled session")
    assert api.calls == {f"DELETE {R_SESSION}": 1, GET_SESSION: 1}
    statuses = [s["status"] for s in world_sessions(world, en, exam)]  # type: ignore[arg-type]
    assert statuses == ["Cancelled", "Needs Proctor"]


# --- a booking waiting for approval ---------------------------------------------------------


def _pending(app: Tamper) -> None:
    """From now on the service writes each booking it reads back as waiting for approval (an
    exam that requires it), as the vendor documents for such an exam."""
    app.add(restatus(STATUS_FORMS["pending"]))


@pytest.mark.parametrize(("action", "puts"), [("before", 2), ("after", 1), ("drop-after", 1)])
def test_a_move_of_a_booking_waiting_for_approval_is_settled_by_reading(
    action: str, puts: int
) -> None:
    """A booking that waits for approval is a booking: a move whose answer was lost is done
    when the read shows it at the new time, and sent again when it shows the old one. The
    read used to take ``Pending Approval`` for no booking at all, and the move failed."""
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("PUT", "/sessions/", action, status=503))
            _pending(app)
            api.calls.clear()
            moved = await api.reschedule_session(exam, es, "2027-05-05T05:00:00Z")
            return moved, api

    moved, api = asyncio.run(go())
    assert (moved.sid, moved.appointmentDate) == (es, "2027-05-05T05:00:00Z")
    assert api.calls == {f"PUT {R_SESSION}": puts, GET_SESSION: 1}
    rows = world_sessions(world, en, exam)  # type: ignore[arg-type]
    assert [(s["sid"], s["status"], s["appointmentDate"]) for s in rows] == [
        (es, "Scheduled", "2027-05-05T05:00:00Z")
    ]


@pytest.mark.parametrize(("action", "deletes"), [("before", 2), ("after", 1), ("drop-after", 1)])
def test_a_cancel_of_a_booking_waiting_for_approval_is_settled_by_reading(
    action: str, deletes: int
) -> None:
    """A cancel whose answer was lost, of a booking that waits for approval: done when the
    read shows it cancelled, sent again when it shows it still waiting (a booking)."""
    world, exam, en, es = _one_learner()
    app = Tamper(sandbox_app(world))  # type: ignore[arg-type]

    async def go() -> tuple[wire.Session, Client]:
        async with asgi_client(app, FakeTime()) as api:
            await api.schedule_session(exam, es, schedule_request(), enrollment_sid=en)
            app.add(Rule("DELETE", "/sessions/", action, status=503))
            _pending(app)
            api.calls.clear()
            gone = await api.cancel_session(exam, es, memo="not needed")
            return gone, api

    gone, api = asyncio.run(go())
    assert (gone.sid, gone.status) == (es, "Cancelled")
    assert api.calls == {f"DELETE {R_SESSION}": deletes, GET_SESSION: 1}
    statuses = [s["status"] for s in world_sessions(world, en, exam)]  # type: ignore[arg-type]
    assert statuses == ["Cancelled", "Needs Proctor"]


# --- a storm of seeded faults --------------------------------------------------------------


def test_seeded_fault_storm_books_everyone_exactly_once() -> None:
    """30 learners scheduled concurrently, then 10 moved and 10 cancelled, with 30% of all
    requests failing in every way the simulator knows: all done, each exactly once."""
    world = new_world()
    seeded = seed_course(world, 30)
    app = sandbox_app(world, fault_rate=0.3, seed=5)
    fake = FakeTime()
    ens = seeded.enrollments

    def when(i: int) -> str:
        return f"2027-03-{1 + i % 28:02d}T{8 + i % 9:02d}:00:00Z"

    async def go() -> Client:
        async with asgi_client(app, fake, retry=fast_policy(fake, max_attempts=12)) as api:
            await asyncio.gather(
                *(
                    api.schedule_session(
                        seeded.exam,
                        seeded.sessions[en],
                        schedule_request(at=when(i), ext=f"appt-{i}"),
                        enrollment_sid=en,
                    )
                    for i, en in enumerate(ens)
                )
            )
            await asyncio.gather(
                *(
                    api.reschedule_session(seeded.exam, seeded.sessions[en], when(i + 100))
                    for i, en in enumerate(ens[:10])
                ),
                *(
                    api.cancel_session(seeded.exam, seeded.sessions[en], memo="storm")
                    for en in ens[10:20]
                ),
            )
            return api

    api = asyncio.run(go())
    errors = {r.error for r in api.records if r.error}
    assert errors == {"INTERNALERROR", "SERVICEUNAVAILABLE", "DroppedConnection"}
    assert world.check_invariants() == []
    for i, en in enumerate(ens):
        rows = [
            (s["sid"] == seeded.sessions[en], s["status"], s["appointmentDate"])
            for s in world_sessions(world, en, seeded.exam)
        ]
        if i < 10:
            assert rows == [(True, "Scheduled", when(i + 100))]
        elif i < 20:
            assert rows == [(True, "Cancelled", when(i)), (False, "Needs Proctor", None)]
        else:
            assert rows == [(True, "Scheduled", when(i))]


def test_a_retry_after_beyond_the_budget_holds_no_other_call() -> None:
    # a hostile (or broken) server asks for three years: the call that met it gives up at
    # once, and the client's later calls are not held for it (the run hung), nor for the
    # budget: a wait that long is no pause but an outage, each call learns it at once
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=429, headers={"Retry-After": "99999999"}),
    )
    fake = FakeTime()

    async def go() -> ApiError:
        async with asgi_client(app, fake, retry=fast_policy(fake, max_elapsed=60)) as api:
            with pytest.raises(ApiError) as info:
                await api.settings()
            assert (await api.settings()).defaultTimezone
            return info.value

    err = asyncio.run(go())
    assert "retry budget exhausted" in err.api_message
    assert fake.sleeps == []
