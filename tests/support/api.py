"""Helpers for the API client tests: a fake clock, world seeding, and an ASGI wrapper that
misbehaves on chosen requests in ways the simulator does not (502/504, HTML bodies, lost
answers after the effect, slow answers)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import support.sandbox_payloads as pl
from spsync.api import Client, RetryPolicy, wire
from spsync.api.wire_types import SESSION_STATUSES
from spsync.sandbox.app import create_app
from spsync.sandbox.injection import FaultInjector
from spsync.sandbox.server import ThreadedServer
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.world import World
from spsync.secrets import Secret

NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
TOKEN = "tok-3f1d9a6b0c2e4d58a7e1"
INSTALL = "AI" + "0123456789abcdef" * 2
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
PASSWORD = "exam-pw-8c41e7"
APPOINTMENT = "2027-03-01T14:00:00Z"


class FakeTime:
    """A clock that moves only when something sleeps (retry waits cost no real time)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def fast_policy(fake: FakeTime, **over: Any) -> RetryPolicy:
    """A retry policy on the fake clock, with deterministic (maximal) jitter."""
    fields: dict[str, Any] = {
        "sleep": fake.sleep,
        "clock": fake.clock,
        "random": lambda: 1.0,
        "base_delay": 0.1,
        "max_delay": 2.0,
    }
    fields.update(over)
    return RetryPolicy(**fields)


def new_world(seed: int = 3) -> World:
    return World(clock=SettableClock(NOW), seed=seed)


# --- building a world directly through the model (no HTTP, no counts) ------------------------


def configuration(**over: Any) -> dict[str, Any]:
    """A small exam configuration (the required fields, one automated proctor type)."""
    small = {
        "url": "https://exams.example.com/exam/1",
        "duration": 60,
        "password": PASSWORD,
        "proctorTypes": {TS_AUTO: {}},
    }
    return pl.configuration(minimal=True, **(small | over))


@dataclass
class Seeded:
    """SIDs of a seeded course with one limited exam and its learners."""

    course: str
    exam: str
    enrollments: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    #: enrollment SID -> its active session SID
    sessions: dict[str, str] = field(default_factory=dict)


def seed_course(world: World, learners: int, *, tag: str = "c", assign: bool = True) -> Seeded:
    """A course, a limited-scope exam and ``learners`` enrolled users (assigned, so each has
    a ``Needs Proctor`` session), created through the world's own methods."""
    first = world.provision(
        INSTALL,
        pl.provision(
            course=pl.course(f"{tag}-course", title="Course", code=tag),
            exam=pl.exam(f"{tag}-exam", title="Exam", type=None, configuration=configuration()),
        ),
    )
    seeded = Seeded(first["course"]["sid"], first["exam"]["sid"])
    for i in range(learners):
        learner = pl.user(
            f"{tag}-user-{i}",
            firstName="Learner",
            lastName=f"No{i}",
            email=f"{tag}.learner{i}@example.com",
            timeZone=None,
        )
        out = world.provision(
            INSTALL, pl.in_course(seeded.course, user=learner, enrollment={"role": "learner"})
        )
        seeded.users.append(out["user"]["sid"])
        seeded.enrollments.append(out["enrollment"]["sid"])
    if assign and seeded.enrollments:
        for start in range(0, len(seeded.enrollments), 500):
            chunk = seeded.enrollments[start : start + 500]
            world.update_assignments(
                INSTALL,
                seeded.course,
                seeded.exam,
                {"add": [{"enrollmentSid": e} for e in chunk]},
            )
        for en in seeded.enrollments:
            page = world.list_enrollment_sessions(INSTALL, en, seeded.exam, include_active=True)
            (active,) = [s for s in page.items if s["status"] == "Needs Proctor"]
            seeded.sessions[en] = active["sid"]
    return seeded


def schedule_request(at: str = APPOINTMENT, ext: str | None = "appt-1") -> wire.ScheduleRequest:
    return wire.ScheduleRequest(
        type="automated",
        proctorLocationSid=PL,
        appointmentDateTime=at,
        amount=0,
        currency="USD",
        externalAppointmentId=ext,
    )


def world_sessions(world: World, enrollment: str, exam: str) -> list[dict[str, Any]]:
    """Every session (active or not) of one enrollment and exam, as the world holds them."""
    page = world.list_enrollment_sessions(INSTALL, enrollment, exam, include_active=True)
    return page.items


# --- a misbehaving front for the simulator ------------------------------------------------


@dataclass
class Rule:
    """Misbehave on requests matching ``method`` and ``path`` (a regex searched in the path).

    ``times``: how many matching requests misbehave (then the rule is spent).
    ``action``:
      - ``pass``: let it through untouched (with ``on_hit``: something happens first);
      - ``before``: answer ``status`` without letting the request through (no effect);
      - ``after``: let the request take effect, then answer ``status`` instead;
      - ``drop-after``: take effect, then lose the connection (``httpx.RemoteProtocolError``);
      - ``timeout-after``: take effect, then raise ``httpx.ReadTimeout`` (ASGI transport);
      - ``slow-after``: take effect, then hold the answer ``delay`` seconds (real HTTP);
      - ``edit-after``: take effect, then send the answer with its body handed to ``edit``
        first (status and headers kept, ``content-length`` fixed).
    ``body``/``content_type``/``headers``: what a ``before``/``after`` answer carries.
    """

    method: str
    path: str
    action: str
    status: int = 503
    times: int = 1
    body: bytes = b""
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    edit: Callable[[bytes], bytes] | None = None
    #: called when the rule fires, before anything else (e.g. a concurrent change)
    on_hit: Callable[[], object] | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and method == self.method and bool(re.search(self.path, path))


