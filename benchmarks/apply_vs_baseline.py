"""spsync against the hand-written nightly script, on a generated tenant, over real HTTP.

For each roster size it starts the simulator as a real ``spsync sandbox serve`` subprocess
(so the server never shares a GIL with the process measured) with ``--latency-ms`` and
``--rate-limit``, and measures:

- ``spsync apply --auto-approve`` (the real CLI, a subprocess) on a first upload;
- the same apply again with nothing changed (no-op re-apply), and ``spsync plan`` (refresh);
- a re-apply after 1% of the students were edited (half renamed: an update of the user;
  half moved to another time: a reschedule of the session);
- the baseline (``baseline_script.py``: for each student provision, assign, list sessions,
  schedule, one call after another) on a fresh simulator. At large sizes it runs on the
  first ``--baseline-max`` students only and its time is extrapolated linearly (printed as
  such): its cost is the same for every student, so the line is exact up to noise.

HTTP calls are counted by the simulator (``GET /_sandbox/requests``), by method and route,
and so are its answers by status (429: refused by its rate limit). Wall time, CPU
(``wait4``) and peak RSS (``peak_rss.py``) are of the whole child process, start-up
included. For each spsync run it also prints the server's floor (calls ÷ the rate limit:
no client can be faster), the run's ratio to it, CPU per call, and the window of calls in
flight the first apply reached (its ``-v`` summary).
Prints figures; asserts nothing (a failed run is reported and ends the script with exit 1).

The tenant: one course, ``--exams`` limited-scope exams (10), N students; student i is
scheduled in exam ``i % exams`` (so 4 addresses per student: user, enrollment, assignment,
session).

    .venv/bin/python benchmarks/apply_vs_baseline.py                 # quick: 500 students
    .venv/bin/python benchmarks/apply_vs_baseline.py --sizes 2000
    .venv/bin/python benchmarks/apply_vs_baseline.py --full          # 500, 2,000, 10,000
    .venv/bin/python benchmarks/apply_vs_baseline.py --sizes 20000 --baseline-max 0
    .venv/bin/python benchmarks/apply_vs_baseline.py --sizes 2000 --profile /tmp/apply.prof
    .venv/bin/python benchmarks/apply_vs_baseline.py --sizes 2000 --latency-ms 100 \
        --rate-limit 200 --baseline-max 0
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_script import run_baseline

TOKEN = "bench-token"
PASSWORD = "bench-exam-password"
INSTALL = "AI" + "5e" * 16
LOCATION = "PL" + "7c" * 16
PROCTOR_TYPE = "TS63dda27a6ba54c218449b934b7bb1ba8"
ACCESS = ("2030-01-01T00:00:00Z", "2031-12-31T23:59:59Z")
QUICK_SIZES = (500,)
FULL_SIZES = (500, 2_000, 10_000)
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")
ENV = {"SPSYNC_BENCH_TOKEN": TOKEN, "SPSYNC_BENCH_PASSWORD": PASSWORD}


# --- the tenant ---------------------------------------------------------------------------


def appointment(i: int, moved: bool = False) -> str:
    """Student i's appointment: spread over days and hours of 2030 (a 'moved' one is a day
    later)."""
    day = 1 + (i // 10) % 27 + (1 if moved else 0)
    month = 1 + (i // 270) % 12
    return f"2030-{month:02d}-{day:02d}T{8 + i % 10:02d}:00:00Z"


def last_name(i: int, renamed: bool = False) -> str:
    return f"Renamed{i}" if renamed else f"Student{i}"


def edited(i: int, share: int) -> tuple[bool, bool]:
    """(renamed, moved) of student i in the edited roster: 1 in ``share`` students is
    edited, alternately renamed and moved."""
    if share and i % share == 0:
        return (i // share) % 2 == 0, (i // share) % 2 == 1
    return False, False


def write_tenant(root: Path, url: str, n: int, exams: int, *, share: int = 0) -> Path:
    """The tenant's manifests under ``root/manifests/bench``; ``share``: edit 1 in ``share``
    students (0: none)."""
    d = root / "manifests" / "bench"
    d.mkdir(parents=True, exist_ok=True)
    (d / "tenant.yaml").write_text(
        f"tenant: bench\ninstall: {INSTALL}\n"
        f"api: {{url: {url}, token: {{env: SPSYNC_BENCH_TOKEN}}}}\n"
        "defaults:\n"
        "  user: {timeZone: America/New_York}\n"
        f"  session: {{type: automated, proctorLocation: {LOCATION}}}\n"
    )
    lines = [
        "courses:",
        "  main: {ids: {external: client-account-1}, title: Client Account, code: ACCT-1}",
        "exams:",
    ]
    for e in range(exams):
        lines += [
            f"  exam{e}:",
            "    course: main",
            f"    ids: {{external: exam-{e}}}",
            f"    title: Certification Exam {e}",
            "    limitedScope: true",
            "    configuration:",
            f"      url: https://exams.example.com/exam/{e}",
            f'      access: {{open: "{ACCESS[0]}", close: "{ACCESS[1]}"}}',
            "      duration: 90",
            "      password: {env: SPSYNC_BENCH_PASSWORD}",
            f"      proctorTypes: {{{PROCTOR_TYPE}: {{}}}}",
        ]
    (d / "exams.yaml").write_text("\n".join(lines) + "\n")
    users, sessions = ["users:"], ["sessions:"]
    for i in range(n):
        renamed, moved = edited(i, share)
        users.append(
            f"  s{i}: {{ids: {{external: student-{i}}}, firstName: Sam, "
            f"lastName: {last_name(i, renamed)}, email: s{i}@students.example.com}}"
        )
        sessions.append(
            f'  - {{exam: exam{i % exams}, user: s{i}, appointment: "{appointment(i, moved)}", '
            f"externalAppointmentId: appt-{i}}}"
        )
    (d / "users.yaml").write_text("\n".join(users) + "\n")
    (d / "sessions.yaml").write_text("\n".join(sessions) + "\n")
    return d


def roster(n: int, exams: int) -> list[dict[str, Any]]:
    """The same students as the manifests, as the baseline script's requests."""
    out = []
    for i in range(n):
        e = i % exams
        out.append(
            {
                "provision": {
                    "course": {
                        "ids": {"external": "client-account-1"},
                        "title": "Client Account",
                        "code": "ACCT-1",
                    },
                    "exam": {
                        "ids": {"external": f"exam-{e}"},
                        "title": f"Certification Exam {e}",
                        "limitedScope": True,
                        "configuration": {
                            "url": f"https://exams.example.com/exam/{e}",
                            "access": {"open": ACCESS[0], "close": ACCESS[1]},
                            "duration": 90,
                            "password": PASSWORD,
                            "proctorTypes": {PROCTOR_TYPE: {}},
                        },
                    },
                    "user": {
                        "ids": {"external": f"student-{i}"},
                        "firstName": "Sam",
                        "lastName": last_name(i),
                        "email": f"s{i}@students.example.com",
                        "timeZone": "America/New_York",
                    },
                    "enrollment": {"role": "learner"},
                },
                "schedule": {
                    "type": "automated",
                    "proctorLocationSid": LOCATION,
                    "appointmentDateTime": appointment(i),
                    "externalAppointmentId": f"appt-{i}",
                },
            }
        )
    return out


