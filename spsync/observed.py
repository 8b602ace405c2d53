"""What observation found live: pure data, built by ``observe.observe()`` (or by hand in tests).

Live objects are keyed by address and given in the manifests' normal form (the field names
and normalisation of ``spsync.model``: UTC ``…Z`` times, lower-cased e-mails, empty option
maps left out), so the planner compares like with like. A live secret (an exam's
``configuration.password``) stays a ``Secret``; the planner fingerprints it with the
tenant's key and never shows it.

- ``objects``: the live object of an address spsync manages (present in state).
- ``missing``: addresses present in state whose object is gone remotely (deleted, or for an
  assignment: no longer assigned).
- ``adopted``: live objects found for addresses *not yet* in state (first contact: a user
  found by its external/api/lms id, an enrollment of a known user in a known course, an
  assignment or scheduled session of a known enrollment). The planner adopts them instead of
  creating them again.
- ``sessions``: for each session and assignment address whose enrollment and exam are known,
  the live exam session that holds that enrollment's place in the exam now (its active one,
  else the last to end: ``observe_sessions.current_session``): apply uses it to find the
  session to schedule or reschedule.
- ``unreachable``: addresses whose live object could not be looked up (e.g. an exam whose
  course has no SID yet); the planner treats them as not observed.
- ``unobserved``: fields the service's reads do not return (docs/api-dialects.md). A live
  object's ``fields`` hold only what was read, so a field absent there is *unknown*, never
  "changed": the planner keeps its last applied value.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from spsync.model import Strict

#: session statuses in which a session can still be scheduled, moved or cancelled (a
#: booking waiting for the approval an exam may require is one)
ACTIVE_STATUSES: frozenset[str] = frozenset({"Needs Proctor", "Scheduled", "Pending Approval"})
#: statuses of a session that is under way or over: nothing to change any more (every one
#: the vendor's documents name; a status is read in their spelling, ``wire_types``)
DONE_STATUSES: frozenset[str] = frozenset(
    {
        "Onboarding",
        "Checked In",
        "In Progress",
        "Processing",
        "Incident",
        "Pending Review",
        "Closed",
        "Completed",
    }
)
#: statuses of a session with an appointment that has not begun (booked, or waiting for
#: the approval an exam may require)
BOOKED_STATUSES: frozenset[str] = frozenset({"Scheduled", "Pending Approval"})
CANCELLED = "Cancelled"
SCHEDULED = "Scheduled"
NEEDS_PROCTOR = "Needs Proctor"
#: the statusReason of a session cancelled because its enrollment was unassigned
REMOVED_BY_LIMITED_SCOPE = "removed-by-limited-scope"
#: the statusReason of a session cancelled because its enrollment left the learner role,
#: which also drops the enrollment from every assignment list of its course (docs/sandbox.md)
ENROLLMENT_ROLE_CHANGED = "enrollment-role-changed"
#: the statusReasons of a session ended by an unassignment (a role change unassigns too)
UNASSIGNED_ENDS: frozenset[str] = frozenset({REMOVED_BY_LIMITED_SCOPE, ENROLLMENT_ROLE_CHANGED})


class _Record:
    """Base of the live records: plain slotted objects, not models.

    A refresh of 20,000 students builds 100,000 of them; a pydantic instance is ~270 bytes
    before its fields (its ``__dict__``, its fields set) and costs validation or a trusted
    construction, a slotted object 8 bytes a field. They are built by observation (or by
    hand in tests) and never changed afterwards: the planner, apply and the plan's
    fingerprints read them. Equal when of one class with equal fields; ``replace`` gives a
    copy with some fields changed; ``as_dict`` every field by name."""

    __slots__ = ()
    #: the field names, in order
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        """Every field by name, in order."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field name -> value); unknown names are a ``TypeError``."""
        return type(self)(**{**self.as_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.FIELDS)

    # like the frozen models they replace, they hold dicts: not hashable
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.FIELDS)
        return f"{type(self).__name__}({fields})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # a field of a model (``Observed``) holding one: taken as it is, an instance or an error
        return core_schema.is_instance_schema(cls)


class LiveObject(_Record):
    """One live object: its SID, the SIDs it hangs off, its fields in normal form."""

    __slots__ = ("fields", "refs", "sid", "status")
    FIELDS = ("sid", "refs", "fields", "status")

    def __init__(
        self,
        sid: str | None = None,
        refs: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> None:
        self.sid = sid
        self.refs: dict[str, str] = {} if refs is None else refs
        self.fields: dict[str, Any] = {} if fields is None else fields
        #: sessions only: the live status (``Scheduled``, ``Cancelled``, ...)
        self.status = status


class LiveSession(_Record):
    """The live exam session of one enrollment in one exam."""

    __slots__ = (
        "appointment",
        "created",
        "enrollment",
        "externalAppointmentId",
        "notes",
        "proctorLocation",
        "sid",
        "status",
        "statusReason",
        "type",
    )
    FIELDS = (
        "sid",
        "status",
        "statusReason",
        "enrollment",
        "appointment",
        "type",
        "proctorLocation",
        "externalAppointmentId",
        "notes",
        "created",
    )

    def __init__(
        self,
        *,
        sid: str,
        status: str,
        statusReason: str | None = None,
        enrollment: str,
        appointment: str | None = None,
        type: str | None = None,
        proctorLocation: str | None = None,
        externalAppointmentId: str | None = None,
        notes: str | None = None,
        created: str | None = None,
    ) -> None:
        self.sid = sid
        self.status = status
        self.statusReason = statusReason
        self.enrollment = enrollment
        self.appointment = appointment
        self.type = type
        self.proctorLocation = proctorLocation
        self.externalAppointmentId = externalAppointmentId
        self.notes = notes
        self.created = created


class Observed(Strict):
    """The live side of one tenant, as far as the planner needs it."""

    objects: dict[str, LiveObject] = Field(default_factory=dict)
    missing: frozenset[str] = Field(default_factory=frozenset)
    adopted: dict[str, LiveObject] = Field(default_factory=dict)
    sessions: dict[str, LiveSession] = Field(default_factory=dict)
    unreachable: frozenset[str] = Field(default_factory=frozenset)
    #: per kind, the normal-form fields some read of it did not return (the service does not
    #: show them): the planner keeps their last applied values and says so once
    unobserved: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: API calls made to observe (for -v and benchmarks)
    calls: int = 0
