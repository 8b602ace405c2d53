"""The soak (``make soak``): many more trials of the fault and crash tests, with random
sizes, fault rates, rate limits and kill points, and a summary of what they survived.

    SPSYNC_SOAK_TRIALS=60 make soak      # default 30 trials
    SPSYNC_SOAK_SEED=7 make soak         # another (reproducible) series; default 1
    SPSYNC_SOAK_WORKERS=4 make soak      # trials at once (default 3: they mostly wait)

Trial kinds take turns:
- ``faults``: a full apply of a fresh tenant (6-24 learners, three exams) against a simulator
  failing 5-20 % of requests (500, 503, dropped connections, before or after the effect)
  under a 10-40 req/s rate limit; apply re-run until it succeeds;
- ``kills``: the same with 1-4 applies SIGKILLed at random points first;
- ``writes``: the state file's atomic save and the journal's appends SIGKILLed in a loop.

Every trial ends with the same checks as the fast suite: state loads after every kill, a
final plan with nothing to do, the world equal to the manifests, no session booked twice.
The last line printed is the summary, e.g.
``soak: 30 trials run, 412 faults injected (197 lost answers after the effect), 88 crashes
survived, 0 duplicates found, 0 problems``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from support.kills import journal_kills, state_save_kills
from support.reliability import Trial, fault_trial, run_parallel

pytestmark = pytest.mark.soak


class _SummaryAtTheEnd:
    """A plugin registered by the soak once it has its figures: repeats them in pytest's
    terminal summary, so that they are the last thing ``make soak`` prints before pytest's
    own count."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("=", "reliability soak")
        for line in self.lines:
            terminalreporter.write_line(line)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def test_rel_soak(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    trials = _env_int("SPSYNC_SOAK_TRIALS", 30)
    series = _env_int("SPSYNC_SOAK_SEED", 1)
    workers = _env_int("SPSYNC_SOAK_WORKERS", 3)
    assert trials > 0 and workers > 0
    lock = threading.Lock()
    totals: Counter[str] = Counter()
    reports: list[str] = []
    started = time.monotonic()

    def one(n: int) -> None:
        try:
            trial_of_kind(n)
        except Exception as exc:  # a broken invariant (torn file, ...) is a finding: count it
            with lock:
                totals["trials"] += 1
                totals["problems"] += 1
                reports.append(f"trial {n}: {type(exc).__name__}: {exc}")
                print(f"trial {n:4d}: FAILED: {type(exc).__name__}: {exc}", flush=True)

    def trial_of_kind(n: int) -> None:
        seed = series * 100_000 + n
        rng = random.Random(seed)
        kind = ("faults", "kills", "writes")[n % 3]
        root = tmp_path / f"trial-{n:04d}-{kind}"
        if kind == "writes":
            saves = state_save_kills(root / "state", trials=rng.randint(6, 12), seed=seed)
            appends = journal_kills(root / "journal", trials=rng.randint(3, 6), seed=seed)
            line = (
                f"trial {n:4d} writes: {saves.done} state saves and {appends.done} journal "
                f"appends killed, files intact ({saves.leftovers} temp files left behind)"
            )
            with lock:
                totals["trials"] += 1
                totals["crashes"] += saves.done + appends.done
                totals["leftovers"] += saves.leftovers
                print(line, flush=True)
            return
        learners = rng.randint(6, 24)
        trial: Trial = fault_trial(
            root,
            seed,
            learners=learners,
            fault_rate=rng.choice((0.05, 0.1, 0.15, 0.2)) if kind == "faults" else 0.05,
            rate_limit=rng.choice((10.0, 20.0, 40.0)) if kind == "faults" else None,
            latency_ms=0 if kind == "faults" else rng.choice((0, 5, 10)),
            kills=rng.randint(1, 4) if kind == "kills" else 0,
            max_calls=learners * 4 + 12,
        )
        lost = sum(v for (_k, phase), v in trial.tally.items() if phase == "after")
        applies = sum(1 for r in trial.runs if r.argv[0] == "apply")
        leftovers = len(list((root / "state").glob(".*.tmp")))
        line = (
            f"trial {n:4d} {kind}: {learners} learners, {applies} applies, {trial.kills} kills, "
            f"{trial.faults} faults ({lost} after the effect), {trial.rate_limited} x 429, "
            f"{len(trial.duplicates)} duplicates, {'ok' if trial.ok else 'FAILED'}"
        )
        with lock:
            totals["trials"] += 1
            totals["faults"] += trial.faults
            totals["lost"] += lost
            totals["crashes"] += trial.kills
            totals["duplicates"] += len(trial.duplicates)
            totals["problems"] += len(trial.problems)
            totals["applies"] += applies
            totals["rate_limited"] += trial.rate_limited
            totals["leftovers"] += leftovers
            print(line, flush=True)
            if not trial.ok:
                reports.append(trial.report())

    print(f"\nsoak: {trials} trials, series {series}, {workers} at a time", flush=True)
    run_parallel([lambda n=n: one(n) for n in range(trials)], workers=workers)
    elapsed = time.monotonic() - started
    for report in reports:
        print(report)
    summary = [
        f"soak details: {totals['applies']} apply runs, {totals['rate_limited']} answers 429, "
        f"{totals['leftovers']} temp files left by kills, {elapsed:.0f} s",
        f"soak: {totals['trials']} trials run, {totals['faults']} faults injected "
        f"({totals['lost']} lost answers after the effect), {totals['crashes']} crashes "
        f"survived, {totals['duplicates']} duplicates found, {totals['problems']} problems",
    ]
    print("\n".join(summary))
    # said again at the very end of the session, after any other soak test's output
    request.config.pluginmanager.register(_SummaryAtTheEnd(summary), "spsync-reliability-soak")
    assert totals["trials"] == trials
    assert totals["duplicates"] == 0
    assert totals["problems"] == 0, "\n".join(reports)
