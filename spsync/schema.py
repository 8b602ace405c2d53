"""The manifest schema: one description of both file kinds, used three ways.

1. ``Spec.check`` reads a located YAML node (``spsync.yamlload``) into plain, normalised
   values, reporting every problem with its file, line, column and dotted path;
2. ``json_schema(kind)`` exports JSON Schema (draft 2020-12) for editors;
3. the tests compare it with ``spsync.model`` and ``docs/manifests.md``.

This module holds the shapes of the two file kinds (``TENANT``, ``RESOURCES`` and their
parts) and ``json_schema``; the specs they are built of are in ``spsync.schema_spec`` (the
generic ones and the reading context ``Ctx``) and ``spsync.schema_formats`` (e-mail, time
zones, date-times, URLs, SIDs, ids, secrets). Checks that relate several resources
(references, implied entries, windows against sessions) live in ``spsync.manifest``; the
schema knows one node at a time.

Scalars are read by the type the schema expects, not by YAML's guess: a text field takes
the text as written (``code: 0123`` is ``"0123"``, a user named ``No`` stays ``"No"``);
numbers and booleans must be written as such (``duration: "120"`` is an error).
"""

from __future__ import annotations

from typing import Any, get_args

from spsync.model import (
    DEFAULT_API_URL,
    TENANT_PATTERN,
    ExamType,
    PermittedItem,
    ProctorOption,
    Role,
    SessionType,
)
from spsync.schema_formats import (
    SECRET_REF_SCHEMA,
    Currency,
    DateTime,
    Email,
    Ids,
    SecretSpec,
    TimeZone,
    Url,
    name_spec,
    sid_spec,
)
from spsync.schema_spec import (
    AnyMap,
    Bool,
    Ctx,
    Enum,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Obj,
    Text,
)
from spsync.schema_spec import Spec as Spec  # re-exported: the type of every shape here
from spsync.yamlload import Map

# --- enumerations: the model's, so the two cannot drift ---------------------------------

EXAM_TYPES: tuple[str, ...] = get_args(ExamType)
ROLES: tuple[str, ...] = get_args(Role)
SESSION_TYPES: tuple[str, ...] = get_args(SessionType)
PERMITTED_ITEMS: tuple[str, ...] = get_args(PermittedItem)
PROCTOR_OPTIONS: tuple[str, ...] = get_args(ProctorOption)
MAX_DURATION = 525_600  # minutes: a year


def _window_order(values: dict[str, Any], node: Map, where: str, cx: Ctx) -> None:
    # normal forms have fixed width, so text order is time order
    opens, closes = values.get("open"), values.get("close")
    if opens is not None and closes is not None and not opens < closes:
        knode = node.items["close"][1]
        cx.add(knode, f"{where}.close", f"must be after open ({opens}), got {closes}")
        del values["close"]  # so sessions are not also measured against a broken window


def window(description: str) -> Obj:
    return Obj(
        description,
        {
            "open": Field(DateTime("When the window opens (UTC)."), required=True),
            "close": Field(DateTime("When the window closes (UTC); after open."), required=True),
        },
        post=_window_order,
    )


def ref_spec(kind: str) -> Text:
    return Text(
        f"Local name of a {kind} defined in this tenant's manifests.",
        max_len=200,
        wanted=f"the name of a {kind}",
    )


COURSE_IDS = Ids(
    "How SmarterProctoring knows the course: exactly one of sid | api | external | lms.",
    ("sid", "api", "external", "lms"),
    "CU",
    "course",
)
EXAM_IDS = Ids(
    "How SmarterProctoring knows the exam: exactly one of sid | external.",
    ("sid", "external"),
    "EX",
    "exam",
)
USER_IDS = Ids(
    "How SmarterProctoring knows the user: exactly one of sid | api | external | lms.",
    ("sid", "api", "external", "lms"),
    "US",
    "user",
)

COURSE = Obj(
    "A course (a grouping of exams and enrollments).",
    {
        "ids": Field(COURSE_IDS, required=True),
        "title": Field(Text("Course title."), note="required to create"),
        "code": Field(Text("Course code."), note="required to create"),
    },
)

PROCTOR_TYPE = Obj(
    "Settings of one proctor type.",
    {
        "options": Field(
            MapOf(
                "Proctoring options: option name -> settings ({} for a plain switch).",
                Enum("A proctoring option.", PROCTOR_OPTIONS),
                AnyMap("Settings of the option ({} for a plain switch)."),
            )
        )
    },
)

