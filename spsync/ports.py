"""The seams of the executor: what ``apply`` needs of the API client and of the state store.

``apply.Executor`` is given objects, not modules: the API client (``spsync.api.client.
Client``, which tests run against the simulator) and the state store (``spsync.store.
StateStore``). These Protocols name the part of each that it uses, so that a type
checker holds both sides to it and a reader sees the executor's whole reach in one place.
Types only: nothing here runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # annotations only: importing spsync.api at run time would load the client itself
    from spsync.api import wire
    from spsync.api.client import Client
    from spsync.state import State
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

    async def list_enrollment_sessions(
        self, enrollment_sid: str, exam_sid: str, *, include_active: bool = True
    ) -> list[wire.Session]: ...

    async def appointments(
        self,
        *,
        exam_sid: str | None = None,
        course_sid: str | None = None,
        status: Sequence[str] = (),
        learner_sid: str | None = None,
        appointment_after: str | None = None,
        appointment_before: str | None = None,
    ) -> list[wire.Session]: ...


class StateSaver(Protocol):
    """Where an apply saves the state (atomically, serial + 1) and keeps its journal."""

    @property
    def directory(self) -> Path: ...

    def save(self, state: State) -> State: ...


if TYPE_CHECKING:

    def _implemented(client: Client, store: StateStore) -> tuple[WriteClient, StateSaver]:
        """The real client and store fit the seams (checked by mypy, never called)."""
        return client, store
