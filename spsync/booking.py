"""The executor's session work: booking, moving and cancelling exam sessions, so that
nothing is ever booked twice (``Executor`` runs it, given itself as the ``WorkContext``;
docs/apply.md).

A booking starts from the enrollment's active session of the exam: the one observation saw
waiting for a proctor, else the exam's report, else the enrollment's own list. A session
already booked is adopted, never booked again; one booked with another type or location
is an error, since the plan did not show cancelling it, and so is one booked at another
time or with other notes, since it did not show moving it. Where the service opened no new
session after a cancel, the enrollment's assignment is sent again to open one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from spsync.api import wire
from spsync.apply_ops import Op
from spsync.errors import ApplyError, InvalidInputError, NotFoundError
from spsync.model import Exam, Session
from spsync.plan import EFFECT_REASONS, Change
from spsync.ports import WorkContext
from spsync.state import ResourceState
from spsync.translate import optional_text, schedule_request

#: the memo of every cancellation spsync sends
CANCEL_MEMO = "removed by spsync"


class SessionBooking:
    """Session work for the operations of ``run`` (the executor)."""

    def __init__(self, run: WorkContext) -> None:
        self.run = run
        # exam SID -> enrollment SID -> the SID of its Needs Proctor session (one report
        # read per exam; only the SIDs are kept: 100,000 of them for 100,000 students)
        self._needs_proctor: dict[str, dict[str, str]] = {}
        # exams given new assignments since their report was read: read it again on a miss
        self._report_dirty: set[str] = set()
        self._report_locks: dict[str, asyncio.Lock] = {}

    def assigned(self, exam_sid: str) -> None:
        """The exam was given new assignments: its report is read again on a miss."""
        self._report_dirty.add(exam_sid)

    def _exam(self, name: str) -> Exam:
        return self.run.desired.exams[f"exam.{name}"]

    async def session(self, op: Op) -> None:
        """Schedule, reschedule, replace or cancel one session."""
        (c,) = op.changes
        if c.action == "cancel":
            await self._cancel_session(c)
            self.run.done(c)
            return
        s = self.run.desired.sessions[c.address]
        exam = self._exam(s.exam)
        exam_sid = self.run.sid(f"exam.{s.exam}", c.address)
        enr_address = f"enrollment.{exam.course}.{s.user}"
        enr_sid = self.run.sid(enr_address, c.address)
        ctx = _SessionCtx(
            address=c.address,
            desired=s,
            exam_sid=exam_sid,
            enrollment_sid=enr_sid,
            course_sid=self.run.sid(f"course.{exam.course}", c.address),
            user_sid=self.run.sid(f"user.{s.user}", c.address),
        )
        if c.action == "reschedule":
            _, sid = self._known_session(c.address)
            result = await self.run.client.reschedule_session(
                exam_sid, sid, s.appointment, notes=optional_text(s.notes)
            )
            self._record_session(ctx, result.sid)
        elif c.action == "replace":
            await self._cancel_recorded(c.address)
            await self._schedule(ctx, fresh=True)
        else:  # schedule
            await self._schedule(ctx, fresh=False)
        self.run.done(c)

    async def _cancel_session(self, c: Change) -> None:
        """A plain cancel is one call. A cancel that is the effect of another change (in its
        depends_on, done by now) needs none when an unassign caused it (the service cancels
        the session of an unassigned enrollment); after a scope switch or a role change the
        session is cancelled all the same when it is known, so that what the plan showed
        holds even where the service kept it (cancelling a cancelled one changes nothing)."""
        known = c.address in self.run.state.resources or c.address in self.run.adopt
        if c.reason == "unassigned" or (c.reason in EFFECT_REASONS and not known):
            self.run.drop(c.address)
            return
        await self._cancel_recorded(c.address)

    def _known_session(self, address: str) -> tuple[str, str]:
        """(exam SID, session SID) of the session at ``address``: as adopted by the plan
        (a booking found under another SID than the one recorded), else as recorded."""
        rs = self.run.state.resources.get(address)
        found = self.run.adopt.get(address)
        if found is None or not found.sid:
            found = None
        sid = found.sid if found is not None else (rs.sid if rs is not None else None)
        refs = found.refs if found is not None else (rs.refs if rs is not None else {})
        exam_sid = refs.get("exam")
        if not exam_sid:
            s = self.run.desired.sessions.get(address)
            if s is not None:
                exam_sid = self.run.sid(f"exam.{s.exam}", address)
        if not sid or not exam_sid:
            raise ApplyError(f"{address}: no session SID recorded in state")
        return exam_sid, sid

    async def _cancel_recorded(self, address: str) -> None:
        """Cancel the session known at ``address`` and forget it. A session that is
        already cancelled or closed (e.g. by an unassignment) counts as cancelled."""
        exam_sid, sid = self._known_session(address)
        await self._cancel(exam_sid, sid)
        self.run.drop(address)

    async def _cancel(self, exam_sid: str, session_sid: str) -> None:
        try:
            await self.run.client.cancel_session(exam_sid, session_sid, memo=CANCEL_MEMO)
        except NotFoundError:
            return  # gone already
        except InvalidInputError:
            current = await self.run.client.get_session(exam_sid, session_sid)
            if current.status in wire.ACTIVE_STATUSES:
                raise
            # Cancelled / Closed already: nothing left to cancel

    async def _report(self, exam_sid: str) -> dict[str, str]:
        """The SIDs of the exam's Needs Proctor sessions by enrollment (one paged report
        read per exam, a page at a time)."""
        lock = self._report_locks.setdefault(exam_sid, asyncio.Lock())
        if lock.locked():  # another operation is reading it: wait without holding a place
            async with self.run.aside():
                await lock.acquire()
        else:
            await lock.acquire()
        try:
            if exam_sid not in self._needs_proctor or exam_sid in self._report_dirty:
                self._report_dirty.discard(exam_sid)
                waiting: dict[str, str] = {}

                def take(rows: list[wire.SessionRow]) -> None:
                    for row in rows:
                        enrollment = row.get("enrollmentSid")
                        if enrollment and row["status"] == wire.NEEDS_PROCTOR:
                            waiting[enrollment] = row["sid"]

                await self.run.client.each_exam_session(exam_sid, take, status=[wire.NEEDS_PROCTOR])
                self._needs_proctor[exam_sid] = waiting
        finally:
            lock.release()
        return self._needs_proctor[exam_sid]

    async def _active_session(self, ctx: _SessionCtx, *, fresh: bool) -> wire.Session | None:
        """The enrollment's active session of the exam: what observation saw when it was
        Needs Proctor, else the per-exam report when it lists one, else (and always when
        ``fresh``) the enrollment's own list."""
        if not fresh:
            seen = self.run.live_sessions.pop(ctx.address, None)
            if (
                seen is not None
                and seen.status == wire.NEEDS_PROCTOR
                and seen.enrollment == ctx.enrollment_sid
            ):
                return wire.Session(sid=seen.sid, status=seen.status)
            cached = (await self._report(ctx.exam_sid)).pop(ctx.enrollment_sid, None)
            if cached is not None:
                return wire.Session(sid=cached, status=wire.NEEDS_PROCTOR)
        listed = await self.run.client.list_enrollment_sessions(
            ctx.enrollment_sid, ctx.exam_sid, include_active=True
        )
        active = [s for s in listed if s.status in wire.ACTIVE_STATUSES]
        if not active:
            return None
        # a booked one wins (Scheduled, or waiting for approval): it is what must never be
        # booked twice
        active.sort(
            key=lambda s: (
                s.status != wire.SCHEDULED,
                s.status not in wire.BOOKED_STATUSES,
                s.createdDate or "",
                s.sid,
            )
        )
        return active[0]

    async def _schedule(self, ctx: _SessionCtx, *, fresh: bool) -> None:
        current = await self._active_session(ctx, fresh=fresh)
        assignment = f"assignment.{ctx.desired.exam}.{ctx.desired.user}"
        if (
            current is None
            and self._exam(ctx.desired.exam).limited
            and (
                assignment in self.run.desired.assignments or assignment in self.run.state.resources
            )
        ):
            # Some installs open no new session after a cancel (the vendor leaves it open):
            # assigning the enrollment again, which it is already, opens one to book.
            await self.run.client.update_assignments(
                ctx.course_sid, ctx.exam_sid, add=[ctx.enrollment_sid]
            )
            current = await self._active_session(ctx, fresh=True)
        if current is None:
            if not self._exam(ctx.desired.exam).limited:
                # the learners of an unlimited exam hold a session without an assignment:
                # there is none to send again, so nothing this run can do opens one
                raise ApplyError(
                    f"{ctx.address}: the enrollment has no active session of exam "
                    f"{ctx.desired.exam} to schedule (some installs open none after a "
                    "cancel), and an exam that is not limited-scope has no assignment to "
                    "send that would open one: book the session in SmarterProctoring, then "
                    "run `spsync plan` again"
                )
            raise ApplyError(
                f"{ctx.address}: the enrollment has no active session of the exam to schedule "
                "(is it assigned?)"
            )
        if current.status in wire.BOOKED_STATUSES:
            await self._adopt(ctx, current)
            return
        try:
            result = await self.run.client.schedule_session(
                ctx.exam_sid,
                current.sid,
                schedule_request(ctx.desired),
                enrollment_sid=ctx.enrollment_sid,
            )
        except InvalidInputError:
            # What we read may be out of date (scheduled or cancelled since, by another run
            # or a person): look again; adopt a Scheduled one rather than book a second.
            again = await self._active_session(ctx, fresh=True)
            booked = again is not None and again.status in wire.BOOKED_STATUSES
            if again is None or (again.sid == current.sid and not booked):
                raise
            if booked:
                await self._adopt(ctx, again)
                return
            result = await self.run.client.schedule_session(
                ctx.exam_sid,
                again.sid,
                schedule_request(ctx.desired),
                enrollment_sid=ctx.enrollment_sid,
            )
        self._record_session(ctx, result.sid)

    async def _adopt(self, ctx: _SessionCtx, current: wire.Session) -> None:
        """Take over an already scheduled session instead of booking another."""
        full = current
        if current.sessionType is None or current.proctorLocationSid is None:
            full = await self.run.client.get_session(ctx.exam_sid, current.sid)
        want = ctx.desired
        # a location the service does not show is unknown, not different (the vendor's
        # session reads carry none): the type alone then says whether it is the booking
        place_ok = (
            "proctorLocationSid" not in full.model_fields_set
            or full.proctorLocationSid == want.proctorLocation
        )
        if full.sessionType == want.type and place_ok:
            if full.appointmentDate != want.appointment or (
                want.notes is not None and full.notes != want.notes
            ):
                # booked by someone else at another time: moving it is an effect the plan
                # (a booking) did not show either
                raise ApplyError(
                    f"{ctx.address}: the enrollment already has booked session {full.sid} at "
                    f"{full.appointmentDate}; the plan did not show moving it: run `spsync "
                    "plan` again (with refresh) and review the reschedule it shows"
                )
            self._record_session(ctx, full.sid)
            return
        # type or location differ: those only change by cancelling and booking again, which
        # the plan did not show (it planned a booking): never cancel what was not reviewed
        raise ApplyError(
            f"{ctx.address}: the enrollment already has booked session {full.sid} of another "
            f"type or location ({full.sessionType}, {full.proctorLocationSid}); the plan did "
            "not show cancelling it: run `spsync plan` again (with refresh) and review the "
            "replace it shows"
        )

    def _record_session(self, ctx: _SessionCtx, session_sid: str) -> None:
        self.run.put(
            ctx.address,
            ResourceState.holding(
                session_sid,
                {
                    "course": ctx.course_sid,
                    "exam": ctx.exam_sid,
                    "enrollment": ctx.enrollment_sid,
                    "user": ctx.user_sid,
                },
                self.run.applied_of(ctx.address),
            ),
        )


@dataclass
class _SessionCtx:
    address: str
    desired: Session
    exam_sid: str
    enrollment_sid: str
    course_sid: str
    user_sid: str
