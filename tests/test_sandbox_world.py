"""The in-memory model directly: determinism, invariants under concurrency, persistence,
and the pieces of the HTTP layer that are plain objects (rate limiter, fault injector)."""

from __future__ import annotations

import json
import random
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import support.sandbox_payloads as pl

from spsync.sandbox.errors import ApiFault
from spsync.sandbox.injection import FaultInjector, RateLimiter
from spsync.sandbox.persistence import Persister, dumps
from spsync.sandbox.timefmt import SettableClock, format_utc, parse_utc
from spsync.sandbox.world import World

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
AI = "AI" + "ab" * 16
AI2 = "AI" + "cd" * 16


def _world(seed: int | None = 1) -> World:
    return World(clock=SettableClock(NOW), seed=seed)


def test_same_seed_same_sids_and_other_seed_other_sids() -> None:
    a = _world(5).provision(AI, pl.full())
    b = _world(5).provision(AI, pl.full())
    c = _world(6).provision(AI, pl.full())
    assert a == b
    assert a["course"]["sid"] != c["course"]["sid"]


def test_installs_are_isolated_and_created_on_first_use() -> None:
    w = _world()
    assert w.install_sids() == []
    first = w.provision(AI, pl.full())
    other = w.provision(AI2, pl.full())
    assert other["course"]["result"] == "Created"
    assert other["course"]["sid"] != first["course"]["sid"]
    with pytest.raises(ApiFault) as info:
        w.get_course(AI2, first["course"]["sid"])
    assert (info.value.status, info.value.code) == (404, "RESOURCENOTFOUND")
    with pytest.raises(ApiFault) as info:
        w.get_settings("AI" + "A" * 32)
    assert (info.value.status, info.value.code) == (400, "INVALIDINPUT")
    assert w.install_sids() == [AI, AI2]


def test_failed_operations_change_nothing() -> None:
    w = _world()
    r = w.provision(AI, pl.full())
    before = json.dumps(w.to_json())
    version = w.version
    bad_calls = [
        lambda: w.provision(AI, {**pl.full(), "user": pl.user(email="x")}),
        lambda: w.update_assignments(
            AI, r["course"]["sid"], r["exam"]["sid"], {"add": [{"enrollmentSid": "EN" + "0" * 32}]}
        ),
        lambda: w.update_assignment(AI, r["exam"]["sid"], {"added": ["EN1"]}),
        lambda: w.provision(AI, {"course": {"ids": {"sid": "CU" + "0" * 32}}}),
    ]
    for call in bad_calls:
        with pytest.raises(ApiFault):
            call()
    assert json.dumps(w.to_json()) == before
    assert w.version == version


def test_found_existing_does_not_count_as_a_change() -> None:
    w = _world()
    w.provision(AI, pl.full())
    version = w.version
    w.provision(AI, pl.full())
    assert w.version == version


def test_json_round_trip_is_exact_and_keeps_working() -> None:
    w = _world()
    r = w.provision(AI, pl.full())
    ex, en = r["exam"]["sid"], r["enrollment"]["sid"]
    w.update_assignment(AI, ex, {"added": [en]})
    es = w.list_enrollment_sessions(AI, en, ex, include_active=True).items[0]["sid"]
    w.schedule_session(AI, ex, es, pl.schedule())
    data = json.loads(json.dumps(w.to_json()))
    copy = World.from_json(data, clock=SettableClock(NOW))
    assert copy.to_json() == data
    assert copy.check_invariants() == []
    # Indexes were rebuilt: matching and the active-session slot still work.
    assert copy.provision(AI, pl.full())["user"]["result"] == "Found Existing"
    with pytest.raises(ApiFault, match="already scheduled"):
        copy.schedule_session(AI, ex, es, pl.schedule())
    with pytest.raises(ValueError):
        World.from_json({"version": 2})


def test_persister_renders_exactly_to_json_and_reuses_unchanged_entities(tmp_path: Path) -> None:
    w = _world()
    for i in range(5):
        w.provision(
            AI,
            {
                "course": pl.course(f"c{i}"),
                "exam": pl.exam(limited=False),
                "user": pl.user(f"u{i}"),
            },
        )
    p = Persister(w, tmp_path / "w.json")
    _, data = p.render()
    assert json.loads(data) == json.loads(dumps(w.to_json()))
    w.provision(AI, {"course": pl.course("c1", title="changed")})
    _, data = p.render()
    assert json.loads(data) == json.loads(dumps(w.to_json()))
    ex = w.to_json()["installs"][0]["exams"][0]["sid"]
    w.update_assignment(AI, ex, {"added": []})
    en = w.to_json()["installs"][0]["enrollments"][0]["sid"]
    w.update_assignment(AI, ex, {"added": [en]})
    _, data = p.render()
    assert json.loads(data) == json.loads(dumps(w.to_json()))
    p.save()
    assert json.loads((tmp_path / "w.json").read_bytes()) == json.loads(dumps(w.to_json()))
    saves = p.saves
    p.save()
    assert p.saves == saves


