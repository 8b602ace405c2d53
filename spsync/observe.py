"""Live lookups: the client's reads -> ``Observed`` (read-only; never changes anything).

Reads are batched so that observing a tenant of N students costs about N/100 calls, never
one call per student:

- courses and exams by the SIDs kept in state (one GET each: they are few); exams new to
  state are matched by their external id in their course's exam list;
- users: every user's profile through the paged user list when more than
  ``USER_LIST_THRESHOLD`` are needed, else one GET per user; users new to state are looked
  up by their external/api/lms id (adopted, never created twice);
- enrollments: the paged enrollment list of each course;
- sessions and assignments: the appointments report of each exam (paged), which lists every
  session of the exam, cancelled ones included.

An exam session tells whether its enrollment is assigned: an enrollment is assigned while
its current session of the exam is anything but cancelled by unassignment
(``removed-by-limited-scope``); when a scheduled session is cancelled the service opens a
new ``Needs Proctor`` one for an enrollment that stays assigned. The current session is
chosen by the sessions' own status first and by their times only to break ties (see
``current_session``): timestamps have one-second precision, so a cancelled session and its
successor often share both.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from spsync.api import wire
from spsync.api.client import Client
from spsync.errors import NotFoundError
from spsync.model import Desired, Exam, kind_of, trusted
from spsync.observed import (
    CANCELLED,
    REMOVED_BY_LIMITED_SCOPE,
    SCHEDULED,
    LiveObject,
    LiveSession,
    Observed,
)
from spsync.state import State
from spsync.translate import (
    OBSERVABLE,
    course_fields,
    exam_fields,
    live_session,
    session_fields,
    unobserved_of,
    user_fields,
)

T = TypeVar("T")


def _live(
    *,
    sid: str | None = None,
    refs: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
    status: str | None = None,
) -> LiveObject:
    """A ``LiveObject`` from data this module built itself: constructed without
    re-validation (tens of thousands per large tenant)."""
    return trusted(
        LiveObject,
        _LIVE_OBJECT_FIELDS,
        {"sid": sid, "refs": refs or {}, "fields": fields or {}, "status": status},
    )


# Every field is given, so each instance's "fields set" would be the same full set: one shared
# set instead of one per object (216 bytes each, and a tenant of 20,000
# students has 120,000 live objects). The models are frozen: nothing ever adds to it.
_LIVE_OBJECT_FIELDS = set(LiveObject.model_fields)


#: above this many users to read, page through the install's user list instead of one GET
#: per user (a page holds 100)
USER_LIST_THRESHOLD = 100

#: How strongly a session's status says "this session holds the enrollment's place in the
#: exam now" (see ``current_session``). Active statuses rank above every ended one (0: Closed,
#: Cancelled, or a status the contract does not name); among several active ones (the
#: service keeps one, but an answer read mid-change may show two) a booked one wins.
_STATUS_RANK = {
    "Scheduled": 3,
    "Onboarding": 2,
    "In Progress": 2,
    "Pending Approval": 1,
    "Needs Proctor": 1,
}


async def _all(*aws: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` for reads, except that when one fails, the others are cancelled and
    awaited before the failure is raised: none is left running, holding a connection, after
    the caller has closed the client."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _maybe(aw: Awaitable[T]) -> T | None:
    """The result, or ``None`` when the object does not exist (404)."""
    try:
        return await aw
    except NotFoundError:
        return None


def _name(address: str) -> str:
    return address.split(".", 1)[1]


# --- the observer ----------------------------------------------------------------------------


class _Observer:
    def __init__(self, desired: Desired, state: State, client: Client) -> None:
        self.d = desired
        self.s = state
        self.c = client
        self.objects: dict[str, LiveObject] = {}
        self.missing: set[str] = set()
        self.adopted: dict[str, LiveObject] = {}
        self.sessions: dict[str, LiveSession] = {}
        self.unreachable: set[str] = set()
        self.unobserved: dict[str, set[str]] = defaultdict(set)
        self._by_kind: dict[str, dict[str, Any]] = defaultdict(dict)
        for a, r in state.resources.items():
            self._by_kind[kind_of(a)][a] = r
        self._exam_names = {_name(a) for a in (*desired.exams, *self._by_kind["exam"])}
        #: course SID -> its enrollments; exam SID -> its sessions (None: not found)
        self._enrollment_lists: dict[str, list[wire.Enrollment] | None] = {}
        self._session_lists: dict[str, list[wire.Session] | None] = {}

    def note(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields``, after noting which of its kind's fields the read left out."""
        if kind == "exam" or len(fields) < len(OBSERVABLE[kind]):
            self.unobserved[kind].update(unobserved_of(kind, fields))
        return fields

    def in_state(self, kind: str) -> dict[str, Any]:
        return self._by_kind.get(kind, {})

    async def fetch_enrollments(self, course_sids: Iterable[str]) -> None:
        """Read the enrollment list of each course not read yet (paged)."""
        todo = sorted(set(course_sids) - set(self._enrollment_lists))
        got = await _all(*(_maybe(self.c.list_enrollments(c)) for c in todo))
        self._enrollment_lists.update(zip(todo, got, strict=True))

    async def fetch_sessions(self, exam_sids: Iterable[str]) -> None:
        """Read every session of each exam not read yet (the appointments report, paged)."""
        todo = sorted(set(exam_sids) - set(self._session_lists))
        got = await _all(*(_maybe(self.c.appointments(exam_sid=e)) for e in todo))
        self._session_lists.update(zip(todo, got, strict=True))

    def sid(self, address: str) -> str | None:
        """The SID of ``address`` from state, or from what was adopted so far."""
        rec = self.s.resources.get(address)
        if rec is not None and rec.sid:
            return rec.sid
        found = self.adopted.get(address)
        return found.sid if found is not None else None

    def found(self, address: str, obj: LiveObject | None) -> None:
        if obj is None:
            self.missing.add(address)
        else:
            self.objects[address] = obj

    # --- courses ------------------------------------------------------------------------

    async def courses(self) -> None:
        reads: list[tuple[str, str, bool]] = []
        for address, rec in self.in_state("course").items():
            if rec.sid:
                reads.append((address, rec.sid, True))
            else:
                self.unreachable.add(address)
        for address, course in self.d.courses.items():
            if address not in self.s.resources and course.ids.kind == "sid":
                reads.append((address, course.ids.value, False))
        got = await _all(*(_maybe(self.c.get_course(sid)) for _a, sid, _s in reads))
        for (address, _sid, known), c in zip(reads, got, strict=True):
            obj = (
                None
                if c is None
                else _live(sid=c.sid, fields=self.note("course", course_fields(c)))
            )
            if known:
                self.found(address, obj)
            elif obj is not None:
                self.adopted[address] = obj

    # --- exams --------------------------------------------------------------------------

    def course_sid_of(self, exam: Exam | None, rec: Any) -> str | None:
        if rec is not None and rec.refs.get("course"):
            return rec.refs["course"]
        if exam is not None:
            return self.sid(f"course.{exam.course}")
        return None

    async def exams_known(self) -> None:
        """The exams in state, by their SIDs."""
        reads: list[tuple[str, str, str, bool]] = []
        for address, rec in self.in_state("exam").items():
            course_sid = self.course_sid_of(self.d.exams.get(address), rec)
            if rec.sid and course_sid:
                reads.append((address, course_sid, rec.sid, True))
            else:
                self.unreachable.add(address)
        await self._read_exams(reads)

    async def exams_new(self) -> None:
        """Exams new to state: by SID, or by external id in their course's exam list."""
        reads: list[tuple[str, str, str, bool]] = []
        by_external: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for address, exam in self.d.exams.items():
            if address in self.s.resources:
                continue
            course_sid = self.sid(f"course.{exam.course}")
            if course_sid is None:
                continue
            if exam.ids.kind == "sid":
                reads.append((address, course_sid, exam.ids.value, False))
            else:
                by_external[course_sid].append((address, exam.ids.value))
        listed = await _all(*(_maybe(self.c.list_exams(course_sid)) for course_sid in by_external))
        for (course_sid, wanted), exams in zip(by_external.items(), listed, strict=True):
            index = {e.ids.external: e for e in exams or () if e.ids and e.ids.external}
            for address, external in wanted:
                if external in index:
                    reads.append((address, course_sid, index[external].sid, False))
        await self._read_exams(reads)

    async def _read_exams(self, reads: list[tuple[str, str, str, bool]]) -> None:
        got = await _all(*(_maybe(self.c.get_exam(course, sid)) for _a, course, sid, _k in reads))
        for (address, course_sid, _sid, known), e in zip(reads, got, strict=True):
            obj = None
            if e is not None:
                refs = {"course": e.courseSid or course_sid}
                if e.configuration is not None and e.configuration.sid:
                    refs["configuration"] = e.configuration.sid
                rec = self.s.resources.get(address)
                fields = exam_fields(e, rec.applied if rec is not None else None)
                conf = e.configuration
                if conf is not None and "proctorTypes" not in conf.model_fields_set:
                    self.unobserved["exam"].add("configuration.proctorTypes.options")
                obj = _live(sid=e.sid, refs=refs, fields=self.note("exam", fields))
            if known:
                self.found(address, obj)
            elif obj is not None:
                self.adopted[address] = obj

    # --- users --------------------------------------------------------------------------

    async def users(self) -> None:
        known = {a: r.sid for a, r in self.in_state("user").items() if r.sid}
        for a, r in self.in_state("user").items():
            if not r.sid:
                self.unreachable.add(a)
        new = {a: u for a, u in self.d.users.items() if a not in self.s.resources}
        if not known and not new:
            return
        by_sid: dict[str, wire.User] = {}
        by_id: dict[tuple[str, str], wire.User] = {}
        if len(known) + len(new) > USER_LIST_THRESHOLD:
            for u in await self.c.list_users():
                by_sid[u.sid] = u
                for kind, value in (("external", u.externalId), ("api", u.apiId), ("lms", u.lmsId)):
                    if value:
                        by_id.setdefault((kind, value), u)
        else:
            sids = sorted(
                set(known.values()) | {u.ids.value for u in new.values() if u.ids.kind == "sid"}
            )
            got = await _all(*(_maybe(self.c.get_user(s)) for s in sids))
            by_sid = {u.sid: u for u in got if u is not None}
            lookups = sorted(
                {(u.ids.kind, u.ids.value) for u in new.values() if u.ids.kind != "sid"}
            )
            found = await _all(*(self._find_user(k, v) for k, v in lookups))
            by_id = {key: u for key, u in zip(lookups, found, strict=True) if u is not None}
        for address, sid in known.items():
            u = by_sid.get(sid)
            self.found(
                address,
                None if u is None else _live(sid=u.sid, fields=self.note("user", user_fields(u))),
            )
        for address, desired_user in new.items():
            ids = desired_user.ids
            u = by_sid.get(ids.value) if ids.kind == "sid" else by_id.get((ids.kind, ids.value))
            if u is not None:
                self.adopted[address] = _live(sid=u.sid, fields=self.note("user", user_fields(u)))

    async def _find_user(self, kind: str, value: str) -> wire.User | None:
        arg = {"external": "external_id", "api": "api_id", "lms": "lms_id"}[kind]
        users = await self.c.find_users(**{arg: value})
        return users[0] if users else None

    # --- enrollments ----------------------------------------------------------------------

    def enrollment_pair(self, address: str) -> tuple[str | None, str | None]:
        """(course SID, user SID) of an enrollment address."""
        rec = self.s.resources.get(address)
        if rec is not None and rec.refs.get("course") and rec.refs.get("user"):
            return rec.refs["course"], rec.refs["user"]
        en = self.d.enrollments.get(address)
        if en is None:
            return None, None
        return self.sid(f"course.{en.course}"), self.sid(f"user.{en.user}")

    async def enrollments(self) -> None:
        wanted: dict[str, tuple[str, str]] = {}
        for address in sorted(set(self.in_state("enrollment")) | set(self.d.enrollments)):
            course_sid, user_sid = self.enrollment_pair(address)
            if course_sid and user_sid:
                wanted[address] = (course_sid, user_sid)
            elif address in self.s.resources:
                self.unreachable.add(address)
        courses = sorted({c for c, _u in wanted.values()})
        await self.fetch_enrollments(courses)
        by_sid: dict[str, wire.Enrollment] = {}
        by_pair: dict[tuple[str, str], wire.Enrollment] = {}
        for course_sid in courses:
            for e in self._enrollment_lists[course_sid] or ():
                by_sid[e.sid] = e
                by_pair.setdefault((e.courseSid or course_sid, e.userSid), e)
        # read once, used only here: let the wire objects go before the sessions are matched
        # (the peak memory of observing a large tenant)
        self._enrollment_lists = {course: [] for course in self._enrollment_lists}
        for address, (course_sid, user_sid) in wanted.items():
            rec = self.s.resources.get(address)
            if rec is not None and rec.sid:
                e = by_sid.get(rec.sid)
                self.found(address, None if e is None else self._enrollment_obj(e, course_sid))
            elif rec is None:
                e = by_pair.get((course_sid, user_sid))
                if e is not None:
                    self.adopted[address] = self._enrollment_obj(e, course_sid)

    @staticmethod
    def _enrollment_obj(e: wire.Enrollment, course_sid: str) -> LiveObject:
        return _live(
            sid=e.sid,
            refs={"course": e.courseSid or course_sid, "user": e.userSid},
            fields={"role": e.role},
        )

    # --- assignments and sessions ---------------------------------------------------------

    def exam_sid(self, exam_name: str, rec: Any) -> str | None:
        if rec is not None and rec.refs.get("exam"):
            return rec.refs["exam"]
        return self.sid(f"exam.{exam_name}")

    def course_of(self, exam_name: str) -> str | None:
        exam = self.d.exams.get(f"exam.{exam_name}")
        return exam.course if exam is not None else None

    def enrollment_sid(self, exam_name: str, user: str, rec: Any) -> str | None:
        if rec is not None and rec.refs.get("enrollment"):
            return rec.refs["enrollment"]
        course = self.course_of(exam_name)
        return self.sid(f"enrollment.{course}.{user}") if course else None

    def _pairs(self, kind: str) -> Iterable[tuple[str, str, str, Any]]:
        """(address, exam name, user name, state record) of every ``kind`` address."""
        group = self.d.assignments if kind == "assignment" else self.d.sessions
        for address in sorted(set(self.in_state(kind)) | set(group)):
            res = group.get(address)
            rec = self.s.resources.get(address)
            if res is not None:
                yield address, res.exam, res.user, rec
            else:
                exam_name = self._exam_name(address)
                yield address, exam_name, address.split(".", 1)[1][len(exam_name) + 1 :], rec

    def _exam_name(self, address: str) -> str:
        rest = address.split(".", 1)[1]
        names = self._exam_names
        parts = rest.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in names:
                return ".".join(parts[:i])
        return parts[0]

    async def sessions_and_assignments(self) -> None:
        # which enrollment and exam each address is about
        # (address, exam name, exam SID, enrollment SID, state record)
        targets: list[tuple[str, str, str, str, Any]] = []
        for kind in ("assignment", "session"):
            for address, exam_name, user, rec in self._pairs(kind):
                exam_sid = self.exam_sid(exam_name, rec)
                enrollment_sid = self.enrollment_sid(exam_name, user, rec)
                if exam_sid and enrollment_sid:
                    targets.append((address, exam_name, exam_sid, enrollment_sid, rec))
                elif rec is not None:
                    if (
                        exam_sid
                        and f"enrollment.{self.course_of(exam_name)}.{user}" in self.missing
                    ):
                        self.missing.add(address)
                    else:
                        self.unreachable.add(address)
        exams = sorted({e for _a, _x, e, _n, _r in targets})
        await self.fetch_sessions(exams)
        # enrollment -> its sessions of the exam
        per: dict[tuple[str, str], list[wire.Session]] = defaultdict(list)
        by_sid: dict[str, wire.Session] = {}
        for exam_sid in exams:
            for s in self._session_lists[exam_sid] or ():
                by_sid[s.sid] = s
                if s.enrollmentSid:
                    per[(exam_sid, s.enrollmentSid)].append(s)
        await self._ask_again(targets, per, by_sid)
        # an assignment and a session address of one enrollment share one live session
        made: dict[str, LiveSession] = {}
        for address, exam_name, exam_sid, enrollment_sid, rec in targets:
            group = per.get((exam_sid, enrollment_sid), [])
            current = current_session(group)
            refs = {"exam": exam_sid, "enrollment": enrollment_sid}
            course_sid = rec.refs.get("course") if rec is not None else None
            course_sid = course_sid or self.sid(f"course.{self.course_of(exam_name)}")
            if course_sid:
                refs["course"] = course_sid
            if current is not None:
                live = made.get(current.sid)
                if live is None:
                    live = made[current.sid] = live_session(current)
                self.sessions[address] = live
            if kind_of(address) == "assignment":
                assigned = is_assigned(current)
                if rec is not None:
                    self.found(address, _live(refs=rec.refs) if assigned else None)
                elif assigned:
                    self.adopted[address] = _live(refs=refs)
                continue
            if rec is not None and rec.sid:
                mine = by_sid.get(rec.sid)
                self.found(address, None if mine is None else self._session_obj(mine, refs))
            elif rec is None and current is not None and current.status == SCHEDULED:
                self.adopted[address] = self._session_obj(current, refs)

    async def _ask_again(
        self,
        targets: list[tuple[str, str, str, str, Any]],
        per: dict[tuple[str, str], list[wire.Session]],
        by_sid: dict[str, wire.Session],
    ) -> None:
        """Where the exam's report says nothing of an enrollment spsync manages (no row, or
        not the session recorded), read the enrollment's own session list rather than take
        the silence for "unassigned" or "gone": a report the vendor describes as one of
        scheduled appointments may leave waiting sessions out."""
        pairs: set[tuple[str, str]] = set()
        for address, _x, exam_sid, enrollment_sid, rec in targets:
            if rec is None or self._session_lists.get(exam_sid) is None:
                continue
            if (exam_sid, enrollment_sid) not in per or (
                rec.sid and kind_of(address) == "session" and rec.sid not in by_sid
            ):
                pairs.add((exam_sid, enrollment_sid))
        if not pairs:
            return
        ordered = sorted(pairs)
        lists = await _all(*(_maybe(self.c.list_enrollment_sessions(en, ex)) for ex, en in ordered))
        for (exam_sid, enrollment_sid), listed in zip(ordered, lists, strict=True):
            for s in listed or ():
                if s.sid in by_sid:
                    continue
                s = s.model_copy(update={"enrollmentSid": enrollment_sid, "examSid": exam_sid})
                by_sid[s.sid] = s
                per[(exam_sid, enrollment_sid)].append(s)

    def _session_obj(self, s: wire.Session, refs: dict[str, str]) -> LiveObject:
        fields = self.note("session", session_fields(s))
        return _live(sid=s.sid, refs=refs, fields=fields, status=s.status)

    async def run(self) -> Observed:
        before = sum(self.c.calls.values())
        # first every read that the state's SIDs allow, all at once ...
        state_courses = {
            r.refs["course"] for r in self.in_state("enrollment").values() if r.refs.get("course")
        }
        state_exams = {
            r.refs["exam"]
            for kind in ("assignment", "session")
            for r in self.in_state(kind).values()
            if r.refs.get("exam")
        }
        await _all(
            self.courses(),
            self.exams_known(),
            self.users(),
            self.fetch_enrollments(state_courses),
            self.fetch_sessions(state_exams),
        )
        # ... then what needs SIDs found on the way (first contact), and the matching
        await self.exams_new()
        await self.enrollments()
        await self.sessions_and_assignments()
        return Observed(
            objects=self.objects,
            missing=frozenset(self.missing),
            adopted=self.adopted,
            sessions=self.sessions,
            unreachable=frozenset(self.unreachable),
            unobserved={k: tuple(sorted(v)) for k, v in sorted(self.unobserved.items()) if v},
            calls=sum(self.c.calls.values()) - before,
        )


