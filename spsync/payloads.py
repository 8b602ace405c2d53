"""Request payloads built from the manifests' models: the provision objects of courses,
exams and users, a session's schedule body, and the applied fields recorded for an update
(the plan's masked secrets taken back from state). PURE: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spsync.api import wire
from spsync.model import Course, Exam, ExamConfiguration, Session, User
from spsync.plan import SENSITIVE, SENSITIVE_CHANGED


def unmasked(shown: Mapping[str, Any], applied: Mapping[str, Any]) -> dict[str, Any]:
    """``shown`` (a plan's fields, secrets masked) with each masked value taken back from
    ``applied`` (the state's, where secrets are keyed fingerprints)."""
    out: dict[str, Any] = {}
    for k, v in shown.items():
        old = applied.get(k)
        if v in (SENSITIVE, SENSITIVE_CHANGED):
            if old is not None:
                out[k] = old
        elif isinstance(v, dict):
            out[k] = unmasked(v, old if isinstance(old, dict) else {})
        else:
            out[k] = v
    return out


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def optional_text(value: str | None) -> str | None:
    """An optional text field as sent: empty text is left out like ``None`` (the service's
    validation refuses ``""`` for optional strings such as ``description`` and ``notes``)."""
    return value or None


def course_payload(course: Course) -> dict[str, Any]:
    """The ``course`` object of a provision request creating or updating ``course``."""
    return _clean({"ids": course.ids.wire(), "title": course.title, "code": course.code})


def configuration_payload(cfg: ExamConfiguration) -> dict[str, Any]:
    """An exam configuration as sent (the password stays a ``Secret`` until the client
    serialises the body)."""
    out: dict[str, Any] = {
        "url": cfg.url,
        "access": {"open": cfg.access.open, "close": cfg.access.close},
        "duration": cfg.duration,
        "password": cfg.password,
        "proctorTypes": {
            ts: ({} if p.options is None else {"options": dict(p.options)})
            for ts, p in cfg.proctorTypes.items()
        },
    }
    if cfg.scheduling is not None:
        out["scheduling"] = {"open": cfg.scheduling.open, "close": cfg.scheduling.close}
    if cfg.attempts is not None:
        out["attempts"] = cfg.attempts
    if cfg.notes is not None:
        out["notes"] = _clean({"student": cfg.notes.student, "proctor": cfg.notes.proctor})
    if cfg.permittedItems is not None:
        out["permittedItems"] = {
            k: _clean({"notes": v.notes}) for k, v in cfg.permittedItems.items()
        }
    return out


def exam_payload(exam: Exam) -> dict[str, Any]:
    """The ``exam`` object of a provision request creating or updating ``exam``."""
    return _clean(
        {
            "ids": exam.ids.wire(),
            "title": exam.title,
            "description": optional_text(exam.description),
            "type": exam.type,
            "limitedScope": exam.limitedScope,
            "configuration": (
                None if exam.configuration is None else configuration_payload(exam.configuration)
            ),
        }
    )


def user_payload(user: User) -> dict[str, Any]:
    """The ``user`` object of a provision request creating or updating ``user``."""
    return _clean(
        {
            "ids": user.ids.wire(),
            "firstName": user.firstName,
            "lastName": user.lastName,
            "email": user.email,
            "timeZone": user.timeZone,
            "currencyCode": user.currencyCode,
        }
    )


def schedule_request(s: Session) -> wire.ScheduleRequest:
    """The schedule body of a desired session."""
    return wire.ScheduleRequest.model_validate(
        _clean(
            {
                "type": s.type,
                "proctorLocationSid": s.proctorLocation,
                "appointmentDateTime": s.appointment,
                "amount": None if s.amount is None else float(s.amount),
                "currency": s.currency,
                "externalAppointmentId": s.externalAppointmentId,
                "notes": optional_text(s.notes),
                "proctorTypeSubCategorySid": s.proctorTypeSubCategory,
            }
        )
    )
