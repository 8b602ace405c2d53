"""Full applies against a misbehaving API: injected 500/503/dropped connections before and
after the effect (lost answers), a tight rate limit, and lost answers on chosen calls.

Every trial must converge (apply re-run until it exits 0, bounded), book no session twice,
leave the world equal to the manifests, and end with a plan that has nothing to do.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from support.api import INSTALL, Rule, new_world, schedule_request, seed_course
from support.reliability import (
    Trial,
    Workspace,
    booking_problems,
    converge,
    fault_trial,
    finish,
    run_parallel,
    tampered,
)

SEEDS = (11, 12, 13)


def test_rel_random_faults_and_rate_limit_converge(tmp_path: Path) -> None:
    # three independent trials at once: they wait on the network and backoff, not the CPU
    trials: list[Trial] = run_parallel(
        [
            lambda s=seed: fault_trial(
                tmp_path / f"seed-{s}", s, learners=6, fault_rate=0.1, rate_limit=15.0
            )
            for seed in SEEDS
        ]
    )
    for trial in trials:
        assert trial.ok, trial.report()
        assert trial.faults > 0, trial.report()
        assert trial.runs[-1].argv[0] == "plan" and trial.runs[-1].code == 0
        assert len(trial.runs) <= 9
    tally: Counter[tuple[str, str]] = Counter()
    for trial in trials:
        tally.update(trial.tally)
    # the trials did meet lost answers to requests that took effect, and the rate limit
    assert sum(n for (_kind, phase), n in tally.items() if phase == "after") > 0, tally
    assert sum(t.faults for t in trials) == sum(tally.values())
    assert sum(t.rate_limited for t in trials) > 0


def test_rel_lost_answers_on_chosen_calls(tmp_path: Path) -> None:
    """Answers lost after the change happened, on the calls where a blind retry would do
    harm: schedules (double booking), provisions, assignment batches."""
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    rules = [
        Rule("POST", r"/exams/EX[0-9a-f]+/sessions/ES", "drop-after", times=3),
        Rule("POST", r"/exams/EX[0-9a-f]+/sessions/ES", "after", status=502, body=html, times=2),
        Rule("POST", r"/provision$", "drop-after", times=2),
        Rule("POST", r"/provision$", "after", status=504, body=html, times=2),
        Rule("PUT", r"/assignments$", "drop-after", times=1),
    ]
    with tampered(*rules, seed=5) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=5)
        trial = Trial(seed=5)
        assert converge(ws, trial), trial.report()
        finish(ws, srv, trial)
    assert trial.ok, trial.report()
    assert [r.hits for r in rules] == [r.times for r in rules]


def test_rel_booking_checker_finds_a_session_booked_twice() -> None:
    """The duplicate check itself: a session scheduled, cancelled and booked again is
    reported (so a trial that double-books cannot pass unnoticed)."""
    world = new_world()
    seeded = seed_course(world, 2)
    en = seeded.enrollments[0]
    body = schedule_request().model_dump(mode="json", exclude_none=True)
    first = world.schedule_session(INSTALL, seeded.exam, seeded.sessions[en], body)
    assert booking_problems(world.to_json()) == []
    world.cancel_session(INSTALL, seeded.exam, first["sid"], {"cancellationMemo": "test"})
    page = world.list_enrollment_sessions(INSTALL, en, seeded.exam, include_active=True)
    (fresh,) = [s for s in page.items if s["status"] == "Needs Proctor"]
    world.schedule_session(INSTALL, seeded.exam, fresh["sid"], body)
    found = booking_problems(world.to_json())
    assert len(found) == 2, found
    assert found[0] == f"{INSTALL}: ('{en}', '{seeded.exam}') scheduled 2 times"
    assert found[1] == f"{INSTALL}: session {first['sid']} cancelled (other-reason)"
    assert booking_problems(world.to_json(), allow_cancelled=True) == found[:1]
