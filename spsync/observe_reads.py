"""What every part of observation shares: the tenant's desired world, state and client; what
was found so far (``Observed``'s parts as they fill); the batched list reads (each
course's enrollments, each exam's sessions: read once, however many lookups need them).

Read-only: nothing here changes anything live."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from typing import Any, NamedTuple, TypeVar

from spsync.api import wire
from spsync.api.client import Client
from spsync.errors import NotFoundError
from spsync.model import Desired, kind_of
from spsync.observed import LiveObject, LiveSession
from spsync.sharing import share, share_values
from spsync.state import State
from spsync.translate import OBSERVABLE, live_session, session_row_sent, unobserved_of

T = TypeVar("T")


def shared_live_object(
    *, sid: str, refs: dict[str, str] | None = None, fields: dict[str, Any]
) -> LiveObject:
    """The ``LiveObject`` of an answer read whole (a course, an exam: a few per tenant),
    every text in it, nested ones included, made the run's shared object first.

    The live objects of the large lists (users, enrollments, assignments, sessions) are
    built as they are instead: their texts are shared once where they are read, or taken
    from the state and from objects built before (``spsync.sharing``)."""
    return LiveObject(share(sid), share_values(refs) if refs else {}, share_values(fields))


class ListedEnrollment(NamedTuple):
    """What observation uses of a listed enrollment (its answer model is let go); ``role``
    is ``None`` when the row left it out or sent ``null`` (unknown either way)."""

    sid: str
    courseSid: str | None
    userSid: str
    role: str | None


class ListedSession:
    """What observation uses of a listed session: its ``LiveSession`` (what the planner
    gets), its ``editDate`` (to rank it) and which managed fields the service sent. Built
    from its row (``wire.SessionRow``), which is let go with its page: a tenant of 100,000
    students lists 100,000 sessions."""

    __slots__ = ("editDate", "live", "sent")

    def __init__(self, row: wire.SessionRow, enrollment: str | None = None) -> None:
        self.live = live_session(row, enrollment)
        self.editDate = row.get("editDate")
        sent = session_row_sent(row)
        self.sent = _SENT.setdefault(sent, sent)

    @property
    def sid(self) -> str:
        return self.live.sid

    @property
    def status(self) -> str:
        return self.live.status

    @property
    def statusReason(self) -> str | None:
        return self.live.statusReason

    @property
    def createdDate(self) -> str | None:
        return self.live.created

    @property
    def enrollmentSid(self) -> str:
        return self.live.enrollment

    def fields(self) -> dict[str, Any]:
        """The session's managed fields in normal form (``translate.session_row_fields``):
        the live session holds them under the same names."""
        live = self.live
        return {name: getattr(live, name) for name in self.sent}


# the few combinations of managed fields a service sends, one tuple each
_SENT: dict[tuple[str, ...], tuple[str, ...]] = {}


async def read_all(*aws: Awaitable[T]) -> list[T]:
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


async def maybe_missing(aw: Awaitable[T]) -> T | None:
    """The result, or ``None`` when the object does not exist (404)."""
    try:
        return await aw
    except NotFoundError:
        return None


class Reads:
    """The observer's shared state and reads; the lookups of each kind build on it."""

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
        #: course SID -> its enrollments; exam SID -> its sessions (None: not found)
        self._enrollment_lists: dict[str, list[ListedEnrollment] | None] = {}
        self._session_lists: dict[str, list[ListedSession] | None] = {}

    def note(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields``, after noting which of its kind's fields the read left out."""
        if kind == "exam" or len(fields) < len(OBSERVABLE[kind]):
            self.unobserved[kind].update(unobserved_of(kind, fields))
        return fields

    def in_state(self, kind: str) -> dict[str, Any]:
        """The state records of ``kind``, by address."""
        return self._by_kind.get(kind, {})

    async def fetch_enrollments(self, course_sids: Iterable[str]) -> None:
        """Read the enrollment list of each course not read yet (paged)."""
        todo = sorted(set(course_sids) - set(self._enrollment_lists))
        got = await read_all(*(maybe_missing(self._enrollments_of(c)) for c in todo))
        self._enrollment_lists.update(zip(todo, got, strict=True))

    async def _enrollments_of(self, course_sid: str) -> list[ListedEnrollment]:
        out: list[ListedEnrollment] = []

        def take(page: list[wire.EnrollmentRow]) -> None:
            out.extend(
                ListedEnrollment(e["sid"], e.get("courseSid"), e["userSid"], e.get("role"))
                for e in page
            )

        await self.c.each_enrollment(course_sid, take)
        return out

    async def fetch_sessions(self, exam_sids: Iterable[str]) -> None:
        """Read every session of each exam not read yet (the appointments report, paged)."""
        todo = sorted(set(exam_sids) - set(self._session_lists))
        got = await read_all(*(maybe_missing(self._sessions_of(e)) for e in todo))
        self._session_lists.update(zip(todo, got, strict=True))

    async def _sessions_of(self, exam_sid: str) -> list[ListedSession]:
        out: list[ListedSession] = []

        def take(page: list[wire.SessionRow]) -> None:
            out.extend(ListedSession(s) for s in page)

        await self.c.each_exam_session(exam_sid, take)
        return out

    def sid(self, address: str) -> str | None:
        """The SID of ``address`` from state, or from what was adopted so far."""
        rec = self.s.resources.get(address)
        if rec is not None and rec.sid:
            return rec.sid
        found = self.adopted.get(address)
        return found.sid if found is not None else None

    def found(self, address: str, obj: LiveObject | None) -> None:
        """Record the live object of an address in state (``None``: it is gone)."""
        if obj is None:
            self.missing.add(address)
        else:
            self.objects[address] = obj
