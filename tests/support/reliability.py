"""Shared machinery of the reliability suite: generated tenants, a workspace that runs the
real ``spsync`` CLI in subprocesses, the simulator's control endpoints, and the checks every
trial ends with (convergence, no double booking, the world equal to the manifests).

The suite drives spsync the way a user or a CI job does: ``python -m spsync ...`` in its own
process, with its own working directory (``.spsync/audit``) and state directory, against the
simulator served over real HTTP on loopback (``ThreadedServer``, in the test process).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from spsync import manifest
from spsync.cli import main
from spsync.journal import journal_path, read_entries
from spsync.model import Desired
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.injection import Fault, FaultInjector
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import env_prefix
from spsync.store import StateStore
from support.api import Rule, Tamper
from support.apply_checker import active_duplicates, world_mismatches

#: the simulated "now": before every generated appointment and inside every exam window
NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
#: the API token of every generated tenant (read from SPSYNC_<TENANT>_TOKEN); a value no
#: output may hold
TOKEN = "rel-tok-7Qx2Vb9LmK4pZ8wR"
#: exam passwords of generated tenants (SPSYNC_<TENANT>_PW_<n>); values no output may hold
PASSWORDS = ("pw-Zk38vQe1Ym", "pw-Hd72nWc5Tr", "pw-Ua90sLp4Gx", "pw-Ef61kJb8Nq")
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
TS_LIVE = "TS4b894875d26194988853e490dfb9bc41"
LOCATIONS = (
    "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
    "PLb27c8d9e0f1a2b3c4d5e6f7a8b9c0d1e",
    "PLc37d8e9f0a1b2c3d4e5f6a7b8c9d0e1f",
)
SESSION_TYPES = ("automated", "b-virtual", "vtc")
ACTIVE = ("Needs Proctor", "Scheduled")
#: every spsync subprocess is stopped after this long (a hang is a failure, not a wait)
RUN_TIMEOUT = 300.0
#: environment variables a test run must not inherit (they change where spsync connects,
#: what it trusts, or where it keeps state)
_SCRUBBED_PREFIXES = ("SPSYNC_", "SSL_CERT_", "REL_", "ACME_", "GLOBEX_")
_SCRUBBED = {
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_COLOR",
}


def install_sid(n: int) -> str:
    """A well-formed install SID of its own for tenant number ``n``."""
    return f"AI{0xE0 + n:02x}" + f"{n:02x}" * 15


# --- generated tenants -------------------------------------------------------------------


def tenant_yaml(name: str, install: str, url: str) -> str:
    return f"""\
tenant: {name}
install: {install}
api:
  url: {url}
  token: {{env: {env_prefix(name)}TOKEN}}
defaults:
  user: {{timeZone: America/New_York, currencyCode: USD}}
  exam: {{type: online, limitedScope: true}}
  session: {{type: automated, amount: 0, currency: USD}}
policy:
  maxDestroy: 10
  maxDestroyPercent: 20
"""


def courses_yaml(name: str) -> str:
    return f"""\
courses:
  main:
    ids: {{external: {name}-course-main}}
    title: {name.title()} Certification
    code: {name.upper()}-001
  compliance:
    ids: {{api: {name}-compliance}}
    title: {name.title()} Compliance Training
    code: {name.upper()}-COMP
"""


def exams_yaml(name: str) -> str:
    """Three exams: two limited-scope ones in ``main``, an unlimited one in ``compliance``."""
    return f"""\
