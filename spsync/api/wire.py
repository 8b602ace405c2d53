"""Request and response models of the SmarterProctoring API (api-contract.md).

The API's shape is not the manifest's shape, so these are separate from ``spsync.model``.

- **Requests** are strict (``extra="forbid"``, typed, SID patterns checked): a mistake is
  caught before anything is sent.
- **Responses** are tolerant of what the real service may add (unknown fields are ignored,
  optional fields may be absent or ``null``, unknown status/result strings are kept as
  text) but strict on what spsync relies on: a SID of the wrong prefix or a missing
  required field is an error (the client turns it into ``ResponseError``).
- Date-times in responses are normalised to ``YYYY-MM-DDTHH:MM:SSZ`` (the manifests' normal
  form), whatever precision or offset the service uses, so drift checks compare equal.
- The field types (SIDs, date-times, secrets read) are in ``wire_types``; the names
  callers use through ``wire`` (``is_sid``, ``normalise_time``...) are re-exported here.
- Exam passwords are ``Secret`` both ways. A request's password is revealed only by
  ``request_json()``, which the client calls when it sends the body; every other dump
  shows ``(sensitive)``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, Literal, Required, TypeVar, cast

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    JsonValue,
    StringConstraints,
    field_serializer,
    model_validator,
)

# pydantic reads a TypedDict of ``typing`` only from Python 3.12
from typing_extensions import TypedDict

from spsync.api import aliases
from spsync.api.wire_types import (
    PREFIX,
    ConfigurationSid,
    CourseSid,
    CurrencyCode,
    EnrollmentSid,
    ExamSid,
    InstallSid,
    IntegrationSid,
    ProctorLocationSid,
    ProctorTypeSid,
    ReadProctorLocationSid,
    ReadSecret,
    RequestTime,
    ResponseTime,
    SessionSid,
    SessionStatus,
    UserSid,
    is_sid,
)
from spsync.api.wire_types import normalise_time as normalise_time
from spsync.api.wire_types import reparse_time as reparse_time
from spsync.model import share_fields_set
from spsync.secrets import MASK, Secret

# --- bases ---------------------------------------------------------------------------------


class Request(BaseModel):
    """Base of request bodies: strict, immutable; only ``request_json`` reveals secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Response(BaseModel):
    """Base of response bodies: unknown fields ignored (the service may add some)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        # a refresh reads a page per 100 objects: at 100,000 students, 300,000 of these are
        # alive at once, each with its own set of given field names (728 bytes) unless
        # instances of one shape share it
        share_fields_set(self)


class _Reveal:
    """Serialisation context that lets a Secret through, and records what it let through.

    The record lets the client scrub revealed values from any error text it builds.
    """

    __slots__ = ("revealed",)

    def __init__(self) -> None:
        self.revealed: list[str] = []


def request_json(body: Request) -> tuple[bytes, list[str]]:
    """The body as sent: JSON bytes with secrets revealed, plus the revealed values.

    Called only by the client's request choke point. ``None`` fields are left out: the API
    treats an absent field as "not sent", which is what an unmanaged field means.
    """
    ctx = _Reveal()
    data = body.model_dump(mode="json", exclude_none=True, context=ctx)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(), ctx.revealed


def _serialise_secret(value: Secret, info: FieldSerializationInfo) -> str:
    ctx = info.context
    if isinstance(ctx, _Reveal):
        ctx.revealed.append(value.reveal())
        return value.reveal()
    return MASK


# --- provision (request) -------------------------------------------------------------------


class Ids(Request):
    """Exactly one identifier: ``sid``, ``api``, ``external`` or ``lms`` (contract §2)."""

    sid: str | None = None
    api: Annotated[str, StringConstraints(min_length=1)] | None = None
    external: Annotated[str, StringConstraints(min_length=1)] | None = None
    lms: Annotated[str, StringConstraints(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Ids:
        given = [k for k in ("sid", "api", "external", "lms") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of sid, api, external, lms is required, got {given}")
        return self


class CourseIds(Ids):
    @model_validator(mode="after")
    def _sid_prefix(self) -> CourseIds:
        if self.sid is not None and not is_sid(self.sid, "CU"):
            raise ValueError("sid must be CU + 32 lowercase hex")
        return self


class UserIds(Ids):
    @model_validator(mode="after")
    def _sid_prefix(self) -> UserIds:
        if self.sid is not None and not is_sid(self.sid, "US"):
            raise ValueError("sid must be US + 32 lowercase hex")
        return self


class ExamIds(Ids):
    """Exams accept only ``sid`` or ``external``."""

    @model_validator(mode="after")
    def _sid_or_external(self) -> ExamIds:
        if self.api is not None or self.lms is not None:
            raise ValueError("an exam is identified by sid or external only")
        if self.sid is not None and not is_sid(self.sid, "EX"):
            raise ValueError("sid must be EX + 32 lowercase hex")
        return self


class Window(Request):
    open: RequestTime
    close: RequestTime


class ProctorTypeSetting(Request):
    """``{}`` or ``{"options": {"recordScreen": {}, ...}}``."""

    options: dict[str, dict[str, JsonValue]] | None = None


class ExamNotes(Request):
    student: str | None = None
    proctor: str | None = None


class PermittedItemSetting(Request):
    notes: str | None = None


PermittedItemName = Literal[
    "bathroomBreak",
    "calculator",
    "dictionary",
    "earplugs",
    "formulaSheet",
    "notes",
    "textbook",
    "websites",
]


class ExamConfigurationRequest(Request):
    """An exam's primary configuration as sent (replaced as a whole when sent)."""

    url: str
    access: Window
    scheduling: Window | None = None
    duration: Annotated[int, Field(gt=0)]
    password: Secret
    attempts: Annotated[int, Field(gt=0)] | None = None
    proctorTypes: dict[ProctorTypeSid, ProctorTypeSetting]
    notes: ExamNotes | None = None
    permittedItems: dict[PermittedItemName, PermittedItemSetting] | None = None

    @field_serializer("password")
    def _password(self, value: Secret, info: FieldSerializationInfo) -> str:
        return _serialise_secret(value, info)


