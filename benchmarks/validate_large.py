"""Validate a large tenant and print wall time and peak memory.

Generates, in a temporary directory, one tenant with 20 exams, 20,000 users, and for every
user an explicit enrollment, an explicit assignment and a session (so 20,000 of each), then
runs ``spsync validate`` on it in a subprocess (so the figures are of a real run, start-up
included) and reports wall time and the child's peak RSS; then again with every session
naming an undefined user (the error path, with its did-you-means). It also times
``manifest.load`` in-process. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/validate_large.py [--users N] [--exams N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSTALL = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
TS = "TS63dda27a6ba54c218449b934b7bb1ba8"
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"


def generate(root: Path, users: int, exams: int) -> Path:
    """Write the tenant under ``root`` and return its directory."""
    tenant = root / "bench"
    tenant.mkdir(parents=True)
    (tenant / "tenant.yaml").write_text(
        "tenant: bench\n"
        f"install: {INSTALL}\n"
        "api: {token: {env: SPSYNC_BENCH_TOKEN}}\n"
        "defaults:\n"
        "  user: {timeZone: America/New_York, currencyCode: USD}\n"
        "  exam: {type: online, limitedScope: true}\n"
        f"  session: {{type: automated, proctorLocation: {PL}, amount: 0, currency: USD}}\n"
    )
    lines = [
        "courses:",
        "  main: {ids: {external: bench-course}, title: Bench, code: B-1}",
        "exams:",
    ]
    for e in range(exams):
        lines += [
            f"  exam-{e:02d}:",
            "    course: main",
            f"    ids: {{external: bench-exam-{e}}}",
            f"    title: Bench exam {e}",
            "    configuration:",
            f"      url: https://exams.example.com/{e}",
            '      access: {open: "2027-01-01T00:00:00Z", close: "2027-12-31T23:59:59Z"}',
            '      scheduling: {open: "2026-12-01T00:00:00Z", close: "2027-12-30T00:00:00Z"}',
            "      duration: 120",
            "      password: {env: SPSYNC_BENCH_EXAM_PASSWORD}",
            f"      proctorTypes: {{{TS}: {{options: {{recordScreen: {{}}}}}}}}",
        ]
    (tenant / "exams.yaml").write_text("\n".join(lines) + "\n")

    lines = ["users:"]
    for u in range(users):
        lines += [
            f"  user-{u:05d}:",
            f"    ids: {{external: ext-{u:05d}}}",
            f"    firstName: First{u}",
            f"    lastName: Last{u}",
            f"    email: User.{u}@Example.com",
        ]
    (tenant / "users.yaml").write_text("\n".join(lines) + "\n")

    lines = ["enrollments:"]
    lines += [f"  - {{user: user-{u:05d}, course: main}}" for u in range(users)]
    lines.append("assignments:")
    for e in range(exams):
        lines.append(f"  exam-{e:02d}:")
        lines += [f"    - user-{u:05d}" for u in range(e, users, exams)]
    (tenant / "roster.yaml").write_text("\n".join(lines) + "\n")

    lines = ["sessions:"]
    for u in range(users):
        day, minute = 1 + u % 28, (u * 7) % 600
        lines += [
            f"  - exam: exam-{u % exams:02d}",
            f"    user: user-{u:05d}",
            f'    appointment: "2027-03-{day:02d}T{8 + minute // 60:02d}:{minute % 60:02d}:00Z"',
            f"    externalAppointmentId: appt-{u:05d}",
        ]
    (tenant / "sessions.yaml").write_text("\n".join(lines) + "\n")
    return tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--exams", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "SPSYNC_BENCH_TOKEN": "t0k3n", "SPSYNC_BENCH_EXAM_PASSWORD": "pw"}
    with tempfile.TemporaryDirectory() as tmp:
        tenant = generate(Path(tmp), args.users, args.exams)
        size = sum(p.stat().st_size for p in tenant.iterdir())
        print(f"manifests: {size / 1e6:.1f} MB in {tenant}")

        cmd = [sys.executable, "-m", "spsync", "validate", str(tenant)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss = peak_kb / 1024
        print(f"spsync validate: exit {proc.returncode}, {wall:.2f} s wall, peak RSS {rss:.0f} MB")
        print(f"  stdout: {proc.stdout.strip()}")
        if proc.stderr.strip():
            print(f"  stderr: {proc.stderr.strip()[:2000]}")

        # the error path: every session names an undefined user (20,000 did-you-means)
        sessions = tenant / "sessions.yaml"
        sessions.write_text(sessions.read_text().replace("user: user-", "user: usr-"))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        lines = proc.stderr.count("\n")
        print(f"spsync validate, every session broken: exit {proc.returncode}, {wall:.2f} s wall,")
        print(f"  {lines:,} lines on stderr, last: {proc.stderr.splitlines()[-1]}")
        sessions.write_text(sessions.read_text().replace("user: usr-", "user: user-"))

        from spsync import manifest

        t0 = time.perf_counter()
        desired = manifest.load(tenant, env=env)
        took = time.perf_counter() - t0
        print(f"manifest.load in-process: {took:.2f} s ({len(desired[0].sessions)} sessions)")


if __name__ == "__main__":
    main()