exams:
  cert:
    course: main
    ids: {{external: {name}-cert}}
    title: Professional Certification
    description: The yearly certification.
    configuration:
      url: https://exams.example.com/{name}/cert
      access: {{open: "2027-01-01T00:00:00Z", close: "2027-12-31T23:59:59Z"}}
      scheduling: {{open: "2026-12-01T00:00:00Z", close: "2027-12-30T00:00:00Z"}}
      duration: 120
      password: {{env: {env_prefix(name)}PW_0}}
      attempts: 1
      proctorTypes:
        {TS_LIVE}: {{}}
        {TS_AUTO}: {{options: {{recordScreen: {{}}, recordWebcam: {{}}}}}}
      notes: {{student: Have your ID ready., proctor: Verify identity.}}
      permittedItems: {{calculator: {{notes: Basic only}}}}
  safety:
    course: main
    ids: {{external: {name}-safety}}
    title: Workplace Safety
    configuration:
      url: https://exams.example.com/{name}/safety
      access: {{open: "2027-02-01T00:00:00Z", close: "2027-11-30T23:59:59Z"}}
      duration: 45
      password: {{env: {env_prefix(name)}PW_1}}
      proctorTypes: {{{TS_AUTO}: {{options: {{verifyId: {{}}}}}}}}
  orientation:
    course: compliance
    ids: {{external: {name}-orientation}}
    title: Orientation Check
    limitedScope: false
    configuration:
      url: https://exams.example.com/{name}/orientation
      access: {{open: "2027-01-15T00:00:00Z", close: "2027-12-15T23:59:59Z"}}
      duration: 30
      password: {{env: {env_prefix(name)}PW_2}}
      attempts: 2
      proctorTypes: {{{TS_AUTO}: {{}}}}
