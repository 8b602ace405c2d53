"""Crashes: SIGKILL at random points of apply, of the state file's atomic save, and of the
journal's appends. After every kill the state (and journal) must read back, and a re-run
must converge with no session booked twice.

The child processes of the state and journal loops are small Python programs using the
same functions apply uses (``StateStore.save``, ``Journal.put``), killed while they write
as fast as they can; ``test_rel_soak.py`` runs many more of the same trials.
"""

from __future__ import annotations

from pathlib import Path

from support.kills import journal_kills, state_save_kills
from support.reliability import Trial, fault_trial, run_parallel


def test_rel_kill_state_save_loop_never_tears_the_file(tmp_path: Path) -> None:
    kills = state_save_kills(tmp_path, trials=8, seed=21)
    assert kills.done == 8


def test_rel_kill_journal_appends_loses_nothing_complete(tmp_path: Path) -> None:
    kills = journal_kills(tmp_path, trials=6, seed=22)
    assert kills.done == 6


def test_rel_kill_apply_at_random_points_then_converge(tmp_path: Path) -> None:
    """Applies SIGKILLed after a random number of API requests (some between a request's
    effect and its answer), against a simulator that also injects faults; after each kill
    the state loads; then apply is re-run until it succeeds."""
    seeds = (31, 32, 33)
    trials: list[Trial] = run_parallel(
        [
            lambda s=s: fault_trial(
                tmp_path / f"seed-{s}",
                s,
                learners=6,
                fault_rate=0.05,
                rate_limit=None,
                latency_ms=5,
                kills=2,
                max_calls=40,
            )
            for s in seeds
        ]
    )
    for trial in trials:
        assert trial.ok, trial.report()
        assert trial.runs[-1].argv[0] == "plan" and trial.runs[-1].code == 0
    assert sum(t.kills for t in trials) >= 4, [t.report() for t in trials]
