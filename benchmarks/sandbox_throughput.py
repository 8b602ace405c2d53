"""Requests per second the simulator serves on loopback: mixed reads, concurrent clients.

Runs ``spsync sandbox serve`` in its own process (as users run it), fills one install with
courses, exams, users and sessions, then lets several client threads (one keep-alive
connection each) issue a mix of the read endpoints for a fixed time. Prints the figures;
asserts nothing.

    .venv/bin/python benchmarks/sandbox_throughput.py [--clients 8] [--seconds 5]
    .venv/bin/python benchmarks/sandbox_throughput.py --in-process   # ThreadedServer instead
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

AI = "AI" + "be" * 16
TOKEN = "bench"
NOW = "2027-01-15T12:00:00Z"
TS = "TS63dda27a6ba54c218449b934b7bb1ba8"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def subprocess_server() -> Iterator[tuple[str, int | None]]:
    cmd = [
        sys.executable,
        "-m",
        "spsync",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--now",
        NOW,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "listening on" not in line:
                raise SystemExit(f"server did not start: {line!r}")
            yield line.rsplit(" ", 1)[1].strip(), proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@contextmanager
def in_process_server() -> Iterator[tuple[str, int | None]]:
    from datetime import UTC, datetime

    from spsync.sandbox.server import ThreadedServer

    with ThreadedServer(token=TOKEN, now=datetime(2027, 1, 15, 12, tzinfo=UTC)) as srv:
        yield srv.url, None


def populate(url: str, courses: int, users: int) -> list[str]:
    """Create data; returns the read paths the clients will hit."""
    paths = [f"/v1/installs/{AI}/settings"]
    v1 = f"/v1/installs/{AI}"
    with httpx.Client(base_url=url, headers={"token": TOKEN}, timeout=30) as c:
        for i in range(courses):
            body = {
                "course": {"ids": {"external": f"c{i}"}, "title": f"Course {i}", "code": f"C{i}"},
                "exam": {
                    "ids": {"external": f"e{i}"},
                    "title": f"Exam {i}",
                    "limitedScope": False,
                    "configuration": {
                        "url": "https://exams.example.com/x",
                        "access": {"open": "2027-02-01T00:00:00Z", "close": "2027-12-31T00:00:00Z"},
                        "duration": 60,
                        "password": "pw",
                        "proctorTypes": {TS: {}},
                    },
                },
            }
            r = c.post(f"/v2/installs/{AI}/provision", json=body).json()
            cu, ex = r["course"]["sid"], r["exam"]["sid"]
            paths += [
                f"{v1}/courses/{cu}",
                f"{v1}/courses/{cu}/exams/{ex}",
                f"{v1}/courses/{cu}/exams",
                f"{v1}/courses/{cu}/enrollments?limit=20",
                f"{v1}/reports/appointments?examSid={ex}&limit=20",
            ]
            for u in range(users):
                r = c.post(
                    f"/v2/installs/{AI}/provision",
                    json={
                        "course": {"ids": {"sid": cu}},
                        "user": {
                            "ids": {"external": f"u{i}-{u}"},
                            "firstName": "F",
                            "lastName": "L",
                            "email": f"u{i}-{u}@example.com",
                        },
                    },
                ).json()
                us = r["user"]["sid"]
                en = c.get(f"{v1}/courses/{cu}/enrollments?limit=100").json()["results"][-1]["sid"]
                sessions = c.get(
                    f"{v1}/enrollments/{en}/exams/{ex}/sessions?includeActive=true"
                ).json()["results"]
                paths += [
                    f"{v1}/users/{us}/profile",
                    f"{v1}/users?externalId=u{i}-{u}",
                    f"{v1}/enrollments/{en}/exams/{ex}/sessions?includeActive=true",
                    f"{v1}/exams/{ex}/sessions/{sessions[0]['sid']}",
                ]
    return paths


class RawClient:
    """A minimal keep-alive HTTP/1.1 GET client on a plain socket.

    httpx costs several hundred microseconds of CPU per request; on a 2-core machine the
    clients would then measure themselves rather than the server.
    """

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host = f"{parsed.host}:{parsed.port}"
        self.sock = socket.create_connection((parsed.host, parsed.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> int:
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\ntoken: {TOKEN}\r\n\r\n".encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            body += self.sock.recv(65536)
        return int(head[9:12])

    def close(self) -> None:
        self.sock.close()


def hammer(
    url: str, paths: list[str], clients: int, seconds: float, *, raw: bool = True
) -> tuple[int, list[float]]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    stop = time.perf_counter() + seconds

    def run(n: int) -> None:
        rng = random.Random(n)
        if raw:
            rc = RawClient(url)
            try:
                while time.perf_counter() < stop:
                    path = rng.choice(paths)
                    t0 = time.perf_counter()
                    status = rc.get(path)
                    latencies[n].append(time.perf_counter() - t0)
                    if status != 200:
                        failures.append(f"{status} {path}")
            finally:
                rc.close()
            return
        with httpx.Client(base_url=url, headers={"token": TOKEN}, timeout=30) as c:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = c.get(rng.choice(paths))
                latencies[n].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.request.url}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, e.g. {failures[0]}")
    flat = [x for per in latencies for x in per]
    return len(flat), flat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--courses", type=int, default=10)
    ap.add_argument("--users", type=int, default=20, help="learners per course")
    ap.add_argument("--in-process", action="store_true", help="serve from this process")
    ap.add_argument("--httpx", action="store_true", help="clients use httpx (slower clients)")
    args = ap.parse_args()
    server = in_process_server() if args.in_process else subprocess_server()
    with server as (url, pid):
        paths = populate(url, args.courses, args.users)
        raw = not args.httpx
        hammer(url, paths, args.clients, 0.5, raw=raw)  # warm-up
        cpu0 = cpu_seconds(pid) if pid else None
        n, lat = hammer(url, paths, args.clients, args.seconds, raw=raw)
        cpu1 = cpu_seconds(pid) if pid else None
    lat.sort()
    print(
        f"server: {'in-process thread' if args.in_process else 'separate process'}; "
        f"cores: {os.cpu_count()}; clients: {args.clients} ({'httpx' if args.httpx else 'raw'}); "
        f"distinct paths: {len(paths)}"
    )
    print(f"requests: {n} in {args.seconds:.1f} s -> {n / args.seconds:,.0f} req/s")
    print(
        f"latency ms: median {statistics.median(lat) * 1000:.2f}, "
        f"p95 {lat[int(len(lat) * 0.95)] * 1000:.2f}, p99 {lat[int(len(lat) * 0.99)] * 1000:.2f}"
    )
    if cpu0 is not None and cpu1 is not None:
        busy = cpu1 - cpu0
        print(
            f"server CPU: {busy:.2f} s busy in {args.seconds:.1f} s "
            f"({busy / n * 1e6:.0f} us per request, i.e. ~{n / busy:,.0f} req/s per core)"
        )


if __name__ == "__main__":
    main()