class Tamper:
    """ASGI middleware applying ``rules`` in front of an app (the simulator)."""

    def __init__(self, app: ASGIApp, *rules: Rule) -> None:
        self.app = app
        self.rules = list(rules)

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = next((r for r in self.rules if r.matches(scope["method"], scope["path"])), None)
        if rule is None:
            await self.app(scope, receive, send)
            return
        rule.hits += 1
        if rule.on_hit is not None:
            rule.on_hit()
        if rule.action == "pass":
            await self.app(scope, receive, send)
            return
        if rule.action != "before":
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            if rule.action == "drop-after":
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            if rule.action == "timeout-after":
                raise httpx.ReadTimeout("timed out")
            if rule.action == "slow-after":
                await asyncio.sleep(rule.delay)
                for message in held:
                    await send(message)
                return
            if rule.action == "edit-after":
                assert rule.edit is not None, "an edit-after rule needs its edit"
                start = next(m for m in held if m["type"] == "http.response.start")
                parts = [m.get("body", b"") for m in held if m["type"] == "http.response.body"]
                body = rule.edit(b"".join(parts))
                kept = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                kept.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": kept})
                await send({"type": "http.response.body", "body": body})
                return
        headers = [(b"content-type", rule.content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in rule.headers.items()]
        headers.append((b"content-length", str(len(rule.body)).encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": rule.body})


def asgi_client(
    app: ASGIApp,
    fake: FakeTime | None = None,
    *,
    token: str | None = TOKEN,
    on_call: Callable[[Any], None] | None = None,
    **kw: Any,
) -> Client:
    """A client talking to ``app`` in-process (httpx's ASGI transport)."""
    if fake is not None and "retry" not in kw:
        kw["retry"] = fast_policy(fake)
    return Client(
        "http://127.0.0.1",
        INSTALL,
        Secret(token, "env:SPSYNC_SCHOOL_TOKEN") if token is not None else None,
        transport=httpx.ASGITransport(app=app),
        on_call=on_call,
        **kw,
    )


def sandbox_app(world: World, **kw: Any) -> Any:
    return create_app(world, tokens={TOKEN}, **kw)


Draw = tuple[str, str] | None


def fault_seed(rate: float, draws: list[Draw]) -> int:
    """A seed whose first injected-fault decisions at ``rate`` are exactly ``draws``
    (``(kind, phase)`` or ``None`` for no fault), so a test knows which request fails how."""
    for seed in range(100_000):
        injector = FaultInjector(rate, seed=seed)
        got = [injector.draw() for _ in draws]
        if [None if g is None else (g.kind, g.phase) for g in got] == draws:
            return seed
    raise AssertionError(f"no seed gives {draws}")


def predicted_faults(rate: float, seed: int, n: int) -> list[Draw]:
    injector = FaultInjector(rate, seed=seed)
    out: list[Draw] = []
    for _ in range(n):
        got = injector.draw()
        out.append(None if got is None else (got.kind, got.phase))
    return out


@contextmanager
def served(world: World, *rules: Rule, **opts: Any) -> Iterator[tuple[ThreadedServer, Tamper]]:
    """The simulator over real HTTP (uvicorn on loopback), behind a ``Tamper`` front."""
    srv = ThreadedServer(world, tokens={TOKEN}, **opts)
    front = Tamper(srv.app, *rules)
    srv.app = front  # type: ignore[assignment]  # served instead of the bare simulator
    with srv:
        yield srv, front


def http_client(srv: ThreadedServer, fake: FakeTime | None = None, **kw: Any) -> Client:
    """A client talking to ``srv`` over real HTTP."""
    if fake is not None and "retry" not in kw:
        kw["retry"] = fast_policy(fake)
    return Client(srv.url, INSTALL, Secret(TOKEN, "env:SPSYNC_SCHOOL_TOKEN"), **kw)


#: how a service may write session statuses the simulator writes as documented
STATUS_FORMS: dict[str, Callable[[str], str]] = {
    "documented": lambda status: status,
    # in capitals, ``_`` for a space (``SCHEDULED``, ``NEEDS_PROCTOR``)
    "capitals": lambda status: status.upper().replace(" ", "_"),
    # on an exam that requires approval, a booking waits for it
    "pending": lambda status: "Pending Approval" if status == "Scheduled" else status,
}


def restatus(form: Callable[[str], str], method: str = "GET", path: str = "/") -> Rule:
    """A ``Tamper`` rule: every JSON answer to a ``method`` request whose path matches
    ``path`` has each session status in it written as ``form`` says (the simulator keeps
    its own); a text answer (the vendor's ``OK`` to a write) passes as it is."""

    def walk(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {
                k: form(v) if k == "status" and v in SESSION_STATUSES else walk(v)
                for k, v in doc.items()
            }
        if isinstance(doc, list):
            return [walk(v) for v in doc]
        return doc

    def edit(raw: bytes) -> bytes:
        if raw.lstrip()[:1] not in (b"{", b"["):
            return raw
        return json.dumps(walk(json.loads(raw))).encode()

    return Rule(method, path, "edit-after", times=10**6, edit=edit)


def restatus_all(srv: ThreadedServer, statuses: str, path: str = "/") -> None:
    """Put a front before ``srv`` writing the session statuses of its answers to every
    request (reads and writes) whose path matches ``path`` as ``STATUS_FORMS[statuses]``
    says."""
    form = STATUS_FORMS[statuses]
    rules = [restatus(form, m, path) for m in ("GET", "POST", "PUT", "DELETE")]
    srv.app = Tamper(srv.app, *rules)  # type: ignore[assignment]  # served instead
