"""``spsync doctor``, call by call: the ``Check`` of one answer (its outcome, the fields of
the object it read, one line per finding). Pure; what the server sent is shown cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from spsync.doctor_forms import error_shape, links_form, object_forms
from spsync.doctor_values import (
    DELIBERATE,
    ENVELOPE,
    LIMIT_OVER,
    PAGE_LIMIT,
    WATCHED,
    Answer,
    Check,
    object_of,
)
from spsync.sanitize import clean

#: at most this many field names are listed per call (a server may send thousands)
MAX_FIELDS = 60

_FORM_WORDS = {
    "exam.type": {
        "lower-case": "exam type in lower case (online/written: the provision form)",
        "capitalised": "exam type capitalised (Online/Written: the v1 form)",
    },
    "exam.scope": {
        "limitedScope": "scope field limitedScope (the provision name)",
        "isLimitedScope": "scope field isLimitedScope (the v1 name)",
        "absent": "no scope field (limitedScope/isLimitedScope): scope is unobservable",
    },
    "exam.configuration": {
        "provision": "configuration in the provision form (access, proctorTypes an object)",
        "v1": "configuration in the v1 form (examOpenDate…, proctorTypes a list)",
        "absent": "no configuration in the answer",
    },
    "course.code": {
        "code": "course code field: code",
        "courseCode": "course code field: courseCode (the v1 name)",
        "absent": "no course code field",
    },
    "user.timeZone": {
        "timeZone": "time zone field: timeZone (an IANA name)",
        "timeZoneSid": "time zone field: timeZoneSid (a TZ SID, no IANA name)",
        "absent": "no time zone field",
    },
    "enrollment.sid": {
        "sid": "enrollment rows name their SID sid",
        "enrollmentSid": "enrollment rows name their SID enrollmentSid",
        "absent": "enrollment rows carry no SID",
    },
}


def _names(keys: Iterable[Any]) -> list[str]:
    names = sorted(clean(k) for k in keys)
    if len(names) > MAX_FIELDS:
        return [*names[:MAX_FIELDS], f"… and {len(names) - MAX_FIELDS} more"]
    return names


def _notes(answer: Answer, obj: dict[str, Any] | None) -> list[str]:
    """The findings of one call, in a fixed order."""
    notes: list[str] = []
    if obj is not None:
        for key, form in object_forms(answer.probe, obj).items():
            notes.append(_FORM_WORDS[key].get(form, f"{key}: {form}"))
        missing = [f for f in WATCHED.get(answer.probe, ()) if f not in obj]
        if missing:
            notes.append("absent: " + ", ".join(missing))
        if answer.probe == "report":
            nested = [k for k in ("exam", "enrollment") if isinstance(obj.get(k), dict)]
            if nested:
                notes.append("nested objects: " + ", ".join(nested))
    if answer.ok and isinstance(answer.body, dict) and "results" in answer.body:
        absent = [k for k in ENVELOPE if k not in answer.body]
        if absent:
            notes.append("page envelope lacks: " + ", ".join(absent))
        if not answer.body.get("results"):
            notes.append("empty page")
    return notes


def _deliberate_notes(answer: Answer, forms: Mapping[str, Any]) -> list[str]:
    probe = answer.probe
    if answer.status is None:
        return []
    if probe == "report-status-one":
        return [
            "one status value accepted"
            if answer.ok
            else f"one status value refused ({answer.status})"
        ]
    if probe == "report-status-repeated":
        if answer.ok:
            return ["a repeated status filter is accepted"]
        return [
            f"a repeated status filter is refused ({answer.status}): the filter takes one value"
        ]
    if probe == "report-limit-over":
        if answer.ok:
            return [
                f"limit={LIMIT_OVER} accepted: pages may exceed the {PAGE_LIMIT} spsync asks for"
            ]
        return [f"limit={LIMIT_OVER} refused ({answer.status}): pages hold {PAGE_LIMIT} at most"]
    shape = error_shape(answer)
    words = {
        "code-message-status": "error body {code, message, status}",
        "hapi": "error body {statusCode, error, message} (hapi's answer to a path without a route)",
        "other": "error body of an unrecognised JSON shape",
        "not-json": "error body that is not JSON",
    }
    if shape is None:
        return [f"answered {answer.status} where an error was expected"]
    return [f"{answer.status}: {words[shape]}"]


def _paging_note(answer: Answer) -> str:
    """What the links of a page of one item say (a list of more than one item has ``next``)."""
    form = links_form(answer)
    body = answer.body if isinstance(answer.body, dict) else {}
    if form is None:
        return "too few items to see a next link"
    if form == "none":
        return (
            "no next link although more items exist: spsync pages by offset until a page is short"
        )
    nxt = _query_of(body["next"])
    offset = nxt.get("offset")
    return f"next link: {form} URL, offset={clean(offset) if offset is not None else 'absent'}"


def _query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (the last value of each)."""
    return dict(parse_qsl(urlsplit(url).query))


def _outcome(answer: Answer) -> str:
    if answer.skipped is not None:
        return "skipped"
    if answer.status is None:
        return "failed"
    if answer.ok:
        return "unreadable" if answer.unreadable else "ok"
    return "refused"


def check_of(answer: Answer, forms: Mapping[str, Any]) -> Check:
    """The ``Check`` of one answer."""
    check = Check(answer, _outcome(answer))
    if answer.skipped is not None:
        check.notes.append(f"not checked: {answer.skipped}")
        return check
    if answer.status is None:
        check.notes.append(f"no answer: {answer.error}")
        return check
    if answer.throttled:
        check.notes.append(f"throttled: {answer.throttled} answer(s) 429 waited out first")
    obj = object_of(answer)
    if obj is not None and answer.probe not in DELIBERATE and answer.probe != "users-paging":
        check.fields = _names(obj)
    if answer.probe in DELIBERATE:
        check.notes.extend(_deliberate_notes(answer, forms))
    elif not answer.ok:
        check.notes.append(answer.error or f"answered {answer.status}")
    elif answer.probe == "users-paging":
        check.notes.append(_paging_note(answer))
    else:
        check.notes.extend(_notes(answer, obj))
        if answer.unreadable:
            check.notes.append(f"spsync cannot read this answer: {answer.unreadable}")
    return check