"""


def roster_yaml(name: str, learners: int) -> str:
    """``learners`` learners (ids of every kind), two instructors; sessions on every exam
    for most learners, some learners only assigned."""
    lines = ["users:"]
    kinds = ("external", "api", "lms")
    for i in range(learners):
        kind = kinds[i % 3]
        lines += [
            f"  u{i:03d}:",
            f"    ids: {{{kind}: {name}-{kind}-{i}}}",
            f"    firstName: Learner{i}",
            f"    lastName: Family{i}",
            f"    email: learner{i}@{name}.example.com",
        ]
    for who in ("olivia", "marcus"):
        lines += [
            f"  {who}:",
            f"    ids: {{external: {name}-staff-{who}}}",
            f"    firstName: {who.title()}",
            "    lastName: Staff",
            f"    email: {who}@{name}.example.com",
        ]
    lines += [
        "enrollments:",
        "  - {user: olivia, course: main, role: instructor}",
        "  - {user: marcus, course: compliance, role: instructor}",
    ]
    # every learner is enrolled in the compliance course, where the unlimited exam gives
    # them a session automatically
    lines += [f"  - {{user: u{i:03d}, course: compliance}}" for i in range(learners)]
    assigned_only = [i for i in range(learners) if i % 4 == 3]
    lines.append("assignments:")
    lines.append("  cert: [" + ", ".join(f"u{i:03d}" for i in assigned_only) + "]")
    lines.append("sessions:")
    n = 0
    for exam, who in (
        ("cert", [i for i in range(learners) if i % 4 != 3]),
        ("safety", [i for i in range(learners) if i % 2 == 0]),
        ("orientation", [i for i in range(learners) if i % 3 != 1]),
    ):
        for i in who:
            day = 1 + n % 27
            hour = 8 + (n // 27) % 10
            month = {"cert": 3, "safety": 4, "orientation": 5}[exam]
            kind = SESSION_TYPES[n % len(SESSION_TYPES)]
            lines += [
                f"  - exam: {exam}",
                f"    user: u{i:03d}",
                f'    appointment: "2027-{month:02d}-{day:02d}T{hour:02d}:00:00Z"',
                f"    type: {kind}",
                f"    proctorLocation: {LOCATIONS[n % len(LOCATIONS)]}",
                f"    externalAppointmentId: {name}-appt-{n:04d}",
            ]
            if n % 5 == 0:
                lines.append(f"    notes: Quiet room {n}.")
            n += 1
    return "\n".join(lines) + "\n"


def write_tenant(parent: Path, name: str, install: str, url: str, *, learners: int) -> Path:
    """``parent/<name>/`` with tenant.yaml, courses.yaml, exams.yaml, roster.yaml."""
    tdir = parent / name
    tdir.mkdir(parents=True, exist_ok=True)
    (tdir / "tenant.yaml").write_text(tenant_yaml(name, install, url), encoding="utf-8")
    (tdir / "courses.yaml").write_text(courses_yaml(name), encoding="utf-8")
    (tdir / "exams.yaml").write_text(exams_yaml(name), encoding="utf-8")
    (tdir / "roster.yaml").write_text(roster_yaml(name, learners), encoding="utf-8")
    return tdir


def secret_env(tenants: Sequence[str] = ("rel",)) -> dict[str, str]:
    """The variables the generated manifests of ``tenants`` read their secrets from (each
    tenant its own, under ``SPSYNC_<TENANT>_``)."""
    env: dict[str, str] = {}
    for tenant in tenants:
        env.update(password_env(PASSWORDS, tenant))
        env[env_prefix(tenant) + "TOKEN"] = TOKEN
    return env


def password_env(passwords: Sequence[str], tenant: str = "rel") -> dict[str, str]:
    """The variables giving ``tenant``'s exams ``passwords`` (in the exams' order)."""
    return {f"{env_prefix(tenant)}PW_{i}": pw for i, pw in enumerate(passwords)}


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without anything that would redirect or reconfigure
    spsync, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


# --- running the CLI ---------------------------------------------------------------------


@dataclass
class Run:
    """One finished ``spsync`` invocation."""

    argv: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"$ spsync {' '.join(self.argv)}\n(exit {self.code})\n{self.out}\n{self.err}"


def no_traceback(run: Run) -> None:
    """Assert the run printed no traceback and reported no internal error."""
    both = run.out + run.err
    assert "Traceback" not in both, str(run)
    assert "internal error" not in both, str(run)


class Workspace:
    """A user's checkout: ``manifests/<tenant>/``, ``state/`` and ``.spsync/`` under ``root``,
    where every ``spsync`` subprocess runs."""

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        tenants: Sequence[str] = ("rel",),
        learners: int = 6,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.manifests = root / "manifests"
        self.state_dir = root / "state"
        self.tenants = list(tenants)
        self.installs = {t: install_sid(i + 1) for i, t in enumerate(self.tenants)}
        for t in self.tenants:
            write_tenant(self.manifests, t, self.installs[t], url, learners=learners)
        self.secrets = secret_env(self.tenants)
        self.env = base_env({**self.secrets, "NO_COLOR": "1", **(env or {})})

    def tenant_dir(self, tenant: str | None = None) -> Path:
        return self.manifests / (tenant or self.tenants[0])

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "spsync", *args]

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        """Run ``spsync ARGS`` to completion in the workspace."""
        proc = subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Run(list(args), proc.returncode, proc.stdout, proc.stderr)

    def run_here(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        """Run ``spsync ARGS`` in this process (click's runner, the workspace as the working
        directory): the same code path as the console script, without a process start.
        Not thread-safe (it changes the working directory)."""
        with contextlib.chdir(self.root):
            result = CliRunner(env={**self.env, **(env or {})}).invoke(main, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(list(args), result.exit_code, result.stdout, result.stderr)

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``spsync ARGS`` in the workspace (output to pipes)."""
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def apply(self, tenant: str | None = None, *extra: str) -> Run:
        return self.run("apply", str(self.tenant_dir(tenant)), "--auto-approve", *extra)

    def plan(self, tenant: str | None = None, *extra: str) -> Run:
        return self.run("plan", str(self.tenant_dir(tenant)), *extra)

    def desired(self, tenant: str | None = None) -> Desired:
        (d,) = manifest.load(self.tenant_dir(tenant), env=self.secrets)
        return d

    def state_path(self, tenant: str | None = None) -> Path:
        return self.state_dir / f"{tenant or self.tenants[0]}.json"

    def state_bytes(self) -> dict[str, bytes]:
        """Every file under the state directory, by relative path (absent directory: {})."""
        if not self.state_dir.exists():
            return {}
        return {
            str(p.relative_to(self.state_dir)): p.read_bytes()
            for p in sorted(self.state_dir.rglob("*"))
            if p.is_file()
        }

    def check_state_loads(self, tenant: str | None = None) -> int:
        """Assert the tenant's state file (if any) and journal (if any) read back; returns the
        number of journal entries."""
        name = tenant or self.tenants[0]
        store = StateStore(self.state_dir)
        state = store.read(name)  # raises StateError on a torn or invalid file
        if state is not None:
            assert state.tenant == name and state.install == self.installs[name]
        jpath = journal_path(self.state_dir, name)
        return len(list(read_entries(jpath))) if jpath.exists() else 0


