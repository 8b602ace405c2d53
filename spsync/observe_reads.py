"""What every part of observation shares: the tenant's desired world, state and client; what
was found so far (``Observed``'s parts as they fill); the batched list reads (each
course's enrollments, each exam's sessions: read once, however many lookups need them).

Read-only: nothing here changes anything live."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from spsync.api import wire
from spsync.api.client import Client
from spsync.errors import NotFoundError
from spsync.model import Desired, kind_of, trusted
from spsync.observed import LiveObject, LiveSession
from spsync.state import State
from spsync.translate import OBSERVABLE, unobserved_of

T = TypeVar("T")


def live_object(
    *,
    sid: str | None = None,
    refs: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
    status: str | None = None,
) -> LiveObject:
    """A ``LiveObject`` from data observation built itself: constructed without
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
        self._enrollment_lists: dict[str, list[wire.Enrollment] | None] = {}
        self._session_lists: dict[str, list[wire.Session] | None] = {}

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
        got = await read_all(*(maybe_missing(self.c.list_enrollments(c)) for c in todo))
        self._enrollment_lists.update(zip(todo, got, strict=True))

    async def fetch_sessions(self, exam_sids: Iterable[str]) -> None:
        """Read every session of each exam not read yet (the appointments report, paged)."""
        todo = sorted(set(exam_sids) - set(self._session_lists))
        got = await read_all(*(maybe_missing(self.c.appointments(exam_sid=e)) for e in todo))
        self._session_lists.update(zip(todo, got, strict=True))

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