class ProvisionCourse(Request):
    ids: CourseIds
    title: str | None = None
    code: str | None = None


class ProvisionExam(Request):
    ids: ExamIds
    title: str | None = None
    description: str | None = None
    type: Literal["online", "written"] | None = None
    limitedScope: bool | None = None
    configuration: ExamConfigurationRequest | None = None


class ProvisionUser(Request):
    ids: UserIds
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    timeZone: str | None = None
    currencyCode: CurrencyCode | None = None


class ProvisionEnrollment(Request):
    role: Literal["learner", "instructor"] | None = None


class ProvisionSignon(Request):
    integrationSid: IntegrationSid


class ProvisionRequest(Request):
    """``POST /v2/installs/{installSid}/provision`` body (contract §4)."""

    course: ProvisionCourse
    exam: ProvisionExam | None = None
    user: ProvisionUser | None = None
    enrollment: ProvisionEnrollment | None = None
    signon: ProvisionSignon | None = None

    @model_validator(mode="after")
    def _enrollment_needs_user(self) -> ProvisionRequest:
        if self.enrollment is not None and self.user is None:
            raise ValueError("enrollment is only allowed together with user")
        return self


# --- provision (response) ------------------------------------------------------------------


class ProvisionResult(Response):
    """One entity's outcome: ``Created``, ``Found Existing`` or ``Updated`` (kept as text)."""

    sid: str
    result: str

    @property
    def created(self) -> bool:
        return self.result == "Created"


class SignonResult(Response):
    redirect: str
    token: ReadSecret | None = None


class ProvisionResponse(Response):
    """Keys appear only for entities present in the request."""

    course: ProvisionResult
    exam: ProvisionResult | None = None
    configuration: ProvisionResult | None = None
    user: ProvisionResult | None = None
    enrollment: ProvisionResult | None = None
    signon: SignonResult | None = None

    @model_validator(mode="after")
    def _prefixes(self) -> ProvisionResponse:
        for key in ("course", "exam", "configuration", "user", "enrollment"):
            part = getattr(self, key)
            if part is not None and not is_sid(part.sid, *PREFIX[key]):
                raise ValueError(f"{key}.sid is not a {'/'.join(PREFIX[key])} SID")
        return self


# --- assignments ---------------------------------------------------------------------------


class EnrollmentRef(Request):
    enrollmentSid: EnrollmentSid


class AssignmentsRequest(Request):
    """``PUT …/courses/{c}/exams/{e}/assignments`` body (contract §5)."""

    add: list[EnrollmentRef] | None = None
    remove: list[EnrollmentRef] | None = None


class AssignmentList(Response):
    """The exam's full assignment list after the change."""

    examSid: ExamSid
    assigned: list[EnrollmentSid]


