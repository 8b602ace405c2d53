"""Assignments and sessions, observed through each exam's appointments report (paged), which
lists every session of the exam, cancelled ones included; where the report says nothing of
an enrollment spsync manages, that enrollment's own session list is read instead. The report
of every exam of the manifests is read, and the booked session of an enrollment spsync knows
that no address names (booked by hand) is kept under its ``session.EXAM.USER``: a change of
the plan may cancel it.

An exam session tells whether its enrollment is assigned: an enrollment is assigned while
its role is learner and its current session of the exam is anything but cancelled by
unassignment (``removed-by-limited-scope``, or ``enrollment-role-changed``: leaving the
learner role unassigns it everywhere); when a scheduled session is cancelled the service
opens a new ``Needs Proctor`` one for an enrollment that stays assigned. The current session is
chosen by the sessions' own status first and by their times only to break ties (see
``current_session``): timestamps have one-second precision, so a cancelled session and its
successor often share both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable
from typing import Any, Protocol, TypeVar

from spsync.api import wire
from spsync.api.client import Client
from spsync.api.routes import R_ENROLLMENT_SESSIONS
from spsync.errors import ResponseError
from spsync.model import Desired
from spsync.observe_reads import ListedSession, Reads, maybe_missing, read_all
from spsync.observed import (
    BOOKED_STATUSES,
    CANCELLED,
    UNASSIGNED_ENDS,
    LiveObject,
    LiveSession,
)
from spsync.state import State

#: How strongly a session's status says "this session holds the enrollment's place in the
#: exam now" (see ``current_session``). Active statuses rank above every ended one (0: Closed,
#: Cancelled, or a status the contract does not name); among several active ones (the
#: service keeps one, but an answer read mid-change may show two) a booked one wins.
_STATUS_RANK = {
    "Scheduled": 3,
    "Pending Approval": 3,
    "Onboarding": 2,
    "Checked In": 2,
    "In Progress": 2,
    "Needs Proctor": 1,
}


class SessionLookups(Reads):
    """The assignment and session lookups of the observer."""

    def __init__(self, desired: Desired, state: State, client: Client) -> None:
        super().__init__(desired, state, client)
        self._exam_names = {a.split(".", 1)[1] for a in (*desired.exams, *self.in_state("exam"))}
        #: the SIDs of the enrollments read with a role other than learner (kept by
        #: ``keep_not_learners`` before the enrollment lists are let go)
        self._not_learner_sids: set[str] = set()

    def exam_sid(self, exam_name: str, rec: Any) -> str | None:
        """The SID of an assignment's or session's exam: from its state record, else the
        exam's own."""
        if rec is not None and rec.refs.get("exam"):
            return rec.refs["exam"]
        return self.sid(f"exam.{exam_name}")

    def course_of(self, exam_name: str) -> str | None:
        """The name of the course of a desired exam (``None`` for an exam the manifests
        dropped)."""
        exam = self.d.exams.get(f"exam.{exam_name}")
        return exam.course if exam is not None else None

    def enrollment_sid(self, exam_name: str, user: str, rec: Any) -> str | None:
        """The SID of the enrollment an assignment or session is about: from its state
        record, else the enrollment of ``user`` in the exam's course."""
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
        """The exam name in an address no longer in the manifests (names may hold dots: the
        shortest prefix that names a known exam)."""
        rest = address.split(".", 1)[1]
        names = self._exam_names
        parts = rest.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in names:
                return ".".join(parts[:i])
        return parts[0]

    async def sessions_and_assignments(self) -> None:
        """Each assignment and session address of an enrollment and exam whose SIDs are
        known: its current live session, and whether it is assigned, from the exam's
        report (and the enrollment's own list where the report is silent)."""
        # which enrollment and exam each address is about
        # (kind, address, exam name, exam SID, enrollment SID, state record)
        targets: list[tuple[str, str, str, str, str, Any]] = []
        for kind in ("assignment", "session"):
            for address, exam_name, user, rec in self._pairs(kind):
                exam_sid = self.exam_sid(exam_name, rec)
                enrollment_sid = self.enrollment_sid(exam_name, user, rec)
                if exam_sid and enrollment_sid:
                    targets.append((kind, address, exam_name, exam_sid, enrollment_sid, rec))
                elif rec is not None:
                    if (
                        exam_sid
                        and f"enrollment.{self.course_of(exam_name)}.{user}" in self.missing
                    ):
                        self.missing.add(address)
                    else:
                        self.unreachable.add(address)
        # every managed exam's report, also of an exam with no assignment or session in the
        # manifests or state: a change of the plan may cancel a session booked there by hand
        exams = sorted({t[3] for t in targets} | self._managed_exam_sids())
        await self.fetch_sessions(exams)
        # enrollment -> its sessions of the exam
        per: dict[tuple[str, str], list[ListedSession]] = defaultdict(list)
        by_sid: dict[str, ListedSession] = {}
        exam_of: dict[str, str] = {}
        for exam_sid in exams:
            for s in self._session_lists[exam_sid] or ():
                by_sid[s.sid] = s
                exam_of[s.sid] = exam_sid
                enrollment_sid = s.enrollmentSid
                if enrollment_sid:
                    per[(exam_sid, enrollment_sid)].append(s)
        await self._read_contradicted(per, by_sid, exam_of)
        await self._ask_again(targets, per, by_sid)
        await self._ask_leaving_learners(per, by_sid)
        await self._ask_why_cancelled(per, by_sid)
        await self._ask_after_cancel(targets, per, by_sid)
        # each enrollment's current session of each exam, picked once for both its
        # addresses (most enrollments have one session: it is the current one)
        currents: dict[tuple[str, str], ListedSession | None] = {}
        # an assignment and a session address of one enrollment share one live session
        made: dict[str, LiveSession] = {}
        not_learners = self._not_learners()
        for kind, address, exam_name, exam_sid, enrollment_sid, rec in targets:
            key = (exam_sid, enrollment_sid)
            if key in currents:
                current = currents[key]
            else:
                group = per.get(key)
                current = currents[key] = (
                    None if not group else group[0] if len(group) == 1 else current_session(group)
                )
            if current is not None:
                live = made.get(current.sid)
                if live is None:
                    live = made[current.sid] = current.live
                self.sessions[address] = live
            if kind == "assignment":
                assigned = is_assigned(current) and enrollment_sid not in not_learners
                if rec is not None:
                    self.found(address, LiveObject(None, rec.refs) if assigned else None)
                elif assigned:
                    refs = self._refs(exam_name, exam_sid, enrollment_sid, rec)
                    self.adopted[address] = LiveObject(None, refs)
                continue
            if rec is not None and rec.sid:
                mine = by_sid.get(rec.sid)
                if address in self.d.sessions:
                    mine = _booking_of(mine, current)
                obj = None
                if mine is not None:
                    refs = self._refs(exam_name, exam_sid, enrollment_sid, rec)
                    obj = self._session_obj(mine, refs)
                self.found(address, obj)
            elif rec is None and current is not None and current.status in BOOKED_STATUSES:
                refs = self._refs(exam_name, exam_sid, enrollment_sid, rec)
                self.adopted[address] = self._session_obj(current, refs)
        self._booked_by_hand(per, currents)
        self._assigned_by_hand(per, {(t[3], t[4]) for t in targets if t[0] == "assignment"})

    def keep_not_learners(self) -> None:
        """Note the SIDs of the enrollments read with a role other than learner, from the
        enrollment lists (to be called before they are let go)."""
        self._not_learner_sids = {
            e.sid
            for listed in self._enrollment_lists.values()
            for e in listed or ()
            if e.role is not None and e.role != "learner"
        }

    def _not_learners(self) -> set[str]:
        """The SIDs of the enrollments read with a role other than learner: the service
        holds no assignment of them (making a learner an instructor drops it from every
        assignment list of the course, and an instructor cannot be assigned), whatever
        their sessions of before say."""
        return self._not_learner_sids

    def _managed_exam_sids(self) -> set[str]:
        """The SIDs of the exams of the manifests (recorded in state or found)."""
        return {sid for sid in (self.sid(a) for a in self.d.exams) if sid}

    def _booked_by_hand(
        self, per: dict[tuple[str, str], list[ListedSession]], named: Container[tuple[str, str]]
    ) -> None:
        """The booked session of each enrollment spsync knows, in an exam of the manifests
        (or of the state, leaving them), that no assignment or session address names
        (``named``: booked by a person), under its ``session.EXAM.USER``: a role change or a
        scope switch of the plan cancels it, and the plan shows that as a change of its
        own."""
        exams: dict[str, tuple[str, str]] | None = None
        enrollments: dict[str, str] = {}
        for (exam_sid, enrollment_sid), group in per.items():
            if (exam_sid, enrollment_sid) in named or all(
                s.status not in BOOKED_STATUSES for s in group
            ):
                continue
            current = current_session(group)
            if current is None or current.status not in BOOKED_STATUSES:
                continue
            if exams is None:  # only once a session booked by hand turns up
                exams, enrollments = self._exam_names_by_sid(), self._enrollments_by_sid()
            exam_name, course = exams.get(exam_sid, ("", ""))
            prefix = f"enrollment.{course}."
            enrollment = enrollments.get(enrollment_sid, "")
            if exam_name and enrollment.startswith(prefix):
                self.sessions[f"session.{exam_name}.{enrollment[len(prefix) :]}"] = current.live

    def _assigned_by_hand(
        self, per: dict[tuple[str, str], list[ListedSession]], named: Container[tuple[str, str]]
    ) -> None:
        """The assignment of each learner enrollment spsync knows to a limited-scope exam of
        the manifests that no assignment address names (assigned by a person), under its
        ``assignment.EXAM.USER`` in ``adopted``: a role change of the plan drops it, and the
        plan shows that as a change of its own."""
        exams: dict[str, tuple[str, str]] | None = None
        enrollments: dict[str, str] = {}
        not_learners: set[str] = set()
        for (exam_sid, enrollment_sid), group in per.items():
            if (exam_sid, enrollment_sid) in named:
                continue
            if exams is None:
                exams = {
                    sid: names
                    for sid, names in self._exam_names_by_sid().items()
                    if self._live_limited(names[0])
                }
                enrollments, not_learners = self._enrollments_by_sid(), self._not_learners()
            exam_name, course = exams.get(exam_sid, ("", ""))
            prefix = f"enrollment.{course}."
            enrollment = enrollments.get(enrollment_sid, "")
            if (
                not exam_name
                or not enrollment.startswith(prefix)
                or enrollment_sid in not_learners
                or not is_assigned(current_session(group))
            ):
                continue
            address = f"assignment.{exam_name}.{enrollment[len(prefix) :]}"
            refs = self._refs(exam_name, exam_sid, enrollment_sid, None)
            self.adopted[address] = LiveObject(None, refs)

    def _live_limited(self, exam_name: str) -> bool:
        """Whether the exam read as limited scope (its sessions then prove assignments)."""
        live = self.objects.get(f"exam.{exam_name}") or self.adopted.get(f"exam.{exam_name}")
        return live is not None and live.fields.get("limitedScope") is True

    def _exam_names_by_sid(self) -> dict[str, tuple[str, str]]:
        """Exam SID -> (name, course name) of the exams of the manifests, and of those in
        state only (leaving the manifests: a role change of this plan still ends what is
        booked there; their reports are read when state holds their sessions)."""
        out = {}
        for address, exam in self.d.exams.items():
            sid = self.sid(address)
            if sid:
                out[sid] = (address.split(".", 1)[1], exam.course)
        courses = {r.sid: a.split(".", 1)[1] for a, r in self.in_state("course").items() if r.sid}
        for address, rec in self.in_state("exam").items():
            course = courses.get(rec.refs.get("course", ""))
            if rec.sid and rec.sid not in out and course is not None:
                out[rec.sid] = (address.split(".", 1)[1], course)
        return out

    def _enrollments_by_sid(self) -> dict[str, str]:
        """Enrollment SID -> address, of the enrollments in state or found."""
        out = {r.sid: a for a, r in self.in_state("enrollment").items() if r.sid}
        for address, found in self.adopted.items():
            if found.sid and address.startswith("enrollment."):
                out[found.sid] = address
        return out

    def _refs(self, exam_name: str, exam_sid: str, enrollment_sid: str, rec: Any) -> dict[str, str]:
        """The refs of an assignment's or session's live object: its exam, enrollment and
        course (when known). The state record's own map when it says just that (a large
        tenant's sessions: one map each, not two)."""
        recorded: dict[str, str] = rec.refs if rec is not None else {}
        course_sid = recorded.get("course")
        if (
            course_sid
            and len(recorded) == 3
            and recorded.get("exam") == exam_sid
            and recorded.get("enrollment") == enrollment_sid
        ):
            return recorded
        refs = {"exam": exam_sid, "enrollment": enrollment_sid}
        course_sid = course_sid or self.sid(f"course.{self.course_of(exam_name)}")
        if course_sid:
            refs["course"] = course_sid
        return refs

    async def _ask_again(
        self,
        targets: list[tuple[str, str, str, str, str, Any]],
        per: dict[tuple[str, str], list[ListedSession]],
        by_sid: dict[str, ListedSession],
    ) -> None:
        """Where the exam's report says nothing of an enrollment spsync manages (no row, or
        not the session recorded), read the enrollment's own session list rather than take
        the silence for "unassigned" or "gone": a report the vendor describes as one of
        scheduled appointments may leave waiting sessions out. A report that answered 404
        says nothing either, unless its exam is gone too: the lists are read the same way,
        and when they answer 404 as well while the exam reads, the answers contradict each
        other: observation stops (``ResponseError``) rather than guess."""
        pairs: set[tuple[str, str]] = set()
        for kind, _a, _x, exam_sid, enrollment_sid, rec in targets:
            if rec is None:
                continue
            if self._session_lists.get(exam_sid) is None:
                if not self._exam_gone(exam_sid):
                    pairs.add((exam_sid, enrollment_sid))
            elif (exam_sid, enrollment_sid) not in per or (
                rec.sid and kind == "session" and rec.sid not in by_sid
            ):
                pairs.add((exam_sid, enrollment_sid))
        await self._read_lists(sorted(pairs), per, by_sid, both_404_stops=True)

    def _leaving_learners(self) -> dict[str, str]:
        """Enrollment SID -> course name, of each enrollment read as a learner that the
        manifests give another role."""
        out = {}
        for address, enrollment in self.d.enrollments.items():
            live = self.objects.get(address) or self.adopted.get(address)
            if (
                enrollment.role != "learner"
                and live is not None
                and live.sid
                and live.fields.get("role") == "learner"
            ):
                out[live.sid] = enrollment.course
        return out

    async def _ask_leaving_learners(
        self, per: dict[tuple[str, str], list[ListedSession]], by_sid: dict[str, ListedSession]
    ) -> None:
        """A learner the manifests give another role leaves every assignment list of its
        course with that change, which the plan shows, also of an assignment made by hand
        (``_assigned_by_hand``). Where a limited-scope exam's report says nothing of it (a
        report of booked sessions only leaves out one waiting for a proctor), its own
        session list of that exam is read."""
        leaving = self._leaving_learners()
        if not leaving:
            return
        pairs = sorted(
            (exam_sid, enrollment_sid)
            for exam_sid, (exam_name, course) in self._exam_names_by_sid().items()
            if self._live_limited(exam_name)
            for enrollment_sid, enrollment_course in leaving.items()
            if enrollment_course == course and (exam_sid, enrollment_sid) not in per
        )
        await self._read_lists(pairs, per, by_sid)

    async def _ask_after_cancel(
        self,
        targets: list[tuple[str, str, str, str, str, Any]],
        per: dict[tuple[str, str], list[ListedSession]],
        by_sid: dict[str, ListedSession],
    ) -> None:
        """An enrollment spsync manages whose current session of a limited-scope exam reads
        cancelled: the service may have opened another one since (after a cancel, or an
        assignment made again), which a report of booked sessions only leaves out, or none
        (some installs open none after a cancel until the enrollment is assigned again; the
        plan then sends its assignment again). Its own session list of the exam tells."""
        pairs = sorted(
            {
                (exam_sid, enrollment_sid)
                for _k, _a, exam_name, exam_sid, enrollment_sid, rec in targets
                if rec is not None
                and (exam_sid, enrollment_sid) in per
                and _cancelled(current_session(per[(exam_sid, enrollment_sid)]))
                and self._live_limited(exam_name)
            }
        )
        await self._read_lists(pairs, per, by_sid)

    async def _read_lists(
        self,
        pairs: list[tuple[str, str]],
        per: dict[tuple[str, str], list[ListedSession]],
        by_sid: dict[str, ListedSession],
        *,
        both_404_stops: bool = False,
    ) -> None:
        """The own session lists of ``(exam SID, enrollment SID)`` pairs, added to what the
        reports gave (one that answers 404 adds nothing). ``both_404_stops``: a list that
        answers 404 where the exam's report did too is a ``ResponseError`` (``_ask_again``)."""
        if not pairs:
            return
        lists = await read_all(
            *(maybe_missing(self.c.list_enrollment_sessions(en, ex)) for ex, en in pairs)
        )
        for (exam_sid, enrollment_sid), listed in zip(pairs, lists, strict=True):
            if both_404_stops and listed is None and self._session_lists.get(exam_sid) is None:
                raise _unreadable(exam_sid, enrollment_sid)
            for s in listed or ():
                if s.sid not in by_sid:
                    listed_session = ListedSession(wire.session_row(s), enrollment=enrollment_sid)
                    by_sid[s.sid] = listed_session
                    per[(exam_sid, enrollment_sid)].append(listed_session)

    async def _read_contradicted(
        self,
        per: dict[tuple[str, str], list[ListedSession]],
        by_sid: dict[str, ListedSession],
        exam_of: dict[str, str],
    ) -> None:
        """Sessions a report gave twice with different contents (``Cancelled`` and
        ``Scheduled`` rows of one SID): the copy kept is no evidence, so each is read again
        (its details) and that answer taken; one that reads 404 is left out, as if not
        listed (its enrollment's own list is then read)."""
        doubtful = sorted(self.c.contradicted & by_sid.keys())
        if not doubtful:
            return
        got = await read_all(
            *(maybe_missing(self.c.get_session(exam_of[sid], sid)) for sid in doubtful)
        )
        for sid, session in zip(doubtful, got, strict=True):
            listed = by_sid.pop(sid)
            key = (exam_of[sid], listed.enrollmentSid)
            group = [s for s in per.pop(key, ()) if s.sid != sid]
            if session is not None:
                again = ListedSession(wire.session_row(session), listed.enrollmentSid or None)
                by_sid[sid] = again
                group.append(again)
            if group and listed.enrollmentSid:
                per[key] = group

    async def _ask_why_cancelled(
        self, per: dict[tuple[str, str], list[ListedSession]], by_sid: dict[str, ListedSession]
    ) -> None:
        """An enrollment whose current session of an exam is cancelled with no reason read
        (the vendor's report rows and session lists carry no ``statusReason``): whether it
        is still assigned depends on why, and which of the sessions that ended at the same
        time is current does too, so each of those is read again (its details), and their
        answers taken (one that reads 404 leaves the listed copy)."""
        unknown = sorted(
            (key, sid) for key, group in per.items() for sid in _unexplained_ends(group)
        )
        if not unknown:
            return
        got = await read_all(
            *(maybe_missing(self.c.get_session(key[0], sid)) for key, sid in unknown)
        )
        for (key, sid), session in zip(unknown, got, strict=True):
            if session is None:
                continue
            again = ListedSession(wire.session_row(session), key[1])
            by_sid[sid] = again
            per[key] = [again if s.sid == sid else s for s in per[key]]

    def _exam_gone(self, exam_sid: str) -> bool:
        """Whether the exam of ``exam_sid`` was read as gone (404) this run."""
        return any(
            rec.sid == exam_sid and address in self.missing
            for address, rec in self.in_state("exam").items()
        )

    def _session_obj(self, s: ListedSession, refs: dict[str, str]) -> LiveObject:
        fields = self.note("session", s.fields())
        return LiveObject(s.sid, refs, fields, s.status)