# --- the simulator -----------------------------------------------------------------------


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    """Call one of the simulator's ``/_sandbox`` endpoints."""
    response = httpx.request(
        method, f"{url}{path}", json=body, headers={"token": TOKEN}, timeout=30
    )
    response.raise_for_status()
    return response.json() if response.content else None


def world(url: str) -> dict[str, Any]:
    return control(url, "GET", "/_sandbox/world")


def requests_seen(url: str) -> dict[str, Any]:
    return control(url, "GET", "/_sandbox/requests")


def calm(url: str) -> None:
    """No more faults, rate limit or latency: for the final checks of a trial."""
    control(url, "PUT", "/_sandbox/config", {"faultRate": 0.0, "rateLimit": None, "latencyMs": 0})


class TallyingInjector(FaultInjector):
    """The simulator's fault injector (same decisions for the same seed), also counting the
    faults it injected by kind and phase: ``("drop", "after")`` is a lost answer to a
    request that took effect."""

    def __init__(self, rate: float, *, seed: int | None) -> None:
        super().__init__(rate, seed=seed)
        self.tally: Counter[tuple[str, str]] = Counter()

    def draw(self) -> Fault | None:
        fault = super().draw()
        if fault is not None:
            self.tally[(fault.kind, fault.phase)] += 1
        return fault


@contextmanager
def simulator(**opts: Any) -> Iterator[ThreadedServer]:
    """A simulator over real HTTP on loopback, accepting ``TOKEN``, clock fixed at ``NOW``;
    its fault injector tallies what it injects (``srv.app.controls.faults.tally``)."""
    opts.setdefault("now", NOW)
    srv = ThreadedServer(token=TOKEN, **opts)
    srv.app.controls.faults = TallyingInjector(opts.get("fault_rate", 0.0), seed=opts.get("seed"))
    with srv:
        yield srv


def Rewrite(method: str, path: str, edit: Callable[[bytes], bytes], times: int = 1) -> Rule:
    """Let a matching request (``method``, ``path`` regex searched in the path) take effect,
    then hand its answer's body to ``edit`` before sending it (status and headers kept,
    ``content-length`` fixed); at most ``times`` requests."""
    return Rule(method, path, "edit-after", edit=edit, times=times)


@contextmanager
def tampered(
    *rules: Rule, rewrites: Sequence[Rewrite] = (), **opts: Any
) -> Iterator[tuple[ThreadedServer, Tamper]]:
    """``simulator()`` behind a ``Tamper`` front applying ``rules`` (misbehaviour the
    simulator has no option for: HTML pages, odd statuses, lost answers on chosen calls),
    then ``rewrites`` of the simulator's answers (``front.add``: more while the server
    runs; the first unspent matching rule applies)."""
    opts.setdefault("now", NOW)
    srv = ThreadedServer(token=TOKEN, **opts)
    front = Tamper(srv.app, *rules, *rewrites)
    srv.app = front  # type: ignore[assignment]  # served in front of the simulator
    with srv:
        yield srv, front