# --- sessions ------------------------------------------------------------------------------

SessionTypeName = Literal[
    "automated",
    "b-virtual",
    "ad-hoc",
    "instructor-as-proctor",
    "messaging",
    "register-blast",
    "vtc",
    "proctoru",
    "examity",
    "smarter-scheduling",
]

CancelReason = Literal["no-show", "changed-time", "technical-issue", "other-reason"]

#: session statuses the contract names, as every answer's status is spelt once read
#: (``wire_types.normal_status``; others are kept as text)
NEEDS_PROCTOR = "Needs Proctor"
SCHEDULED = "Scheduled"
CANCELLED = "Cancelled"
#: a booking on an exam that requires approval, until it is given (vendor-api-facts)
PENDING_APPROVAL = "Pending Approval"
#: a session with an appointment that has not begun: never booked a second time
BOOKED_STATUSES = frozenset({SCHEDULED, PENDING_APPROVAL})
ACTIVE_STATUSES = frozenset({NEEDS_PROCTOR, *BOOKED_STATUSES})


class ScheduleRequest(Request):
    """``POST …/exams/{e}/sessions/{s}`` body (contract §6.3)."""

    type: SessionTypeName
    proctorLocationSid: ProctorLocationSid
    appointmentDateTime: RequestTime
    amount: Annotated[float, Field(ge=0)] | None = None
    currency: CurrencyCode | None = None
    externalAppointmentId: str | None = None
    notes: str | None = None
    proctorTypeSubCategorySid: ProctorTypeSid | None = None


class RescheduleRequest(Request):
    appointmentDateTime: RequestTime
    notes: str | None = None


class CancelRequest(Request):
    cancellationMemo: Annotated[str, StringConstraints(min_length=1)]
    reason: CancelReason = "other-reason"


class Session(Response):
    """An exam session. List items (§6.1) carry only some fields; the rest are ``None``."""

    sid: SessionSid
    status: SessionStatus
    installSid: InstallSid | None = None
    examSid: ExamSid | None = None
    enrollmentSid: EnrollmentSid | None = None
    userSid: UserSid | None = None
    courseSid: CourseSid | None = None
    statusReason: str | None = None
    sessionType: str | None = None
    proctorLocationSid: ReadProctorLocationSid | None = None
    proctorTypeSid: ProctorTypeSid | None = None
    appointmentDate: ResponseTime | None = None
    appointmentEndDate: ResponseTime | None = None
    duration: int | None = None
    externalAppointmentId: str | None = None
    notes: str | None = None
    createdDate: ResponseTime | None = None
    editDate: ResponseTime | None = None
    dateScheduled: ResponseTime | None = None

    @property
    def active(self) -> bool:
        """``Needs Proctor``, ``Scheduled`` or ``Pending Approval`` (the statuses an apply can
        act on)."""
        return self.status in ACTIVE_STATUSES


class OnboardUrl(Response):
    url: str


# --- reads ---------------------------------------------------------------------------------


class ResponseIds(Response):
    sid: str | None = None
    api: str | None = None
    external: str | None = None
    lms: str | None = None


class Course(Response):
    _aliases = model_validator(mode="before")(aliases.course)

    sid: CourseSid
    title: str | None = None
    code: str | None = None
    ids: ResponseIds | None = None
    createdDate: ResponseTime | None = None
    editDate: ResponseTime | None = None


class ResponseWindow(Response):
    open: ResponseTime | None = None
    close: ResponseTime | None = None


class ResponseNotes(Response):
    student: str | None = None
    proctor: str | None = None


class ResponsePermittedItem(Response):
    notes: str | None = None


class ResponseProctorType(Response):
    options: dict[str, Any] | None = None


class ExamConfiguration(Response):
    """An exam's primary configuration as read; the password (if returned) stays a Secret.

    ``proctorTypeSids``: the proctor types of a v1-shaped read, which names them without
    their options (``proctorTypes`` is then absent)."""

    sid: ConfigurationSid | None = None
    url: str | None = None
    access: ResponseWindow | None = None
    scheduling: ResponseWindow | None = None
    duration: int | None = None
    password: ReadSecret | None = None
    attempts: int | None = None
    proctorTypes: dict[ProctorTypeSid, ResponseProctorType | None] | None = None
    proctorTypeSids: list[ProctorTypeSid] | None = None
    notes: ResponseNotes | None = None
    permittedItems: dict[str, ResponsePermittedItem | None] | None = None


