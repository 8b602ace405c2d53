"""The simulator's stored entities, their API views and their persisted form.

Internal times are aware UTC datetimes; views and the persisted form use ``…Z`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spsync.sandbox.constants import (
    ACTIVE_STATUSES,
    DEFAULT_CURRENCY,
    DEFAULT_TIMEZONE,
    NEEDS_PROCTOR,
    PROCTOR_TYPES,
)
from spsync.sandbox.timefmt import add_minutes, format_opt, format_utc, parse_utc


def _t(value: str) -> datetime:
    parsed = parse_utc(value)
    if parsed is None:
        raise ValueError(f"bad stored time {value!r}")
    return parsed


def _t_opt(value: str | None) -> datetime | None:
    return None if value is None else _t(value)


@dataclass(slots=True)
class Course:
    sid: str
    title: str
    code: str
    ids: dict[str, str]
    created: datetime
    edited: datetime

    def view(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "title": self.title,
            "code": self.code,
            "ids": dict(self.ids),
            "createdDate": format_utc(self.created),
            "editDate": format_utc(self.edited),
        }

    def dump(self) -> dict[str, Any]:
        return self.view()

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything ``dump`` depends on, cheap to compare (persistence caches dumps)."""
        return (self.title, self.code, tuple(self.ids.items()), self.created, self.edited)

    @classmethod
    def load(cls, d: dict[str, Any]) -> Course:
        return cls(
            d["sid"], d["title"], d["code"], dict(d["ids"]), _t(d["createdDate"]), _t(d["editDate"])
        )


@dataclass(slots=True)
class Exam:
    sid: str
    course_sid: str
    title: str
    description: str | None
    type: str
    limited_scope: bool
    ids: dict[str, str]
    config_sid: str
    #: The primary configuration in its canonical provision shape (times as ``…Z``).
    config: dict[str, Any]
    created: datetime
    edited: datetime
    #: Assigned enrollment SIDs, in assignment order (a dict used as an ordered set).
    assigned: dict[str, None] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "courseSid": self.course_sid,
            "title": self.title,
            "description": self.description,
            "type": self.type,
            "limitedScope": self.limited_scope,
            "ids": dict(self.ids),
            "configuration": {"sid": self.config_sid, **_deep_copy(self.config)},
            "createdDate": format_utc(self.created),
            "editDate": format_utc(self.edited),
        }

    def dump(self) -> dict[str, Any]:
        d = self.view()
        d["assigned"] = list(self.assigned)
        return d

    def fingerprint(self) -> tuple[Any, ...]:
        # ``config`` is replaced, never changed in place, so holding it here is safe.
        return (
            self.course_sid,
            self.title,
            self.description,
            self.type,
            self.limited_scope,
            tuple(self.ids.items()),
            self.config_sid,
            self.config,
            self.created,
            self.edited,
            tuple(self.assigned),
        )

    @classmethod
    def load(cls, d: dict[str, Any]) -> Exam:
        config = dict(d["configuration"])
        config_sid = config.pop("sid")
        return cls(
            d["sid"],
            d["courseSid"],
            d["title"],
            d["description"],
            d["type"],
            d["limitedScope"],
            dict(d["ids"]),
            config_sid,
            config,
            _t(d["createdDate"]),
            _t(d["editDate"]),
            dict.fromkeys(d.get("assigned", [])),
        )


@dataclass(slots=True)
class User:
    sid: str
    first_name: str
    last_name: str
    email: str
    time_zone: str
    currency_code: str
    ids: dict[str, str]
    created: datetime
    edited: datetime

    def view(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "timeZone": self.time_zone,
            "currencyCode": self.currency_code,
            "externalId": self.ids.get("external"),
            "apiId": self.ids.get("api"),
            "lmsId": self.ids.get("lms"),
            "createdDate": format_utc(self.created),
            "editDate": format_utc(self.edited),
        }

    def dump(self) -> dict[str, Any]:
        d = self.view()
        d["ids"] = dict(self.ids)
        return d

    def fingerprint(self) -> tuple[Any, ...]:
        return (
            self.first_name,
            self.last_name,
            self.email,
            self.time_zone,
            self.currency_code,
            tuple(self.ids.items()),
            self.created,
            self.edited,
        )

    @classmethod
    def load(cls, d: dict[str, Any]) -> User:
        return cls(
            d["sid"],
            d["firstName"],
            d["lastName"],
            d["email"],
            d["timeZone"],
            d["currencyCode"],
            dict(d["ids"]),
            _t(d["createdDate"]),
            _t(d["editDate"]),
        )


