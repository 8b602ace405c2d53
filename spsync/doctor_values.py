"""The values of ``spsync doctor``'s judgement: the probes, one ``Answer`` per probe, the
``Check`` of one call and the ``Report`` of one install; the limits and fields the
judgement looks for. Pure (``spsync.doctor`` says how they are made).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: every probe, in the order it is sent, and what it reads
PROBES: dict[str, str] = {
    "settings": "install settings (token and install check)",
    "users": "user list, first page",
    "users-paging": "user list, pages of one (paging links)",
    "user": "user profile",
    "report": "appointments report, first page",
    "report-status-one": "appointments report, one status filter",
    "report-status-repeated": "appointments report, status filter repeated",
    "report-limit-over": "appointments report, a page larger than spsync asks for",
    "course": "course",
    "exams": "exam list of the course, first page",
    "exam": "exam",
    "enrollments": "enrollment list of the course, first page",
    "sessions": "session list of the enrollment and exam, first page",
    "session": "session details",
    "unknown-sid": "a well-formed course SID that does not exist (error body)",
    "unknown-route": "a path no route serves (error body)",
}

#: probes that expect an error or test a limit: their answer is a finding, never a problem
DELIBERATE = frozenset(
    {
        "report-status-one",
        "report-status-repeated",
        "report-limit-over",
        "unknown-sid",
        "unknown-route",
    }
)

#: the page size spsync asks for, and the larger one a probe tries
PAGE_LIMIT = 100
LIMIT_OVER = PAGE_LIMIT + 1

#: the fields of an appointment (a report row, a session) the vendor's documents leave out
_APPOINTMENT = (
    "createdDate",
    "editDate",
    "externalAppointmentId",
    "notes",
    "proctorLocationSid",
    "statusReason",
)

#: fields spsync reads where the vendor's documents leave them out: absent means unobservable
WATCHED: dict[str, tuple[str, ...]] = {
    "users": ("apiId", "currencyCode", "externalId", "lmsId"),
    "user": ("apiId", "currencyCode", "externalId", "lmsId"),
    "report": _APPOINTMENT,
    "course": ("ids",),
    "exams": ("description", "ids"),
    "exam": ("description", "ids"),
    "sessions": ("createdDate", "editDate", "externalAppointmentId"),
    "session": _APPOINTMENT,
}

#: the envelope of a list page (api-contract §7)
ENVELOPE = ("count", "first", "last", "next", "offset", "prev", "results", "total")


#: a SID of a kind doctor reads (or the install's)
SID = re.compile(r"^(AI|CU|EX|EN|ES|US)[a-f0-9]{32}$")


@dataclass(frozen=True)
class Answer:
    """One probe: the GET sent and what came back, or why it was not sent.

    ``body`` is the parsed JSON (``None`` when absent or not JSON: then ``is_json`` is
    false). ``headers``: the rate-limit and content-type headers, names lower-cased.
    ``error``: the API's error in spsync's words (a non-2xx answer) or the transport
    failure. ``unreadable``: why spsync's reader refuses a 2xx body (it expects another
    shape). ``skipped``: why the probe was not sent (a SID nothing gave).
    """

    probe: str
    route: str
    path: str = ""
    query: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    body: Any = None
    is_json: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    unreadable: str | None = None
    skipped: str | None = None
    #: 429 answers waited out before this one
    throttled: int = 0

    @property
    def call(self) -> str:
        """``GET route?query`` with the route's placeholders (the same for every install)."""
        q = "&".join(f"{k}={{{k}}}" if SID.match(v) else f"{k}={v}" for k, v in self.query)
        return f"GET {self.route}{'?' + q if q else ''}"

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Check:
    """What one probe showed: its outcome, the fields of the object (or first list item)
    and one line per finding."""

    answer: Answer
    outcome: str
    fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The whole verdict on one tenant's install."""

    tenant: str
    install: str
    api_url: str
    checks: list[Check]
    #: form key -> what the install answers with (``None``: not observed)
    forms: dict[str, Any]
    #: ``what.field`` spsync reads but the install did not return
    unobservable: list[str]
    #: ``api.dialect`` setting -> {"value": ..., "why": ...}
    dialect: dict[str, dict[str, Any]]
    #: what stops spsync (exit 1)
    problems: list[str]
    #: what spsync can live with but a user should know
    warnings: list[str]
    #: kind -> (SID, where it came from) of the objects read
    sids: dict[str, tuple[str, str]]
    #: which dialect of spsync's simulator the answers resemble: contract, vendor, mixed
    resembles: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def first_item(body: Any) -> dict[str, Any] | None:
    """A list page's first item (``None`` when it has none)."""
    results = body.get("results") if isinstance(body, dict) else None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return results[0]
    return None


def object_of(answer: Answer) -> dict[str, Any] | None:
    """The object a probe read: the body, or a list's first item."""
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    if "results" in answer.body:
        return first_item(answer.body)
    return answer.body
