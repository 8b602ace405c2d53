"""Crashes: SIGKILL at random points of apply, of the state file's atomic save, and of the
journal's appends. After every kill the state (and journal) must read back, and a re-run
must converge with no session booked twice.

The child processes of the state and journal loops are small Python programs using the
same functions apply uses (``StateStore.save``, ``Journal.put``), killed while they write
as fast as they can; ``test_rel_soak.py`` runs many more of the same trials.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from support.apply_checker import active_duplicates, world_mismatches
from support.kills import journal_kills, state_save_kills
from support.reliability import (
    NOW,
    RUN_TIMEOUT,
    TOKEN,
    Trial,
    Workspace,
    booking_problems,
    fault_trial,
    no_traceback,
    run_parallel,
    world,
)

from spsync.sandbox.server import ThreadedServer


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


class _KillAfter:
    """ASGI front: lets the first request matching ``method`` and ``path`` (a regex) that
    follows a ``DELETE`` of a session take effect, then SIGKILLs ``pid`` before the answer
    leaves: the apply dies between a write's effect and its journal line."""

    def __init__(self, app: Any, method: str, path: str) -> None:
        self.app = app
        self.method, self.path = method, path
        self.pid = 0
        self.cancelled = False
        self.fired = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.fired or not self.pid:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "DELETE" and "/sessions/ES" in path and not self.cancelled:
            self.cancelled = True
            if self.method != "DELETE":
                await self.app(scope, receive, send)
                return
        if not (self.cancelled and method == self.method and re.search(self.path, path)):
            await self.app(scope, receive, send)
            return
        self.fired = True

        async def swallow(message: Any) -> None:
            return None

        await self.app(scope, receive, swallow)
        os.kill(self.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("after", "summary"),
    [
        ("DELETE", r"rel: 1 done \(1 change, 1 API call, [\d.]+s\): 1 schedule"),
        (
            "POST",
            r"rel: 0 done, 1 recorded \(0 changes, 0 API calls, [\d.]+s\): "
            "1 found remotely and recorded",
        ),
    ],
    ids=["after-the-cancel", "after-the-booking"],
)
def test_rel_kill_inside_a_replace_books_once(tmp_path: Path, after: str, summary: str) -> None:
    """SIGKILL inside a replace (cancel, then book the fresh session), once the cancel took
    effect (``DELETE``) or once the booking did (``POST``), before the answer is recorded:
    the next apply books the fresh session once, or adopts the booking the killed run made,
    and the world ends as the manifests say, with one booking cancelled and one made."""
    srv = ThreadedServer(token=TOKEN, now=NOW, seed=51)
    front = _KillAfter(srv.app, after, r"/sessions/ES[0-9a-f]+$")
    srv.app = front  # type: ignore[assignment]  # served in front of the simulator
    with srv:
        ws = Workspace(tmp_path, srv.url, learners=2)
        tenant = str(ws.tenant_dir())
        assert ws.run_here("apply", tenant, "--auto-approve").code == 0
        roster = ws.tenant_dir() / "roster.yaml"
        booked = '    user: u000\n    appointment: "2027-03-01T08:00:00Z"\n    type: automated\n'
        assert booked in roster.read_text()
        roster.write_text(roster.read_text().replace(booked, booked.replace("automated", "vtc")))
        proc = ws.popen("apply", tenant, "--auto-approve", "--parallelism", "1")
        front.pid = proc.pid
        proc.communicate(timeout=RUN_TIMEOUT)
        assert proc.returncode == -signal.SIGKILL and front.fired
        ws.check_state_loads()

        again = ws.run_here("apply", tenant, "--auto-approve")
        no_traceback(again)
        assert again.code == 0, str(again)
        assert re.fullmatch(summary, again.out.splitlines()[-2]), str(again)
        assert ws.run_here("plan", tenant, "--detailed-exitcode").code == 0
        w = world(srv.url)
        assert world_mismatches(w, ws.desired()) == []
        problems = booking_problems(w)
        assert len(problems) == 2, problems  # the replace's own: one cancel, one new booking
        assert problems[0].endswith(" scheduled 2 times"), problems
        assert problems[1].endswith(" cancelled (other-reason)"), problems
        assert active_duplicates(w) == []
