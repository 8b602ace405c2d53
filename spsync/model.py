"""Desired resources: what the manifests ask for, validated, defaulted and normalised.

These models are the planner's input. They are built by ``manifest.load()`` (which owns
YAML, locations and error collection) and never touch files, env, network or the clock.
Field names follow the API (camelCase) so the vendor's documentation applies.

Normal forms (so that equal intent compares equal):
- date-times are UTC strings ``YYYY-MM-DDTHH:MM:SSZ``;
- e-mail addresses are trimmed and lower-cased;
- optional API fields left out of a manifest are ``None`` and are *not managed*: the planner
  never compares or sends them.

Addresses (product-spec §2): ``course.NAME``, ``exam.NAME``, ``user.NAME``,
``enrollment.COURSE.USER``, ``assignment.EXAM.USER``, ``session.EXAM.USER``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
)

from spsync.secrets import Secret

#: Kinds in dependency order: provision before assignment before sessions.
KINDS: tuple[str, ...] = ("course", "exam", "user", "enrollment", "assignment", "session")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
INSTALL_PATTERN = r"^AI[a-f0-9]{32}$"
#: any address of product-spec §2 (the names in it follow NAME_PATTERN): what a state or a
#: plan file may name, so that nothing else (a control character, a backtick, markup) is
#: ever shown as an address
ADDRESS_PATTERN = (
    r"^(?:course|exam|user|enrollment|assignment|session)\.[A-Za-z0-9][A-Za-z0-9._-]*$"
)
#: two names of at most 200 characters, their kind and dots
MAX_ADDRESS = 420

Address = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN, max_length=MAX_ADDRESS)]
TenantName = Annotated[str, StringConstraints(pattern=TENANT_PATTERN, max_length=100)]
InstallSid = Annotated[str, StringConstraints(pattern=INSTALL_PATTERN)]
DEFAULT_API_URL = "https://api.smarterproctoring.com"

ExamType = Literal["online", "written"]
Role = Literal["learner", "instructor"]
SessionType = Literal[
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
PermittedItem = Literal[
    "bathroomBreak",
    "calculator",
    "dictionary",
    "earplugs",
    "formulaSheet",
    "notes",
    "textbook",
    "websites",
]
ProctorOption = Literal[
    "recordScreen",
    "recordWebcam",
    "recordAudio",
    "forceFullScreen",
    "onlyOneScreen",
    "disableNewTabs",
    "closeOpenTabs",
    "disablePrinting",
    "disableClipboard",
    "disableRightClick",
    "verifyId",
    "roomScan",
]


class Strict(BaseModel):
    """Base of every model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def share_fields_set(instance: BaseModel) -> None:
    """Give a frozen model instance the one shared "fields set" of its shape.

    pydantic keeps a set of the fields given per instance (216 to 728 bytes: a third of a
    roster's memory); instances given the same fields can share one. Only for frozen
    models: nothing adds to the set then, and ``model_copy`` copies it before an update.
    """
    fields = instance.__pydantic_fields_set__
    key = frozenset(fields)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        shared = _FIELDS_SETS[key] = set(fields)
    object.__setattr__(instance, "__pydantic_fields_set__", shared)


class Ids(Strict):
    """Exactly one identifier of an entity (the loader enforces "exactly one")."""

    sid: str | None = None
    api: str | None = None
    external: str | None = None
    lms: str | None = None

    @property
    def kind(self) -> str:
        """Which identifier is set: ``sid``, ``api``, ``external`` or ``lms``."""
        for k in ("sid", "api", "external", "lms"):
            if getattr(self, k) is not None:
                return k
        raise ValueError("no identifier set")

    @property
    def value(self) -> str:
        return str(getattr(self, self.kind))

    def wire(self) -> dict[str, str]:
        """The ``ids`` object as the provision endpoint takes it."""
        return {self.kind: self.value}


