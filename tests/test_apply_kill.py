"""Crash safety: ``spsync apply`` killed with SIGKILL at random points, then run again.

Each trial starts a fresh simulator with latency and injected faults (errors, dropped
connections, answers lost after the change happened), runs apply as a subprocess and kills
it at a random point — after a random number of API calls (read from the audit log, so the
kill lands between a response and its journal line as often as anywhere) or after a random
time. Apply is then run again until it succeeds, and the trial checks that it converged:
the world equals the manifests, no enrollment has two active sessions of one exam, no
session was booked twice or cancelled, the state file is valid, and a new plan has nothing
to do.

The quick version (20 trials) runs in ``make test``; ``make soak`` runs more, longer ones, and a
hundred where every booking waits for approval (``Pending Approval``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.api import restatus_all
from support.apply import (
    ENV,
    EXAMS,
    INSTALL,
    TOKEN,
    load,
    sessions_yaml,
    users_yaml,
    world,
    write_tenant,
)
from support.apply_checker import world_mismatches

from spsync.api.client import Client
from spsync.planning import plan_tenant, secret_key
from spsync.sandbox.server import ThreadedServer
from spsync.store import StateStore


def _tenant_files(n_users: int) -> dict[str, str]:
    half = n_users // 2
    sessions = [
        ("final", f"u{i:04d}", f"2028-03-{1 + i % 27:02d}T{8 + i % 10:02d}:00:00Z")
        for i in range(1, half + 1)
    ] + [("quiz", f"u{i:04d}", f"2028-05-{1 + i % 27:02d}T10:30:00Z") for i in range(1, 4)]
    assigned = [f"u{i:04d}" for i in range(half + 1, n_users + 1)]
    return {
        "exams.yaml": EXAMS,
        "users.yaml": users_yaml(n_users),
        "assign.yaml": f"assignments:\n  final: [{', '.join(assigned)}]\n",
        "sessions.yaml": sessions_yaml(sessions),
        "staff.yaml": "enrollments:\n  - {user: u0001, course: main}\n",
    }


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPSYNC_")}
    env.update(ENV)
    env["NO_COLOR"] = "1"
    return env


def _apply_cmd(tenant: Path, state: Path) -> list[str]:
    return [
        sys.executable, "-m", "spsync", "--state-dir", str(state),
        "apply", str(tenant), "--auto-approve", "--parallelism", "6",
    ]  # fmt: skip


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


@dataclass
class Trial:
    seed: int
    killed_after: str
    #: whether apply was still running when the signal was sent
    killed: bool
    reruns: int
    problems: list[str]


async def _final_plan(desired: Any, state_dir: Path) -> Any:
    async with Client(desired.tenant.api.url, INSTALL, desired.tenant.api.token) as client:
        tp, _state, _obs = await plan_tenant(
            desired, StateStore(state_dir), client, secret_key=secret_key(desired, False)
        )
    return tp


def _sessions_booked_twice(w: dict[str, Any]) -> list[str]:
    bad = []
    for inst in w["installs"]:
        booked = Counter(
            (s["enrollmentSid"], s["examSid"]) for s in inst["sessions"] if s["dateScheduled"]
        )
        bad += [f"{pair} booked {n} times" for pair, n in booked.items() if n > 1]
        bad += [f"{s['sid']} cancelled" for s in inst["sessions"] if s["status"] == "Cancelled"]
    return bad


def _restatused(srv: ThreadedServer, statuses: str) -> None:
    """Have ``srv`` write the session statuses of its API answers (reads and writes; not the
    ``/_sandbox`` views the checks read) as ``STATUS_FORMS[statuses]`` says."""
    restatus_all(srv, statuses, "^/v[12]/")


def run_trial(
    root: Path,
    seed: int,
    *,
    n_users: int,
    latency_ms: float,
    fault_rate: float,
    statuses: str | None = None,
) -> Trial:
    """One trial; with ``statuses``, the service writes session statuses to spsync in that
    form of ``STATUS_FORMS`` (``pending``: every booking waits for approval)."""
    rng = random.Random(seed)
    work = root / f"trial-{seed}"
    work.mkdir()
    server = ThreadedServer(token=TOKEN, latency_ms=latency_ms, fault_rate=fault_rate, seed=seed)
    if statuses is not None:
        _restatused(server, statuses)
    with server as srv:
        tenant = write_tenant(work, srv.url, _tenant_files(n_users))
        desired = load(tenant)
        state = work / "state"
        audit = work / ".spsync" / "audit" / "mini.jsonl"
        env = _env()
        proc = subprocess.Popen(
            _apply_cmd(tenant, state),
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # a full first apply makes roughly 2 * n_users calls; kill somewhere inside it
        if rng.random() < 0.75:
            calls = rng.randrange(1, 2 * n_users + 6)
            killed_after = f"{calls} calls"
            while proc.poll() is None and _count_lines(audit) < calls:
                time.sleep(0.001)
        else:
            delay = rng.uniform(0.3, 1.5)
            killed_after = f"{delay:.2f}s"
            deadline = time.monotonic() + delay
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()

        reruns = 0
        rc = None
        while rc != 0 and reruns < 5:
            reruns += 1
            p = subprocess.run(
                _apply_cmd(tenant, state), cwd=work, env=env, capture_output=True, text=True
            )
            rc = p.returncode
        problems = [] if rc == 0 else [f"apply did not succeed after {reruns} runs: {p.stderr}"]
        # a last plan, without faults, must have nothing to do (and the state must load)
        httpx.put(srv.url + "/_sandbox/config", json={"faultRate": 0}, headers={"token": TOKEN})
        tp = asyncio.run(_final_plan(desired, state))
        if tp.has_changes:
            problems.append(f"final plan not empty: {[c.address for c in tp.changes][:5]}")
        w = world(srv.url)
        problems += world_mismatches(w, desired)
        problems += _sessions_booked_twice(w)
        problems += [f"{x}" for x in srv.world.check_invariants()]
        if (state / "mini.journal.jsonl").exists():
            problems.append("a journal was left behind")
    return Trial(seed, killed_after, killed, reruns, problems)


def _run_trials(root: Path, seeds: range, **kw: Any) -> list[Trial]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda s: run_trial(root, s, **kw), seeds))


def test_apply_killed_at_random_points_converges(tmp_path: Path) -> None:
    trials = _run_trials(tmp_path, range(10), n_users=8, latency_ms=3, fault_rate=0.05)
    failed = [t for t in trials if t.problems]
    assert failed == [], "\n".join(
        f"seed {t.seed} (killed after {t.killed_after}): {t.problems}" for t in failed
    )
    # the kills must land inside runs, not after them, for the test to mean anything
    assert sum(t.killed for t in trials) >= 7


@pytest.mark.soak
def test_apply_killed_at_random_points_converges_soak(tmp_path: Path) -> None:
    trials = _run_trials(tmp_path, range(100, 300), n_users=40, latency_ms=10, fault_rate=0.1)
    failed = [t for t in trials if t.problems]
    assert failed == [], "\n".join(
        f"seed {t.seed} (killed after {t.killed_after}): {t.problems}" for t in failed
    )


@pytest.mark.soak
def test_apply_killed_at_random_points_converges_waiting_for_approval_soak(
    tmp_path: Path,
) -> None:
    """The same where every booking waits for approval (an exam that requires it, so the
    service reads each one back ``Pending Approval``): a booking made by a killed run is
    taken over by the next one, never booked a second time."""
    trials = _run_trials(
        tmp_path, range(300, 400), n_users=16, latency_ms=5, fault_rate=0.08, statuses="pending"
    )
    failed = [t for t in trials if t.problems]
    assert failed == [], "\n".join(
        f"seed {t.seed} (killed after {t.killed_after}): {t.problems}" for t in failed
    )
    assert sum(t.killed for t in trials) >= 70
