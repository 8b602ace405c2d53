"""Translation between the manifests' models and the API's wire models. PURE: no I/O.

Two directions, each in one place:

- **manifest -> wire**: the request bodies an apply sends, built as the strict wire models
  directly from ``spsync.model`` (the provision objects of courses, exams, users and
  enrollments; a session's schedule body). An exam's password stays a ``Secret`` until the
  client serialises the body.
- **wire -> normal form**: a live object's fields as observation, import and export keep
  them (the field names and normalisation of ``spsync.model``; see ``spsync.observed``).
  Only what the service sent is kept: a field a read leaves out, or sends as ``null``, is
  unknown, not ``None`` (``unobserved_of`` names them): a ``null`` may stand for "not
  shown" as well as for "none", and a plan is never made from missing evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast, get_args

from pydantic import JsonValue

from spsync.api import wire
from spsync.fields import normalise_exam_fields
from spsync.model import (
    Course,
    Exam,
    ExamConfiguration,
    Ids,
    Notes,
    PermittedItemConfig,
    Role,
    Session,
    User,
    Window,
)
from spsync.observed import LiveSession
from spsync.sharing import share

# --- manifest -> wire --------------------------------------------------------------------


def optional_text(value: str | None) -> str | None:
    """An optional text field as sent: empty text is left out like ``None`` (the service's
    validation refuses ``""`` for optional strings such as ``description`` and ``notes``)."""
    return value or None


def _window(w: Window) -> wire.Window:
    return wire.Window(open=w.open, close=w.close)


def _configuration_request(cfg: ExamConfiguration) -> wire.ExamConfigurationRequest:
    """An exam configuration as sent (the password stays a ``Secret``)."""
    # the manifest schema checked the permitted items' names and the options' values: the
    # wire models check them again as they are built, under their own (narrower) types
    permitted = cast(
        "dict[wire.PermittedItemName, wire.PermittedItemSetting] | None",
        None
        if cfg.permittedItems is None
        else {k: wire.PermittedItemSetting(notes=v.notes) for k, v in cfg.permittedItems.items()},
    )
    return wire.ExamConfigurationRequest(
        url=cfg.url,
        access=_window(cfg.access),
        scheduling=None if cfg.scheduling is None else _window(cfg.scheduling),
        duration=cfg.duration,
        password=cfg.password,
        attempts=cfg.attempts,
        proctorTypes={
            ts: wire.ProctorTypeSetting(
                options=(
                    None
                    if p.options is None
                    else cast("dict[str, dict[str, JsonValue]]", dict(p.options))
                )
            )
            for ts, p in cfg.proctorTypes.items()
        },
        notes=(
            None
            if cfg.notes is None
            else wire.ExamNotes(student=cfg.notes.student, proctor=cfg.notes.proctor)
        ),
        permittedItems=permitted,
    )


def _ids(ids: Ids) -> dict[str, str | None]:
    return {"sid": ids.sid, "api": ids.api, "external": ids.external, "lms": ids.lms}


def _course_object(course: Course) -> wire.ProvisionCourse:
    """The ``course`` object of a provision request creating or updating ``course``."""
    return wire.ProvisionCourse(
        ids=wire.CourseIds(**_ids(course.ids)), title=course.title, code=course.code
    )


def _exam_object(
    exam: Exam, configuration: bool = True, live: Mapping[str, Any] | None = None
) -> wire.ProvisionExam:
    """The ``exam`` object of a provision request creating or updating ``exam`` (see
    ``exam_request``)."""
    cfg = exam.configuration if configuration else None
    if cfg is not None and live is not None:
        cfg = kept_configuration(cfg, live)
    return wire.ProvisionExam(
        ids=wire.ExamIds(**_ids(exam.ids)),
        title=exam.title,
        description=optional_text(exam.description),
        type=exam.type,
        limitedScope=exam.limitedScope,
        configuration=None if cfg is None else _configuration_request(cfg),
    )


#: the parts of an exam's configuration a manifest may leave out (then not managed)
OPTIONAL_CONFIGURATION: tuple[str, ...] = ("scheduling", "attempts", "notes", "permittedItems")


def left_out(cfg: ExamConfiguration) -> list[str]:
    """The optional parts of a configuration (``OPTIONAL_CONFIGURATION``, an exam's notes
    part by part) that ``cfg`` leaves out."""
    out = [name for name in OPTIONAL_CONFIGURATION if getattr(cfg, name) is None]
    if cfg.notes is not None:
        out += [f"notes.{k}" for k in ("student", "proctor") if getattr(cfg.notes, k) is None]
    return out


def kept_configuration(cfg: ExamConfiguration, live: Mapping[str, Any]) -> ExamConfiguration:
    """``cfg`` with each optional part it leaves out as ``live`` has it (``live_optional``
    of the exam's read): the API replaces a configuration as a whole, and what a manifest
    leaves out is not managed, so an update must not reset it."""
    update: dict[str, Any] = {}
    if cfg.scheduling is None and live.get("scheduling") is not None:
        update["scheduling"] = Window(**live["scheduling"])
    if cfg.attempts is None and live.get("attempts") is not None:
        update["attempts"] = live["attempts"]
    live_notes = live.get("notes") or {}
    mine = cfg.notes or Notes()
    notes = Notes(
        student=mine.student if mine.student is not None else live_notes.get("student"),
        proctor=mine.proctor if mine.proctor is not None else live_notes.get("proctor"),
    )
    if notes != mine:
        update["notes"] = notes
    if cfg.permittedItems is None and live.get("permittedItems") is not None:
        update["permittedItems"] = {
            k: PermittedItemConfig(notes=v.get("notes")) for k, v in live["permittedItems"].items()
        }
    return cfg.model_copy(update=update) if update else cfg


def _user_object(user: User) -> wire.ProvisionUser:
    """The ``user`` object of a provision request creating or updating ``user``."""
    return wire.ProvisionUser(
        ids=wire.UserIds(**_ids(user.ids)),
        firstName=user.firstName,
        lastName=user.lastName,
        email=user.email,
        timeZone=user.timeZone,
        currencyCode=user.currencyCode,
    )


def _course_ref(course_sid: str) -> wire.ProvisionCourse:
    return wire.ProvisionCourse(ids=wire.CourseIds(sid=course_sid))


def course_request(course: Course) -> wire.ProvisionRequest:
    """The provision request that creates or updates ``course``."""
    return wire.ProvisionRequest(course=_course_object(course))


def exam_request(
    exam: Exam,
    course_sid: str,
    *,
    configuration: bool = True,
    live: Mapping[str, Any] | None = None,
) -> wire.ProvisionRequest:
    """The provision request that creates or updates ``exam`` in the course ``course_sid``.

    ``configuration``: whether the configuration is sent (an update that changes none of it
    leaves it out, and the API keeps it as it is). ``live``: the live optional parts of the
    configuration (``live_optional``), which the configuration sent keeps where the
    manifest leaves them out (``kept_configuration``)."""
    return wire.ProvisionRequest(
        course=_course_ref(course_sid), exam=_exam_object(exam, configuration, live)
    )


def user_request(user: User, course_sid: str, role: Role | None = None) -> wire.ProvisionRequest:
    """The provision request that creates or updates ``user`` (provisioned with a course),
    enrolling them in it with ``role`` when given."""
    return wire.ProvisionRequest(
        course=_course_ref(course_sid),
        user=_user_object(user),
        enrollment=None if role is None else wire.ProvisionEnrollment(role=role),
    )


def enrollment_request(course_sid: str, user_sid: str, role: Role) -> wire.ProvisionRequest:
    """The provision request that enrolls the user ``user_sid`` in the course ``course_sid``."""
    return wire.ProvisionRequest(
        course=_course_ref(course_sid),
        user=wire.ProvisionUser(ids=wire.UserIds(sid=user_sid)),
        enrollment=wire.ProvisionEnrollment(role=role),
    )


def schedule_request(s: Session) -> wire.ScheduleRequest:
    """The schedule body of a desired session."""
    return wire.ScheduleRequest(
        type=s.type,
        proctorLocationSid=s.proctorLocation,
        appointmentDateTime=s.appointment,
        amount=None if s.amount is None else float(s.amount),
        currency=s.currency,
        externalAppointmentId=s.externalAppointmentId,
        notes=optional_text(s.notes),
        proctorTypeSubCategorySid=s.proctorTypeSubCategory,
    )


# --- wire -> normal form -----------------------------------------------------------------

#: the normal-form fields each kind's read may show; what a read leaves out is unobserved
OBSERVABLE: dict[str, tuple[str, ...]] = {
    "course": ("title", "code"),
    "exam": ("title", "description", "type", "limitedScope", "configuration"),
    "configuration": (
        "url",
        "access",
        "scheduling",
        "duration",
        "attempts",
        "proctorTypes",
        "notes",
        "permittedItems",
    ),
    "user": ("firstName", "lastName", "email", "timeZone", "currencyCode"),
    "session": ("appointment", "type", "proctorLocation", "externalAppointmentId", "notes"),
}


def _sent(model: wire.Response, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``{normal name: value}`` for each ``(normal name, wire name)`` the service sent with a
    value: a field it left out or sent as ``null`` is unknown, not ``None``."""
    present = model.model_fields_set
    out: dict[str, Any] = {}
    for name, attr in pairs:
        if attr in present:
            value = getattr(model, attr)
            if value is not None:
                out[name] = value
    return out


def course_fields(c: wire.Course) -> dict[str, Any]:
    """A live course in the manifests' normal form."""
    return _sent(c, (("title", "title"), ("code", "code")))


def exam_fields(e: wire.Exam, known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A live exam in the manifests' normal form (the password stays a ``Secret``).

    ``known``: the exam's last applied fields, for what a v1-shaped read leaves out (the
    proctor types' options: a read that lists only the types' SIDs keeps the recorded
    options of each type it lists)."""
    out = _sent(
        e,
        (
            ("title", "title"),
            ("description", "description"),
            ("type", "type"),
            ("limitedScope", "limitedScope"),
        ),
    )
    if e.configuration is not None:
        out["configuration"] = _configuration_fields(e.configuration, known)
    return normalise_exam_fields(out)


def _configuration_fields(
    conf: wire.ExamConfiguration, known: Mapping[str, Any] | None
) -> dict[str, Any]:
    c = _sent(conf, (("url", "url"), ("duration", "duration"), ("attempts", "attempts")))
    # a window is read whole (a manifest's window has both ends): one with an end null or
    # left out is unknown; notes of which both parts are null or left out are unknown
    for name in ("access", "scheduling"):
        window = getattr(conf, name)
        if window is not None and window.open is not None and window.close is not None:
            c[name] = {"open": window.open, "close": window.close}
    if conf.notes is not None and (notes := _notes_fields(conf.notes)):
        c["notes"] = notes
    if conf.proctorTypes is not None:
        c["proctorTypes"] = {
            ts: ({"options": v.options} if v is not None and v.options else {})
            for ts, v in conf.proctorTypes.items()
        }
    elif conf.proctorTypeSids is not None:
        recorded = _dig(known, "configuration", "proctorTypes")
        c["proctorTypes"] = {
            ts: (recorded.get(ts) if isinstance(recorded.get(ts), dict) else {})
            for ts in conf.proctorTypeSids
        }
    if conf.permittedItems is not None:
        c["permittedItems"] = _items_fields(conf.permittedItems)
    # a password the API does not return is not observable: keep the recorded one
    if conf.password is not None:
        c["password"] = conf.password
    return c


def _notes_fields(notes: wire.ResponseNotes) -> dict[str, Any]:
    """An exam's notes in normal form: the parts the read shows."""
    return _sent(notes, (("student", "student"), ("proctor", "proctor")))


def _items_fields(items: Mapping[str, wire.ResponsePermittedItem | None]) -> dict[str, Any]:
    """An exam's permitted items in normal form: ``{item: {"notes": …}}``, ``{}`` without
    notes."""
    return {k: ({"notes": v.notes} if v is not None and v.notes else {}) for k, v in items.items()}


#: the permitted items a provision request can name
_SENDABLE_ITEMS = frozenset(get_args(wire.PermittedItemName))


def live_optional(e: wire.Exam) -> tuple[dict[str, Any], list[str]]:
    """The optional parts of an exam's live configuration (``OPTIONAL_CONFIGURATION``) in
    normal form, and those the read leaves unknown (what an update cannot send as it is).

    ``attempts`` is always set (the API defaults it): left out or ``null``, it is unknown.
    The others may be unset, which the contract's form shows by leaving them out and the
    v1 form (which always sends its keys) by ``null``s; so a part is unknown when the
    contract's form sends it as ``null``, when the v1 form leaves its keys out (or, for the
    permitted items, any item's switch or notes: ``aliases.permitted_items``), and when a
    window has one end only. A permitted item no provision request can name is unknown
    too: it could not be sent back."""
    conf = e.configuration
    if conf is None:
        return {}, list(OPTIONAL_CONFIGURATION)
    v1 = conf.proctorTypeSids is not None
    sent = conf.model_fields_set
    parts: dict[str, Any] = {}
    unknown: list[str] = []
    if conf.attempts is None:
        unknown.append("attempts")
    else:
        parts["attempts"] = conf.attempts
    window = conf.scheduling
    if "scheduling" in sent and window is not None:
        ends = (window.open, window.close)
        if None not in ends:
            parts["scheduling"] = {"open": window.open, "close": window.close}
        elif ends != (None, None):
            unknown.append("scheduling")
    elif "scheduling" in sent or v1:
        unknown.append("scheduling")
    if "notes" in sent and conf.notes is not None:
        notes = _notes_fields(conf.notes)
        if notes:
            parts["notes"] = notes
    elif "notes" in sent or v1:
        unknown.append("notes")
    items = conf.permittedItems
    if "permittedItems" in sent and items is not None and set(items) <= _SENDABLE_ITEMS:
        parts["permittedItems"] = _items_fields(items)
    elif "permittedItems" in sent or v1:
        unknown.append("permittedItems")
    return parts, unknown


def _dig(fields: Mapping[str, Any] | None, *path: str) -> dict[str, Any]:
    found: Any = fields
    for key in path:
        if not isinstance(found, Mapping):
            return {}
        found = found.get(key)
    return dict(found) if isinstance(found, Mapping) else {}


#: (normal name, wire name) of a user's fields
_USER_FIELDS = (
    ("firstName", "firstName"),
    ("lastName", "lastName"),
    ("email", "email"),
    ("timeZone", "timeZone"),
    ("currencyCode", "currencyCode"),
)


def user_fields(u: wire.User) -> dict[str, Any]:
    """A live user in the manifests' normal form (the e-mail trimmed and lower-cased)."""
    return _user_normal(_sent(u, _USER_FIELDS))


def user_row_fields(row: wire.UserRow) -> dict[str, Any]:
    """``user_fields`` of a listed user's row (the same fields, in the same order)."""
    return _user_normal(
        {name: row[key] for name, key in _USER_FIELDS if row.get(key) is not None}  # type: ignore[literal-required]
    )


def _user_normal(out: dict[str, Any]) -> dict[str, Any]:
    if out.get("email"):
        out["email"] = out["email"].strip().lower()
    return out


#: (normal name, wire name) of a session's managed fields
SESSION_FIELDS = (
    ("appointment", "appointmentDate"),
    ("type", "sessionType"),
    ("proctorLocation", "proctorLocationSid"),
    ("externalAppointmentId", "externalAppointmentId"),
    ("notes", "notes"),
)


def session_fields(s: wire.Session) -> dict[str, Any]:
    """A live session's managed fields in the manifests' normal form."""
    return _sent(s, SESSION_FIELDS)


def session_row_fields(row: wire.SessionRow) -> dict[str, Any]:
    """``session_fields`` of a listed session's row (the same fields, in the same order)."""
    return {name: row[key] for name, key in SESSION_FIELDS if row.get(key) is not None}  # type: ignore[literal-required]


def session_row_sent(row: wire.SessionRow) -> tuple[str, ...]:
    """The managed fields a listed session's row shows (``session_row_fields``' names): a
    field it leaves out or sends as ``null`` is unknown."""
    return tuple(session_row_fields(row))


def unobserved_of(kind: str, fields: Mapping[str, Any]) -> list[str]:
    """The fields of ``kind`` a live object's normal form lacks (dotted for an exam's
    configuration)."""
    out = [f for f in OBSERVABLE[kind] if f not in fields]
    conf = fields.get("configuration") if kind == "exam" else None
    if isinstance(conf, Mapping):
        out += [f"configuration.{f}" for f in OBSERVABLE["configuration"] if f not in conf]
    return out


def live_session(row: wire.SessionRow, enrollment: str | None = None) -> LiveSession:
    """The live session of one enrollment in one exam, as the planner and apply see it,
    from its row (``enrollment``: the enrollment's SID, for a row read from that
    enrollment's own list, which may not name it)."""
    # every field is a text or null: each text the run's shared object (the state and the
    # manifests hold the same SIDs and times)
    return LiveSession(
        sid=share(row["sid"]),
        status=share(row["status"]),
        statusReason=_shared(row.get("statusReason")),
        enrollment=share(enrollment if enrollment is not None else row.get("enrollmentSid") or ""),
        appointment=_shared(row.get("appointmentDate")),
        type=_shared(row.get("sessionType")),
        proctorLocation=_shared(row.get("proctorLocationSid")),
        externalAppointmentId=_shared(row.get("externalAppointmentId")),
        notes=_shared(row.get("notes")),
        created=_shared(row.get("createdDate")),
    )


def _shared(text: str | None) -> str | None:
    return None if text is None else share(text)
