"""The pure in-memory model of the SmarterProctoring API (api-contract §1–§8).

``World`` holds installs and everything in them, and offers one method per endpoint. It
knows nothing of HTTP and reads time only from the injected ``clock``. Every public method
takes the world's lock for its whole duration, so any number of threads may call it; every
method either succeeds completely or raises ``ApiFault`` having changed nothing.

Inputs are the endpoint's own: path SIDs as strings and request bodies as parsed JSON (the
world is the API boundary, so it validates them exactly as the service does, reporting each
problem with its path). Outputs are the response bodies as JSON-ready dicts, or a ``Page``
for list endpoints (the HTTP layer adds the envelope's links).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from spsync.sandbox import checks as ck
from spsync.sandbox.constants import (
    ACTIVE_STATUSES,
    CANCEL_REASONS,
    CANCELLED,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    NEEDS_PROCTOR,
    PROCTOR_TYPES,
    REASON_REMOVED,
    REASON_ROLE_CHANGED,
    SCHEDULED,
    SESSION_TYPES,
)
from spsync.sandbox.entities import Course, Enrollment, Exam, Install, Session, User
from spsync.sandbox.errors import ApiFault, Problems, invalid, not_found
from spsync.sandbox.paging import Page, check_paging, descending, page, statuses
from spsync.sandbox.provision import ProvisionPlan
from spsync.sandbox.sids import SidFactory, is_sid
from spsync.sandbox.timefmt import add_minutes, format_utc, parse_utc

__all__ = ["ApiFault", "Page", "World"]

Clock = Callable[[], datetime]

_SCHEDULE_KEYS = frozenset(
    {
        "type",
        "proctorLocationSid",
        "appointmentDateTime",
        "amount",
        "currency",
        "currencyCode",
        "externalAppointmentId",
        "notes",
        "proctorTypeSubCategorySid",
    }
)
#: Proctor locations are ``PL…``; ``PT…`` (the integration guide's example) is an alias.
#: Locations are not modelled (any one exists), and the format check is lenient: the
#: guide's example value ``PTa17h8i9j0k1l2m3n4o5b2c3d4e5f6g`` is neither hex nor 32 long.
_LOCATION = re.compile(r"(PL|PT)[a-z0-9]{30,32}")


def _real_clock() -> datetime:
    return datetime.now(UTC)


def _path_sid(value: str, prefix: str | tuple[str, ...], name: str) -> None:
    if not is_sid(value, prefix):
        first = prefix if isinstance(prefix, str) else prefix[0]
        detail = f"must be a SID: {first} followed by 32 lowercase hex characters"
        raise ApiFault(
            400,
            "INVALIDINPUT",
            f"{name}: {value!r} is not a valid SID",
            [{"path": name, "message": detail}],
        )


class World:
    """Every install the simulator knows, and the operations of the API on them.

    ``clock`` returns the current aware UTC datetime (injected: tests fix it); ``seed``
    makes SIDs and one-time tokens reproducible. ``version`` grows by one with every
    successful change, so a persistence layer can tell whether anything needs saving.
    """

    def __init__(self, *, clock: Clock | None = None, seed: int | None = None) -> None:
        self.clock: Clock = clock or _real_clock
        self.seed = seed
        self._sids = SidFactory(seed)
        self._lock = threading.RLock()
        self._installs: dict[str, Install] = {}
        self._seq = 0
        self.version = 0

    # ================================================================ plumbing
    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the world's clock must return an aware datetime")
        return now.astimezone(UTC)

    def _install(self, install_sid: str) -> Install:
        """The install, created on first use of a well-formed ``AI…`` SID."""
        _path_sid(install_sid, "AI", "installSid")
        inst = self._installs.get(install_sid)
        if inst is None:
            inst = self._installs[install_sid] = Install(install_sid)
        return inst

    def _new_sid(self, inst: Install, prefix: str) -> str:
        while True:
            sid = self._sids.sid(prefix)
            if not self._sid_taken(inst, sid):
                return sid

    @staticmethod
    def _sid_taken(inst: Install, sid: str) -> bool:
        return any(
            sid in table
            for table in (inst.courses, inst.exams, inst.users, inst.enrollments, inst.sessions)
        ) or any(e.config_sid == sid for e in inst.exams.values() if sid.startswith("EC"))

    def _changed(self) -> None:
        self.version += 1

    @staticmethod
    def _course(inst: Install, course_sid: str) -> Course:
        _path_sid(course_sid, "CU", "courseSid")
        c = inst.courses.get(course_sid)
        if c is None:
            raise not_found(f"course {course_sid} not found")
        return c

    @staticmethod
    def _exam(inst: Install, exam_sid: str) -> Exam:
        _path_sid(exam_sid, "EX", "examSid")
        e = inst.exams.get(exam_sid)
        if e is None:
            raise not_found(f"exam {exam_sid} not found")
        return e

    @staticmethod
    def _enrollment(inst: Install, enrollment_sid: str) -> Enrollment:
        _path_sid(enrollment_sid, "EN", "enrollmentSid")
        en = inst.enrollments.get(enrollment_sid)
        if en is None:
            raise not_found(f"enrollment {enrollment_sid} not found")
        return en

    def _session(self, inst: Install, exam_sid: str, session_sid: str) -> Session:
        _path_sid(exam_sid, "EX", "examSid")
        _path_sid(session_sid, "ES", "sessionSid")
        self._exam(inst, exam_sid)
        s = inst.sessions.get(session_sid)
        if s is None or s.exam_sid != exam_sid:
            raise not_found(f"exam session {session_sid} not found for exam {exam_sid}")
        return s

    # ================================================================ sessions (internal)
    def _open_session(self, inst: Install, exam: Exam, en: Enrollment, now: datetime) -> Session:
        self._seq += 1
        s = Session(
            sid=self._new_sid(inst, "ES"),
            seq=self._seq,
            install_sid=inst.sid,
            exam_sid=exam.sid,
            enrollment_sid=en.sid,
            user_sid=en.user_sid,
            course_sid=exam.course_sid,
            status=NEEDS_PROCTOR,
            created=now,
            edited=now,
            duration=exam.config["duration"],
        )
        inst.add_session(s)
        return s

    @staticmethod
    def _close_session(inst: Install, s: Session, reason: str, now: datetime) -> None:
        s.status = CANCELLED
        s.status_reason = reason
        s.edited = now
        inst.active.pop((s.enrollment_sid, s.exam_sid), None)

    def _reconcile(
        self, inst: Install, exam: Exam, en: Enrollment, now: datetime, reason: str
    ) -> None:
        """Make the (enrollment, exam) pair have an active session iff it should.

        A learner enrollment should have one when the exam is unlimited, or when it is
        assigned to a limited-scope exam (api-contract §4, §5).
        """
        want = en.role == "learner" and (not exam.limited_scope or en.sid in exam.assigned)
        active_sid = inst.active.get((en.sid, exam.sid))
        if want and active_sid is None:
            self._open_session(inst, exam, en, now)
        elif not want and active_sid is not None:
            s = inst.sessions[active_sid]
            # Only sessions not yet started are withdrawn; one in progress runs to its end.
            if s.status in (NEEDS_PROCTOR, SCHEDULED):
                self._close_session(inst, s, reason, now)

    def _reconcile_exam(self, inst: Install, exam: Exam, now: datetime, reason: str) -> None:
        for en_sid in inst.enrollments_by_course.get(exam.course_sid, []):
            self._reconcile(inst, exam, inst.enrollments[en_sid], now, reason)

    def _reconcile_enrollment(self, inst: Install, en: Enrollment, now: datetime) -> None:
        for ex_sid in inst.exams_by_course.get(en.course_sid, []):
            self._reconcile(inst, inst.exams[ex_sid], en, now, REASON_ROLE_CHANGED)

    # ================================================================ provision (§4)
    def provision(self, install_sid: str, body: Any) -> dict[str, Any]:
        """``POST /v2/installs/{installSid}/provision``: create, match or update, atomically."""
        with self._lock:
            inst = self._install(install_sid)
            plan = ProvisionPlan(self, inst, body)
            plan.resolve()
            out = plan.apply(self._now())
            if plan.changed:
                self._changed()
            return out

    # ================================================================ assignments (§5)
    def update_assignments(
        self, install_sid: str, course_sid: str, exam_sid: str, body: Any, *, reopen: bool = False
    ) -> dict[str, Any]:
        """``PUT …/courses/{courseSid}/exams/{examSid}/assignments`` (``add``/``remove``).

        ``reopen``: adding an assigned enrollment that has no active session opens one.
        """
        with self._lock:
            inst = self._install(install_sid)
            course = self._course(inst, course_sid)
            _path_sid(exam_sid, "EX", "examSid")
            exam = inst.exams.get(exam_sid)
            if exam is None or exam.course_sid != course.sid:
                raise not_found(f"exam {exam_sid} not found in course {course_sid}")
            p = Problems()
            add = remove = []
            if ck.obj(p, body, "", ("add", "remove")) is not None:
                add = self._assignment_list(p, body.get("add"), "add", objects=True)
                remove = self._assignment_list(p, body.get("remove"), "remove", objects=True)
            p.raise_if_any()
            return self._assign(inst, exam, add, remove, reopen)

    def update_assignment(
        self, install_sid: str, exam_sid: str, body: Any, *, reopen: bool = False
    ) -> dict[str, Any]:
        """``PUT /v1/installs/{installSid}/exams/{examSid}/assignment`` (``added``/``removed``)."""
        with self._lock:
            inst = self._install(install_sid)
            exam = self._exam(inst, exam_sid)
            p = Problems()
            add = remove = []
            if ck.obj(p, body, "", ("added", "removed")) is not None:
                add = self._assignment_list(p, body.get("added"), "added", objects=False)
                remove = self._assignment_list(p, body.get("removed"), "removed", objects=False)
            p.raise_if_any()
            return self._assign(inst, exam, add, remove, reopen)

    @staticmethod
    def _assignment_list(
        p: Problems, value: Any, path: str, *, objects: bool
    ) -> list[tuple[str, str]]:
        """``[(path, enrollmentSid)]`` from either form; problems recorded in ``p``."""
        if value is None:
            return []
        if not isinstance(value, list):
            p.add(path, "must be a list")
            return []
        out: list[tuple[str, str]] = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if objects:
                if ck.obj(p, item, where, ("enrollmentSid",)) is None:
                    continue
                where += ".enrollmentSid"
                if "enrollmentSid" not in item:
                    p.add(where, "required")
                    continue
                item = item["enrollmentSid"]
            if ck.sid(p, item, where, "EN") is not None:
                out.append((where, item))
        return out

    def _assign(
        self,
        inst: Install,
        exam: Exam,
        add: list[tuple[str, str]],
        remove: list[tuple[str, str]],
        reopen: bool,
    ) -> dict[str, Any]:
        # Validate everything before changing anything.
        p = Problems()
        missing: list[str] = []
        for where, en_sid in [*add, *remove]:
            en = inst.enrollments.get(en_sid)
            if en is None:
                missing.append(en_sid)
            elif en.course_sid != exam.course_sid:
                p.add(where, f"enrollment {en_sid} belongs to another course than exam {exam.sid}")
            elif en.role != "learner" and (where, en_sid) in add:
                p.add(where, f"enrollment {en_sid} is an instructor; only learners take exams")
        both = {s for _, s in add} & {s for _, s in remove}
        for where, en_sid in remove:
            if en_sid in both:
                p.add(where, f"enrollment {en_sid} is both added and removed")
        p.raise_if_any()
        if missing:
            raise not_found(f"enrollment {missing[0]} not found")
        now = self._now()
        changed = False
        for _, en_sid in add:
            if en_sid not in exam.assigned or (reopen and (en_sid, exam.sid) not in inst.active):
                exam.assigned[en_sid] = None
                changed = True
                self._reconcile(inst, exam, inst.enrollments[en_sid], now, REASON_REMOVED)
        for _, en_sid in remove:
            if en_sid in exam.assigned:
                del exam.assigned[en_sid]
                changed = True
                self._reconcile(inst, exam, inst.enrollments[en_sid], now, REASON_REMOVED)
        if changed:
            self._changed()
        return {"examSid": exam.sid, "assigned": list(exam.assigned)}

    # ================================================================ sessions (§6)
    def list_enrollment_sessions(
        self,
        install_sid: str,
        enrollment_sid: str,
        exam_sid: str,
        *,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        max_limit: int = MAX_PAGE_LIMIT,
        status: Iterable[str] = (),
        include_active: bool = False,
        sort_key: str = "createdDate",
        sort_order: str = "ASC",
    ) -> Page:
        """``GET …/enrollments/{enrollmentSid}/exams/{examSid}/sessions`` (§6.1).

        Without ``include_active`` only past (closed, cancelled) sessions are listed.
        """
        with self._lock:
            inst = self._install(install_sid)
            en = self._enrollment(inst, enrollment_sid)
            exam = self._exam(inst, exam_sid)
            wanted = statuses(status)
            if "active" in [s.strip().lower() for s in status]:
                include_active = True
            desc = descending(sort_key, sort_order)
            check_paging(offset, limit, max_limit)
            rows = [inst.sessions[s] for s in inst.sessions_by_pair.get((en.sid, exam.sid), [])]
            rows = [
                s
                for s in rows
                if (include_active or s.status not in ACTIVE_STATUSES)
                and (not wanted or s.status in wanted)
            ]
            rows.sort(key=lambda s: (s.created, s.seq), reverse=desc)
            return page(rows, offset, limit, Session.list_item, max_limit)

    def get_session(self, install_sid: str, exam_sid: str, session_sid: str) -> dict[str, Any]:
        """``GET …/exams/{examSid}/sessions/{sessionSid}`` (§6.2)."""
        with self._lock:
            inst = self._install(install_sid)
            return self._session(inst, exam_sid, session_sid).view()

    def schedule_session(
        self, install_sid: str, exam_sid: str, session_sid: str, body: Any
    ) -> dict[str, Any]:
        """``POST …/exams/{examSid}/sessions/{sessionSid}``: ``Needs Proctor`` → ``Scheduled``."""
        with self._lock:
            inst = self._install(install_sid)
            s = self._session(inst, exam_sid, session_sid)
            exam = inst.exams[s.exam_sid]
            now = self._now()
            p = Problems()
            b = ck.obj(p, body, "", _SCHEDULE_KEYS)
            if b is None:
                p.raise_if_any()
                raise AssertionError("unreachable")
            stype = appt = location = ts = None
            amount: float | int | None = 0
            currency = None
            if _given(b, "type"):
                stype = ck.enum(p, b["type"], "type", SESSION_TYPES)
            else:
                p.add("type", "required")
            if _given(b, "appointmentDateTime"):
                appt = ck.utc_time(p, b["appointmentDateTime"], "appointmentDateTime")
            else:
                p.add("appointmentDateTime", "required")
            if _given(b, "proctorLocationSid"):
                location = b["proctorLocationSid"]
                if not isinstance(location, str) or not _LOCATION.fullmatch(location):
                    p.add(
                        "proctorLocationSid",
                        "must be a proctor location SID: PL (or PT) followed by 32 lowercase "
                        "hex characters",
                    )
            if _given(b, "amount"):
                amount = ck.amount(p, b["amount"], "amount")
            cur = b.get("currency") if _given(b, "currency") else None
            cur_alias = b.get("currencyCode") if _given(b, "currencyCode") else None
            if cur is not None and cur_alias is not None and cur != cur_alias:
                p.add("currencyCode", "differs from currency (currencyCode is an alias of it)")
            elif cur is not None or cur_alias is not None:
                which = "currency" if cur is not None else "currencyCode"
                currency = ck.currency(p, cur if cur is not None else cur_alias, which)
            ext_id = notes = None
            if _given(b, "externalAppointmentId"):
                ext_id = ck.text(
                    p, b["externalAppointmentId"], "externalAppointmentId", max_len=255
                )
            if _given(b, "notes"):
                notes = ck.free_text(p, b["notes"], "notes")
            if _given(b, "proctorTypeSubCategorySid"):
                ts = ck.sid(p, b["proctorTypeSubCategorySid"], "proctorTypeSubCategorySid", "TS")
                if ts is not None and ts not in exam.config["proctorTypes"]:
                    p.add(
                        "proctorTypeSubCategorySid",
                        f"{ts} is not a proctor type of exam {exam.sid}",
                    )
            if s.status != NEEDS_PROCTOR:
                msg = (
                    "session is already scheduled, use reschedule"
                    if s.status == SCHEDULED
                    else f"session is {s.status}; only a Needs Proctor session can be scheduled"
                )
                raise invalid(msg)
            p.raise_if_any()
            assert appt is not None and stype is not None
            self._check_appointment(p, exam, appt, now)
            p.raise_if_any()
            s.status = SCHEDULED
            s.status_reason = None
            s.session_type = stype
            s.proctor_location_sid = location
            s.proctor_type_sid = ts or next(iter(exam.config["proctorTypes"]))
            s.appointment = appt
            s.duration = exam.config["duration"]
            s.external_appointment_id = ext_id
            s.notes = notes
            s.amount = amount
            s.currency = currency or inst.users[s.user_sid].currency_code
            s.date_scheduled = now
            s.edited = now
            self._changed()
            return s.view()

    @staticmethod
    def _check_appointment(p: Problems, exam: Exam, appt: datetime, now: datetime) -> None:
        """The appointment rules of §6.3: future, inside the scheduling and access windows."""
        cfg = exam.config
        access_open = parse_utc(cfg["access"]["open"])
        access_close = parse_utc(cfg["access"]["close"])
        sched = cfg.get("scheduling", {})
        sched_open = parse_utc(sched.get("open")) if sched.get("open") else None
        sched_close = parse_utc(sched["close"]) if sched.get("close") else access_close
        assert access_open is not None and access_close is not None
        # Past the calendar's end (year 9999) is certainly past access.close.
        end = add_minutes(appt, cfg["duration"])
        path = "appointmentDateTime"
        if appt <= now:
            p.add(path, f"must be in the future (now is {format_utc(now)})")
        if appt < access_open or end is None or end > access_close:
            until = format_utc(end) if end is not None else "after 9999-12-31T23:59:59Z"
            p.add(
                path,
                f"appointment {format_utc(appt)} to {until} is outside the exam's "
                f"access window {cfg['access']['open']} to {cfg['access']['close']}",
            )
        if (sched_open is not None and appt < sched_open) or (
            sched_close is not None and appt > sched_close
        ):
            p.add(
                path,
                f"appointment {format_utc(appt)} is outside the exam's scheduling window "
                f"{format_utc(sched_open) if sched_open else '(open)'} to "
                f"{format_utc(sched_close) if sched_close else '(open)'}",
            )

    def reschedule_session(
        self, install_sid: str, exam_sid: str, session_sid: str, body: Any
    ) -> dict[str, Any]:
        """``PUT …/exams/{examSid}/sessions/{sessionSid}``: move a ``Scheduled`` session."""
        with self._lock:
            inst = self._install(install_sid)
            s = self._session(inst, exam_sid, session_sid)
            exam = inst.exams[s.exam_sid]
            now = self._now()
            p = Problems()
            b = ck.obj(p, body, "", ("appointmentDateTime", "notes", "type", "proctorLocationSid"))
            appt = None
            notes: Any = ck.MISSING
            if b is not None:
                for fixed in ("type", "proctorLocationSid"):
                    if fixed in b:
                        p.add(fixed, "cannot change on reschedule: cancel and schedule again")
                if _given(b, "appointmentDateTime"):
                    appt = ck.utc_time(p, b["appointmentDateTime"], "appointmentDateTime")
                else:
                    p.add("appointmentDateTime", "required")
                if _given(b, "notes"):
                    notes = ck.free_text(p, b["notes"], "notes")
            if s.status != SCHEDULED:
                raise invalid(f"session is {s.status}; only a Scheduled session can be rescheduled")
            p.raise_if_any()
            assert appt is not None
            self._check_appointment(p, exam, appt, now)
            p.raise_if_any()
            s.appointment = appt
            s.duration = exam.config["duration"]
            if notes is not ck.MISSING:
                s.notes = notes
            s.edited = now
            self._changed()
            return s.view()

    def cancel_session(
        self, install_sid: str, exam_sid: str, session_sid: str, body: Any, after: str = "new"
    ) -> dict[str, Any]:
        """``DELETE …/exams/{examSid}/sessions/{sessionSid}``: cancel; reopen if still assigned.

        ``after`` says how: ``new`` opens a fresh session, ``same`` puts this one back to
        ``Needs Proctor``, ``none`` leaves the enrollment without one until assigned again.
        """
        with self._lock:
            inst = self._install(install_sid)
            s = self._session(inst, exam_sid, session_sid)
            exam = inst.exams[s.exam_sid]
            p = Problems()
            memo = None
            reason = "other-reason"
            b = ck.obj(p, body, "", ("cancellationMemo", "reason"))
            if b is not None:
                if _given(b, "cancellationMemo"):
                    memo = ck.text(p, b["cancellationMemo"], "cancellationMemo", max_len=2000)
                else:
                    p.add("cancellationMemo", "required")
                if _given(b, "reason"):
                    reason = ck.enum(p, b["reason"], "reason", CANCEL_REASONS) or reason
            if s.status not in (NEEDS_PROCTOR, SCHEDULED):
                raise invalid(
                    f"session is {s.status}; only a Needs Proctor or Scheduled session can be "
                    "cancelled"
                )
            p.raise_if_any()
            now = self._now()
            self._close_session(inst, s, reason, now)
            s.cancellation_memo = memo
            view = s.view()
            if after == "same":
                inst.reopen(s, exam.config["duration"], now)
            if after != "none":
                # Still in scope: the enrollment gets a session to schedule (§6 Decision).
                en = inst.enrollments[s.enrollment_sid]
                self._reconcile(inst, exam, en, now, REASON_REMOVED)
            self._changed()
            return view

    def onboard(self, install_sid: str, exam_sid: str, session_sid: str) -> dict[str, Any]:
        """``GET …/sessions/{sessionSid}/onboard``: a fresh single-use URL (Scheduled only)."""
        with self._lock:
            inst = self._install(install_sid)
            s = self._session(inst, exam_sid, session_sid)
            if s.status != SCHEDULED:
                raise invalid(f"session is {s.status}; onboarding needs a Scheduled session")
            token = self._sids.hex32()
            return {"url": f"https://onboarding.smarterproctoring.com/launch/{s.sid}?t={token}"}

    def appointments_report(
        self,
        install_sid: str,
        *,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        max_limit: int = MAX_PAGE_LIMIT,
        booked_only: bool = False,
        render: Callable[[Install, Session], dict[str, Any]] | None = None,
        course_sid: str | None = None,
        exam_sid: str | None = None,
        status: Iterable[str] = (),
        learner_sid: str | None = None,
        appointment_after: str | None = None,
        appointment_before: str | None = None,
    ) -> Page:
        """``GET /v1/installs/{installSid}/reports/appointments`` (§6.6): sessions, filtered.

        ``appointmentAfter`` is inclusive and ``appointmentBefore`` exclusive; either one
        leaves out sessions without an appointment. Unknown (well-formed) SIDs match nothing.
        ``booked_only`` leaves out sessions without one too; ``render(install, session)``
        replaces the row shape.
        """
        with self._lock:
            inst = self._install(install_sid)
            p = Problems()
            if course_sid is not None:
                ck.sid(p, course_sid, "courseSid", "CU")
            if exam_sid is not None:
                ck.sid(p, exam_sid, "examSid", "EX")
            if learner_sid is not None:
                ck.sid(p, learner_sid, "learnerSid", "US")
            after = before = None
            if appointment_after is not None:
                after = ck.utc_time(p, appointment_after, "appointmentAfter")
            if appointment_before is not None:
                before = ck.utc_time(p, appointment_before, "appointmentBefore")
            p.raise_if_any()
            wanted = statuses(status)
            check_paging(offset, limit, max_limit)
            rows = []
            for s in inst.sessions.values():
                if course_sid is not None and s.course_sid != course_sid:
                    continue
                if exam_sid is not None and s.exam_sid != exam_sid:
                    continue
                if learner_sid is not None and s.user_sid != learner_sid:
                    continue
                if wanted and s.status not in wanted:
                    continue
                if booked_only and s.appointment is None:
                    continue
                if after is not None and (s.appointment is None or s.appointment < after):
                    continue
                if before is not None and (s.appointment is None or s.appointment >= before):
                    continue
                rows.append(s)
            rows.sort(key=lambda s: (s.created, s.seq))
            row = Session.view if render is None else lambda s: render(inst, s)
            return page(rows, offset, limit, row, max_limit)

    # ================================================================ reads (§7)
    def get_course(self, install_sid: str, course_sid: str) -> dict[str, Any]:
        with self._lock:
            return self._course(self._install(install_sid), course_sid).view()

    def list_course_exams(
        self,
        install_sid: str,
        course_sid: str,
        *,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        max_limit: int = MAX_PAGE_LIMIT,
    ) -> Page:
        with self._lock:
            inst = self._install(install_sid)
            course = self._course(inst, course_sid)
            rows = [inst.exams[e] for e in inst.exams_by_course.get(course.sid, [])]
            return page(rows, offset, limit, Exam.view, max_limit)

    def get_exam(self, install_sid: str, course_sid: str, exam_sid: str) -> dict[str, Any]:
        with self._lock:
            inst = self._install(install_sid)
            course = self._course(inst, course_sid)
            exam = self._exam(inst, exam_sid)
            if exam.course_sid != course.sid:
                raise not_found(f"exam {exam_sid} not found in course {course_sid}")
            return exam.view()

    def list_users(
        self,
        install_sid: str,
        *,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        max_limit: int = MAX_PAGE_LIMIT,
        external_id: str | None = None,
        api_id: str | None = None,
        lms_id: str | None = None,
        email: str | None = None,
    ) -> Page:
        """``GET /v1/installs/{installSid}/users`` filtered by any of the ids or email (AND).

        E-mail matches case-insensitively; with no filter every user is listed.
        """
        with self._lock:
            inst = self._install(install_sid)
            check_paging(offset, limit, max_limit)
            rows: list[User]
            by_id = [("external", external_id), ("api", api_id), ("lms", lms_id)]
            given = [(k, v) for k, v in by_id if v is not None]
            if given:
                kind, value = given[0]
                sid = inst.user_by_id.get((kind, value))
                rows = [inst.users[sid]] if sid else []
                rows = [u for u in rows if all(u.ids.get(k) == v for k, v in given)]
            else:
                rows = list(inst.users.values())
            if email is not None:
                folded = email.strip().casefold()
                rows = [u for u in rows if u.email.casefold() == folded]
            return page(rows, offset, limit, User.view, max_limit)

    def get_user_profile(self, install_sid: str, user_sid: str) -> dict[str, Any]:
        with self._lock:
            inst = self._install(install_sid)
            _path_sid(user_sid, "US", "userSid")
            u = inst.users.get(user_sid)
            if u is None:
                raise not_found(f"user {user_sid} not found")
            return u.view()

    def list_course_enrollments(
        self,
        install_sid: str,
        course_sid: str,
        *,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        max_limit: int = MAX_PAGE_LIMIT,
    ) -> Page:
        with self._lock:
            inst = self._install(install_sid)
            course = self._course(inst, course_sid)
            rows = [inst.enrollments[e] for e in inst.enrollments_by_course.get(course.sid, [])]
            return page(rows, offset, limit, Enrollment.view, max_limit)

    def get_settings(self, install_sid: str) -> dict[str, Any]:
        """``GET /v1/installs/{installSid}/settings``."""
        with self._lock:
            return self._install(install_sid).settings_view()

    # ================================================================ sandbox controls
    def set_settings(
        self,
        install_sid: str,
        *,
        default_timezone: str | None = None,
        default_currency: str | None = None,
        enabled_proctor_types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Change an install's settings (not an API endpoint: a sandbox control)."""
        with self._lock:
            inst = self._install(install_sid)
            p = Problems()
            if default_timezone is not None:
                ck.timezone(p, default_timezone, "defaultTimezone")
            if default_currency is not None:
                ck.currency(p, default_currency, "defaultCurrencyCode")
            if enabled_proctor_types is not None:
                for i, ts in enumerate(enabled_proctor_types):
                    if ts not in PROCTOR_TYPES:
                        p.add(f"proctorTypes[{i}]", "unknown proctor type")
            p.raise_if_any()
            if default_timezone is not None:
                inst.default_timezone = default_timezone
            if default_currency is not None:
                inst.default_currency = default_currency
            if enabled_proctor_types is not None:
                inst.enabled_proctor_types = list(dict.fromkeys(enabled_proctor_types))
            self._changed()
            return inst.settings_view()

    def set_session_status(self, install_sid: str, session_sid: str, status: str) -> dict[str, Any]:
        """Move a session along the life cycle past ``Scheduled`` (a sandbox control, so that
        clients can be tested against sessions that started or ended)."""
        with self._lock:
            inst = self._install(install_sid)
            _path_sid(session_sid, "ES", "sessionSid")
            s = inst.sessions.get(session_sid)
            if s is None:
                raise not_found(f"exam session {session_sid} not found")
            order = ["Scheduled", "Onboarding", "In Progress", "Closed"]
            if status not in order[1:]:
                raise invalid("must be one of Onboarding, In Progress, Closed", "status")
            if s.status not in order or order.index(status) <= order.index(s.status):
                raise invalid(f"cannot move a {s.status} session to {status}", "status")
            s.status = status
            s.edited = self._now()
            if status == "Closed":
                inst.active.pop((s.enrollment_sid, s.exam_sid), None)
            self._changed()
            return s.view()

    # ================================================================ persistence
    def to_json(self) -> dict[str, Any]:
        """The whole world as JSON-ready data (``from_json`` reads it back)."""
        with self._lock:
            return {
                "version": 1,
                "seq": self._seq,
                "installs": [inst.dump() for inst in self._installs.values()],
            }

    @contextmanager
    def frozen(self) -> Iterator[tuple[int, int, list[Install]]]:
        """Hold the lock; yields ``(version, seq, installs)`` for a consistent read.

        For persistence only: the installs must not be changed, nor kept after the block.
        """
        with self._lock:
            yield self.version, self._seq, list(self._installs.values())

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        """``(version, to_json())`` taken atomically."""
        with self._lock:
            return self.version, self.to_json()

    @classmethod
    def from_json(
        cls, data: dict[str, Any], *, clock: Clock | None = None, seed: int | None = None
    ) -> World:
        """A world rebuilt from ``to_json()`` output."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a sandbox world (expected version 1)")
        world = cls(clock=clock, seed=seed)
        world._seq = int(data.get("seq", 0))
        for d in data["installs"]:
            inst = Install.load(d)
            world._installs[inst.sid] = inst
        return world

    def install_sids(self) -> list[str]:
        with self._lock:
            return list(self._installs)

    def check_invariants(self, *, require_sessions: bool = True) -> list[str]:
        """Broken invariants (empty when the world is consistent); for tests.

        ``require_sessions=False`` skips "every enrollment in scope has an active session",
        which a cancel under ``Dialect.vendor(after_cancel="none")`` rightly breaks.
        """
        bad: list[str] = []
        with self._lock:
            for inst in self._installs.values():
                seen: dict[tuple[str, str], str] = {}
                for s in inst.sessions.values():
                    pair = (s.enrollment_sid, s.exam_sid)
                    if s.status in ACTIVE_STATUSES:
                        if pair in seen:
                            bad.append(f"{inst.sid}: two active sessions for {pair}")
                        seen[pair] = s.sid
                if seen != inst.active:
                    bad.append(f"{inst.sid}: active index out of date")
                for exam in inst.exams.values():
                    for en in (
                        inst.enrollments[e]
                        for e in inst.enrollments_by_course.get(exam.course_sid, [])
                    ):
                        want = en.role == "learner" and (
                            not exam.limited_scope or en.sid in exam.assigned
                        )
                        has = (en.sid, exam.sid) in inst.active
                        if want and not has and require_sessions:
                            bad.append(
                                f"{inst.sid}: {en.sid} lacks an active session of {exam.sid}"
                            )
                        if has and not want:
                            s = inst.sessions[inst.active[(en.sid, exam.sid)]]
                            if s.status in (NEEDS_PROCTOR, SCHEDULED):
                                bad.append(f"{inst.sid}: {s.sid} active out of scope")
                pairs = [(en.user_sid, en.course_sid) for en in inst.enrollments.values()]
                if len(pairs) != len(set(pairs)):
                    bad.append(f"{inst.sid}: duplicate enrollments")
        return bad


def _given(d: dict[str, Any], key: str) -> bool:
    """A field counts as given when present and not null."""
    return d.get(key) is not None
