"""Builders shared by the planner, state and render tests: desired worlds, matching state
and matching live observations, made from the models directly (no I/O)."""

from __future__ import annotations

import hashlib
from typing import Any

from spsync.fields import canonical, resource_at
from spsync.model import (
    Api,
    Assignment,
    Course,
    Desired,
    Enrollment,
    Exam,
    ExamConfiguration,
    Ids,
    Notes,
    ProctorTypeConfig,
    Session,
    Tenant,
    User,
    Window,
)
from spsync.observed import LiveObject, LiveSession, Observed
from spsync.plan import DESTRUCTIVE, Change, TenantPlan, sort_changes, summarize
from spsync.secrets import Secret
from spsync.state import ResourceState, State

INSTALL = "AI" + "a1" * 16
TOKEN = "tok-acme"
KEY = TOKEN.encode()
LINEAGE = "0b7e4c2a-1d3f-4e5a-9b6c-7d8e9f0a1b2c"
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
PL2 = "PL" + "b2" * 16


def sid(prefix: str, name: str) -> str:
    """A stable fake SID for ``name``."""
    return prefix + hashlib.md5(f"{prefix}:{name}".encode()).hexdigest()


def tenant(name: str = "acme", **policy: Any) -> Tenant:
    from spsync.model import Policy

    return Tenant(
        tenant=name,
        install=INSTALL,
        api=Api(url="http://127.0.0.1:8765", token=Secret(TOKEN, "env:SPSYNC_ACME_TOKEN")),
        policy=Policy(**policy),
        file=f"manifests/{name}/tenant.yaml",
    )


def course(name: str = "main", **kw: Any) -> Course:
    base = {"ids": Ids(external=f"c-{name}"), "title": f"Course {name}", "code": name.upper()}
    base.update(kw)
    return Course(name=name, **base)


def exam(
    name: str = "cert",
    course_name: str = "main",
    *,
    password: str = "pw-1",
    limited: bool | None = True,
    **conf: Any,
) -> Exam:
    config: dict[str, Any] = {
        "url": f"https://exams.example.com/{name}",
        "access": Window(open="2027-01-01T00:00:00Z", close="2027-12-31T23:59:59Z"),
        "duration": 120,
        "password": Secret(password, f"env:{name.upper()}_PW"),
        "proctorTypes": {TS_AUTO: ProctorTypeConfig(options={"recordScreen": {}})},
        "notes": Notes(student="Have your ID ready."),
    }
    config.update(conf)
    return Exam(
        name=name,
        course=course_name,
        ids=Ids(external=f"e-{name}"),
        title=f"Exam {name}",
        limitedScope=limited,
        configuration=ExamConfiguration(**config),
    )


def user(name: str, **kw: Any) -> User:
    base = {
        "ids": Ids(external=f"u-{name}"),
        "firstName": name.capitalize(),
        "lastName": "Smith",
        "email": f"{name}@example.com",
        "timeZone": "America/New_York",
    }
    base.update(kw)
    return User(name=name, **base)


def session(exam_name: str, user_name: str, **kw: Any) -> Session:
    base: dict[str, Any] = {
        "appointment": "2027-03-01T14:00:00Z",
        "type": "automated",
        "proctorLocation": PL,
        "amount": 0,
        "currency": "USD",
        "externalAppointmentId": f"appt-{user_name}",
    }
    base.update(kw)
    return Session(exam=exam_name, user=user_name, **base)


def world(
    users: list[str] = ["jane", "bob"],  # noqa: B006 - never mutated
    *,
    scheduled: list[str] | None = None,
    exams: list[Exam] | None = None,
    t: Tenant | None = None,
    extra_enrollments: list[Enrollment] = [],  # noqa: B006
) -> Desired:
    """One course, one limited exam, ``users`` assigned, ``scheduled`` (default: all) with a
    session — implied entries included, as the manifest loader makes them."""
    t = t or tenant()
    exams = exams if exams is not None else [exam()]
    scheduled = users if scheduled is None else scheduled
    c = course()
    ds = Desired(
        tenant=t,
        courses={c.address: c},
        exams={e.address: e for e in exams},
        users={u.address: u for u in (user(n) for n in users)},
    )
    enrollments: dict[str, Enrollment] = {e.address: e for e in extra_enrollments}
    assignments: dict[str, Assignment] = {}
    sessions: dict[str, Session] = {}
    for e in exams:
        for n in users:
            en = Enrollment(user=n, course=e.course, implied=True)
            enrollments.setdefault(en.address, en)
            a = Assignment(exam=e.name, user=n, implied=n in scheduled)
            assignments[a.address] = a
            if n in scheduled:
                s = session(e.name, n)
                sessions[s.address] = s
    return ds.model_copy(
        update={"enrollments": enrollments, "assignments": assignments, "sessions": sessions}
    )


def _sid_prefix(kind: str) -> str:
    return {"course": "CU", "exam": "EX", "user": "US", "enrollment": "EN", "session": "ES"}[kind]


