"""Live lookups: the client's reads -> ``Observed`` (read-only; never changes anything).

Reads are batched so that observing a tenant of N students costs about N/100 calls, never
one call per student:

- courses and exams by the SIDs kept in state (one GET each: they are few); exams new to
  state are matched by their external id in their course's exam list;
- users: every user's profile through the paged user list when more than
  ``USER_LIST_THRESHOLD`` are needed, else one GET per user; users new to state are looked
  up by their external/api/lms id (adopted, never created twice);
- enrollments: the paged enrollment list of each course;
- sessions and assignments: the appointments report of each exam (``observe_sessions``).

What the lookups share (the findings, the batched list reads) is ``observe_reads``; the
live objects' fields are put in normal form by ``translate``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from spsync.api import wire
from spsync.api.client import Client
from spsync.model import Desired, Exam
from spsync.observe_reads import (
    ListedEnrollment,
    maybe_missing,
    read_all,
    shared_live_object,
)
from spsync.observe_sessions import SessionLookups
from spsync.observed import LiveObject, Observed
from spsync.sharing import share
from spsync.state import State
from spsync.translate import course_fields, exam_fields, user_fields, user_row_fields

#: above this many users to read, page through the install's user list instead of one GET
#: per user (a page holds 100)
USER_LIST_THRESHOLD = 100


class _ListedUser:
    """A user as read: its SID and its fields in normal form (the answer model let go),
    their texts the run's shared objects (the state and the manifests hold them too)."""

    __slots__ = ("fields", "sid", "taken")

    def __init__(self, sid: str, fields: dict[str, Any]) -> None:
        self.sid = share(sid)
        # a user's fields are flat texts (or null)
        self.fields = {k: share(v) if type(v) is str else v for k, v in fields.items()}
        #: whether a live object has these fields already (a second one gets a copy)
        self.taken = False


