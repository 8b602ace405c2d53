"""The field types of the API's bodies: SIDs, date-times, secrets read, currencies.

What ``wire``'s models are built of (and what ``wire`` re-exports): the SID pattern of
each entity (``is_sid``, ``PREFIX``), request date-times (UTC, ``Z``) and response
date-times normalised to ``YYYY-MM-DDTHH:MM:SSZ`` (``normalise_time``; one without a zone
is refused), session statuses in the documents' spelling (``normal_status``), and the
secrets a response may carry (never printed).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from spsync.secrets import Secret

# --- identifiers ---------------------------------------------------------------------------

SID_HEX = "[a-f0-9]{32}"


def sid_pattern(*prefixes: str) -> str:
    """The regular expression of a SID with one of ``prefixes`` (``XX`` + 32 lowercase hex)."""
    return rf"^(?:{'|'.join(prefixes)}){SID_HEX}$"


def is_sid(value: object, *prefixes: str) -> bool:
    """True when ``value`` is a well-formed SID with one of ``prefixes``."""
    return isinstance(value, str) and re.fullmatch(sid_pattern(*prefixes), value) is not None


def _sid(*prefixes: str) -> StringConstraints:
    """The constraint of a SID field (written out as ``Annotated[str, _sid(...)]`` at each
    alias, so that type checkers see a type)."""
    return StringConstraints(pattern=sid_pattern(*prefixes))


InstallSid = Annotated[str, _sid("AI")]
IntegrationSid = Annotated[str, _sid("II")]
CourseSid = Annotated[str, _sid("CU")]
UserSid = Annotated[str, _sid("US")]
EnrollmentSid = Annotated[str, _sid("EN")]
ExamSid = Annotated[str, _sid("EX")]
ConfigurationSid = Annotated[str, _sid("EC")]
SessionSid = Annotated[str, _sid("ES")]
ProctorTypeSid = Annotated[str, _sid("TS")]
#: proctor locations: ``PL`` only, as the vendor's schedule schema requires (its guide's
#: ``PT…`` example is refused there; manifests refuse it at validate)
ProctorLocationSid = Annotated[str, _sid("PL")]
#: what a read may carry: also ``PT`` (a session booked the guide's way elsewhere is still
#: read, never refused whole)
ReadProctorLocationSid = Annotated[str, _sid("PL", "PT")]

#: the prefix of each entity's SID, for path parameters and provision results
PREFIX = {
    "install": ("AI",),
    "integration": ("II",),
    "course": ("CU",),
    "user": ("US",),
    "enrollment": ("EN",),
    "exam": ("EX",),
    "configuration": ("EC",),
    "session": ("ES",),
    "proctorType": ("TS",),
    "proctorLocation": ("PL",),
}

# --- times ---------------------------------------------------------------------------------

#: what a request may carry: ISO-8601 UTC ending in ``Z`` (contract §1)
UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$"
RequestTime = Annotated[str, StringConstraints(pattern=UTC_PATTERN)]


_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
#: UTC with a fraction of a second (how the service writes most of its times)
_FRACTION_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\.[0-9]{1,6}Z")


#: why a time without a zone or offset is refused (a guess would move bookings)
NAIVE_TIME = (
    "a time without a time zone: spsync cannot tell which instant it is, and reads no "
    "answer that has one (docs/api-dialects.md#times)"
)


def normalise_time(value: Any) -> Any:
    """Any ISO-8601 date-time with a zone or offset -> ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    A time without one is refused (``ValueError``, ``NAIVE_TIME``): the vendor does not
    document the zone of its answers, and taking such a time for UTC (or for any zone) is
    a guess that would plan reschedules and exam updates from it. Non-strings and
    unparseable text are passed through for pydantic to reject.
    """
    if not isinstance(value, str):
        return value
    if _CANONICAL_TIME.fullmatch(value):
        # already in normal form (what the service sends): parsing and formatting it again
        # gives the same text, and costs more than the rest of a session's validation
        return value
    fraction = _FRACTION_TIME.fullmatch(value)
    if fraction is not None:
        # the normal form drops the fraction (it is not rounded): the same text as parsing
        # and formatting it, at a tenth of the cost, on every time of every answer
        return fraction[1] + "Z"
    return reparse_time(value)


def reparse_time(value: str) -> str:
    """``value`` parsed as ISO 8601 and written back in normal form (unchanged when it does
    not parse: the pattern check that follows reports it; ``ValueError`` when it has no
    zone or offset)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if parsed.tzinfo is None:
        raise ValueError(NAIVE_TIME)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ResponseTime = Annotated[
    str, BeforeValidator(normalise_time), StringConstraints(pattern=UTC_PATTERN)
]


# --- session statuses ----------------------------------------------------------------------

#: every session status the vendor's documents name, in their spelling
#: (docs/api-dialects.md#statuses)
SESSION_STATUSES: tuple[str, ...] = (
    "Needs Proctor",
    "Pending Approval",
    "Approval Denied",
    "Scheduled",
    "Onboarding",
    "Checked In",
    "In Progress",
    "Processing",
    "Incident",
    "Pending Review",
    "Closed",
    "Cancelled",
    "Completed",
)


def _status_key(status: str) -> str:
    return " ".join(status.replace("_", " ").replace("-", " ").casefold().split())


_STATUS_OF_KEY: dict[str, str] = {_status_key(s): s for s in SESSION_STATUSES} | {
    "canceled": "Cancelled"
}
_DOCUMENTED: frozenset[str] = frozenset(SESSION_STATUSES)


def normal_status(value: str) -> str:
    """A session status as the documents spell it, however the service writes it (any
    casing, ``_`` or ``-`` for a space: ``SCHEDULED``, ``needs_proctor``, ``in-progress``,
    ``Canceled``). Read once, where answers are read, so every comparison after it is
    exact; a status no document names is kept as sent (and counts as booked)."""
    if value in _DOCUMENTED:
        return value
    return _STATUS_OF_KEY.get(_status_key(value), value)


SessionStatus = Annotated[str, AfterValidator(normal_status)]


def _read_secret(value: Any) -> Any:
    if isinstance(value, str):
        return Secret(value, "api")
    return value


#: a secret read from a response (an exam password, a signon token): never printed
ReadSecret = Annotated[Secret, BeforeValidator(_read_secret)]

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
