"""The executor's provision work: courses, exams, users and enrollments, each one provision
call whose answer gives the SIDs recorded in state (``Executor`` runs it; docs/apply.md).

A user's call names a course (the API requires one): with an enrollment of the user in the
same plan the two share the call; alone, the course is one the user is enrolled in (one
recorded in state first), else the tenant's first course. The plan made the user's change
depend on that course.
"""

from __future__ import annotations

from spsync.api import wire
from spsync.apply_ops import Op
from spsync.errors import ApplyError
from spsync.model import User
from spsync.plan import Change
from spsync.planner_base import courses_of_users, provision_course
from spsync.ports import WorkContext
from spsync.state import ResourceState
from spsync.translate import course_request, enrollment_request, exam_request, user_request


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
        resp = await self._provision(exam_request(exam, course_sid))
        if resp.exam is None:
            raise ApplyError(f"{c.address}: the provision response has no exam")
        refs = {"course": course_sid}
        if resp.configuration is not None:
            refs["configuration"] = resp.configuration.sid
        self._record(c, resp.exam.sid, refs)

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
