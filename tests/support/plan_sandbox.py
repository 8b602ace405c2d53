"""Helpers for planner tests against the simulator: manifests on disk, and a state built by
provisioning a tenant's desired objects through the client (what apply records), so plans
can be checked against real live objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spsync.api import wire
from spsync.api.client import Client
from spsync.fields import canonical
from spsync.model import Desired, Exam, kind_of
from spsync.state import ResourceState, State, new_state

INSTALL = "AI" + "5e" * 16
TOKEN = "plan-token"
ENV = {"SPSYNC_ACME_TOKEN": TOKEN, "SPSYNC_ACME_CERT_PW": "hunter2-cert"}

TENANT_YAML = """\
tenant: acme
install: {install}
api:
  url: {url}
  token: {{env: SPSYNC_ACME_TOKEN}}
defaults:
  user: {{timeZone: America/New_York}}
  exam: {{type: online, limitedScope: true}}
  session: {{type: automated, amount: 0, currency: USD}}
"""

MAIN_YAML = """\
courses:
  main:
    ids: {external: course-main}
    title: Acme Certification
    code: ACME-001
exams:
  cert:
    course: main
    ids: {external: exam-cert}
    title: Certification Exam
    configuration:
      url: https://exams.example.com/cert
      access: {open: "2027-01-01T00:00:00Z", close: "2027-12-31T23:59:59Z"}
      duration: 120
      password: {env: SPSYNC_ACME_CERT_PW}
      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {options: {recordScreen: {}}}}
      notes: {student: "Have your ID ready."}
users:
  jane: {ids: {external: u-jane}, firstName: Jane, lastName: Smith, email: Jane@Example.com}
  bob: {ids: {external: u-bob}, firstName: Bob, lastName: Jones, email: bob@example.com}
  carl: {ids: {api: carl-1}, firstName: Carl, lastName: Berg, email: carl@example.com}
assignments:
  cert: [carl]
sessions:
  - {exam: cert, user: jane, appointment: "2027-03-01T14:00:00Z",
     proctorLocation: PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d, externalAppointmentId: appt-jane}
  - {exam: cert, user: bob, appointment: "2027-03-02T15:00:00Z",
     proctorLocation: PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d, externalAppointmentId: appt-bob}
"""


def write_manifests(root: Path, url: str, main: str = MAIN_YAML) -> Path:
    """``root/acme/{tenant,main}.yaml``; returns the tenant directory."""
    tdir = root / "acme"
    tdir.mkdir(parents=True, exist_ok=True)
    (tdir / "tenant.yaml").write_text(TENANT_YAML.format(install=INSTALL, url=url))
    (tdir / "main.yaml").write_text(main)
    return tdir


def _course_req(desired: Desired, name: str, *, full: bool) -> wire.ProvisionCourse:
    c = desired.courses[f"course.{name}"]
    body: dict[str, Any] = {"ids": c.ids.wire()}
    if full:
        body.update(c.model_dump(exclude_none=True, exclude={"name", "ids"}))
    return wire.ProvisionCourse.model_validate(body)


def exam_req(exam: Exam, **conf_changes: Any) -> wire.ProvisionExam:
    """The provision body of an exam (``conf_changes`` override configuration fields)."""
    conf = exam.configuration
    assert conf is not None
    c: dict[str, Any] = conf.model_dump(exclude_none=True, exclude={"password"})
    c["password"] = conf.password
    c.update(conf_changes)
    body = exam.model_dump(exclude_none=True, exclude={"name", "course", "configuration", "ids"})
    return wire.ProvisionExam(
        ids=wire.ExamIds(**exam.ids.wire()),
        configuration=wire.ExamConfigurationRequest.model_validate(c, strict=False),
        **body,
    )


async def provision_all(desired: Desired, client: Client, key: bytes) -> State:
    """Create every desired object through the API and return the state apply would write."""
    state = new_state(desired.tenant)
    res: dict[str, ResourceState] = {}

    def record(address: str, sid: str | None, refs: dict[str, str]) -> None:
        obj = None if kind_of(address) == "assignment" else canonical_of(desired, address, key)
        res[address] = ResourceState(sid=sid, refs=refs, applied=obj or {})

    course_sid: dict[str, str] = {}
    for address, c in desired.courses.items():
        r = await client.provision(
            wire.ProvisionRequest(course=_course_req(desired, c.name, full=True))
        )
        course_sid[c.name] = r.course.sid
        record(address, r.course.sid, {})
    exam_sid: dict[str, str] = {}
    for address, e in desired.exams.items():
        r = await client.provision(
            wire.ProvisionRequest(
                course=_course_req(desired, e.course, full=False), exam=exam_req(e)
            )
        )
        assert r.exam is not None and r.configuration is not None
        exam_sid[e.name] = r.exam.sid
        record(
            address,
            r.exam.sid,
            {"course": course_sid[e.course], "configuration": r.configuration.sid},
        )
    user_sid: dict[str, str] = {}
    enrollment_sid: dict[tuple[str, str], str] = {}
    for address, en in desired.enrollments.items():
        u = desired.users[f"user.{en.user}"]
        body = u.model_dump(exclude_none=True, exclude={"name", "ids"})
        r = await client.provision(
            wire.ProvisionRequest(
                course=_course_req(desired, en.course, full=False),
                user=wire.ProvisionUser(ids=wire.UserIds(**u.ids.wire()), **body),
                enrollment=wire.ProvisionEnrollment(role=en.role),
            )
        )
        assert r.user is not None and r.enrollment is not None
        user_sid[en.user] = r.user.sid
        enrollment_sid[(en.course, en.user)] = r.enrollment.sid
        record(f"user.{en.user}", r.user.sid, {})
        record(address, r.enrollment.sid, {"course": course_sid[en.course], "user": r.user.sid})
    batches: dict[str, list[str]] = {}
    for address, a in desired.assignments.items():
        e = desired.exams[f"exam.{a.exam}"]
        if not e.limited:
            continue
        en_sid = enrollment_sid[(e.course, a.user)]
        batches.setdefault(a.exam, []).append(en_sid)
        refs = {"course": course_sid[e.course], "exam": exam_sid[a.exam], "enrollment": en_sid}
        record(address, None, refs)
    for exam_name, sids in batches.items():
        course = desired.exams[f"exam.{exam_name}"].course
        await client.update_assignments(course_sid[course], exam_sid[exam_name], add=sids)
    for address, s in desired.sessions.items():
        e = desired.exams[f"exam.{s.exam}"]
        en_sid = enrollment_sid[(e.course, s.user)]
        sessions = await client.list_enrollment_sessions(en_sid, exam_sid[s.exam])
        open_one = next(x for x in sessions if x.status == "Needs Proctor")
        req = wire.ScheduleRequest(
            type=s.type,
            proctorLocationSid=s.proctorLocation,
            appointmentDateTime=s.appointment,
            amount=s.amount,
            currency=s.currency,
            externalAppointmentId=s.externalAppointmentId,
            notes=s.notes,
        )
        done = await client.schedule_session(
            exam_sid[s.exam], open_one.sid, req, enrollment_sid=en_sid
        )
        record(
            address,
            done.sid,
            {"course": course_sid[e.course], "exam": exam_sid[s.exam], "enrollment": en_sid},
        )
    return state.model_copy(update={"resources": dict(sorted(res.items()))})


def canonical_of(desired: Desired, address: str, key: bytes) -> dict[str, Any]:
    from spsync.fields import resource_at

    return canonical(resource_at(desired, address), key)
