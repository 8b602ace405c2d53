"""``spsync doctor``: which forms an install answers with (exam type casing, field names,
paging, error bodies), and which dialect of spsync's simulator they resemble. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spsync.doctor_values import PAGE_LIMIT, Answer, object_of

#: forms that tell the two dialects apart: form key -> (contract value, vendor value)
SIGNALS: dict[str, tuple[str, str]] = {
    "exam.type": ("lower-case", "capitalised"),
    "exam.scope": ("limitedScope", "isLimitedScope"),
    "exam.configuration": ("provision", "v1"),
    "course.code": ("code", "courseCode"),
    "user.timeZone": ("timeZone", "timeZoneSid"),
    "enrollment.sid": ("sid", "enrollmentSid"),
    "report.status": ("repeated", "single"),
    "error.unknownRoute": ("code-message-status", "hapi"),
}


def error_shape(answer: Answer) -> str | None:
    """The error body's form: ``code-message-status`` (the contract's and the vendor's
    routes), ``hapi`` (``statusCode``/``error``/``message``: hapi's own answer to a path it
    has no route for), ``other`` or ``not-json``; ``None`` for a success or no answer."""
    if answer.status is None or answer.ok:
        return None
    body = answer.body
    if not answer.is_json:
        return "not-json"
    if isinstance(body, dict) and {"statusCode", "error", "message"} <= body.keys():
        return "hapi"
    if isinstance(body, dict) and {"code", "message"} <= body.keys():
        return "code-message-status"
    return "other"


def _exam_forms(exam: dict[str, Any]) -> dict[str, str]:
    kind = exam.get("type")
    type_form = (
        "lower-case" if kind in ("online", "written")
        else "capitalised" if kind in ("Online", "Written")
        else "absent" if kind is None else "unrecognised"
    )  # fmt: skip
    if "limitedScope" in exam:
        scope = "limitedScope"
    elif "isLimitedScope" in exam:
        scope = "isLimitedScope"
    else:
        scope = "absent"
    conf = exam.get("configuration")
    if not isinstance(conf, dict):
        conf_form = "absent"
    elif isinstance(conf.get("proctorTypes"), list) or "examOpenDate" in conf:
        conf_form = "v1"
    elif isinstance(conf.get("proctorTypes"), dict) or "access" in conf:
        conf_form = "provision"
    else:
        conf_form = "unrecognised"
    return {"exam.type": type_form, "exam.scope": scope, "exam.configuration": conf_form}


def _either(obj: dict[str, Any], first: str, second: str) -> str:
    if first in obj:
        return first
    return second if second in obj else "absent"


#: form key -> the two field names it tells apart (the contract's, the v1 one)
_PAIRS = {
    "course.code": ("code", "courseCode"),
    "user.timeZone": ("timeZone", "timeZoneSid"),
    "enrollment.sid": ("sid", "enrollmentSid"),
}
#: probe -> the form keys its object shows
_PROBE_FORMS = {
    "course": ("course.code",),
    "user": ("user.timeZone",),
    "users": ("user.timeZone",),
    "enrollments": ("enrollment.sid",),
}


def object_forms(probe: str, obj: dict[str, Any]) -> dict[str, str]:
    """The forms the object a probe read shows (form key -> form)."""
    if probe in ("exam", "exams"):
        return _exam_forms(obj)
    return {k: _either(obj, *_PAIRS[k]) for k in _PROBE_FORMS.get(probe, ())}


def links_form(answer: Answer) -> str | None:
    """How a page links to the next: ``absolute`` or ``relative`` URL, ``none`` although more
    items exist; ``None`` when the answer cannot tell."""
    body = answer.body if answer.ok and isinstance(answer.body, dict) else None
    if body is None:
        return None
    nxt = body.get("next")
    if not isinstance(nxt, str) or not nxt:
        total = body.get("total")
        return "none" if isinstance(total, int) and total > 1 else None
    return "absolute" if nxt.startswith(("https://", "http://")) else "relative"


def forms_of(answers: Mapping[str, Answer]) -> dict[str, Any]:
    """Every form key with what the answers show (``None``: nothing showed it)."""
    forms: dict[str, Any] = {k: None for k in (*SIGNALS, "page.limit100", "page.limitOver")}
    forms |= {"page.links": None, "error.unknownSid": None, "assignments": "not-probed"}
    for probe in ("exam", "exams", "course", "user", "users", "enrollments"):
        obj = object_of(answers[probe]) if probe in answers else None
        if obj is not None:
            for key, form in object_forms(probe, obj).items():
                forms[key] = form if forms[key] is None else forms[key]
    repeated = answers.get("report-status-repeated")
    if repeated is not None and repeated.status is not None:
        forms["report.status"] = (
            "repeated" if repeated.ok else "single" if repeated.status == 400 else "unknown"
        )
    paged = [a for a in answers.values() if ("limit", str(PAGE_LIMIT)) in a.query]
    if any(a.ok for a in paged):
        forms["page.limit100"] = "accepted"
    elif any(a.status == 400 for a in paged):
        forms["page.limit100"] = "refused"
    over = answers.get("report-limit-over")
    if over is not None and over.status is not None:
        forms["page.limitOver"] = (
            "accepted" if over.ok else "refused" if over.status == 400 else "unknown"
        )
    if "users-paging" in answers:
        forms["page.links"] = links_form(answers["users-paging"])
    for probe, key in (
        ("unknown-sid", "error.unknownSid"),
        ("unknown-route", "error.unknownRoute"),
    ):
        if probe in answers:
            forms[key] = error_shape(answers[probe])
    return forms


def resemblance(forms: Mapping[str, Any]) -> str | None:
    """``contract``, ``vendor`` or ``mixed``: which dialect of spsync's simulator the
    observed forms match (``None`` when none was observed)."""
    sides = set()
    for key, (contract, vendor) in SIGNALS.items():
        if forms.get(key) == contract:
            sides.add("contract")
        elif forms.get(key) == vendor:
            sides.add("vendor")
    if not sides:
        return None
    return sides.pop() if len(sides) == 1 else "mixed"
