"""The session endpoints of the API (api-contract §6): list, read, schedule, reschedule,
cancel (and what a cancel leaves behind), onboard, and the appointments report.

A mixin of ``World``: its methods take the world's lock and use the world's lookups and
session life cycle (``_reconcile``, ``_close_session``), named by ``WorldCore`` below, so that
this module needs nothing of ``world.py`` and ``World`` keeps one method per endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from spsync.sandbox import checks as ck
from spsync.sandbox.constants import (
    ACTIVE_STATUSES,
    CANCEL_REASONS,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    NEEDS_PROCTOR,
    REASON_REMOVED,
    SCHEDULED,
    SESSION_TYPES,
)
from spsync.sandbox.entities import Enrollment, Exam, Install, Session
from spsync.sandbox.errors import Problems, invalid
from spsync.sandbox.paging import Page, check_paging, descending, page, statuses
from spsync.sandbox.sids import SidFactory
from spsync.sandbox.timefmt import add_minutes, format_utc, parse_utc

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


class WorldCore(Protocol):
    """What the session endpoints use of the world (``World`` provides it)."""

    @property
    def _lock(self) -> AbstractContextManager[Any]: ...
    @property
    def _sids(self) -> SidFactory: ...
    def _now(self) -> datetime: ...
    def _changed(self) -> None: ...
    @property
    def version(self) -> int: ...
    def _install(self, install_sid: str) -> Install: ...
    def _exam(self, inst: Install, exam_sid: str) -> Exam: ...
    def _enrollment(self, inst: Install, enrollment_sid: str) -> Enrollment: ...
    def _session(self, inst: Install, exam_sid: str, session_sid: str) -> Session: ...
    def _close_session(self, inst: Install, s: Session, reason: str, now: datetime) -> None: ...
    def _reconcile(
        self, inst: Install, exam: Exam, en: Enrollment, now: datetime, reason: str
    ) -> None: ...


class SessionOps:
    """The §6 endpoints, one method each; mixed into ``World``."""

    def list_enrollment_sessions(
        self: WorldCore,
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

    def get_session(
        self: WorldCore, install_sid: str, exam_sid: str, session_sid: str
    ) -> dict[str, Any]:
        """``GET …/exams/{examSid}/sessions/{sessionSid}`` (§6.2)."""
        with self._lock:
            inst = self._install(install_sid)
            return self._session(inst, exam_sid, session_sid).view()

    def schedule_session(
        self: WorldCore, install_sid: str, exam_sid: str, session_sid: str, body: Any
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
            _check_appointment(p, exam, appt, now)
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

    def reschedule_session(
        self: WorldCore, install_sid: str, exam_sid: str, session_sid: str, body: Any
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
            _check_appointment(p, exam, appt, now)
            p.raise_if_any()
            s.appointment = appt
            s.duration = exam.config["duration"]
            if notes is not ck.MISSING:
                s.notes = notes
            s.edited = now
            self._changed()
            return s.view()

    def cancel_session(
        self: WorldCore,
        install_sid: str,
        exam_sid: str,
        session_sid: str,
        body: Any,
        after: str = "new",
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

    def onboard(
        self: WorldCore, install_sid: str, exam_sid: str, session_sid: str
    ) -> dict[str, Any]:
        """``GET …/sessions/{sessionSid}/onboard``: a fresh single-use URL (Scheduled only)."""
        with self._lock:
            inst = self._install(install_sid)
            s = self._session(inst, exam_sid, session_sid)
            if s.status != SCHEDULED:
                raise invalid(f"session is {s.status}; onboarding needs a Scheduled session")
            token = self._sids.hex32()
            return {"url": f"https://onboarding.smarterproctoring.com/launch/{s.sid}?t={token}"}

    def appointments_report(
        self: WorldCore,
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
            # A listing reads page after page of the same filters: the sessions they match
            # are found once while nothing changes (every change raises the world's version;
            # a new session adds to the count), not again for each page (an exam of 20,000
            # sessions took 14 ms a page, most of a refreshed plan's wait on the simulator).
            # Several listings may be read at once (one per exam): a few filters are kept.
            key = (course_sid, exam_sid, learner_sid, frozenset(wanted), booked_only, after,
                   before)  # fmt: skip
            found = inst.report_rows
            now_at = (self.version, len(inst.sessions))
            if found.get(_AT) != now_at or len(found) > _REPORTS_KEPT:
                found.clear()
                found[_AT] = now_at
            rows = found.get(key)
            if rows is None:
                rows = found[key] = _matching(
                    inst, course_sid, exam_sid, learner_sid, wanted, booked_only, after, before
                )
            row = Session.view if render is None else lambda s: render(inst, s)
            return page(rows, offset, limit, row, max_limit)


def _matching(
    inst: Install,
    course_sid: str | None,
    exam_sid: str | None,
    learner_sid: str | None,
    wanted: set[str],
    booked_only: bool,
    after: datetime | None,
    before: datetime | None,
) -> list[Session]:
    """The install's sessions matching a report's filters, oldest first."""
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
    return rows


#: the key under which ``Install.report_rows`` keeps the version and count it was found at
_AT = "at"
#: filters whose sessions are kept at once
_REPORTS_KEPT = 32


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


def _given(d: dict[str, Any], key: str) -> bool:
    """A field counts as given when present and not null."""
    return d.get(key) is not None