def _booking_of(
    recorded: ListedSession | None, current: ListedSession | None
) -> ListedSession | None:
    """The live session of a session address whose state records ``recorded`` (``None``:
    not listed): the recorded one, unless it is gone or cancelled while the enrollment's
    current session of the exam is another one, booked (``Scheduled`` or ``Pending
    Approval``: the booking was cancelled and made again, by the student or a person): that
    booking is the address's now, so
    that the plan shows what apply does with it (takes it over, or moves it), never a new
    booking apply could not make. Only for a session the manifests hold: one they dropped
    is forgotten once its recorded booking has ended, whatever was booked since."""
    if current is None or current.status not in BOOKED_STATUSES:
        return recorded
    if recorded is None or (recorded.status == CANCELLED and recorded.sid != current.sid):
        return current
    return recorded


def _unreadable(exam_sid: str, enrollment_sid: str) -> ResponseError:
    """The sessions of an enrollment in an exam that reads, when both the exam's report and
    the enrollment's own list answered 404 (RESOURCENOTFOUND)."""
    return ResponseError(
        f"404 RESOURCENOTFOUND for the sessions of enrollment {enrollment_sid} in exam "
        f"{exam_sid}, and for the exam's appointments report, while the exam itself reads: "
        "spsync cannot tell which sessions it has (see docs/api-dialects.md)",
        method="GET",
        path=R_ENROLLMENT_SESSIONS,
    )