@dataclass(slots=True)
class Enrollment:
    sid: str
    user_sid: str
    course_sid: str
    role: str
    state: str
    created: datetime
    edited: datetime

    def view(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "userSid": self.user_sid,
            "courseSid": self.course_sid,
            "role": self.role,
            "state": self.state,
        }

    def dump(self) -> dict[str, Any]:
        d = self.view()
        d["createdDate"] = format_utc(self.created)
        d["editDate"] = format_utc(self.edited)
        return d

    def fingerprint(self) -> tuple[Any, ...]:
        return (self.user_sid, self.course_sid, self.role, self.state, self.created, self.edited)

    @classmethod
    def load(cls, d: dict[str, Any]) -> Enrollment:
        return cls(
            d["sid"],
            d["userSid"],
            d["courseSid"],
            d["role"],
            d["state"],
            _t(d["createdDate"]),
            _t(d["editDate"]),
        )


@dataclass(slots=True)
class Session:
    sid: str
    seq: int
    install_sid: str
    exam_sid: str
    enrollment_sid: str
    user_sid: str
    course_sid: str
    status: str
    created: datetime
    edited: datetime
    status_reason: str | None = None
    session_type: str | None = None
    proctor_location_sid: str | None = None
    proctor_type_sid: str | None = None
    appointment: datetime | None = None
    duration: int | None = None
    external_appointment_id: str | None = None
    notes: str | None = None
    amount: float | int | None = None
    currency: str | None = None
    cancellation_memo: str | None = None
    date_scheduled: datetime | None = None

    @property
    def appointment_end(self) -> datetime | None:
        if self.appointment is None or self.duration is None:
            return None
        return add_minutes(self.appointment, self.duration)

    def view(self) -> dict[str, Any]:
        """The session object of api-contract §6.2."""
        return {
            "sid": self.sid,
            "installSid": self.install_sid,
            "examSid": self.exam_sid,
            "enrollmentSid": self.enrollment_sid,
            "userSid": self.user_sid,
            "courseSid": self.course_sid,
            "status": self.status,
            "statusReason": self.status_reason,
            "sessionType": self.session_type,
            "proctorLocationSid": self.proctor_location_sid,
            "proctorTypeSid": self.proctor_type_sid,
            "appointmentDate": format_opt(self.appointment),
            "appointmentEndDate": format_opt(self.appointment_end),
            "duration": self.duration,
            "externalAppointmentId": self.external_appointment_id,
            "notes": self.notes,
            "createdDate": format_utc(self.created),
            "editDate": format_utc(self.edited),
            "dateScheduled": format_opt(self.date_scheduled),
        }

    def list_item(self) -> dict[str, Any]:
        """The list item of api-contract §6.1."""
        return {
            "sid": self.sid,
            "status": self.status,
            "sessionType": self.session_type,
            "appointmentDate": format_opt(self.appointment),
            "externalAppointmentId": self.external_appointment_id,
            "createdDate": format_utc(self.created),
            "editDate": format_utc(self.edited),
        }

    def dump(self) -> dict[str, Any]:
        d = self.view()
        del d["appointmentEndDate"]
        d["seq"] = self.seq
        d["amount"] = self.amount
        d["currency"] = self.currency
        d["cancellationMemo"] = self.cancellation_memo
        return d

    def fingerprint(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.status,
            self.created,
            self.edited,
            self.status_reason,
            self.session_type,
            self.proctor_location_sid,
            self.proctor_type_sid,
            self.appointment,
            self.duration,
            self.external_appointment_id,
            self.notes,
            self.amount,
            self.currency,
            self.cancellation_memo,
            self.date_scheduled,
        )

    @classmethod
    def load(cls, d: dict[str, Any]) -> Session:
        return cls(
            sid=d["sid"],
            seq=d["seq"],
            install_sid=d["installSid"],
            exam_sid=d["examSid"],
            enrollment_sid=d["enrollmentSid"],
            user_sid=d["userSid"],
            course_sid=d["courseSid"],
            status=d["status"],
            created=_t(d["createdDate"]),
            edited=_t(d["editDate"]),
            status_reason=d["statusReason"],
            session_type=d["sessionType"],
            proctor_location_sid=d["proctorLocationSid"],
            proctor_type_sid=d["proctorTypeSid"],
            appointment=_t_opt(d["appointmentDate"]),
            duration=d["duration"],
            external_appointment_id=d["externalAppointmentId"],
            notes=d["notes"],
            amount=d["amount"],
            currency=d["currency"],
            cancellation_memo=d["cancellationMemo"],
            date_scheduled=_t_opt(d["dateScheduled"]),
        )