class Location(NamedTuple):
    """Where something was written: 1-based line and column (a tuple: a tenant of 20,000
    students has 80,000 of them)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Locations(Mapping[str, Location]):
    """Address -> ``Location``, packed: a tenant of 100,000 students declares 400,000
    addresses, and a dict of tuples held ~170 bytes for each (65 MB) for what only error
    messages ask. Here an address costs a reference and 8 bytes: the positions are one
    integer each in an array, found by bisecting the sorted addresses. Immutable; equal to
    any mapping with the same items (a dict included)."""

    __slots__ = ("_addresses", "_files", "_packed")

    def __init__(self, items: Mapping[str, tuple[str, int, int]] | None = None) -> None:
        files: dict[str, int] = {}
        addresses = sorted(items or ())
        packed = array("Q")
        for address in addresses:
            file, line, col = items[address]  # type: ignore[index]
            if not (0 <= line < 1 << _LINE_BITS and 0 <= col < 1 << _COL_BITS):
                raise ValueError(f"position out of range: {file}:{line}:{col}")
            index = files.setdefault(file, len(files))
            packed.append((index << (_LINE_BITS + _COL_BITS)) | (line << _COL_BITS) | col)
        self._addresses = addresses
        self._files = tuple(files)
        self._packed = packed

    @classmethod
    def of(cls, value: Any) -> Locations:
        """``value`` as ``Locations`` (a mapping of address -> (file, line, col))."""
        if isinstance(value, Locations):
            return value
        if not isinstance(value, Mapping):
            raise ValueError("locations must be a mapping of address -> (file, line, col)")
        return cls({str(k): _position(v) for k, v in value.items()})

    def __getitem__(self, address: str) -> Location:
        i = bisect_left(self._addresses, address)
        if i == len(self._addresses) or self._addresses[i] != address:
            raise KeyError(address)
        p = self._packed[i]
        return Location(
            self._files[p >> (_LINE_BITS + _COL_BITS)],
            (p >> _COL_BITS) & ((1 << _LINE_BITS) - 1),
            p & ((1 << _COL_BITS) - 1),
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._addresses)

    def __len__(self) -> int:
        return len(self._addresses)

    def __repr__(self) -> str:
        return f"Locations({dict(self.items())!r})"


#: bits of a packed position (``Locations``): columns, lines; the file's index above them
_COL_BITS = 20
_LINE_BITS = 28


def _position(value: Any) -> tuple[str, int, int]:
    file, line, col = value
    if not isinstance(file, str) or not isinstance(line, int) or not isinstance(col, int):
        raise ValueError(f"not a position (file, line, col): {value!r}")
    return file, line, col


# --- tenant ------------------------------------------------------------------------------


class ApiDialect(Strict):
    """Which documented form of the API the install speaks, where the vendor documents
    several (docs/api-dialects.md). ``auto``: found on the first call."""

    assignments: Literal["auto", "guide", "exam", "newest"] = "auto"


class Api(Strict):
    url: str = DEFAULT_API_URL
    #: None only in sandbox mode, where the token is not read
    token: Secret | None = None
    dialect: ApiDialect = ApiDialect()


class Signon(Strict):
    integrationSid: str


class Policy(Strict):
    maxDestroy: int = Field(default=10, ge=0)
    maxDestroyPercent: float = Field(default=20, ge=0, le=100)


class Tenant(Strict):
    tenant: str
    install: str
    api: Api = Api()
    signon: Signon | None = None
    policy: Policy = Policy()
    #: tenant.yaml's path, for messages
    file: str = ""


# --- resources -----------------------------------------------------------------------------


class Course(Strict):
    name: str
    ids: Ids
    title: str | None = None
    code: str | None = None

    @property
    def address(self) -> str:
        return f"course.{self.name}"


class Window(Strict):
    open: str
    close: str


class ProctorTypeConfig(Strict):
    #: option name -> option settings (``{}`` for a plain switch); None: no options sent
    options: dict[str, dict[str, object]] | None = None


class Notes(Strict):
    student: str | None = None
    proctor: str | None = None


class PermittedItemConfig(Strict):
    notes: str | None = None


class ExamConfiguration(Strict):
    url: str
    access: Window
    #: None: not managed (the API defaults it to open until access.close)
    scheduling: Window | None = None
    duration: int
    password: Secret
    attempts: int | None = None
    proctorTypes: dict[str, ProctorTypeConfig]
    notes: Notes | None = None
    permittedItems: dict[str, PermittedItemConfig] | None = None


class Exam(Strict):
    name: str
    course: str
    ids: Ids
    title: str | None = None
    description: str | None = None
    type: ExamType | None = None
    limitedScope: bool | None = None
    #: None only for an exam referenced by ``ids.sid`` without its configuration
    configuration: ExamConfiguration | None = None

    @property
    def address(self) -> str:
        return f"exam.{self.name}"

    @property
    def limited(self) -> bool:
        """Effective scope: the API's default is unlimited (``limitedScope: false``)."""
        return bool(self.limitedScope)


class User(Strict):
    name: str
    ids: Ids
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    timeZone: str | None = None
    currencyCode: str | None = None

    @property
    def address(self) -> str:
        return f"user.{self.name}"


class Enrollment(Strict):
    user: str
    course: str
    role: Role = "learner"
    #: true when only implied by an assignment or session
    implied: bool = False

    @property
    def address(self) -> str:
        return f"enrollment.{self.course}.{self.user}"


class Assignment(Strict):
    exam: str
    user: str
    implied: bool = False

    @property
    def address(self) -> str:
        return f"assignment.{self.exam}.{self.user}"


class Session(Strict):
    exam: str
    user: str
    appointment: str
    type: SessionType
    proctorLocation: str
    amount: float | None = None
    currency: str | None = None
    externalAppointmentId: str | None = None
    notes: str | None = None
    proctorTypeSubCategory: str | None = None

    @property
    def address(self) -> str:
        return f"session.{self.exam}.{self.user}"


class Desired(Strict):
    """One tenant's desired world. Maps are keyed by address; implied entries included."""

    tenant: Tenant
    courses: dict[str, Course] = {}
    exams: dict[str, Exam] = {}
    users: dict[str, User] = {}
    enrollments: dict[str, Enrollment] = {}
    assignments: dict[str, Assignment] = {}
    sessions: dict[str, Session] = {}
    #: address -> where it was declared (for plan and error messages)
    locations: Annotated[
        Locations, PlainValidator(Locations.of), PlainSerializer(lambda v: dict(v.items()))
    ] = Locations()

    def addresses(self) -> list[str]:
        """Every managed address, in kind order then name order."""
        out: list[str] = []
        for group in (
            self.courses,
            self.exams,
            self.users,
            self.enrollments,
            self.assignments,
            self.sessions,
        ):
            out.extend(sorted(group))
        return out


def kind_of(address: str) -> str:
    """``exam.cert-456`` -> ``exam``."""
    return address.split(".", 1)[0]


def kind_rank(address: str) -> int:
    return KINDS.index(kind_of(address))
