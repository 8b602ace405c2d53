"""The executor's provision work: courses, exams, users and enrollments, each one provision
call whose answer gives the SIDs recorded in state (``Executor`` runs it; docs/apply.md).

A user's call names a course (the API requires one): with an enrollment of the user in the
same plan the two share the call; alone, the course is one the user is enrolled in (one
recorded in state first), else the tenant's first course. The plan made the user's change
depend on that course.

An exam's configuration is replaced as a whole when sent (api-contract §4), and a part a
manifest leaves out is not managed: an update that changes none of the configuration does
not send it; one that does reads the exam first and sends the parts the manifest leaves
out as they are live, or stops when the read does not show them (docs/apply.md).
"""

from __future__ import annotations

from spsync.api import wire
from spsync.apply_ops import Op
from spsync.errors import ApplyError
from spsync.model import Exam, User
from spsync.plan import Change
from spsync.planner_base import courses_of_users, provision_course
from spsync.ports import WorkContext
from spsync.state import ResourceState
from spsync.translate import (
    course_request,
    enrollment_request,
    exam_request,
    left_out,
    live_optional,
    user_request,
)


class Provisioning:
    """Provision calls for the operations of ``run`` (the executor)."""

    def __init__(self, run: WorkContext) -> None:
        self.run = run
        self._courses_of_user: dict[str, list[str]] | None = None

    async def _provision(self, body: wire.ProvisionRequest) -> wire.ProvisionResponse:
        return await self.run.client.provision(body)

    def _record(self, change: Change, sid: str, refs: dict[str, str] | None = None) -> None:
        """``change`` is done: its object's SID (and references) go to state."""
        applied = self.run.applied_of(change.address)
        self.run.put(change.address, ResourceState.holding(sid, dict(refs or {}), applied))
        self.run.done(change)

    async def course(self, op: Op) -> None:
        """Provision one course."""
        (c,) = op.changes
        course = self.run.desired.courses[c.address]
        resp = await self._provision(course_request(course))
        self._record(c, resp.course.sid)

    async def exam(self, op: Op) -> None:
        """Provision one exam (and its configuration) in its course."""
        (c,) = op.changes
        run = self.run
        exam = run.desired.exams[c.address]
        course_sid = run.sid(f"course.{exam.course}", c.address)
        resp = await self._provision(await self._exam_request(c, exam, course_sid))
        if resp.exam is None:
            raise ApplyError(f"{c.address}: the provision response has no exam")
        refs = {"course": course_sid}
        if resp.configuration is not None:
            refs["configuration"] = resp.configuration.sid
        else:  # not sent: the configuration is the one recorded
            rec = run.state.resources.get(c.address)
            if rec is not None and "configuration" in rec.refs:
                refs["configuration"] = rec.refs["configuration"]
        self._record(c, resp.exam.sid, refs)

    async def _exam_request(self, c: Change, exam: Exam, course_sid: str) -> wire.ProvisionRequest:
        """The provision request of an exam's change: an update sends the configuration
        only when it changes some of it, keeping the live parts the manifest leaves out."""
        cfg = exam.configuration
        if c.action != "update" or cfg is None:
            return exam_request(exam, course_sid)
        if (c.before or {}).get("configuration") == (c.after or {}).get("configuration"):
            return exam_request(exam, course_sid, configuration=False)
        leaves_out = left_out(cfg)
        if not leaves_out:
            return exam_request(exam, course_sid)
        sid = self._exam_sid(c.address, exam)
        live, unknown = live_optional(await self.run.client.get_exam(course_sid, sid))
        blind = [p for p in leaves_out if p.partition(".")[0] in unknown]
        if blind:
            raise ApplyError(
                f"{c.address}: the exam's configuration is replaced as a whole when sent, and "
                f"the API's read of it does not show "
                f"{', '.join(f'configuration.{p}' for p in blind)}, which the manifest leaves "
                "out: sending it would reset them. Nothing was sent; set them in the "
                "manifest to manage them"
            )
        return exam_request(exam, course_sid, live=live)

    def _exam_sid(self, address: str, exam: Exam) -> str:
        """The SID of the exam an update changes: in state, adopted by the plan, or named
        by the manifest."""
        rec = self.run.state.resources.get(address)
        if rec is not None and rec.sid:
            return rec.sid
        found = self.run.adopt.get(address)
        if found is not None and found.sid:
            return found.sid
        if exam.ids.kind == "sid":
            return exam.ids.value
        raise ApplyError(f"{address}: the SID of the exam to update is not known")

    async def user(self, op: Op) -> None:
        """Provision one user, with the enrollment that shares its call when there is one."""
        run = self.run
        user_change = op.changes[0]
        user = run.desired.users[user_change.address]
        enrollment_change = op.changes[1] if len(op.changes) > 1 else None
        if enrollment_change is not None:
            enr = run.desired.enrollments[enrollment_change.address]
            course_address = f"course.{enr.course}"
        else:
            enr = None
            course_address = self._course_of(user)
        course_sid = run.sid(course_address, user_change.address)
        role = None if enr is None else enr.role
        resp = await self._provision(user_request(user, course_sid, role))
        if resp.user is None:
            raise ApplyError(f"{user_change.address}: the provision response has no user")
        self._record(user_change, resp.user.sid)
        if enrollment_change is not None:
            if resp.enrollment is None:
                raise ApplyError(
                    f"{enrollment_change.address}: the provision response has no enrollment"
                )
            refs = {"course": course_sid, "user": resp.user.sid}
            self._record(enrollment_change, resp.enrollment.sid, refs)

    async def enrollment(self, op: Op) -> None:
        """Provision one enrollment of a known course and user."""
        (c,) = op.changes
        run = self.run
        enr = run.desired.enrollments[c.address]
        course_sid = run.sid(f"course.{enr.course}", c.address)
        user_sid = run.sid(f"user.{enr.user}", c.address)
        resp = await self._provision(enrollment_request(course_sid, user_sid, enr.role))
        if resp.enrollment is None:
            raise ApplyError(f"{c.address}: the provision response has no enrollment")
        self._record(c, resp.enrollment.sid, {"course": course_sid, "user": user_sid})

    def _course_of(self, user: User) -> str:
        """The course a user-only provision names (see the module docstring)."""
        if self._courses_of_user is None:
            self._courses_of_user = courses_of_users(self.run.desired)
        return provision_course(
            user.name, self._courses_of_user, self.run.state.resources, self.run.desired.courses
        )
