"""Request bodies for simulator tests (the integration guide's example, parametrised)."""

from __future__ import annotations

import copy
from typing import Any

TS_LIVE = "TS4b894875d26194988853e490dfb9bc41"
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"


def course(ext: str = "client-account-123", **over: Any) -> dict[str, Any]:
    body = {"ids": {"external": ext}, "title": "Client Account - Acme Corp", "code": "ACME-001"}
    body.update(over)
    return body


def configuration(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": "https://exams.example.com/exam/456",
        "access": {"open": "2027-02-01T00:00:00Z", "close": "2027-12-31T23:59:59Z"},
        "scheduling": {"open": "2027-01-01T00:00:00Z", "close": "2027-12-30T00:00:00Z"},
        "duration": 120,
        "password": "exam-secure-password",
        "attempts": 1,
        "proctorTypes": {TS_LIVE: {}, TS_AUTO: {"options": {"recordScreen": {}}}},
        "notes": {"student": "Have your ID ready.", "proctor": "Verify identity."},
        "permittedItems": {"calculator": {"notes": "Basic only"}},
    }
    body.update(over)
    return body


def exam(ext: str = "certification-exam-456", *, limited: bool = True, **over: Any) -> dict:
    body: dict[str, Any] = {
        "ids": {"external": ext},
        "title": "Professional Certification Exam",
        "type": "online",
        "limitedScope": limited,
        "configuration": configuration(),
    }
    body.update(over)
    return body


def user(ext: str = "user-789", **over: Any) -> dict[str, Any]:
    body = {
        "ids": {"external": ext},
        "firstName": "Jane",
        "lastName": "Smith",
        "email": f"{ext}@example.com",
        "timeZone": "America/New_York",
    }
    body.update(over)
    return body


def full(**over: Any) -> dict[str, Any]:
    """Course + limited exam + user + learner enrollment."""
    body = {
        "course": course(),
        "exam": exam(),
        "user": user(),
        "enrollment": {"role": "learner"},
    }
    body.update(over)
    return copy.deepcopy(body)


def schedule(at: str = "2027-03-01T14:00:00Z", **over: Any) -> dict[str, Any]:
    body = {
        "type": "automated",
        "proctorLocationSid": PL,
        "appointmentDateTime": at,
        "amount": 0,
        "currency": "USD",
        "externalAppointmentId": "acme-appt-0001",
    }
    body.update(over)
    return body