class _Observer(SessionLookups):
    """Every lookup of one tenant; ``run()`` gives its ``Observed``."""

    # --- courses ------------------------------------------------------------------------

    async def courses(self) -> None:
        """The courses in state, by their SIDs; a new course given by ``ids.sid`` is adopted."""
        reads: list[tuple[str, str, bool]] = []
        for address, rec in self.in_state("course").items():
            if rec.sid:
                reads.append((address, rec.sid, True))
            else:
                self.unreachable.add(address)
        for address, course in self.d.courses.items():
            if address not in self.s.resources and course.ids.kind == "sid":
                reads.append((address, course.ids.value, False))
        got = await read_all(*(maybe_missing(self.c.get_course(sid)) for _a, sid, _s in reads))
        for (address, _sid, known), c in zip(reads, got, strict=True):
            obj = (
                None
                if c is None
                else shared_live_object(sid=c.sid, fields=self.note("course", course_fields(c)))
            )
            if known:
                self.found(address, obj)
            elif obj is not None:
                self.adopted[address] = obj

    # --- exams --------------------------------------------------------------------------

    def course_sid_of(self, exam: Exam | None, rec: Any) -> str | None:
        """The SID of an exam's course: from the exam's state record, else the course's."""
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
        listed = await read_all(
            *(maybe_missing(self.c.list_exams(course_sid)) for course_sid in by_external)
        )
        for (course_sid, wanted), exams in zip(by_external.items(), listed, strict=True):
            index = {e.ids.external: e for e in exams or () if e.ids and e.ids.external}
            for address, external in wanted:
                if external in index:
                    reads.append((address, course_sid, index[external].sid, False))
        await self._read_exams(reads)

    async def _read_exams(self, reads: list[tuple[str, str, str, bool]]) -> None:
        got = await read_all(
            *(maybe_missing(self.c.get_exam(course, sid)) for _a, course, sid, _k in reads)
        )
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
                obj = shared_live_object(sid=e.sid, refs=refs, fields=self.note("exam", fields))
            if known:
                self.found(address, obj)
            elif obj is not None:
                self.adopted[address] = obj

    # --- users --------------------------------------------------------------------------

    async def users(self) -> None:
        """The users in state by their SIDs; users new to state by their identifier."""
        known = {a: r.sid for a, r in self.in_state("user").items() if r.sid}
        for a, r in self.in_state("user").items():
            if not r.sid:
                self.unreachable.add(a)
        new = {a: u for a, u in self.d.users.items() if a not in self.s.resources}
        if not known and not new:
            return
        by_sid: dict[str, _ListedUser] = {}
        by_id: dict[tuple[str, str], _ListedUser] = {}

        def index(page: Iterable[wire.UserRow]) -> None:
            for u in page:
                listed = by_sid[u["sid"]] = _ListedUser(u["sid"], user_row_fields(u))
                for kind, value in (
                    ("external", u.get("externalId")),
                    ("api", u.get("apiId")),
                    ("lms", u.get("lmsId")),
                ):
                    if value:
                        by_id.setdefault((kind, value), listed)

        if len(known) + len(new) > USER_LIST_THRESHOLD:
            # page by page: only what the live objects keep of each user stays
            await self.c.each_user(index)
        else:
            sids = sorted(
                set(known.values()) | {u.ids.value for u in new.values() if u.ids.kind == "sid"}
            )
            got = await read_all(*(maybe_missing(self.c.get_user(s)) for s in sids))
            by_sid = {u.sid: _ListedUser(u.sid, user_fields(u)) for u in got if u is not None}
            lookups = sorted(
                {(u.ids.kind, u.ids.value) for u in new.values() if u.ids.kind != "sid"}
            )
            found = await read_all(*(self._find_user(k, v) for k, v in lookups))
            by_id = {
                key: _ListedUser(u.sid, user_fields(u))
                for key, u in zip(lookups, found, strict=True)
                if u is not None
            }
        for address, sid in known.items():
            listed = by_sid.get(sid)
            self.found(address, None if listed is None else self._user_obj(listed))
        for address, desired_user in new.items():
            ids = desired_user.ids
            listed = (
                by_sid.get(ids.value) if ids.kind == "sid" else by_id.get((ids.kind, ids.value))
            )
            if listed is not None:
                self.adopted[address] = self._user_obj(listed)

    def _user_obj(self, listed: _ListedUser) -> LiveObject:
        """The live object of a user; its fields are the listed user's own the first time
        (no copy of 20,000 users' fields), a copy when a second address finds the same one."""
        fields = listed.fields if not listed.taken else dict(listed.fields)
        listed.taken = True
        return LiveObject(listed.sid, {}, self.note("user", fields))

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
        """The enrollments in state and in the manifests, from each course's list."""
        wanted: dict[str, tuple[str, str]] = {}
        for address in sorted(set(self.in_state("enrollment")) | set(self.d.enrollments)):
            course_sid, user_sid = self.enrollment_pair(address)
            if course_sid and user_sid:
                wanted[address] = (course_sid, user_sid)
            elif address in self.s.resources:
                self.unreachable.add(address)
        courses = sorted({c for c, _u in wanted.values()})
        await self.fetch_enrollments(courses)
        by_sid: dict[str, ListedEnrollment] = {}
        by_pair: dict[tuple[str, str], ListedEnrollment] = {}
        for course_sid in courses:
            for e in self._enrollment_lists[course_sid] or ():
                by_sid[e.sid] = e
                by_pair.setdefault((e.courseSid or course_sid, e.userSid), e)
        # read once, used only here: let the wire objects go before the sessions are matched
        # (the peak memory of observing a large tenant); the roles the sessions' reading
        # needs are kept first
        self.keep_not_learners()
        self._enrollment_lists = {course: [] for course in self._enrollment_lists}
        for address, (course_sid, user_sid) in wanted.items():
            rec = self.s.resources.get(address)
            if rec is not None and rec.sid:
                e = by_sid.get(rec.sid)
                self.found(address, None if e is None else self._enrollment_obj(e, course_sid, rec))
            elif rec is None:
                e = by_pair.get((course_sid, user_sid))
                if e is not None:
                    self.adopted[address] = self._enrollment_obj(e, course_sid, None)

    def _enrollment_obj(self, e: ListedEnrollment, course_sid: str, rec: Any) -> LiveObject:
        """The live object of an enrollment; its refs are the state record's own map when
        they say the same (a large tenant's enrollments: one map each, not two). A role the
        row left out or sent as ``null`` is unknown (noted), never a change to ``null``."""
        course, user = e.courseSid or course_sid, e.userSid
        recorded: dict[str, str] = rec.refs if rec is not None else {}
        if len(recorded) == 2 and recorded.get("course") == course and recorded.get("user") == user:
            refs = recorded
        else:
            # ``course_sid`` is the state's (shared) text; the rest was read
            refs = {"course": share(course), "user": share(user)}
        if e.role is None:
            self.unobserved["enrollment"].add("role")
            return LiveObject(share(e.sid), refs, {})
        return LiveObject(share(e.sid), refs, {"role": share(e.role)})

    async def run(self) -> Observed:
        """Every lookup, batched: what state's SIDs allow at once, then what needs SIDs
        found on the way."""
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
        await read_all(
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
        # built of what observation made itself: taken as it is (no pass over its 100,000
        # live objects at 20,000 students, no copy of its maps)
        return Observed.model_construct(
            objects=self.objects,
            missing=frozenset(self.missing),
            adopted=self.adopted,
            sessions=self.sessions,
            unreachable=frozenset(self.unreachable),
            unobserved={k: tuple(sorted(v)) for k, v in sorted(self.unobserved.items()) if v},
            calls=sum(self.c.calls.values()) - before,
        )


async def observe(desired: Desired, state: State, client: Client) -> Observed:
    """Read the live objects of everything in ``state`` (and look up what the manifests add)
    through the client's batch readers. Read-only."""
    return await _Observer(desired, state, client).run()
