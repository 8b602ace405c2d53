"""Throughput of the apply executor on a large first apply, against the simulator over HTTP.

Prints figures; asserts nothing about time. Builds a tenant of N learners (each assigned to
one of two limited exams, half of them scheduled, a tenth on an unlimited exam), applies
everything on a fresh simulator with the given latency, and reports wall time, changes and
API calls per second, calls by route, and how often the state file was saved.

    .venv/bin/python benchmarks/apply_large.py --users 2000 --latency-ms 20 --parallelism 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from spsync import manifest
from spsync.api.client import Client
from spsync.apply import execute_tenant
from spsync.model import Desired, kind_of
from spsync.plan import Change
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret
from spsync.store import StateStore

TOKEN = "bench-token"
INSTALL = "AI" + "b" * 32
LOCATION = "PL" + "d" * 32


def write_tenant(root: Path, url: str, n: int) -> Path:
    d = root / "bench"
    d.mkdir(parents=True)
    (d / "tenant.yaml").write_text(
        f"tenant: bench\ninstall: {INSTALL}\n"
        f"api: {{url: {url}, token: {{env: SPSYNC_BENCH_TOKEN}}}}\n"
        f"defaults:\n  session: {{type: automated, proctorLocation: {LOCATION}}}\n"
    )
    exams = ["courses:\n  c: {ids: {external: c}, title: C, code: C}\nexams:"]
    for name, limited in (("e1", "true"), ("e2", "true"), ("e3", "false")):
        exams.append(
            f"  {name}:\n    course: c\n    ids: {{external: {name}}}\n    title: {name}\n"
            f"    limitedScope: {limited}\n    configuration:\n"
            "      url: https://x.example/e\n"
            '      access: {open: "2027-01-01T00:00:00Z", close: "2028-12-31T23:59:59Z"}\n'
            "      duration: 60\n      password: {env: SPSYNC_BENCH_PASSWORD}\n"
            "      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {}}"
        )
    (d / "exams.yaml").write_text("\n".join(exams) + "\n")
    users, assigned, sessions = ["users:"], {"e1": [], "e2": []}, ["sessions:"]
    for i in range(n):
        users.append(
            f"  u{i}: {{ids: {{external: x{i}}}, firstName: F, lastName: L{i}, "
            f"email: u{i}@bench.example}}"
        )
        exam = "e3" if i % 10 == 0 else ("e1" if i % 2 else "e2")
        if exam != "e3" and i % 4 < 2:
            assigned[exam].append(f"u{i}")
        else:
            when = f"2028-06-{1 + i % 28:02d}T{8 + i % 10:02d}:00:00Z"
            sessions.append(f'  - {{exam: {exam}, user: u{i}, appointment: "{when}"}}')
    (d / "users.yaml").write_text("\n".join(users) + "\n")
    (d / "assign.yaml").write_text(
        "assignments:\n" + "".join(f"  {e}: [{', '.join(us)}]\n" for e, us in assigned.items())
    )
    (d / "sessions.yaml").write_text("\n".join(sessions) + "\n")
    return d


def all_new(desired: Desired) -> list[Change]:
    out = []
    for a in desired.addresses():
        kind = kind_of(a)
        if kind == "assignment":
            if not desired.exams[f"exam.{desired.assignments[a].exam}"].limited:
                continue
            action = "assign"
        else:
            action = "schedule" if kind == "session" else "create"
        out.append(Change(address=a, action=action, reason="new", destructive=False))  # type: ignore[arg-type]
    return out


class CountingStore(StateStore):
    saves = 0

    def save(self, state):  # type: ignore[no-untyped-def]
        CountingStore.saves += 1
        return super().save(state)


async def bench(url: str, desired: Desired, root: Path, parallelism: int) -> None:
    store = CountingStore(root / "state")
    changes = all_new(desired)
    async with Client(url, INSTALL, Secret(TOKEN), max_in_flight=parallelism) as client:
        t0 = time.perf_counter()
        result = await execute_tenant(
            changes,
            desired,
            store.load(desired.tenant),
            client,
            store,
            applied_of=lambda a: {},
            parallelism=parallelism,
        )
        wall = time.perf_counter() - t0
        calls = dict(client.calls)
    total = sum(calls.values())
    print(f"changes            {len(changes)} ({result.count('done')} done)")
    print(f"wall time          {wall:.2f} s")
    print(f"changes / s        {len(changes) / wall:.0f}")
    print(f"API calls          {total} ({total / wall:.0f} / s)")
    for route, n in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {route}")
    print(f"state file saves   {CountingStore.saves}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=10)
    ap.add_argument("--parallelism", type=int, default=8)
    args = ap.parse_args()
    os.environ.update({"SPSYNC_BENCH_TOKEN": TOKEN, "SPSYNC_BENCH_PASSWORD": "bench-password"})
    with (
        tempfile.TemporaryDirectory() as tmp,
        ThreadedServer(token=TOKEN, latency_ms=args.latency_ms) as srv,
    ):
        root = Path(tmp)
        t0 = time.perf_counter()
        (desired,) = manifest.load(write_tenant(root, srv.url, args.users))
        loaded = time.perf_counter() - t0
        print(f"users              {args.users} (manifests loaded in {loaded:.2f} s)")
        print(f"latency            {args.latency_ms} ms, parallelism {args.parallelism}")
        asyncio.run(bench(srv.url, desired, root, args.parallelism))


if __name__ == "__main__":
    main()