def current_session(group: Iterable[wire.Session]) -> wire.Session | None:
    """The session that holds an enrollment's place in an exam now, out of all its sessions
    of that exam (``None`` when there are none). The same set gives the same pick in any
    order. By rank, the first difference decides:

    1. the session's own status: an active one (``Scheduled`` first, then ``Onboarding`` /
       ``In Progress``, then ``Pending Approval`` / ``Needs Proctor``) over any that ended;
    2. the latest ``editDate`` (when it last changed: its cancellation, for a cancelled one),
       then the latest ``createdDate``;
    3. for ended sessions of equal times, a cancellation by unassignment
       (``removed-by-limited-scope``) over any other end: any other cancellation of an
       enrollment still in scope is followed by a new session, so when none followed, the
       unassignment came last;
    4. the SID, only between sessions alike in all of the above.

    Times have one-second precision, so a cancelled session and the one that replaced it
    within the same second tie on both times; the status alone then decides.
    """
    return max(group, key=_current_rank, default=None)


def _current_rank(s: wire.Session) -> tuple[int, str, str, bool, str]:
    return (
        _STATUS_RANK.get(s.status, 0),
        s.editDate or "",
        s.createdDate or "",
        _unassigned_end(s),
        s.sid,
    )


def is_assigned(current: wire.Session | None) -> bool:
    """Whether an enrollment is assigned to an exam, from its current session (the one
    ``current_session`` picks): any, unless cancelled by unassignment."""
    return current is not None and not _unassigned_end(current)


def _unassigned_end(s: wire.Session) -> bool:
    """A session cancelled because its enrollment was unassigned."""
    return s.status == CANCELLED and s.statusReason == REMOVED_BY_LIMITED_SCOPE


async def observe(desired: Desired, state: State, client: Client) -> Observed:
    """Read the live objects of everything in ``state`` (and look up what the manifests add)
    through the client's batch readers. Read-only."""
    return await _Observer(desired, state, client).run()
