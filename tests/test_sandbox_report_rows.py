"""The appointments report finds a listing's sessions once while nothing changes
(``Install.report_rows``): every page it serves is the page of the sessions the filters
match at that moment, whatever happened between two pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import support.sandbox_payloads as pl

from spsync.sandbox.errors import ApiFault
from spsync.sandbox.sessions import _matching
from spsync.sandbox.timefmt import SettableClock, format_utc
from spsync.sandbox.world import World

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
AI = "AI" + "ab" * 16


def _expected(w: World, offset: int, limit: int, **filters: object) -> list[str]:
    """The page as found without the kept rows (every session looked at again)."""
    inst = w._installs[AI]
    wanted = set(filters.get("status") or ())  # type: ignore[call-overload]
    rows = _matching(inst, None, filters.get("exam_sid"), None, wanted, False, None, None)  # type: ignore[arg-type]
    return [s.sid for s in rows[offset : offset + limit]]


def test_pages_follow_every_change_between_them() -> None:
    w = World(clock=SettableClock(NOW), seed=7)
    base = w.provision(AI, {"course": pl.course(), "exam": pl.exam("limited")})
    cu, ex = base["course"]["sid"], base["exam"]["sid"]
    other = w.provision(AI, pl.in_course(cu, exam=pl.exam("other")))["exam"]["sid"]
    rng = random.Random(3)
    enrollments: list[str] = []
    reads = changes = 0
    for step in range(400):
        op = rng.randrange(6)
        try:
            if op == 0 or not enrollments:
                r = w.provision(AI, pl.in_course(cu, user=pl.user(f"u{step}"), enrollment={}))
                enrollments.append(r["enrollment"]["sid"])
                changes += 1
            elif op == 1:
                exam = rng.choice([ex, other])
                w.update_assignment(AI, exam, {"added": [rng.choice(enrollments)]})
                changes += 1
            elif op == 2:
                rows = w.appointments_report(AI, status=["Needs Proctor"], limit=100).items
                if rows:
                    s = rng.choice(rows)
                    at = format_utc(NOW + timedelta(days=20 + rng.randrange(100)))
                    w.schedule_session(AI, s["examSid"], s["sid"], pl.schedule(at))
                    changes += 1
            elif op == 3:
                rows = w.appointments_report(AI, status=["Scheduled"], limit=100).items
                if rows:
                    s = rng.choice(rows)
                    w.cancel_session(AI, s["examSid"], s["sid"], {"cancellationMemo": "x"})
                    changes += 1
            else:
                filters: dict[str, object] = rng.choice([
                    {}, {"exam_sid": ex}, {"exam_sid": other}, {"status": ["Scheduled"]},
                    {"exam_sid": ex, "status": ["Needs Proctor"]},
                ])  # fmt: skip
                offset, limit = rng.randrange(0, 12, 3), 3
                page = w.appointments_report(AI, offset=offset, limit=limit, **filters)  # type: ignore[arg-type]
                assert [s["sid"] for s in page.items] == _expected(w, offset, limit, **filters)
                reads += 1
        except ApiFault:  # an enrollment assigned twice, and the like: not what is tested
            pass
    assert reads > 100 and changes > 100


def test_a_listing_of_unchanged_sessions_is_found_once() -> None:
    w = World(clock=SettableClock(NOW), seed=7)
    base = w.provision(AI, {"course": pl.course(), "exam": pl.exam("limited")})
    cu, ex = base["course"]["sid"], base["exam"]["sid"]
    for i in range(5):
        en = w.provision(AI, pl.in_course(cu, user=pl.user(f"u{i}"), enrollment={}))
        w.update_assignment(AI, ex, {"added": [en["enrollment"]["sid"]]})
    first = w.appointments_report(AI, exam_sid=ex, offset=0, limit=2)
    kept = w._installs[AI].report_rows
    second = w.appointments_report(AI, exam_sid=ex, offset=2, limit=2)
    assert w._installs[AI].report_rows is kept and len(kept) == 2  # the version, one filter
    assert first.total == second.total == 5
    assert [s["sid"] for s in first.items + second.items] == _expected(w, 0, 4, exam_sid=ex)