class Exam(Response):
    _aliases = model_validator(mode="before")(aliases.exam)

    sid: ExamSid
    courseSid: CourseSid | None = None
    title: str | None = None
    description: str | None = None
    type: str | None = None
    limitedScope: bool | None = None
    ids: ResponseIds | None = None
    configuration: ExamConfiguration | None = None
    createdDate: ResponseTime | None = None
    editDate: ResponseTime | None = None


class User(Response):
    sid: UserSid
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    timeZone: str | None = None
    currencyCode: str | None = None
    externalId: str | None = None
    apiId: str | None = None
    lmsId: str | None = None


class Enrollment(Response):
    _aliases = model_validator(mode="before")(aliases.enrollment)

    sid: EnrollmentSid
    userSid: UserSid
    courseSid: CourseSid | None = None
    role: str | None = None
    state: str | None = None


def _proctor_type_sids(value: Any) -> Any:
    """Enabled proctor types as a list of TS SIDs, whichever shape the service uses.

    Accepted: ``["TS…"]``, ``[{"sid": "TS…", ...}]`` and ``{"TS…": {...}}``.
    """
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, list):
        return [v.get("sid") if isinstance(v, dict) else v for v in value]
    return value


class Settings(Response):
    """Install settings (contract §8)."""

    defaultTimezone: str | None = None
    defaultCurrencyCode: str | None = None
    proctorTypes: Annotated[list[ProctorTypeSid], BeforeValidator(_proctor_type_sids)] = []


# --- rows: what observation reads of the large lists --------------------------------------
#
# A refresh reads every user, enrollment and session of a tenant (three lists of 20,000
# rows at 20,000 students) and keeps a few fields of each. Their rows are read into plain
# dicts of those fields alone, not into answer models: a key is present exactly when the
# service sent the field (``null`` included), which is what ``model_fields_set`` told of
# an answer model (a field left out is unknown, never ``None``); what is read is checked
# as the answer models check it (SID patterns, times in normal form, required fields);
# fields observation does not use are ignored like any unknown field. Pydantic builds
# these dicts without a Python call per row: a page of sessions is read in half the time.


class SessionRow(TypedDict, total=False):
    """A listed session (appointments report, an enrollment's sessions), as observation
    reads it: the fields of ``Session`` it uses, each present only when sent."""

    sid: Required[SessionSid]
    status: Required[SessionStatus]
    statusReason: str | None
    enrollmentSid: EnrollmentSid | None
    sessionType: str | None
    proctorLocationSid: ReadProctorLocationSid | None
    appointmentDate: ResponseTime | None
    externalAppointmentId: str | None
    notes: str | None
    createdDate: ResponseTime | None
    editDate: ResponseTime | None


class UserRow(TypedDict, total=False):
    """A listed user, as observation reads it: the fields of ``User``, each present only
    when sent."""

    sid: Required[UserSid]
    firstName: str | None
    lastName: str | None
    email: str | None
    timeZone: str | None
    currencyCode: str | None
    externalId: str | None
    apiId: str | None
    lmsId: str | None


class EnrollmentRow(TypedDict, total=False):
    """A listed enrollment, as observation reads it. Its SID is ``sid``, or
    ``enrollmentSid`` in the rows the vendor's reference documents (``aliases.enrollment``:
    ``sid`` first when both are sent)."""

    sid: Required[
        Annotated[EnrollmentSid, Field(validation_alias=AliasChoices("sid", "enrollmentSid"))]
    ]
    userSid: Required[UserSid]
    courseSid: CourseSid | None
    role: str | None


#: the keys of a ``SessionRow``
SESSION_ROW_KEYS: frozenset[str] = frozenset(SessionRow.__annotations__)


def session_row(s: Session) -> SessionRow:
    """The row of a session read as an answer model (what its list would have given)."""
    sent = s.model_fields_set
    return cast(SessionRow, {k: getattr(s, k) for k in SessionRow.__annotations__ if k in sent})


# --- list envelope -------------------------------------------------------------------------

#: a list's item: an answer model, or a row (above)
T = TypeVar("T")


class Page(Response, Generic[T]):
    """The list envelope (contract §7); ``next`` is a URL or ``null`` on the last page."""

    results: list[T]
    total: int | None = None
    count: int | None = None
    offset: int | None = None
    first: str | None = None
    next: str | None = None
    prev: str | None = None
    last: str | None = None
