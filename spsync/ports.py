"""The seams of the executor: what ``apply`` needs of the API client and of the state store.

``apply.Executor`` is given objects, not modules: the API client (``spsync.api.client.
Client``, which tests run against the simulator) and the state store (``spsync.store.
StateStore``). These Protocols name the part of each that it uses, so that a type
checker holds both sides to it and a reader sees the executor's whole reach in one place.
``WorkContext`` is the other way round: what the executor's work (provision calls, session
booking) uses of the executor.
Types only: nothing here runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # annotations only: importing spsync.api at run time would load the client itself
    from spsync.api import wire
    from spsync.api.client import Client
    from spsync.apply import Executor
    from spsync.model import Desired
    from spsync.observed import LiveSession
    from spsync.plan import Adoption, Change
    from spsync.state import ResourceState, State
    from spsync.store import StateStore


class WriteClient(Protocol):
    """The API calls an apply makes: writes, and the reads that settle their outcome."""

    async def provision(self, body: wire.ProvisionRequest) -> wire.ProvisionResponse: ...

    async def update_assignments(
        self,
        course_sid: str,
        exam_sid: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        limited: bool = True,
    ) -> wire.AssignmentList | None: ...

    async def schedule_session(
        self, exam_sid: str, session_sid: str, req: wire.ScheduleRequest, *, enrollment_sid: str
    ) -> wire.Session: ...

    async def reschedule_session(
        self, exam_sid: str, session_sid: str, appointment: str, *, notes: str | None = None
    ) -> wire.Session: ...

    async def cancel_session(
        self, exam_sid: str, session_sid: str, *, memo: str, reason: str = "other-reason"
    ) -> wire.Session: ...

    async def get_session(self, exam_sid: str, session_sid: str) -> wire.Session: ...

    async def get_exam(self, course_sid: str, exam_sid: str) -> wire.Exam: ...

    async def list_enrollment_sessions(
        self, enrollment_sid: str, exam_sid: str, *, include_active: bool = True
    ) -> list[wire.Session]: ...

    async def each_exam_session(
        self,
        exam_sid: str,
        take: Callable[[list[wire.SessionRow]], object],
        *,
        status: Sequence[str] = (),
    ) -> None: ...


class StateSaver(Protocol):
    """Where an apply saves the state (atomically, serial + 1) and keeps its journal."""

    @property
    def directory(self) -> Path: ...

    def save(self, state: State) -> State: ...


class WorkContext(Protocol):
    """What the executor's work (``provisioning``, ``booking``) uses of the run it is part
    of: the manifests, the state as it is now, the client, what the plan adopted and saw,
    and the recording of each success."""

    @property
    def desired(self) -> Desired: ...

    @property
    def state(self) -> State: ...

    @property
    def client(self) -> WriteClient: ...

    @property
    def adopt(self) -> dict[str, Adoption]: ...

    @property
    def live_sessions(self) -> dict[str, LiveSession]: ...

    def applied_of(self, address: str) -> dict[str, Any]:
        """The drift baseline to record for ``address``."""
        ...

    def put(self, address: str, resource: ResourceState) -> None:
        """Record ``resource`` at ``address`` (journal first)."""
        ...

    def drop(self, address: str) -> None:
        """Forget ``address`` (journal first)."""
        ...

    def done(self, change: Change) -> None:
        """Count ``change`` as done."""
        ...

    def sid(self, address: str, needed_by: str) -> str:
        """The SID recorded for ``address``; ``ApplyError`` naming ``needed_by`` without."""
        ...

    def aside(self) -> AbstractAsyncContextManager[None]:
        """While inside, the operation waits for what another one is reading for it and
        makes no call: its place among the operations run at once is lent to the next."""
        ...


if TYPE_CHECKING:

    def _implemented(
        client: Client, store: StateStore, executor: Executor
    ) -> tuple[WriteClient, StateSaver, WorkContext]:
        """The real client, store and executor fit the seams (checked by mypy, never
        called)."""
        return client, store, executor