def controls_of(srv: ThreadedServer) -> Any:
    """The simulator's counters and injectors, behind fronts or not."""
    app: Any = srv.app
    while not hasattr(app, "controls"):
        app = app.app
    return app.controls


def booking_problems(w: dict[str, Any], *, allow_cancelled: bool = False) -> list[str]:
    """Double bookings in a world: an (enrollment, exam) with more than one active session,
    or with more than one session ever scheduled; and (unless ``allow_cancelled``) any
    cancelled session, which a create-only run never has a reason to make."""
    bad = active_duplicates(w)
    for inst in w["installs"]:
        booked = Counter(
            (s["enrollmentSid"], s["examSid"]) for s in inst["sessions"] if s["dateScheduled"]
        )
        bad += [f"{inst['sid']}: {p} scheduled {n} times" for p, n in booked.items() if n > 1]
        if not allow_cancelled:
            bad += [
                f"{inst['sid']}: session {s['sid']} cancelled ({s['statusReason']})"
                for s in inst["sessions"]
                if s["status"] == "Cancelled"
            ]
    return bad


# --- trials ------------------------------------------------------------------------------


@dataclass
class Trial:
    """What one trial did and found."""

    seed: int
    runs: list[Run] = field(default_factory=list)
    faults: int = 0
    #: injected faults by (kind, phase)
    tally: Counter[tuple[str, str]] = field(default_factory=Counter)
    kills: int = 0
    #: API requests answered 429 by the simulator's rate limit
    rate_limited: int = 0
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.duplicates and not self.problems

    def report(self) -> str:
        lines = [f"seed {self.seed}: {len(self.runs)} runs, {self.kills} kills"]
        lines += [f"  duplicate: {d}" for d in self.duplicates]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  last run: {self.runs[-1]}"] if self.runs and not self.ok else []
        return "\n".join(lines)


def converge(ws: Workspace, trial: Trial, tenant: str | None = None, max_runs: int = 8) -> bool:
    """Re-run apply until it exits 0 (at most ``max_runs`` times); every run must be clean
    (no traceback) and exit 0 or 1."""
    for _ in range(max_runs):
        run = ws.apply(tenant)
        trial.runs.append(run)
        if "Traceback" in run.out + run.err or "internal error" in run.err:
            trial.problems.append(f"run {len(trial.runs)} crashed:\n{run}")
            return False
        if run.code == 0:
            return True
        if run.code != 1:
            trial.problems.append(f"run {len(trial.runs)} exited {run.code}:\n{run}")
            return False
    trial.problems.append(f"apply did not converge in {max_runs} runs")
    return False