@dataclass(slots=True)
class Install:
    """One install (``AI…``): its settings, its entities, and lookup indexes."""

    sid: str
    default_timezone: str = DEFAULT_TIMEZONE
    default_currency: str = DEFAULT_CURRENCY
    enabled_proctor_types: list[str] = field(default_factory=lambda: list(PROCTOR_TYPES))
    courses: dict[str, Course] = field(default_factory=dict)
    exams: dict[str, Exam] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    enrollments: dict[str, Enrollment] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    # Indexes, rebuilt on load.
    course_by_id: dict[tuple[str, str], str] = field(default_factory=dict)
    user_by_id: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (courseSid, external id) -> exam SID: exam ids are scoped to their course.
    exam_by_ext: dict[tuple[str, str], str] = field(default_factory=dict)
    exams_by_course: dict[str, list[str]] = field(default_factory=dict)
    enrollment_by_pair: dict[tuple[str, str], str] = field(default_factory=dict)
    enrollments_by_course: dict[str, list[str]] = field(default_factory=dict)
    #: (enrollmentSid, examSid) -> SIDs of every session, in creation order.
    sessions_by_pair: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: (enrollmentSid, examSid) -> SID of the active session.
    active: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the sessions of the last appointments reports' filters, and (under ``"at"``) the
    #: world's version and count of sessions they were found at
    #: (``SessionOps.appointments_report``)
    report_rows: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def settings_view(self) -> dict[str, Any]:
        return {
            "installSid": self.sid,
            "defaultTimezone": self.default_timezone,
            "defaultCurrencyCode": self.default_currency,
            "proctorTypes": [
                {"sid": ts, "name": PROCTOR_TYPES[ts]} for ts in self.enabled_proctor_types
            ],
        }

    # -- indexes --------------------------------------------------------------------------
    def add_course(self, c: Course) -> None:
        self.courses[c.sid] = c
        for kind, value in c.ids.items():
            self.course_by_id[(kind, value)] = c.sid

    def add_exam(self, e: Exam) -> None:
        self.exams[e.sid] = e
        self.exams_by_course.setdefault(e.course_sid, []).append(e.sid)
        if "external" in e.ids:
            self.exam_by_ext[(e.course_sid, e.ids["external"])] = e.sid

    def add_user(self, u: User) -> None:
        self.users[u.sid] = u
        for kind, value in u.ids.items():
            self.user_by_id[(kind, value)] = u.sid

    def add_enrollment(self, en: Enrollment) -> None:
        self.enrollments[en.sid] = en
        self.enrollment_by_pair[(en.user_sid, en.course_sid)] = en.sid
        self.enrollments_by_course.setdefault(en.course_sid, []).append(en.sid)

    def add_session(self, s: Session) -> None:
        self.sessions[s.sid] = s
        pair = (s.enrollment_sid, s.exam_sid)
        self.sessions_by_pair.setdefault(pair, []).append(s.sid)
        if s.status in ACTIVE_STATUSES:
            self.active[pair] = s.sid

    def reopen(self, s: Session, duration: int | None, now: datetime) -> None:
        """Put a cancelled session back to ``Needs Proctor`` under its own SID, as unbooked
        as a new one (its cancellation memo stays on record)."""
        s.status = NEEDS_PROCTOR
        s.status_reason = None
        s.session_type = s.proctor_location_sid = s.proctor_type_sid = None
        s.appointment = s.date_scheduled = None
        s.external_appointment_id = s.notes = s.currency = None
        s.amount = None
        s.duration = duration
        s.edited = now
        self.active[(s.enrollment_sid, s.exam_sid)] = s.sid

    # -- persistence ----------------------------------------------------------------------
    def settings_dump(self) -> dict[str, Any]:
        return {
            "defaultTimezone": self.default_timezone,
            "defaultCurrencyCode": self.default_currency,
            "enabledProctorTypes": list(self.enabled_proctor_types),
        }

    def tables(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The entity tables in persisted order: (name, sid → entity)."""
        return (
            ("courses", self.courses),
            ("exams", self.exams),
            ("users", self.users),
            ("enrollments", self.enrollments),
            ("sessions", self.sessions),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "settings": {
                "defaultTimezone": self.default_timezone,
                "defaultCurrencyCode": self.default_currency,
                "enabledProctorTypes": list(self.enabled_proctor_types),
            },
            "courses": [c.dump() for c in self.courses.values()],
            "exams": [e.dump() for e in self.exams.values()],
            "users": [u.dump() for u in self.users.values()],
            "enrollments": [en.dump() for en in self.enrollments.values()],
            "sessions": [s.dump() for s in self.sessions.values()],
        }

    @classmethod
    def load(cls, d: dict[str, Any]) -> Install:
        st = d["settings"]
        inst = cls(
            d["sid"],
            st["defaultTimezone"],
            st["defaultCurrencyCode"],
            list(st["enabledProctorTypes"]),
        )
        for c in d["courses"]:
            inst.add_course(Course.load(c))
        for e in d["exams"]:
            inst.add_exam(Exam.load(e))
        for u in d["users"]:
            inst.add_user(User.load(u))
        for en in d["enrollments"]:
            inst.add_enrollment(Enrollment.load(en))
        for s in d["sessions"]:
            inst.add_session(Session.load(s))
        return inst


def _deep_copy(value: Any) -> Any:
    """Copy of a JSON-like value (dicts and lists are rebuilt; scalars are immutable)."""
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
