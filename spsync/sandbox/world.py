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

import threading
from datetime import UTC, datetime
from typing import Any

from spsync.sandbox import checks as ck
from spsync.sandbox.constants import (
    ACTIVE_STATUSES,
    CANCELLED,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    NEEDS_PROCTOR,
    PROCTOR_TYPES,
    REASON_REMOVED,
    REASON_ROLE_CHANGED,
    SCHEDULED,
)
from spsync.sandbox.entities import Course, Enrollment, Exam, Install, Session, User
from spsync.sandbox.errors import ApiFault, Problems, invalid, not_found
from spsync.sandbox.paging import Page, check_paging, page
from spsync.sandbox.persistence import Persistent, parse_world
from spsync.sandbox.provision import ProvisionPlan
from spsync.sandbox.sessions import SessionOps
from spsync.sandbox.sids import SidFactory, is_sid
from spsync.sandbox.timefmt import Clock

__all__ = ["ApiFault", "Page", "World"]


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


class World(SessionOps, Persistent):
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
            # the course's enrollment SIDs: only the page's own are looked up
            sids = inst.enrollments_by_course.get(course.sid, [])
            enrollments = inst.enrollments
            return page(sids, offset, limit, lambda e: enrollments[e].view(), max_limit)

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
    @classmethod
    def from_json(
        cls, data: dict[str, Any], *, clock: Clock | None = None, seed: int | None = None
    ) -> World:
        """A world rebuilt from ``to_json()`` output (see ``persistence.parse_world``)."""
        seq, installs = parse_world(data)
        world = cls(clock=clock, seed=seed)
        world._seq = seq
        world._installs = installs
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