def _apply_killed_when(
    ws: Workspace,
    ready: Callable[[], bool],
    *,
    env: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> tuple[bool, str, str]:
    """Start an apply and SIGKILL it ``delay`` seconds after ``ready()`` holds, unless it
    ends first. Returns (whether it was killed, its stdout, its stderr)."""
    proc = ws.popen("apply", str(ws.tenant_dir()), "--auto-approve", env=env)
    try:
        while proc.poll() is None and not ready():
            time.sleep(0.002)
        if proc.poll() is None and delay:
            time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return killed, out, err


def kill_during_apply(
    ws: Workspace, srv: ThreadedServer, rng: random.Random, trial: Trial, *, max_calls: int
) -> bool:
    """Start an apply and SIGKILL it once the simulator has received a random number (1 to
    ``max_calls``) of its API requests, plus a random few milliseconds (so some kills land
    between a request's effect and its answer, some in the journal or state writes).

    Returns whether the kill happened (the apply may finish first). Afterwards the state
    file and journal must read back.
    """
    controls = controls_of(srv)
    target = controls.total + rng.randint(1, max_calls)
    extra = rng.uniform(0.0, 0.03)
    killed, out, err = _apply_killed_when(ws, lambda: controls.total >= target, delay=extra)
    run = Run(["apply", "(killed)" if killed else "(finished before the kill)"], -9, out, err)
    trial.runs.append(run)
    if "Traceback" in out + err:
        trial.problems.append(f"apply crashed on its own before the kill:\n{run}")
    if killed:
        trial.kills += 1
    try:
        ws.check_state_loads()
    except Exception as exc:  # the point of the check: any failure to read back is a finding
        trial.problems.append(f"after kill {trial.kills}: state does not load: {exc}")
    return killed


def kill_once_journaled(
    ws: Workspace, trial: Trial, *, env: Mapping[str, str] | None = None, entries: int = 1
) -> bool:
    """Start an apply and SIGKILL it as soon as its journal holds ``entries`` complete
    lines: the run is certainly cut off mid-way, with a journal left behind (a kill aimed
    by request count may come after a short apply has finished). Returns whether the kill
    happened before the apply ended on its own."""
    jpath = journal_path(ws.state_dir, ws.tenants[0])

    def journaled() -> bool:
        try:
            return jpath.read_bytes().count(b"\n") >= entries
        except FileNotFoundError:
            return False

    killed, out, err = _apply_killed_when(ws, journaled, env=env)
    trial.runs.append(Run(["apply", "(killed once journaled)"], -9, out, err))
    trial.kills += killed
    return killed


def finish(ws: Workspace, srv: ThreadedServer, trial: Trial, tenants: Sequence[str] = ()) -> None:
    """The end of every trial: faults off, then a plan with nothing to do, the world equal to
    the manifests, and no double booking."""
    calm(srv.url)
    seen = requests_seen(srv.url)
    trial.faults = seen["faultsInjected"]
    trial.rate_limited = seen["statuses"].get("429", 0)
    trial.tally = Counter(getattr(controls_of(srv).faults, "tally", {}))
    for t in tenants or ws.tenants:
        plan = ws.plan(t, "--detailed-exitcode")
        trial.runs.append(plan)
        if plan.code != 0:
            trial.problems.append(f"{t}: final plan is not a no-op:\n{plan}")
    w = world(srv.url)
    trial.duplicates = booking_problems(w)
    counted = set(active_duplicates(w))  # world_mismatches lists them too: count them once
    for t in tenants or ws.tenants:
        trial.problems += [
            f"{t}: {m}" for m in world_mismatches(w, ws.desired(t)) if m not in counted
        ]


def fault_trial(
    root: Path,
    seed: int,
    *,
    learners: int = 6,
    fault_rate: float = 0.1,
    rate_limit: float | None = 15.0,
    latency_ms: float = 0,
    kills: int = 0,
    max_calls: int = 60,
    dialect: Dialect | None = None,
) -> Trial:
    """One trial: a fresh simulator (speaking ``dialect``) misbehaving at ``fault_rate``
    (errors and lost answers, before and after the effect) under ``rate_limit``; ``kills``
    applies SIGKILLed at random points; then apply re-run until it succeeds; then the final
    checks."""
    trial = Trial(seed)
    rng = random.Random(seed)
    with simulator(
        seed=seed,
        fault_rate=fault_rate,
        rate_limit=rate_limit,
        latency_ms=latency_ms,
        dialect=dialect,
    ) as srv:
        ws = Workspace(root, srv.url, learners=learners)
        for i in range(kills):
            # each killed run left less to do: aim the later kills earlier
            kill_during_apply(ws, srv, rng, trial, max_calls=max(4, max_calls // (i + 1)))
        if converge(ws, trial):
            finish(ws, srv, trial)
    return trial


def run_parallel(jobs: Sequence[Any], workers: int = 3) -> list[Any]:
    """Run zero-argument callables on ``workers`` threads (trials wait on I/O, not CPU);
    results in job order; the first exception is re-raised."""
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    queue = list(enumerate(jobs))

    def worker() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                i, job = queue.pop(0)
            try:
                results[i] = job()
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
