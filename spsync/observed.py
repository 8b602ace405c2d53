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

from typing import Any

from pydantic import Field

from spsync.model import Strict

#: session statuses in which a session can still be scheduled, moved or cancelled
ACTIVE_STATUSES: frozenset[str] = frozenset({"Needs Proctor", "Scheduled"})
#: statuses of a session that is under way or over: nothing to change any more
DONE_STATUSES: frozenset[str] = frozenset({"Onboarding", "In Progress", "Closed"})
CANCELLED = "Cancelled"
SCHEDULED = "Scheduled"
NEEDS_PROCTOR = "Needs Proctor"
#: the statusReason of a session cancelled because its enrollment was unassigned
REMOVED_BY_LIMITED_SCOPE = "removed-by-limited-scope"


class LiveObject(Strict):
    """One live object: its SID, the SIDs it hangs off, its fields in normal form."""

    sid: str | None = None
    refs: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)
    #: sessions only: the live status (``Scheduled``, ``Cancelled``, ...)
    status: str | None = None


class LiveSession(Strict):
    """The live exam session of one enrollment in one exam."""

    sid: str
    status: str
    statusReason: str | None = None
    enrollment: str
    appointment: str | None = None
    type: str | None = None
    proctorLocation: str | None = None
    externalAppointmentId: str | None = None
    notes: str | None = None
    created: str | None = None


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