EXAM_TYPE = Enum("online (default in the API) or written.", EXAM_TYPES)
LIMITED_SCOPE = Bool(
    "true: sessions exist only for assigned users (what integrations use); the API's "
    "default is false: every learner enrollment of the course gets a session."
)

CONFIGURATION = Obj(
    "The exam's primary configuration (sent and replaced as a whole).",
    {
        "url": Field(Url("The exam's URL on your platform."), required=True),
        "access": Field(window("When the exam can be taken."), required=True),
        "scheduling": Field(
            window(
                "When appointments may be booked; not managed when left out "
                "(the API then allows scheduling until access.close)."
            )
        ),
        "duration": Field(
            Int("Exam duration in minutes.", minimum=1, maximum=MAX_DURATION), required=True
        ),
        "password": Field(SecretSpec("Exam password, as a secret reference."), required=True),
        "attempts": Field(Int("Allowed attempts (API default 1).", minimum=1)),
        "proctorTypes": Field(
            MapOf(
                "Proctor types of the exam, keyed by their TS SID.",
                sid_spec("A proctor type SID.", "TS"),
                PROCTOR_TYPE,
                min_items=1,
                empty="must list at least one proctor type (by its TS SID)",
            ),
            required=True,
        ),
        "notes": Field(
            Obj(
                "Instructions.",
                {
                    "student": Field(Text("Shown to the student.", min_len=0)),
                    "proctor": Field(Text("Shown to the proctor.", min_len=0)),
                },
            )
        ),
        "permittedItems": Field(
            MapOf(
                "Items allowed during the exam: item -> {notes}.",
                Enum("A permitted item.", PERMITTED_ITEMS),
                Obj(
                    "Settings of a permitted item.",
                    {"notes": Field(Text("Conditions of use.", min_len=0))},
                ),
            )
        ),
    },
)

EXAM = Obj(
    "An exam of a course.",
    {
        "course": Field(ref_spec("course"), required=True),
        "ids": Field(EXAM_IDS, required=True),
        "title": Field(Text("Exam title."), note="required to create"),
        "description": Field(Text("Exam description.", min_len=0)),
        "type": Field(EXAM_TYPE, note="or from defaults.exam"),
        "limitedScope": Field(LIMITED_SCOPE, note="or from defaults.exam"),
        "configuration": Field(CONFIGURATION, note="required to create"),
    },
)

TIME_ZONE = TimeZone("IANA time zone (API default: the install's).")
CURRENCY_CODE = Currency("ISO 4217 currency code (API default: the install's).")

USER = Obj(
    "A user (learner or instructor).",
    {
        "ids": Field(USER_IDS, required=True),
        "firstName": Field(Text("First name."), note="required to create"),
        "lastName": Field(Text("Last name."), note="required to create"),
        "email": Field(
            Email("E-mail address (stored trimmed, lower case)."), note="required to create"
        ),
        "timeZone": Field(TIME_ZONE, note="or from defaults.user"),
        "currencyCode": Field(CURRENCY_CODE, note="or from defaults.user"),
    },
)

ENROLLMENT = Obj(
    "A user's enrollment in a course.",
    {
        "user": Field(ref_spec("user"), required=True),
        "course": Field(ref_spec("course"), required=True),
        "role": Field(Enum("learner (default) or instructor.", ROLES)),
    },
)

SESSION_TYPE = Enum("How the session is proctored.", SESSION_TYPES)
PROCTOR_LOCATION = sid_spec(
    "Proctor location SID (PL…; the API's schedule schema accepts no other prefix).", "PL"
)
AMOUNT = Number("Price charged for the session (>= 0).")
CURRENCY = Currency("ISO 4217 currency of amount.")

SESSION = Obj(
    "A scheduled exam session of a user.",
    {
        "exam": Field(ref_spec("exam"), required=True),
        "user": Field(ref_spec("user"), required=True),
        "appointment": Field(DateTime("Appointment start (UTC)."), required=True),
        "type": Field(SESSION_TYPE, note="required, or from defaults.session"),
        "proctorLocation": Field(PROCTOR_LOCATION, note="required, or from defaults.session"),
        "amount": Field(AMOUNT, note="or from defaults.session"),
        "currency": Field(CURRENCY, note="or from defaults.session"),
        "externalAppointmentId": Field(Text("Your system's id of the appointment.")),
        "notes": Field(Text("Notes for the session.", min_len=0)),
        "proctorTypeSubCategory": Field(
            sid_spec("A proctor type (TS SID) among the exam's proctorTypes.", "TS")
        ),
    },
)

TENANT_KEYS_HINT = "tenant settings belong in tenant.yaml"

