"""What the ``vendor`` dialect answers with: the vendor's documented shapes, at their
sparsest, made from the contract's views (docs/sandbox.md lists every difference).

Each function takes the contract's answer (or an entity) and returns exactly the keys the
vendor documents for it: no more, so that a client cannot come to depend on a field the
real service may not send.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spsync.sandbox.constants import PERMITTED_ITEMS
from spsync.sandbox.entities import Install, Session

#: The session object of the details read and the schedule answer (no proctorLocationSid).
SESSION_KEYS: tuple[str, ...] = (
    "sid",
    "installSid",
    "examSid",
    "enrollmentSid",
    "userSid",
    "courseSid",
    "status",
    "statusReason",
    "sessionType",
    "proctorTypeSid",
    "duration",
    "appointmentDate",
    "appointmentEndDate",
    "dateScheduled",
    "externalAppointmentId",
    "notes",
    "createdDate",
    "editDate",
)
#: An item of an enrollment's session list.
LIST_ITEM_KEYS: tuple[str, ...] = (
    "sid",
    "status",
    "sessionType",
    "appointmentDate",
    "createdDate",
    "editDate",
)
#: A row of the appointments report, before its nested ``exam`` and ``enrollment``.
REPORT_KEYS: tuple[str, ...] = (
    "sid",
    "examSid",
    "enrollmentSid",
    "status",
    "sessionType",
    "appointmentDate",
    "dateScheduled",
    "externalAppointmentId",
)
#: Permitted items of the v1 configuration, as ``permitted<Item>`` and
#: ``permitted<Item>Information``; ``BlankPaper`` has no provision counterpart.
V1_ITEMS: tuple[str, ...] = (
    "BathroomBreak",
    "BlankPaper",
    "Calculator",
    "Dictionary",
    "Earplugs",
    "FormulaSheet",
    "Notes",
    "Textbook",
    "Websites",
)
#: The v1 exam ``type`` of each provision type.
EXAM_TYPE = {"online": "Online", "written": "Written"}


def _pick(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in keys}


def session(view: dict[str, Any]) -> dict[str, Any]:
    """Session details (GET and the schedule answer)."""
    return _pick(view, SESSION_KEYS)


def session_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item of ``GET …/enrollments/{EN}/exams/{EX}/sessions``."""
    return _pick(item, LIST_ITEM_KEYS)


def report_row(inst: Install, s: Session) -> dict[str, Any]:
    """A row of the appointments report, with its nested exam and enrollment."""
    exam = inst.exams[s.exam_sid]
    en = inst.enrollments[s.enrollment_sid]
    row = _pick(s.view(), REPORT_KEYS)
    row["exam"] = {
        "sid": exam.sid,
        "courseSid": exam.course_sid,
        "title": exam.title,
        "type": EXAM_TYPE[exam.type],
    }
    row["enrollment"] = {
        "userSid": en.user_sid,
        "enrollmentSid": en.sid,
        "courseSid": en.course_sid,
        "role": en.role,
    }
    return row


def exam(view: dict[str, Any]) -> dict[str, Any]:
    """The v1 exam object (GET and the course's exam list)."""
    config = view["configuration"]
    return {
        "sid": view["sid"],
        "courseSid": view["courseSid"],
        "title": view["title"],
        "description": view["description"],
        "type": EXAM_TYPE[view["type"]],
        "isLimitedScope": view["limitedScope"],
        "status": "active",
        "useProctorManager": False,
        "requireApproval": False,
        "enableAppointmentSuggestions": False,
        "url": config["url"],
        "createdDate": view["createdDate"],
        "editDate": view["editDate"],
        "configuration": configuration(config),
    }


def configuration(config: dict[str, Any]) -> dict[str, Any]:
    """The v1 form of an exam's provision configuration: flat dates and notes, a list of
    proctor types (their options are not shown), and flat permitted items."""
    window = config.get("scheduling", {})
    notes = config.get("notes", {})
    out: dict[str, Any] = {
        "sid": config["sid"],
        "url": config["url"],
        "examOpenDate": config["access"]["open"],
        "examCloseDate": config["access"]["close"],
        "scheduleOpenDate": window.get("open"),
        "scheduleCloseDate": window.get("close"),
        "duration": config["duration"],
        "attempts": config["attempts"],
        "password": config["password"],
        "studentNotes": notes.get("student"),
        "proctorNotes": notes.get("proctor"),
        "proctorTypes": list(config["proctorTypes"]),
    }
    permitted = config.get("permittedItems", {})
    for item in V1_ITEMS:
        key = item[0].lower() + item[1:]
        given = permitted.get(key) if key in PERMITTED_ITEMS else None
        out[f"permitted{item}"] = given is not None
        out[f"permitted{item}Information"] = (given or {}).get("notes") or ""
    out["permittedOtherItems"] = ""
    return out


def timezone_sid(name: str) -> str:
    """The ``TZ…`` SID the simulator gives an IANA time zone name (stable: derived from it)."""
    return "TZ" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


def user(view: dict[str, Any]) -> dict[str, Any]:
    """The v1 user object (profile GET and the user list): a ``TZ…`` SID, no IANA name."""
    tz = timezone_sid(view["timeZone"])
    return {
        "sid": view["sid"],
        "firstName": view["firstName"],
        "lastName": view["lastName"],
        "email": view["email"],
        "currencyCode": view["currencyCode"],
        "timeZoneSid": tz,
        "timezone": {"sid": tz},
        "externalId": view["externalId"],
        "apiId": view["apiId"],
        "lmsId": view["lmsId"],
        "enabled": True,
        "createdDate": view["createdDate"],
        "editDate": view["editDate"],
    }


def enrollment(view: dict[str, Any]) -> dict[str, Any]:
    """A row of a course's enrollment list: its SID is named ``enrollmentSid``."""
    return {
        "enrollmentSid": view["sid"],
        "userSid": view["userSid"],
        "courseSid": view["courseSid"],
        "role": view["role"],
        "state": view["state"],
    }


def course(view: dict[str, Any]) -> dict[str, Any]:
    """The course object: ``courseCode``, no ``ids``."""
    return {
        "sid": view["sid"],
        "title": view["title"],
        "courseCode": view["code"],
        "createdDate": view["createdDate"],
        "editDate": view["editDate"],
    }


def settings(view: dict[str, Any]) -> dict[str, Any]:
    """Install settings under their documented names: ``sid``, proctor types by SID only."""
    return {
        "sid": view["installSid"],
        "defaultCurrencyCode": view["defaultCurrencyCode"],
        "defaultTimezone": view["defaultTimezone"],
        "proctorTypes": [{"sid": t["sid"]} for t in view["proctorTypes"]],
    }
