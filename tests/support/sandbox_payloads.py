"""The one factory of provision request bodies in the tests (the integration guide's
example, parametrised), and of the schedule body.

Every builder takes overrides as keywords; an override of ``None`` leaves the key out, so
that a test can send a smaller body than the guide's (``exam(type=None)``,
``configuration(minimal=True)``). Bodies are plain dicts as they go over the wire; a test of
the client validates them into ``spsync.api.wire.ProvisionRequest`` itself.
"""

from __future__ import annotations

from typing import Any

TS_LIVE = "TS4b894875d26194988853e490dfb9bc41"
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"

#: the configuration fields the API requires to create an exam (the rest are optional)
REQUIRED_CONFIGURATION = ("url", "access", "duration", "password", "proctorTypes")


def _copied(value: Any) -> Any:
    """``value`` with every dict and list copied (the leaves, a ``Secret`` among them, are
    shared: they are never changed in place)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _merged(body: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``over`` applied; a ``None`` override removes the key."""
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def course(ext: str = "client-account-123", **over: Any) -> dict[str, Any]:
    body = {"ids": {"external": ext}, "title": "Client Account - Acme Corp", "code": "ACME-001"}
    return _merged(body, over)


def configuration(*, minimal: bool = False, **over: Any) -> dict[str, Any]:
    """The guide's exam configuration; ``minimal``: its required fields only."""
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
    if minimal:
        body = {k: body[k] for k in REQUIRED_CONFIGURATION}
    return _merged(body, over)


def exam(ext: str = "certification-exam-456", *, limited: bool = True, **over: Any) -> dict:
    body: dict[str, Any] = {
        "ids": {"external": ext},
        "title": "Professional Certification Exam",
        "type": "online",
        "limitedScope": limited,
        "configuration": configuration(),
    }
    return _merged(body, over)


def user(ext: str = "user-789", **over: Any) -> dict[str, Any]:
    body = {
        "ids": {"external": ext},
        "firstName": "Jane",
        "lastName": "Smith",
        "email": f"{ext}@example.com",
        "timeZone": "America/New_York",
    }
    return _merged(body, over)


def provision(**parts: Any) -> dict[str, Any]:
    """A provision request of the parts given (``course=``, ``exam=``, ``user=``,
    ``enrollment=``, ``signon=``; ``None`` ones left out), copied: parts may be shared."""
    return _copied({k: v for k, v in parts.items() if v is not None})


def in_course(sid: str, **parts: Any) -> dict[str, Any]:
    """A provision request of ``parts`` under the existing course ``sid``."""
    return provision(course={"ids": {"sid": sid}}, **parts)


def full(**over: Any) -> dict[str, Any]:
    """Course + limited exam + user + learner enrollment."""
    body = {
        "course": course(),
        "exam": exam(),
        "user": user(),
        "enrollment": {"role": "learner"},
    }
    return provision(**_merged(body, over))


def schedule(at: str = "2027-03-01T14:00:00Z", **over: Any) -> dict[str, Any]:
    body = {
        "type": "automated",
        "proctorLocationSid": PL,
        "appointmentDateTime": at,
        "amount": 0,
        "currency": "USD",
        "externalAppointmentId": "acme-appt-0001",
    }
    return _merged(body, over)
