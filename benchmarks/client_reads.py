"""How many HTTP calls, and how long, the API client needs to read many objects.

Seeds the simulator's world directly through its model (one course, one limited-scope exam,
N learners assigned, so N sessions), serves it over real HTTP on loopback, and reads every
session of the exam (appointments report) and every user (user list) with the client,
without and with simulated latency. For comparison it also times one GET per object on a
sample and scales it up (marked "est.").

    .venv/bin/python benchmarks/client_reads.py [--n 5000] [--latency 0 20] [--sample 500]

Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from spsync.api import Client
from spsync.sandbox.server import ThreadedServer
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.world import World
from spsync.secrets import Secret

TOKEN = "bench-token"
INSTALL = "AI" + "0123456789abcdef" * 2
NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)


def seed(n: int) -> tuple[World, str, list[str]]:
    """A world with ``n`` learners of one exam, each with a session: (world, exam, users)."""
    world = World(clock=SettableClock(NOW), seed=1)
    first = world.provision(
        INSTALL,
        {
            "course": {"ids": {"external": "bench"}, "title": "Bench", "code": "B-1"},
            "exam": {
                "ids": {"external": "bench-exam"},
                "title": "Bench exam",
                "limitedScope": True,
                "configuration": {
                    "url": "https://exams.example.com/bench",
                    "access": {"open": "2027-02-01T00:00:00Z", "close": "2027-12-31T23:59:59Z"},
                    "duration": 60,
                    "password": "bench-password",
                    "proctorTypes": {"TS63dda27a6ba54c218449b934b7bb1ba8": {}},
                },
            },
        },
    )
    course, exam = first["course"]["sid"], first["exam"]["sid"]
    users, enrollments = [], []
    for i in range(n):
        out = world.provision(
            INSTALL,
            {
                "course": {"ids": {"sid": course}},
                "user": {
                    "ids": {"external": f"bench-user-{i}"},
                    "firstName": "Bench",
                    "lastName": f"User{i}",
                    "email": f"bench.user{i}@example.com",
                },
                "enrollment": {"role": "learner"},
            },
        )
        users.append(out["user"]["sid"])
        enrollments.append(out["enrollment"]["sid"])
    for start in range(0, n, 1000):
        chunk = enrollments[start : start + 1000]
        world.update_assignments(
            INSTALL, course, exam, {"add": [{"enrollmentSid": e} for e in chunk]}
        )
    return world, exam, users


async def measure(
    url: str, in_flight: int, read: Callable[[Client], Awaitable[Any]]
) -> tuple[int, float, int]:
    """(HTTP calls, seconds, items read) of one read with a fresh client."""
    async with Client(url, INSTALL, Secret(TOKEN), max_in_flight=in_flight) as api:
        started = time.perf_counter()
        got = await read(api)
        elapsed = time.perf_counter() - started
        return api.calls.total(), elapsed, len(got)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="sessions and users to read")
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--sample", type=int, default=500, help="per-object GETs timed")
    args = parser.parse_args()

    started = time.perf_counter()
    world, exam, users = seed(args.n)
    print(f"seeded {args.n} users + sessions in {time.perf_counter() - started:.1f}s")
    sample_users = users[: args.sample]

    async def all_sessions(api: Client) -> list[Any]:
        return await api.exam_sessions(exam)

    async def all_users(api: Client) -> list[Any]:
        return await api.list_users()

    async def user_each(api: Client) -> list[Any]:
        return await asyncio.gather(*(api.get_user(u) for u in sample_users))

    rows = []
    for latency in args.latency:
        with ThreadedServer(world, token=TOKEN, latency_ms=latency) as srv:
            for label, read, in_flight, scale in (
                (f"{args.n} sessions, appointments report", all_sessions, 8, 1.0),
                (f"{args.n} sessions, appointments report", all_sessions, 1, 1.0),
                (f"{args.n} users, user list", all_users, 8, 1.0),
                (f"{args.n} users, user list", all_users, 1, 1.0),
                (f"{args.n} users, one GET each (est.)", user_each, 8, args.n / args.sample),
            ):
                calls, seconds, items = asyncio.run(measure(srv.url, in_flight, read))
                if scale == 1.0:
                    assert items == args.n, (label, items)
                rows.append((latency, label, in_flight, calls * scale, seconds * scale))
    print()
    print(f"{'latency':>8}  {'read':<40} {'in flight':>9} {'HTTP calls':>10} {'time':>9}")
    for latency, label, in_flight, calls, seconds in rows:
        print(f"{latency:>6g}ms  {label:<40} {in_flight:>9} {calls:>10.0f} {seconds:>8.2f}s")


if __name__ == "__main__":
    main()