def refs_for(desired: Desired, address: str) -> dict[str, str]:
    """The refs apply would record for ``address`` (fake SIDs)."""
    kind = address.split(".", 1)[0]
    if kind == "exam":
        ex = desired.exams[address]
        return {"course": sid("CU", f"course.{ex.course}"), "configuration": sid("EC", address)}
    if kind == "enrollment":
        en = desired.enrollments[address]
        return {"course": sid("CU", f"course.{en.course}"), "user": sid("US", f"user.{en.user}")}
    if kind in ("assignment", "session"):
        res = resource_at(desired, address)
        ex = desired.exams[f"exam.{res.exam}"]
        return {
            "course": sid("CU", f"course.{ex.course}"),
            "exam": sid("EX", f"exam.{res.exam}"),
            "enrollment": sid("EN", f"enrollment.{ex.course}.{res.user}"),
        }
    return {}


def applied_state(desired: Desired, *, serial: int = 3, key: bytes = KEY) -> State:
    """The state a successful apply of ``desired`` would leave (fake SIDs)."""
    resources: dict[str, ResourceState] = {}
    for address in desired.addresses():
        kind = address.split(".", 1)[0]
        if kind == "assignment":
            ex = desired.exams[f"exam.{desired.assignments[address].exam}"]
            if not ex.limited:
                continue
            resources[address] = ResourceState(refs=refs_for(desired, address))
            continue
        resources[address] = ResourceState(
            sid=sid(_sid_prefix(kind), address),
            refs=refs_for(desired, address),
            applied=canonical(resource_at(desired, address), key),
        )
    t = desired.tenant
    return State(
        lineage=LINEAGE,
        serial=serial,
        tenant=t.tenant,
        install=t.install,
        api_url=t.api.url,
        resources=resources,
    )


def live_of(desired: Desired, address: str) -> dict[str, Any]:
    """The live fields of ``address`` as observation reports them for an applied manifest."""
    res = resource_at(desired, address)
    kind = address.split(".", 1)[0]
    if kind == "exam":
        fields = canonical(res, KEY)
        fields["configuration"]["password"] = res.configuration.password
        fields.pop("ids")
        return fields
    if kind == "session":
        return {
            k: v
            for k, v in canonical(res, KEY).items()
            if k in ("appointment", "type", "proctorLocation", "externalAppointmentId", "notes")
        }
    fields = canonical(res, KEY)
    fields.pop("ids", None)
    return fields


def observed_matching(state: State, desired: Desired) -> Observed:
    """What observation finds when the live objects are exactly as last applied."""
    objects: dict[str, LiveObject] = {}
    sessions: dict[str, LiveSession] = {}
    for address, rec in state.resources.items():
        kind = address.split(".", 1)[0]
        if kind == "assignment":
            objects[address] = LiveObject(refs=rec.refs)
            continue
        status = "Scheduled" if kind == "session" else None
        objects[address] = LiveObject(
            sid=rec.sid, refs=rec.refs, fields=live_of(desired, address), status=status
        )
        if kind == "session":
            f = objects[address].fields
            sessions[address] = LiveSession(
                sid=rec.sid or "",
                status="Scheduled",
                enrollment=rec.refs["enrollment"],
                appointment=f.get("appointment"),
                type=f.get("type"),
                proctorLocation=f.get("proctorLocation"),
                externalAppointmentId=f.get("externalAppointmentId"),
            )
    return Observed(objects=objects, sessions=sessions)


def edit_live(o: Observed, address: str, **fields: Any) -> Observed:
    """``o`` with the live fields of ``address`` edited (as a change made outside spsync)."""
    obj = o.objects[address]
    new = obj.replace(fields={**obj.fields, **fields})
    return o.model_copy(update={"objects": {**o.objects, address: new}})


def live_status(o: Observed, address: str, status: str) -> Observed:
    """``o`` with the live object of ``address`` (a session) in ``status``."""
    obj = o.objects[address].replace(status=status)
    return o.model_copy(update={"objects": {**o.objects, address: obj}})


def missing(o: Observed, *addresses: str) -> Observed:
    """``o`` with ``addresses`` gone remotely (observation found no such object)."""
    objects = {a: v for a, v in o.objects.items() if a not in addresses}
    return o.model_copy(update={"objects": objects, "missing": o.missing | set(addresses)})


def acts(tp: TenantPlan) -> list[tuple[str, str, str]]:
    return [(c.address, c.action, c.reason) for c in tp.changes]


def change(tp: TenantPlan, address: str) -> Any:
    return next(c for c in tp.changes if c.address == address)


def hand_change(address: str, action: str, reason: str = "new", **kw: Any) -> Change:
    """A change made by hand, ``destructive`` as its action says."""
    return Change(
        address=address,
        action=action,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
        destructive=action in DESTRUCTIVE,
        **kw,
    )


def hand_plan(name: str, changes: list[Change], **kw: Any) -> TenantPlan:
    """A tenant plan made from ``changes`` directly (sorted and summarized as the planner
    does); ``kw``: other ``TenantPlan`` fields (warnings, adopt, counts...)."""
    fields: dict[str, Any] = {
        "tenant": name,
        "install": INSTALL,
        "api_url": "https://api.smarterproctoring.com",
        "state_serial": 12,
        "state_lineage": LINEAGE,
        "summary": summarize(c.action for c in changes),
        "changes": sort_changes(changes),
        "desired_count": len(changes),
        "managed_count": 100,
    }
    return TenantPlan(**{**fields, **kw})