# --- the simulator --------------------------------------------------------------------------


@dataclass
class Sandbox:
    url: str
    proc: subprocess.Popen[str]

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"token": TOKEN}, timeout=60)

    def reset_counts(self) -> None:
        with self._http() as h:
            h.delete("/_sandbox/requests").raise_for_status()

    def counts(self) -> dict[str, int]:
        with self._http() as h:
            r = h.get("/_sandbox/requests")
            r.raise_for_status()
            return dict(r.json()["counts"])

    def counts_and_statuses(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._http() as h:
            r = h.get("/_sandbox/requests")
            r.raise_for_status()
            data = r.json()
            return dict(data["counts"]), dict(data["statuses"])


@contextlib.contextmanager
def sandbox(latency_ms: float, rate_limit: float | None) -> Iterator[Sandbox]:
    """``spsync sandbox serve`` on a free port, stopped (SIGTERM) on exit."""
    cmd = [sys.executable, "-u", "-m", "spsync", "sandbox", "serve", "--port", "0"]
    cmd += ["--token", TOKEN, "--latency-ms", str(latency_ms)]
    if rate_limit:
        cmd += ["--rate-limit", str(rate_limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on " not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield Sandbox(line.rsplit("listening on ", 1)[1].strip(), proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    seconds: float
    calls: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    note: str = ""
    extrapolated: bool = False
    statuses: dict[str, int] = field(default_factory=dict)
    #: the ``-v`` summary's window line (``up to N calls in flight ...``)
    window: str = ""

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(n for k, n in self.calls.items() if k.split(" ", 1)[0] in WRITE_METHODS)

    @property
    def reads(self) -> int:
        return self.total - self.writes

    @property
    def refused(self) -> int:
        return self.statuses.get("429", 0)


def spsync_cli(
    root: Path,
    sb: Sandbox,
    label: str,
    *args: str,
    ok: tuple[int, ...] = (0,),
    profile: Path | None = None,
) -> Run:
    """Run the spsync CLI with ARGS in ``root`` and measure it (wall, CPU, peak RSS, calls);
    with ``profile``, under cProfile writing its statistics there (slower: ~1.5x CPU)."""
    sb.reset_counts()
    prof = ["-m", "cProfile", "-o", str(profile)] if profile else []
    wrapper = str(Path(__file__).with_name("peak_rss.py"))  # runs the CLI, records its peak RSS
    cmd = [sys.executable, *prof, wrapper, "--no-color", "--state-dir", str(root / "state"), *args]
    peak = root / "peak-rss"
    env = {**os.environ, **ENV, "PEAK_RSS_FILE": str(peak)}
    log = root / f"{label.replace(' ', '-')}.log"
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"{label}: exit {proc.returncode}\n{tail}")
    lines = log.read_text().splitlines()
    summary = [x for x in lines if x.startswith("bench: ") and " done" in x]
    window = [x for x in lines if x.startswith("bench: up to ")]
    calls, statuses = sb.counts_and_statuses()
    return Run(
        label,
        seconds,
        calls,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_mb=int(peak.read_text()) / 1024,
        note=summary[-1] if summary else "",
        statuses=statuses,
        window=window[-1].removeprefix("bench: ") if window else "",
    )


def baseline(sb: Sandbox, n: int, run_n: int, exams: int) -> Run:
    """The hand-written script on ``run_n`` students, extrapolated to ``n``."""
    sb.reset_counts()
    res = run_baseline(sb.url, INSTALL, TOKEN, roster(run_n, exams))
    calls = sb.counts()
    factor = n / run_n
    if run_n == n:
        return Run("baseline", res.seconds, calls)
    scaled = {k: round(v * factor) for k, v in calls.items()}
    return Run(
        "baseline",
        res.seconds * factor,
        scaled,
        note=f"ran {run_n} students in {res.seconds:.1f} s, extrapolated x{factor:g}",
        extrapolated=True,
    )


# --- output ---------------------------------------------------------------------------------


def short_route(key: str) -> str:
    method, _, route = key.partition(" ")
    route = route.replace("/v1/installs/{installSid}", "").replace("/v2/installs/{installSid}", "")
    return f"{method} {route}"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def report(n: int, exams: int, runs: list[Run], rate_limit: float | None = None) -> None:
    objects = 4 * n + 1 + exams
    head = ["run", "wall s", "calls", "writes", "reads", "calls/student", "CPU s", "RSS MB"]
    head += ["CPU ms/call", "429", "429 %", "floor s", "x floor"]
    rows = [head]
    for r in runs:
        # what the server accepted: its refusals are not work a client had to do
        floor = (r.total - r.refused) / rate_limit if rate_limit else 0.0
        rows.append(
            [
                r.label + (" (extrapolated)" if r.extrapolated else ""),
                f"{r.seconds:.2f}",
                str(r.total),
                str(r.writes),
                str(r.reads),
                f"{r.total / n:.3f}",
                f"{r.cpu_s:.1f}" if r.cpu_s else "-",
                f"{r.rss_mb:.0f}" if r.rss_mb else "-",
                f"{1000 * r.cpu_s / r.total:.2f}" if r.cpu_s and r.total else "-",
                str(r.refused) if not r.extrapolated else "-",
                f"{100 * r.refused / r.total:.1f}" if r.total and not r.extrapolated else "-",
                f"{floor:.2f}" if floor else "-",
                f"{r.seconds / floor:.2f}" if floor else "-",
            ]
        )
    print(table(rows))
    routes = sorted({k for r in runs for k in r.calls})
    rows = [["calls by endpoint", *(r.label for r in runs)]]
    for k in routes:
        rows.append([short_route(k), *(str(r.calls.get(k, "")) for r in runs)])
    print()
    print(table(rows))
    by = {r.label: r for r in runs}
    print()
    for r in runs:
        if r.note:
            print(f"  {r.label}: {r.note}")
    first, base = by.get("spsync first apply"), by.get("baseline")
    if first and base:
        print(
            f"  first apply: baseline / spsync = {base.seconds:.1f} / {first.seconds:.1f} s "
            f"= {base.seconds / first.seconds:.1f}x faster"
            + (" (baseline extrapolated)" if base.extrapolated else "")
        )
    if first and first.window:
        print(f"  first apply: {first.window}")
    noop = by.get("spsync no-op re-apply")
    if noop:
        per = f"1 read per {objects / noop.reads:.0f} objects" if noop.reads else "no reads"
        print(
            f"  no-op re-apply: {noop.writes} writes, {noop.reads} reads, {objects} objects ({per})"
        )


def measure_size(args: argparse.Namespace, n: int) -> None:
    print(
        f"\n=== {n:,} students, {args.exams} exams (latency {args.latency_ms:g} ms, "
        f"rate limit {args.rate_limit or 'none'} req/s, "
        f"parallelism {args.parallelism or 'default'}) ==="
    )
    runs: list[Run] = []
    par = ["--parallelism", str(args.parallelism)] if args.parallelism else []
    with tempfile.TemporaryDirectory() as tmp, sandbox(args.latency_ms, args.rate_limit) as sb:
        root = Path(tmp)
        tenant = write_tenant(root, sb.url, n, args.exams)
        rel = str(tenant.relative_to(root))
        profile = Path(args.profile).resolve() if args.profile else None
        first = ("-v", "apply", rel, "--auto-approve", *par)
        runs.append(spsync_cli(root, sb, "spsync first apply", *first, profile=profile))
        runs.append(
            spsync_cli(root, sb, "spsync no-op re-apply", "apply", rel, "--auto-approve", *par)
        )
        runs.append(spsync_cli(root, sb, "spsync plan (no-op)", "plan", rel, "--detailed-exitcode"))
        write_tenant(root, sb.url, n, args.exams, share=100)
        runs.append(spsync_cli(root, sb, "spsync 1% changed", "apply", rel, "--auto-approve", *par))
    run_n = min(n, args.baseline_max)
    if run_n > 0:
        with sandbox(args.latency_ms, args.rate_limit) as sb:
            runs.append(baseline(sb, n, run_n, args.exams))
    report(n, args.exams, runs, args.rate_limit or None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help="comma-separated student counts (default 500)")
    ap.add_argument("--full", action="store_true", help="sizes 500, 2000 and 10000")
    ap.add_argument("--exams", type=int, default=10)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--rate-limit", type=float, default=500, help="req/s; 0: none")
    ap.add_argument(
        "--parallelism", type=int, default=0, help="the CLI's --parallelism (0: its default)"
    )
    ap.add_argument(
        "--baseline-max",
        type=int,
        default=2_000,
        help="run the baseline on at most this many students and extrapolate (0: skip it)",
    )
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="run the first apply under cProfile and write its statistics to FILE "
        "(read them with: python -m pstats FILE); its times are then inflated",
    )
    args = ap.parse_args()
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
    else:
        sizes = list(FULL_SIZES if args.full else QUICK_SIZES)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for n in sizes:
        measure_size(args, n)


if __name__ == "__main__":
    main()