RESOURCES = Obj(
    "A resource file: any of courses, exams, users, enrollments, assignments, sessions.",
    {
        "courses": Field(MapOf("Courses by local name.", name_spec("Course name."), COURSE)),
        "exams": Field(MapOf("Exams by local name.", name_spec("Exam name."), EXAM)),
        "users": Field(MapOf("Users by local name.", name_spec("User name."), USER)),
        "enrollments": Field(ListOf("Explicit enrollments.", ENROLLMENT)),
        "assignments": Field(
            MapOf(
                "Exam name -> users assigned to it (implies learner enrollments).",
                ref_spec("exam"),
                ListOf("Users assigned to the exam.", ref_spec("user")),
            )
        ),
        "sessions": Field(ListOf("Scheduled exam sessions (imply assignments).", SESSION)),
    },
    unknown_hint={
        k: TENANT_KEYS_HINT for k in ("tenant", "install", "api", "signon", "defaults", "policy")
    },
)

# The sections of a resource file that are read entry by entry (to locate each one).
SECTIONS = ("courses", "exams", "users", "enrollments", "assignments", "sessions")

DEFAULTS = Obj(
    "Values applied to resources that do not set them.",
    {
        "user": Field(
            Obj(
                "Defaults for users.",
                {"timeZone": Field(TIME_ZONE), "currencyCode": Field(CURRENCY_CODE)},
            )
        ),
        "exam": Field(
            Obj(
                "Defaults for exams.",
                {"type": Field(EXAM_TYPE), "limitedScope": Field(LIMITED_SCOPE)},
            )
        ),
        "session": Field(
            Obj(
                "Defaults for sessions.",
                {
                    "type": Field(SESSION_TYPE),
                    "proctorLocation": Field(PROCTOR_LOCATION),
                    "amount": Field(AMOUNT),
                    "currency": Field(CURRENCY),
                },
            )
        ),
    },
)

TENANT = Obj(
    "tenant.yaml: connection, defaults and policy of one tenant.",
    {
        "tenant": Field(
            Text(
                "Tenant name; names the state file. Unique across a directory of tenants.",
                pattern=TENANT_PATTERN,
                max_len=100,
                wanted="a tenant name (lowercase letters, digits and '-', "
                "starting with a letter or digit)",
            ),
            required=True,
        ),
        "install": Field(sid_spec("Install SID (installSid).", "AI"), required=True),
        "api": Field(
            Obj(
                "API connection.",
                {
                    "url": Field(Url(f"API base URL (default {DEFAULT_API_URL}).", api=True)),
                    "token": Field(
                        SecretSpec("API token, as a secret reference.", token=True),
                        note="required unless --sandbox",
                    ),
                    "dialect": Field(
                        Obj(
                            "Which documented form of the API the install speaks "
                            "(docs/api-dialects.md; `spsync doctor` tells).",
                            {
                                "assignments": Field(
                                    Enum(
                                        "Assignment endpoint: auto (default: found on the "
                                        "first call), guide, exam or newest.",
                                        ("auto", "guide", "exam", "newest"),
                                    )
                                )
                            },
                        )
                    ),
                },
            )
        ),
        "signon": Field(
            Obj(
                "Single sign-on.",
                {"integrationSid": Field(sid_spec("Integration SID.", "II"), required=True)},
            )
        ),
        "defaults": Field(DEFAULTS),
        "policy": Field(
            Obj(
                "Safety limits of plan/apply.",
                {
                    "maxDestroy": Field(
                        Int("Destructive changes allowed in one run (default 10).", minimum=0)
                    ),
                    "maxDestroyPercent": Field(
                        Number(
                            "... as a percentage of managed resources (default 20).",
                            minimum=0,
                            maximum=100,
                        )
                    ),
                },
            )
        ),
    },
)


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``tenant`` files, ``resources`` files, or either."""
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    defs = {"SecretRef": SECRET_REF_SCHEMA}
    if kind == "tenant":
        return {**head, "title": "spsync tenant.yaml", **TENANT.json(), "$defs": defs}
    if kind == "resources":
        return {**head, "title": "spsync resource file", **RESOURCES.json(), "$defs": defs}
    if kind is not None:
        raise ValueError(f"unknown schema kind {kind!r}")
    return {
        **head,
        "title": "spsync manifest file (tenant.yaml or a resource file)",
        "anyOf": [{"$ref": "#/$defs/Tenant"}, {"$ref": "#/$defs/Resources"}],
        "$defs": {**defs, "Tenant": TENANT.json(), "Resources": RESOURCES.json()},
    }