def test_concurrent_clients_keep_the_world_consistent() -> None:
    """Many threads doing everything at once; afterwards every invariant holds."""
    clock = SettableClock(NOW)
    w = World(clock=clock, seed=3)
    base = w.provision(AI, {"course": pl.course(), "exam": pl.exam("limited")})
    cu, limited = base["course"]["sid"], base["exam"]["sid"]
    unlimited = w.provision(AI, pl.in_course(cu, exam=pl.exam("open", limited=False)))["exam"][
        "sid"
    ]
    errors: list[BaseException] = []
    faults: list[int] = []

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            for i in range(60):
                ext = f"user-{rng.randrange(12)}"
                try:
                    r = w.provision(
                        AI,
                        pl.in_course(cu, user=pl.user(ext), enrollment={}),
                    )
                    en = r["enrollment"]["sid"]
                    op = rng.randrange(5)
                    if op == 0:
                        w.update_assignment(AI, limited, {"added": [en]})
                    elif op == 1:
                        w.update_assignment(AI, limited, {"removed": [en]})
                    elif op in (2, 3):
                        ex = limited if rng.random() < 0.5 else unlimited
                        page = w.list_enrollment_sessions(AI, en, ex, include_active=True)
                        active = [s for s in page.items if s["status"] == "Needs Proctor"]
                        if active:
                            at = format_utc(NOW + timedelta(days=20 + rng.randrange(200)))
                            w.schedule_session(AI, ex, active[0]["sid"], pl.schedule(at))
                    else:
                        rows = w.appointments_report(AI, status=["Scheduled"], limit=100).items
                        if rows:
                            s = rng.choice(rows)
                            w.cancel_session(AI, s["examSid"], s["sid"], {"cancellationMemo": "x"})
                    if i % 20 == 0:
                        w.provision(
                            AI,
                            {
                                "course": {"ids": {"sid": cu}},
                                "exam": {"ids": {"sid": limited}, "limitedScope": i % 40 == 0},
                            },
                        )
                except ApiFault as e:  # lost races (already scheduled/cancelled): fine
                    faults.append(e.status)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    # Switch threads as often as possible so that operations really interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert set(faults) <= {400}
    assert w.check_invariants() == []
    world = w.to_json()["installs"][0]
    assert len(world["users"]) == 12
    assert len(world["enrollments"]) == 12
    assert len({s["sid"] for s in world["sessions"]}) == len(world["sessions"])
    statuses = {s["status"] for s in world["sessions"]}
    assert statuses == {"Needs Proctor", "Scheduled", "Cancelled"}
    assert World.from_json(json.loads(json.dumps(w.to_json()))).check_invariants() == []


def test_rate_limiter_token_bucket() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])
    assert [limiter.take() for _ in range(3)] == [0, 0, 1]
    now[0] += 0.5
    assert limiter.take() == 0
    assert limiter.take() == 1
    slow = RateLimiter(0.1, clock=lambda: now[0])
    assert slow.take() == 0
    assert slow.take() == 10
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_fault_injector_rate_and_reproducibility() -> None:
    a = [FaultInjector(0.3, seed=9).draw() for _ in range(1)]
    inj1, inj2 = FaultInjector(0.3, seed=9), FaultInjector(0.3, seed=9)
    seq1 = [inj1.draw() for _ in range(2000)]
    seq2 = [inj2.draw() for _ in range(2000)]
    assert seq1 == seq2 and a[0] == seq1[0]
    share = sum(1 for f in seq1 if f) / len(seq1)
    assert 0.25 < share < 0.35
    assert inj1.injected == sum(1 for f in seq1 if f)
    assert FaultInjector(0.0).draw() is None
    with pytest.raises(ValueError):
        FaultInjector(1.5)


def test_utc_times() -> None:
    assert parse_utc("2027-03-01T14:00:00Z") == datetime(2027, 3, 1, 14, tzinfo=UTC)
    assert parse_utc("2027-03-01T14:00:00.250Z") == datetime(2027, 3, 1, 14, 0, 0, 250000, UTC)
    for bad in ("2027-03-01T14:00:00", "2027-03-01T14:00:00+00:00", "2027-02-30T00:00:00Z", 5):
        assert parse_utc(bad) is None
    assert format_utc(datetime(2027, 3, 1, 14, 0, 0, 250000, UTC)) == "2027-03-01T14:00:00.250Z"


def test_utc_times_are_written_the_same_for_the_same_instant_whatever_the_zone() -> None:
    at = datetime(2027, 3, 1, 14, 0, 0, tzinfo=UTC)
    east = at.astimezone(timezone(timedelta(hours=5, minutes=30)))
    # the second call answers from what the first one wrote; both are the UTC text
    assert [format_utc(east), format_utc(at), format_utc(east)] == ["2027-03-01T14:00:00Z"] * 3
    assert format_utc(at + timedelta(milliseconds=7)) == "2027-03-01T14:00:00.007Z"


def test_enrollment_pages_cover_the_course_once_in_order() -> None:
    from spsync.sandbox.paging import page

    rendered: list[str] = []

    def render(key: str) -> dict[str, str]:
        rendered.append(key)
        return {"key": key}

    keys = [f"k{i:03d}" for i in range(250)]
    for offset, limit in ((0, 100), (100, 100), (200, 100), (249, 1), (250, 5), (300, 10)):
        rendered.clear()
        got = page(keys, offset, limit, render)
        assert got.items == [{"key": k} for k in keys[offset : offset + limit]]
        assert (got.total, got.offset, got.limit) == (250, offset, limit)
        assert rendered == keys[offset : offset + limit]  # only the page's own
    with pytest.raises(ApiFault):
        page(keys, 0, 101, render)
    w = _world()
    course = w.provision(AI, pl.full())["course"]["sid"]
    for i in range(6):
        w.provision(
            AI, pl.in_course(course, user=pl.user(f"u-{i}"), enrollment={"role": "learner"})
        )
    whole = w.list_course_enrollments(AI, course, offset=0, limit=100)
    assert whole.total == 7 and {e["courseSid"] for e in whole.items} == {course}
    paged = [
        e
        for offset in (0, 3, 6)
        for e in w.list_course_enrollments(AI, course, offset=offset, limit=3).items
    ]
    assert paged == whole.items
    assert len({e["sid"] for e in paged}) == 7