class Ranked(Protocol):
    """What ``current_session`` reads of a session: a listed one or an answer model."""

    @property
    def sid(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def statusReason(self) -> str | None: ...
    @property
    def editDate(self) -> str | None: ...
    @property
    def createdDate(self) -> str | None: ...


S = TypeVar("S", bound=Ranked)


def current_session(group: Iterable[S]) -> S | None:
    """The session that holds an enrollment's place in an exam now, out of all its sessions
    of that exam (``None`` when there are none). The same set gives the same pick in any
    order. By rank, the first difference decides:

    1. the session's own status: an active one (booked first: ``Scheduled`` or ``Pending
       Approval``; then ``Onboarding`` / ``In Progress``; then ``Needs Proctor``) over any
       that ended;
    2. the latest ``editDate`` (when it last changed: its cancellation, for a cancelled one),
       then the latest ``createdDate``;
    3. for ended sessions of equal times, a cancellation by unassignment
       (``removed-by-limited-scope``, or a role change's) over any other end: any other
       cancellation of an enrollment still in scope is followed by a new session, so when
       none followed, the unassignment came last;
    4. the SID, only between sessions alike in all of the above.

    Times have one-second precision, so a cancelled session and the one that replaced it
    within the same second tie on both times; the status alone then decides.
    """
    return max(group, key=_current_rank, default=None)


def _current_rank(s: Ranked) -> tuple[int, str, str, bool, str]:
    return (
        _STATUS_RANK.get(s.status, 0),
        s.editDate or "",
        s.createdDate or "",
        _unassigned_end(s),
        s.sid,
    )


def _unexplained_ends(group: list[S]) -> list[str]:
    """The SIDs of the sessions that could be ``group``'s current one, when it is cancelled
    with no reason read: those that ended as it did and at the same times, with no reason
    read either (the reason decides between them; none of them otherwise)."""
    if len(group) == 1:  # most enrollments: one session, read once per plan
        only = group[0]
        unexplained = only.status == CANCELLED and only.statusReason is None
        return [only.sid] if unexplained else []
    current = current_session(group)
    if current is None or current.status != CANCELLED or current.statusReason is not None:
        return []
    tied = _current_rank(current)[:3]
    return [
        s.sid
        for s in group
        if s.status == CANCELLED and s.statusReason is None and _current_rank(s)[:3] == tied
    ]


def _cancelled(current: Ranked | None) -> bool:
    return current is not None and current.status == CANCELLED


def is_assigned(current: Ranked | None) -> bool:
    """Whether an enrollment is assigned to an exam, from its current session (the one
    ``current_session`` picks): any, unless cancelled by unassignment (or by a role change,
    which unassigns)."""
    return current is not None and not _unassigned_end(current)


def _unassigned_end(s: Ranked) -> bool:
    """A session cancelled because its enrollment was unassigned, or left the learner role
    (which unassigns it everywhere: made a learner again, it is assigned to nothing)."""
    return s.status == CANCELLED and s.statusReason in UNASSIGNED_ENDS
