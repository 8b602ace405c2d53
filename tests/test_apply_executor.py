"""The executor against the simulator over real HTTP, with hand-built plans (independent of
the planner): call batching, recording, adoption, failures, stopping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.api import STATUS_FORMS, Tamper, restatus
from support.apply import (
    EXAMS,
    INSTALL,
    LOCATION,
    OTHER_LOCATION,
    TOKEN,
    all_new,
    load,
    sessions_of,
    sessions_yaml,
    users_yaml,
    world,
    write_tenant,
)
from support.apply_checker import world_mismatches

from spsync.api import wire
from spsync.api.client import Client
from spsync.apply import ApplyResult, Executor, execute_tenant
from spsync.audit import AuditLog
from spsync.fields import applied_fields
from spsync.journal import journal_path
from spsync.model import Desired
from spsync.plan import Change
from spsync.planner import build_plan
from spsync.progress import LineProgress
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret
from spsync.state import State
from spsync.store import StateStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROVISION = "POST /v2/installs/{installSid}/provision"
ASSIGN = "PUT /v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/assignments"
SCHEDULE = "POST /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"
RESCHEDULE = "PUT /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"
CANCEL = "DELETE /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(token=TOKEN, seed=5, now=NOW) as srv:
        yield srv


def _applied(address: str) -> dict[str, Any]:
    return {"recorded": address}


def run(
    url: str,
    changes: list[Change],
    desired: Desired,
    store: StateStore,
    *,
    on_call: Any = None,
    **kw: Any,
) -> tuple[ApplyResult, dict[str, int]]:
    async def go() -> tuple[ApplyResult, dict[str, int]]:
        async with Client(url, INSTALL, Secret(TOKEN), on_call=on_call) as client:
            state = store.load(desired.tenant)
            result = await execute_tenant(
                changes, desired, state, client, store, applied_of=_applied, **kw
            )
            return result, dict(client.calls)

    return asyncio.run(go())


def _basic(root: Path, url: str, n: int = 12) -> Desired:
    files = {
        "exams.yaml": EXAMS,
        "users.yaml": users_yaml(n),
        "assign.yaml": "assignments:\n  final: ["
        + ", ".join(f"u{i:04d}" for i in range(5, n + 1))
        + "]\n",
        "sessions.yaml": sessions_yaml(
            [
                ("final", "u0001", "2028-03-01T14:00:00Z"),
                ("final", "u0002", "2028-03-02T14:00:00Z"),
                ("final", "u0003", "2028-03-03T14:00:00Z"),
                ("quiz", "u0004", "2028-04-01T10:00:00Z"),
            ]
        ),
    }
    return load(write_tenant(root, url, files))


def test_first_apply_does_everything_in_few_calls(server: ThreadedServer, tmp_path: Path) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    changes = all_new(desired)
    result, calls = run(server.url, changes, desired, store)

    assert result.ok, result.failures
    assert result.count("done") == len(changes) == 1 + 2 + 12 + 12 + 11 + 4
    # 1 course, 2 exams, 12 users each sharing the call with its enrollment
    assert calls[PROVISION] == 15
    assert calls[ASSIGN] == 1  # one call for the 11 assignments of the exam
    assert calls[SCHEDULE] == 4
    assert world_mismatches(world(server.url), desired) == []

    saved = store.load(desired.tenant)
    assert sorted(saved.resources) == sorted(c.address for c in changes)
    session = saved.resources["session.final.u0001"]
    enrollment = saved.resources["enrollment.main.u0001"]
    assert session.sid is not None and session.sid.startswith("ES")
    assert session.refs == {
        "course": saved.resources["course.main"].sid,
        "exam": saved.resources["exam.final"].sid,
        "enrollment": enrollment.sid,
        "user": saved.resources["user.u0001"].sid,
    }
    assert enrollment.refs == {
        "course": saved.resources["course.main"].sid,
        "user": saved.resources["user.u0001"].sid,
    }
    assert saved.resources["exam.final"].refs["configuration"].startswith("EC")
    assert saved.resources["assignment.final.u0005"].sid is None
    assert session.applied == {"recorded": "session.final.u0001"}
    assert not journal_path(store.directory, "mini").exists()


def test_assignments_are_batched_per_exam(server: ThreadedServer, tmp_path: Path) -> None:
    n = 230
    files = {
        "exams.yaml": EXAMS,
        "users.yaml": users_yaml(n),
        "assign.yaml": "assignments:\n  final: ["
        + ", ".join(f"u{i:04d}" for i in range(1, n + 1))
        + "]\n",
    }
    desired = load(write_tenant(tmp_path, server.url, files))
    store = StateStore(tmp_path / "state")
    result, calls = run(server.url, all_new(desired), desired, store, compact_every=50)
    assert result.ok
    assert calls[ASSIGN] == 3  # 100 + 100 + 30, never one call per user
    assert world_mismatches(world(server.url), desired) == []
    # compacted along the way and at the end; the journal is gone
    assert store.load(desired.tenant).serial > 2
    assert len(store.load(desired.tenant).resources) == len(all_new(desired))


def _forget_sessions(store: StateStore, desired: Desired) -> State:
    state = store.load(desired.tenant)
    kept = {a: r for a, r in state.resources.items() if not a.startswith("session.")}
    return store.save(state.model_copy(update={"resources": kept}))


def test_a_session_booked_but_not_recorded_is_adopted_not_booked_again(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    first, _ = run(server.url, all_new(desired), desired, store)
    booked = {a: r.sid for a, r in first.state.resources.items() if a.startswith("session.")}
    # as if the run had been killed between the booking and its journal line
    _forget_sessions(store, desired)
    again = [c for c in all_new(desired) if c.address.startswith("session.")]
    result, calls = run(server.url, again, desired, store)

    assert result.ok
    assert calls.get(SCHEDULE, 0) == 0 and calls.get(CANCEL, 0) == 0
    after = store.load(desired.tenant).resources
    assert {a: after[a].sid for a in booked} == booked
    assert [s for s in sessions_of(world(server.url)) if s["status"] == "Cancelled"] == []
    assert world_mismatches(world(server.url), desired) == []


def test_a_schedule_never_cancels_a_booked_session_the_plan_did_not_show(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    setup = [c for c in all_new(desired) if c.address != "session.final.u0001"]
    run(server.url, setup, desired, store)
    state = store.load(desired.tenant)
    exam_sid = state.resources["exam.final"].sid
    enr_sid = state.resources["enrollment.main.u0001"].sid
    assert exam_sid and enr_sid

    async def book_elsewhere() -> str:
        async with Client(server.url, INSTALL, Secret(TOKEN)) as c:
            (s,) = [
                x
                for x in await c.list_enrollment_sessions(enr_sid, exam_sid)
                if x.status == "Needs Proctor"
            ]
            req = wire.ScheduleRequest(
                type="automated",
                proctorLocationSid=OTHER_LOCATION,
                appointmentDateTime="2028-03-05T10:00:00Z",
            )
            return (await c.schedule_session(exam_sid, s.sid, req, enrollment_sid=enr_sid)).sid

    foreign = asyncio.run(book_elsewhere())
    change = Change(
        address="session.final.u0001", action="schedule", reason="new", destructive=False
    )
    result, calls = run(server.url, [change], desired, store)

    # the plan said "schedule": cancelling the other booking would be an effect nobody
    # reviewed, so the change fails with what to do, and the booking stays
    (outcome,) = result.outcomes
    assert outcome.status == "failed"
    assert outcome.message == (
        f"session.final.u0001: the enrollment already has booked session {foreign} of another "
        f"type or location (automated, {OTHER_LOCATION}); the plan did not show cancelling "
        "it: run `spsync plan` again (with refresh) and review the replace it shows"
    )
    assert calls.get(CANCEL, 0) == 0 and calls.get(SCHEDULE, 0) == 0
    mine = [s for s in sessions_of(world(server.url)) if s["enrollmentSid"] == enr_sid]
    assert [s["sid"] for s in mine if s["status"] == "Scheduled"] == [foreign]
    assert [s for s in mine if s["status"] == "Cancelled"] == []
    assert "session.final.u0001" not in store.load(desired.tenant).resources


def test_a_schedule_never_moves_a_booking_the_plan_did_not_show(
    server: ThreadedServer, tmp_path: Path
) -> None:
    """A booking of the same type and location at another time (made by a person; a first
    plan that could not find its exam shows a booking): it was moved to the manifest's
    appointment, a reschedule the plan never showed."""
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    setup = [c for c in all_new(desired) if c.address != "session.final.u0001"]
    run(server.url, setup, desired, store)
    state = store.load(desired.tenant)
    exam_sid = state.resources["exam.final"].sid
    enr_sid = state.resources["enrollment.main.u0001"].sid
    assert exam_sid and enr_sid

    async def book_by_hand() -> str:
        async with Client(server.url, INSTALL, Secret(TOKEN)) as c:
            (s,) = [
                x
                for x in await c.list_enrollment_sessions(enr_sid, exam_sid)
                if x.status == "Needs Proctor"
            ]
            req = wire.ScheduleRequest(
                type="automated",
                proctorLocationSid=LOCATION,
                appointmentDateTime="2028-03-05T10:00:00Z",
            )
            return (await c.schedule_session(exam_sid, s.sid, req, enrollment_sid=enr_sid)).sid

    by_hand = asyncio.run(book_by_hand())
    change = Change(
        address="session.final.u0001", action="schedule", reason="new", destructive=False
    )
    result, calls = run(server.url, [change], desired, store)

    (outcome,) = result.outcomes
    assert outcome.status == "failed"
    assert outcome.message == (
        f"session.final.u0001: the enrollment already has booked session {by_hand} at "
        "2028-03-05T10:00:00Z; the plan did not show moving it: run `spsync plan` again "
        "(with refresh) and review the reschedule it shows"
    )
    assert calls.get(RESCHEDULE, 0) == 0 and calls.get(SCHEDULE, 0) == 0
    mine = [s for s in sessions_of(world(server.url)) if s["enrollmentSid"] == enr_sid]
    booked = [(s["sid"], s["appointmentDate"]) for s in mine if s["status"] == "Scheduled"]
    assert booked == [(by_hand, "2028-03-05T10:00:00Z")]
    assert "session.final.u0001" not in store.load(desired.tenant).resources


def test_a_schedule_adopts_a_booking_waiting_for_approval_rather_than_book_another(
    tmp_path: Path,
) -> None:
    """A person booked the session as the manifests say on an exam that requires approval:
    the booking reads ``Pending Approval``. It is the booking, taken over: neither a second
    one nor an assignment call to open one."""
    srv = ThreadedServer(token=TOKEN, seed=5, now=NOW)
    front = Tamper(srv.app)
    srv.app = front  # type: ignore[assignment]  # served in front of the simulator
    with srv:
        desired = _basic(tmp_path, srv.url)
        store = StateStore(tmp_path / "state")
        setup = [c for c in all_new(desired) if c.address != "session.final.u0001"]
        run(srv.url, setup, desired, store)
        state = store.load(desired.tenant)
        exam_sid = state.resources["exam.final"].sid
        enr_sid = state.resources["enrollment.main.u0001"].sid
        assert exam_sid and enr_sid
        want = desired.sessions["session.final.u0001"]

        async def book_by_hand() -> str:
            async with Client(srv.url, INSTALL, Secret(TOKEN)) as c:
                (s,) = [
                    x
                    for x in await c.list_enrollment_sessions(enr_sid, exam_sid)
                    if x.status == "Needs Proctor"
                ]
                req = wire.ScheduleRequest(
                    type=want.type,
                    proctorLocationSid=want.proctorLocation,
                    appointmentDateTime=want.appointment,
                )
                return (await c.schedule_session(exam_sid, s.sid, req, enrollment_sid=enr_sid)).sid

        by_hand = asyncio.run(book_by_hand())
        front.add(restatus(STATUS_FORMS["pending"]))
        change = Change(
            address="session.final.u0001", action="schedule", reason="new", destructive=False
        )
        result, calls = run(srv.url, [change], desired, store)

    (outcome,) = result.outcomes
    assert outcome.status == "done", outcome.message
    assert calls.get(SCHEDULE, 0) == 0 and calls.get(ASSIGN, 0) == 0
    assert store.load(desired.tenant).resources["session.final.u0001"].sid == by_hand


def test_reschedule_replace_and_cancel(server: ThreadedServer, tmp_path: Path) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    first, _ = run(server.url, all_new(desired), desired, store)
    before = {a: r.sid for a, r in first.state.resources.items()}

    files = {
        "exams.yaml": EXAMS,
        "users.yaml": users_yaml(12),
        # u0003 stays assigned, without its session
        "assign.yaml": "assignments:\n  final: ["
        + ", ".join(f"u{i:04d}" for i in (3, *range(5, 13)))
        + "]\n",
        "sessions.yaml": sessions_yaml([("final", "u0001", "2028-05-01T09:30:00Z")])
        + sessions_yaml(
            [("final", "u0002", "2028-03-02T14:00:00Z")], proctorLocation=OTHER_LOCATION
        ).replace("sessions:\n", "")
        + sessions_yaml([("quiz", "u0004", "2028-04-01T10:00:00Z")]).replace("sessions:\n", ""),
    }
    desired = load(write_tenant(tmp_path, server.url, files))
    changes = [
        Change(address="session.final.u0003", action="cancel", reason="removed", destructive=True),
        Change(
            address="session.final.u0002", action="replace", reason="manifest-changed",
            destructive=True,
        ),
        Change(
            address="session.final.u0001", action="reschedule", reason="manifest-changed",
            destructive=False,
        ),
    ]  # fmt: skip
    result, calls = run(server.url, changes, desired, store)

    assert result.ok, result.failures
    assert (calls[CANCEL], calls[SCHEDULE], calls[RESCHEDULE]) == (2, 1, 1)
    after = store.load(desired.tenant).resources
    assert "session.final.u0003" not in after
    assert after["session.final.u0001"].sid == before["session.final.u0001"]
    assert after["session.final.u0002"].sid != before["session.final.u0002"]
    cancelled = {
        s["sid"]: s["cancellationMemo"]
        for s in sessions_of(world(server.url))
        if s["status"] == "Cancelled"
    }
    assert cancelled == {
        before["session.final.u0002"]: "removed by spsync",
        before["session.final.u0003"]: "removed by spsync",
    }
    assert world_mismatches(world(server.url), desired) == []


def _set_clock(url: str, now: str) -> None:
    r = httpx.put(url + "/_sandbox/clock", json={"now": now}, headers={"token": TOKEN})
    assert r.status_code == 200


def test_the_first_failure_stops_new_work_and_keeps_what_was_done(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    setup = [c for c in all_new(desired) if not c.address.startswith("session.")]
    run(server.url, setup, desired, store)
    # u0002's appointment (March 2) is now in the past; u0001's (March 1) too
    _set_clock(server.url, "2028-03-01T20:00:00Z")
    sessions = [c for c in all_new(desired) if c.address.startswith("session.")]
    result, _ = run(server.url, sessions, desired, store, parallelism=1)

    by = {o.address: o for o in result.outcomes}
    assert by["session.final.u0001"].status == "failed"
    assert by["session.final.u0001"].code == "INVALIDINPUT"
    assert "future" in by["session.final.u0001"].message
    # stopped: nothing after the failure was started
    assert [by[a].status for a in ("session.final.u0002", "session.final.u0003")] == [
        "not-started",
        "not-started",
    ]
    assert not result.ok
    saved = store.load(desired.tenant)
    assert "session.final.u0001" not in saved.resources
    assert "enrollment.main.u0001" in saved.resources


def test_continue_on_error_skips_only_what_depends_on_the_failure(
    server: ThreadedServer, tmp_path: Path
) -> None:
    ghost = (
        "\n  ghost:\n    course: main\n    ids: {sid: EX" + "f" * 32 + "}\n    limitedScope: true\n"
    )
    files = {
        "exams.yaml": EXAMS + ghost,
        "users.yaml": users_yaml(2),
        "sessions.yaml": sessions_yaml(
            [
                ("ghost", "u0001", "2028-03-01T14:00:00Z"),
                ("final", "u0002", "2028-03-02T14:00:00Z"),
            ]
        ),
    }
    desired = load(write_tenant(tmp_path, server.url, files))
    store = StateStore(tmp_path / "state")
    result, _ = run(
        server.url, all_new(desired), desired, store, continue_on_error=True, parallelism=1
    )
    by = {o.address: o for o in result.outcomes}
    assert (by["exam.ghost"].status, by["exam.ghost"].code) == ("failed", "RESOURCENOTFOUND")
    assert by["assignment.ghost.u0001"].status == "skipped"
    assert by["session.ghost.u0001"].status == "skipped"
    assert by["session.final.u0002"].status == "done"
    assert result.count("failed") == 1
    assert result.count("done") == len(result.outcomes) - 3


def test_a_stop_request_finishes_in_flight_work_and_a_rerun_completes(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url, n=40)
    store = StateStore(tmp_path / "state")
    executors: list[Executor] = []
    lines: list[str] = []

    class StopAfter(LineProgress):
        def advance(self, address: str, ok: bool) -> None:
            super().advance(address, ok)
            if self._done == 10:
                executors[0].request_stop()

    changes = all_new(desired)
    result, _ = run(
        server.url,
        changes,
        desired,
        store,
        progress=StopAfter(lines.append),
        on_executor=executors.append,
    )
    done = {o.address for o in result.outcomes if o.status == "done"}
    assert 10 <= len(done) < len(changes)
    assert result.interrupted
    assert result.count("done") + result.count("not-started") == len(changes)
    assert set(store.load(desired.tenant).resources) == done  # saved, nothing more
    assert lines[0] == f"mini: applying {len(changes)} changes"

    rest = [c for c in changes if c.address not in done]
    result2, _ = run(server.url, rest, desired, store)
    assert result2.ok
    assert world_mismatches(world(server.url), desired) == []


def test_audit_log_has_one_line_per_call_with_its_address(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    with AuditLog(tmp_path / "audit", "mini", run="r1") as audit:
        result, calls = run(server.url, all_new(desired), desired, store, on_call=audit.record)
    assert result.ok
    text = (tmp_path / "audit" / "mini.jsonl").read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == sum(calls.values())
    assert set(lines[0]) == {
        "time", "run", "tenant", "method", "route", "path", "status", "duration_ms",
        "attempt", "address", "code",
    }  # fmt: skip
    by_address = {x["address"] for x in lines}
    assert {"course.main", "exam.final", "user.u0001", "session.final.u0001"} <= by_address
    assert "assignment.final.*" in by_address
    assert all(x["run"] == "r1" and x["tenant"] == "mini" for x in lines)
    assert all(x["status"] == 200 and x["attempt"] == 1 for x in lines)
    assert "final-secret-pw" not in text and TOKEN not in text


def test_audit_log_records_the_error_code_of_a_failed_call(
    server: ThreadedServer, tmp_path: Path
) -> None:
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    run(server.url, [c for c in all_new(desired) if c.address != "session.final.u0001"],
        desired, store)  # fmt: skip
    _set_clock(server.url, "2028-12-30T00:00:00Z")  # every appointment is in the past now
    change = Change(
        address="session.final.u0001", action="schedule", reason="new", destructive=False
    )
    with AuditLog(tmp_path / "audit", "mini") as audit:
        result, _ = run(server.url, [change], desired, store, on_call=audit.record)
    assert result.failures[0].code == "INVALIDINPUT"
    lines = [json.loads(x) for x in (tmp_path / "audit" / "mini.jsonl").read_text().splitlines()]
    failed = [x for x in lines if x["status"] == 400]
    assert [(x["method"], x["code"], x["address"]) for x in failed] == [
        ("POST", "INVALIDINPUT", "session.final.u0001")
    ]
    assert all(x["code"] is None for x in lines if x["status"] == 200)


def test_state_records_the_plans_own_field_maps(server: ThreadedServer, tmp_path: Path) -> None:
    """What apply records as ``applied`` is what the manifests say; where the plan's change
    holds the very same map (no secret masked in it), state keeps that map rather than an
    equal copy, and the file written says the same either way."""
    key = b"executor-test-key"
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    tp = build_plan(desired, store.load(desired.tenant), None, secret_key=key)

    async def go() -> ApplyResult:
        async with Client(server.url, INSTALL, Secret(TOKEN)) as client:
            return await execute_tenant(
                tp.changes,
                desired,
                store.load(desired.tenant),
                client,
                store,
                applied_of=lambda a: applied_fields(desired, a, key),
            )

    result = asyncio.run(go())
    assert result.ok, result.failures
    entries = result.state.resources
    after = {c.address: c.after for c in tp.changes}
    shared = [a for a in entries if entries[a].applied is after[a]]
    assert sorted(shared) == sorted(a for a in entries if not a.startswith("exam."))
    for address, entry in entries.items():
        assert entry.applied == applied_fields(desired, address, key)
    exam = entries["exam.final"].applied["configuration"]["password"]
    assert (
        exam.startswith("hmac-sha256:")
        and after["exam.final"]["configuration"]["password"] == "(sensitive)"
    )
    saved = store.load(desired.tenant).resources
    assert {a: e.applied for a, e in saved.items()} == {a: e.applied for a, e in entries.items()}


def test_the_executor_lets_each_change_go_once_it_has_an_outcome(
    server: ThreadedServer, tmp_path: Path
) -> None:
    """Mid-run, the changes done are no longer held; at the end none is, and the outcomes
    still come in plan order."""
    desired = _basic(tmp_path, server.url)
    store = StateStore(tmp_path / "state")
    changes = all_new(desired)
    seen: list[Executor] = []
    held_and_settled: list[tuple[int, int]] = []  # at each API call

    def watch(call: Any) -> None:
        if seen:
            held_and_settled.append((len(seen[0]._in_plan), len(seen[0].outcomes)))

    result, _calls = run(
        server.url, changes, desired, store, on_executor=seen.append, on_call=watch
    )
    assert result.ok, result.failures
    assert [o.address for o in result.outcomes] == [c.address for c in changes]
    assert seen[0]._in_plan == {}
    # at every call, each change with an outcome is no longer held (whatever the timing)
    assert all(held + settled == len(changes) for held, settled in held_and_settled)
    assert min(held for held, _ in held_and_settled) < len(changes) // 2
