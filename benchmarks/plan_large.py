"""Plan time, peak memory and API calls for a large tenant (20,000 students by default).

Prints figures, asserts nothing. The tenant: one course, one limited-scope exam, N users,
each enrolled, assigned and scheduled (4N + 2 resources). The simulator is filled directly
through its model (fast), saved, and served by `spsync sandbox serve` in another process,
so the plan's figures are the client's own. Scenarios:

- no-op: the state matches the manifests and the live objects;
- 10% changed: a tenth of the students changed in the manifests (half renamed, half moved
  to another appointment);

each with --no-refresh (manifests vs state) and with refresh (observation over HTTP), then
the whole `spsync plan` command end to end (wall, CPU, peak RSS, API calls). With
``--cli-only``, only the commands end to end, and a no-op ``spsync apply`` too (at 100,000
students the in-process runs under tracemalloc take long).

Run: ``.venv/bin/python benchmarks/plan_large.py [--users N] [--cli-only]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.plan_sandbox import ENV, INSTALL, TOKEN, provision_all, write_manifests

from spsync import manifest
from spsync.api import wire
from spsync.api.client import Client
from spsync.model import Desired, Session, User
from spsync.planning import plan_tenant
from spsync.render import render_text
from spsync.sandbox.persistence import dumps
from spsync.sandbox.server import build_world
from spsync.sandbox.world import World
from spsync.secrets import Secret
from spsync.store import StateStore

NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
KEY = TOKEN.encode()
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"


def manifests(n: int) -> str:
    lines = [
        "courses:",
        "  main: {ids: {external: course-main}, title: Acme Certification, code: ACME-001}",
        "exams:",
        "  cert:",
        "    course: main",
        "    ids: {external: exam-cert}",
        "    title: Certification Exam",
        "    configuration:",
        "      url: https://exams.example.com/cert",
        '      access: {open: "2027-01-01T00:00:00Z", close: "2027-12-31T23:59:59Z"}',
        "      duration: 120",
        "      password: {env: SPSYNC_ACME_CERT_PW}",
        "      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {}}",
        "users:",
    ]
    for i in range(n):
        lines.append(
            f"  s{i:05d}: {{ids: {{external: student-{i:05d}}}, firstName: Student, "
            f"lastName: N{i}, email: s{i:05d}@example.edu}}"
        )
    lines.append("sessions:")
    for i in range(n):
        day = 1 + i % 28
        lines.append(
            f'  - {{exam: cert, user: s{i:05d}, appointment: "2027-03-{day:02d}T14:00:00Z", '
            f"proctorLocation: {PL}, externalAppointmentId: appt-{i:05d}}}"
        )
    return "\n".join(lines) + "\n"


class WorldClient:
    """What ``provision_all`` needs of a client, served by a World in this process (one
    install of it)."""

    def __init__(self, world: World, install: str = INSTALL) -> None:
        self.w = world
        self.install = install

    async def provision(self, req: wire.ProvisionRequest) -> wire.ProvisionResponse:
        body = json.loads(wire.request_json(req)[0])
        return wire.ProvisionResponse.model_validate(self.w.provision(self.install, body))

    async def update_assignments(
        self, course: str, exam: str, *, add: list[str] = (), remove: list[str] = ()
    ) -> wire.AssignmentList:
        body = {"add": [{"enrollmentSid": s} for s in add]}
        return wire.AssignmentList.model_validate(
            self.w.update_assignments(self.install, course, exam, body)
        )

    async def list_enrollment_sessions(self, en: str, exam: str) -> list[wire.Session]:
        page = self.w.list_enrollment_sessions(self.install, en, exam, include_active=True)
        return [wire.Session.model_validate(x) for x in page.items]

    async def schedule_session(
        self, exam: str, sid: str, req: wire.ScheduleRequest, *, enrollment_sid: str
    ) -> wire.Session:
        body = json.loads(wire.request_json(req)[0])
        return wire.Session.model_validate(self.w.schedule_session(self.install, exam, sid, body))


def changed(desired: Desired, share: float = 0.10) -> Desired:
    """A tenth of the students changed: half renamed, half moved to another appointment."""
    step = round(1 / share)
    users = dict(desired.users)
    sessions = dict(desired.sessions)
    for i, address in enumerate(sorted(users)):
        if i % step:
            continue
        name = address.split(".", 1)[1]
        if (i // step) % 2 == 0:
            u = users[address]
            users[address] = User(**{**u.model_dump(), "lastName": "Changed"})
        else:
            s = sessions[f"session.cert.{name}"]
            sessions[s.address] = Session(
                **{**s.model_dump(), "appointment": "2027-04-01T10:00:00Z"}
            )
    return desired.model_copy(update={"users": users, "sessions": sessions})


def timed(label: str, fn: Callable[[], Awaitable[Any]], memory: bool = True) -> Any:
    t0 = time.perf_counter()
    result = asyncio.run(fn())
    elapsed = time.perf_counter() - t0
    peak = ""
    if memory:  # a second run under tracemalloc (which slows it down) for the peak
        tracemalloc.start()
        asyncio.run(fn())
        peak = f"   peak {tracemalloc.get_traced_memory()[1] / 2**20:7.1f} MiB"
        tracemalloc.stop()
    print(f"  {label:<44} {elapsed:7.2f} s{peak}", flush=True)
    return result


def serve_world(world_file: Path) -> tuple[subprocess.Popen[str], str]:
    """``spsync sandbox serve`` of ``world_file`` in another process, and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "spsync", "sandbox", "serve", "--port", "0", "--token", TOKEN,
         "--data", str(world_file), "--now", "2027-01-15T12:00:00Z"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    return server, server.stdout.readline().strip().rsplit(" ", 1)[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument(
        "--cli-only",
        action="store_true",
        help="only the commands end to end (plan, plan --no-refresh, a no-op apply)",
    )
    args = ap.parse_args()
    n = args.users
    tmp = Path(tempfile.mkdtemp(prefix="spsync-bench-"))
    print(f"tenant: {n:,} students ({4 * n + 2:,} resources), work dir {tmp}")

    tdir = write_manifests(tmp / "manifests", "http://127.0.0.1:1", manifests(n))
    t0 = time.perf_counter()
    desired = manifest.load(tdir, env=ENV)[0]
    print(f"  {'load manifests':<44} {time.perf_counter() - t0:7.2f} s")

    t0 = time.perf_counter()
    world = build_world(now=NOW, seed=1)
    state = asyncio.run(provision_all(desired, WorldClient(world), KEY))  # type: ignore[arg-type]
    (tmp / "world.json").write_bytes(dumps(world.to_json()))
    print(f"  {'(setup) fill the simulator and the state':<44} {time.perf_counter() - t0:7.2f} s")

    server, url = serve_world(tmp / "world.json")
    try:
        write_manifests(tmp / "manifests", url, manifests(n))
        desired = manifest.load(tdir, env=ENV)[0]
        store = StateStore(tmp / "state")
        store.save(state.model_copy(update={"api_url": url}))
        del state, world  # the CLI runs below are not to share the machine with them
        if not args.cli_only:
            in_process(desired, store, url)
        commands = [["plan", str(tdir), "--detailed-exitcode"]]
        commands.append(["plan", str(tdir), "--detailed-exitcode", "--no-refresh"])
        if args.cli_only:
            commands.append(["apply", str(tdir), "--auto-approve"])
        for command in commands:
            end_to_end(command, tmp, url)
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def in_process(desired: Desired, store: StateStore, url: str) -> None:
    """The plan's phases in this process: with and without refresh, no-op and 10% changed."""
    calls: dict[str, int] = {}

    def plan(d: Desired, refresh: bool) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            if not refresh:
                return (await plan_tenant(d, store, None, refresh=False, secret_key=KEY))[0]
            async with Client(url, INSTALL, Secret(TOKEN)) as client:
                tp = (await plan_tenant(d, store, client, secret_key=KEY))[0]
                calls["n"] = sum(client.calls.values())
                calls.update({k: v for k, v in client.calls.items()})
                return tp

        return go

    for label, d in (("no-op", desired), ("10% changed", changed(desired))):
        for refresh in (False, True):
            name = f"plan {label}, {'refresh' if refresh else '--no-refresh'}"
            tp = timed(name, plan(d, refresh))
            extra = f", {calls['n']} API calls" if refresh else ""
            print(f"      {len(tp.changes):,} changes, {tp.summary['noop']:,} unchanged{extra}")
    print("  API calls of one refreshed plan, by route:")
    for route, k in sorted(calls.items()):
        if route != "n":
            print(f"      {k:5d}  {route}")
    tp = asyncio.run(plan(changed(desired), False)())
    from spsync.plan import make_plan

    t0 = time.perf_counter()
    text = render_text(make_plan([tp]))
    print(f"  {'render text of the 10% plan':<44} {time.perf_counter() - t0:7.2f} s "
          f"({len(text):,} chars)")  # fmt: skip


def end_to_end(command: list[str], tmp: Path, url: str, env: dict[str, str] | None = None) -> None:
    """``spsync COMMAND`` in its own process: wall time, CPU, peak RSS, API calls.
    ``env``: variables the manifests read (default: support.plan_sandbox's acme tenant's)."""
    peak = tmp / "peak-rss"
    before = requests_served(url)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("peak_rss.py")),
         "--state-dir", str(tmp / "state"), *command],
        capture_output=True, text=True, check=False,
        env={**os.environ, **(ENV if env is None else env), "PEAK_RSS_FILE": str(peak)},
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    calls = requests_served(url) - before
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()
    rss = int(peak.read_text()) / 1024
    flags = " ".join(a for a in command[2:] if a != "--detailed-exitcode")
    label = f"`spsync {command[0]} {flags}`".replace(" `", "`") + " end to end"
    per_call = f", {1000 * cpu / calls:.1f} ms CPU/call" if calls else ""
    print(f"  {label:<44} {elapsed:7.2f} s   RSS {rss:7.1f} MiB  CPU {cpu:5.1f} s  "
          f"{calls} calls{per_call}  exit {r.returncode}: {last}", flush=True)  # fmt: skip


def requests_served(url: str) -> int:
    """API calls the simulator has answered so far."""
    import httpx

    r = httpx.get(url + "/_sandbox/requests", headers={"token": TOKEN}, timeout=60)
    return int(r.json()["total"])


if __name__ == "__main__":
    main()
