"""``spsync doctor``'s judgement: from the raw answers of an install's GETs to findings.

Pure: no I/O, no clock, no environment. ``spsync.doctor_probe`` sends the GETs and hands
over one ``Answer`` per probe, in the order of ``PROBES``; ``analyse`` turns them into a
``Report`` (what each call answered with, which forms the install uses, what spsync cannot
observe, which ``api.dialect`` settings fit, and the problems that stop spsync), and
``render_text`` / ``render_json`` show it. Everything shown that came from the server (field
names, codes, messages) goes through ``sanitize.clean``; values are never shown, except
the few enumerations a finding names (``online`` vs ``Online``).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from spsync.sanitize import clean, json_text

#: the version of ``render_json``'s document (keys are only ever added)
FORMAT_VERSION = "1"

#: every probe, in the order it is sent, and what it reads
PROBES: dict[str, str] = {
    "settings": "install settings (token and install check)",
    "users": "user list, first page",
    "users-paging": "user list, pages of one (paging links)",
    "user": "user profile",
    "report": "appointments report, first page",
    "report-status-one": "appointments report, one status filter",
    "report-status-repeated": "appointments report, status filter repeated",
    "report-limit-over": "appointments report, a page larger than spsync asks for",
    "course": "course",
    "exams": "exam list of the course, first page",
    "exam": "exam",
    "enrollments": "enrollment list of the course, first page",
    "sessions": "session list of the enrollment and exam, first page",
    "session": "session details",
    "unknown-sid": "a well-formed course SID that does not exist (error body)",
    "unknown-route": "a path no route serves (error body)",
}

#: probes that expect an error or test a limit: their answer is a finding, never a problem
DELIBERATE = frozenset(
    {
        "report-status-one",
        "report-status-repeated",
        "report-limit-over",
        "unknown-sid",
        "unknown-route",
    }
)

#: the page size spsync asks for, and the larger one a probe tries
PAGE_LIMIT = 100
LIMIT_OVER = PAGE_LIMIT + 1

#: fields spsync reads where the vendor's documents leave them out: absent means unobservable
WATCHED: dict[str, tuple[str, ...]] = {
    "users": ("apiId", "currencyCode", "externalId", "lmsId"),
    "user": ("apiId", "currencyCode", "externalId", "lmsId"),
    "report": (
        "createdDate",
        "editDate",
        "externalAppointmentId",
        "notes",
        "proctorLocationSid",
        "statusReason",
    ),
    "course": ("ids",),
    "exams": ("description", "ids"),
    "exam": ("description", "ids"),
    "sessions": ("createdDate", "editDate", "externalAppointmentId"),
    "session": (
        "createdDate",
        "editDate",
        "externalAppointmentId",
        "notes",
        "proctorLocationSid",
        "statusReason",
    ),
}

#: the envelope of a list page (api-contract §7)
ENVELOPE = ("count", "first", "last", "next", "offset", "prev", "results", "total")

#: at most this many field names are listed per call (a server may send thousands)
MAX_FIELDS = 60

_SID = re.compile(r"^(AI|CU|EX|EN|ES|US)[a-f0-9]{32}$")

#: forms that tell the two dialects apart: form key -> (contract value, vendor value)
_SIGNALS: dict[str, tuple[str, str]] = {
    "exam.type": ("lower-case", "capitalised"),
    "exam.scope": ("limitedScope", "isLimitedScope"),
    "exam.configuration": ("provision", "v1"),
    "course.code": ("code", "courseCode"),
    "user.timeZone": ("timeZone", "timeZoneSid"),
    "enrollment.sid": ("sid", "enrollmentSid"),
    "report.status": ("repeated", "single"),
    "error.unknownRoute": ("code-message-status", "hapi"),
}


@dataclass(frozen=True)
class Answer:
    """One probe: the GET sent and what came back, or why it was not sent.

    ``body`` is the parsed JSON (``None`` when absent or not JSON: then ``is_json`` is
    false). ``headers``: the rate-limit and content-type headers, names lower-cased.
    ``error``: the API's error in spsync's words (a non-2xx answer) or the transport
    failure. ``unreadable``: why spsync's reader refuses a 2xx body (it expects another
    shape). ``skipped``: why the probe was not sent (a SID nothing gave).
    """

    probe: str
    route: str
    path: str = ""
    query: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    body: Any = None
    is_json: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    unreadable: str | None = None
    skipped: str | None = None
    #: 429 answers waited out before this one
    throttled: int = 0

    @property
    def call(self) -> str:
        """``GET route?query`` with the route's placeholders (the same for every install)."""
        q = "&".join(f"{k}={{{k}}}" if _SID.match(v) else f"{k}={v}" for k, v in self.query)
        return f"GET {self.route}{'?' + q if q else ''}"

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Check:
    """What one probe showed: its outcome, the fields of the object (or first list item)
    and one line per finding."""

    answer: Answer
    outcome: str
    fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The whole verdict on one tenant's install."""

    tenant: str
    install: str
    api_url: str
    checks: list[Check]
    #: form key -> what the install answers with (``None``: not observed)
    forms: dict[str, Any]
    #: ``what.field`` spsync reads but the install did not return
    unobservable: list[str]
    #: ``api.dialect`` setting -> {"value": ..., "why": ...}
    dialect: dict[str, dict[str, Any]]
    #: what stops spsync (exit 1)
    problems: list[str]
    #: what spsync can live with but a user should know
    warnings: list[str]
    #: kind -> (SID, where it came from) of the objects read
    sids: dict[str, tuple[str, str]]
    #: which dialect of spsync's simulator the answers resemble: contract, vendor, mixed
    resembles: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# --- finding SIDs to read ---------------------------------------------------------------------


def _sid(value: Any, prefix: str) -> str | None:
    return value if isinstance(value, str) and _SID.match(value) and value[:2] == prefix else None


#: the SID prefix of each kind doctor reads
_PREFIXES = {"course": "CU", "exam": "EX", "enrollment": "EN", "session": "ES", "user": "US"}


def sids_from_state(
    resources: Mapping[str, tuple[str | None, Mapping[str, str]]],
) -> dict[str, str]:
    """SIDs to read, from a tenant's state (``address -> (sid, refs)``), so that they
    belong together: the first session in address order and the objects it refers to;
    else the first exam and its course; then the first course, enrollment (of that course)
    and user still missing."""
    out: dict[str, str] = {}
    by_kind: dict[str, list[tuple[str | None, Mapping[str, str]]]] = {}
    for address in sorted(resources):
        by_kind.setdefault(address.split(".", 1)[0], []).append(resources[address])
    for sid, refs in by_kind.get("session", []):
        got = {k: _sid(refs.get(k), p) for k, p in _PREFIXES.items() if k != "session"}
        got["session"] = _sid(sid, "ES")
        if all(got.values()):
            return {k: v for k, v in got.items() if v}
    for sid, refs in by_kind.get("exam", []):
        exam, course = _sid(sid, "EX"), _sid(refs.get("course"), "CU")
        if exam and course:
            out.update(exam=exam, course=course)
            break
    for kind in ("course", "enrollment", "user"):
        for sid, refs in by_kind.get(kind, []):
            found = _sid(sid, _PREFIXES[kind])
            same_course = kind != "enrollment" or out.get("course") in (None, refs.get("course"))
            if found and same_course and kind not in out:
                out[kind] = found
    return out


def _first(body: Any) -> dict[str, Any] | None:
    results = body.get("results") if isinstance(body, dict) else None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return results[0]
    return None


def sids_from_answer(answer: Answer, known: Mapping[str, str]) -> dict[str, str]:
    """SIDs a list answer offers for the probes still to come (its first item), never
    mixing courses: an item of another course than the one already chosen gives nothing."""
    item = _first(answer.body) if answer.ok else None
    if item is None:
        return {}
    if answer.probe == "users":
        user = _sid(item.get("sid"), "US")
        return {"user": user} if user else {}
    if answer.probe == "report":
        exam_obj = item.get("exam") if isinstance(item.get("exam"), dict) else {}
        enr_obj = item.get("enrollment") if isinstance(item.get("enrollment"), dict) else {}
        course = _sid(
            item.get("courseSid") or exam_obj.get("courseSid") or enr_obj.get("courseSid"), "CU"
        )
        if course is None or known.get("course", course) != course:
            return {}
        got = {
            "course": course,
            "exam": _sid(item.get("examSid") or exam_obj.get("sid"), "EX"),
            "enrollment": _sid(item.get("enrollmentSid") or enr_obj.get("enrollmentSid"), "EN"),
            "session": _sid(item.get("sid"), "ES"),
        }
        return {k: v for k, v in got.items() if v}
    if answer.probe == "exams":
        exam = _sid(item.get("sid"), "EX")
        return {"exam": exam} if exam else {}
    if answer.probe == "enrollments":
        got = {
            "enrollment": _sid(item.get("sid") or item.get("enrollmentSid"), "EN"),
            "user": _sid(item.get("userSid"), "US"),
        }
        return {k: v for k, v in got.items() if v}
    if answer.probe == "sessions":
        session = _sid(item.get("sid"), "ES")
        return {"session": session} if session else {}
    return {}


# --- forms ------------------------------------------------------------------------------------


def _object_of(answer: Answer) -> dict[str, Any] | None:
    """The object a probe read: the body, or a list's first item."""
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    if "results" in answer.body:
        return _first(answer.body)
    return answer.body


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


def _links(answer: Answer) -> str | None:
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
    forms: dict[str, Any] = {k: None for k in (*_SIGNALS, "page.limit100", "page.limitOver")}
    forms |= {"page.links": None, "error.unknownSid": None, "assignments": "not-probed"}
    for probe in ("exam", "exams", "course", "user", "users", "enrollments"):
        obj = _object_of(answers[probe]) if probe in answers else None
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
        forms["page.links"] = _links(answers["users-paging"])
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
    for key, (contract, vendor) in _SIGNALS.items():
        if forms.get(key) == contract:
            sides.add("contract")
        elif forms.get(key) == vendor:
            sides.add("vendor")
    if not sides:
        return None
    return sides.pop() if len(sides) == 1 else "mixed"


# --- per call ---------------------------------------------------------------------------------

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
    form = _links(answer)
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
    obj = _object_of(answer)
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


# --- the verdict ------------------------------------------------------------------------------


def _problems(answers: Sequence[Answer]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    warnings: list[str] = []
    for a in answers:
        where = f"GET {a.path or a.route}"
        if a.skipped is not None:
            continue
        if a.status is None:
            problems.append(f"{where}: no answer: {a.error}")
        elif a.status in (401, 403):
            problems.append(
                f"{where}: the token was refused ({a.error or a.status}); check the variable "
                "tenant.yaml's api.token names, and that the token belongs to this install"
            )
        elif a.ok and a.unreadable:
            problems.append(f"{where}: spsync cannot read this answer: {a.unreadable}")
        elif a.probe in DELIBERATE:
            if a.status >= 500:
                warnings.append(f"{where}: {a.error or a.status}")
        elif a.status == 404 and a.probe == "settings":
            problems.append(
                f"{where}: install not found ({a.error or 404}); check install: in tenant.yaml"
            )
        elif a.status == 404:
            warnings.append(
                f"{where}: not found ({a.error or 404}); the state may name an object that is gone"
            )
        elif not a.ok:
            problems.append(f"{where}: {a.error or a.status}")
    return problems, warnings


def _unobservable(answers: Mapping[str, Answer]) -> list[str]:
    out = []
    for probe, fields in WATCHED.items():
        obj = _object_of(answers[probe]) if probe in answers else None
        if obj is not None:
            out.extend(f"{probe}.{f}" for f in fields if f not in obj)
    return out


def _dialect(forms: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``api.dialect`` settings and what doctor can say of each."""
    return {
        "assignments": {
            "value": None,
            "why": (
                "Not probed: doctor sends nothing to the assignment routes (only a PUT would "
                "tell which of the guide, exam and newest forms the install serves, and a PUT "
                "may change something); the first apply that assigns finds the form (it falls "
                "back only on 404/405), or set api.dialect.assignments: guide|exam|newest in "
                "tenant.yaml"
            ),
        }
    }


def _rate_headers(answers: Iterable[Answer]) -> list[str]:
    names = {
        clean(name)
        for a in answers
        for name, _v in a.headers
        if name == "retry-after" or "ratelimit" in name or "rate-limit" in name
    }
    return sorted(names)


def analyse(
    tenant: str,
    install: str,
    api_url: str,
    answers: Sequence[Answer],
    sids: Mapping[str, tuple[str, str]],
    notes: Sequence[str] = (),
) -> Report:
    """The report of one install from the answers of its probes (in ``PROBES`` order);
    ``notes``: warnings of the caller's own (e.g. a state that was not used)."""
    by_probe = {a.probe: a for a in answers}
    forms = forms_of(by_probe)
    forms["rateLimitHeaders"] = _rate_headers(answers)
    problems, warnings = _problems(answers)
    warnings = [*notes, *warnings]
    return Report(
        tenant=tenant,
        install=install,
        api_url=api_url,
        checks=[check_of(a, forms) for a in answers],
        forms=forms,
        unobservable=_unobservable(by_probe),
        dialect=_dialect(forms),
        problems=problems,
        warnings=warnings,
        sids=dict(sids),
        resembles=resemblance(forms),
    )


# --- output -----------------------------------------------------------------------------------

#: the width text lines are wrapped at
WIDTH = 100

#: the forms in the order they are shown, with their labels
FORM_LABELS: dict[str, str] = {
    "exam.type": "exam type casing",
    "exam.scope": "exam scope field",
    "exam.configuration": "exam configuration form",
    "course.code": "course code field",
    "user.timeZone": "user time zone field",
    "enrollment.sid": "enrollment row SID field",
    "report.status": "report status filter",
    "page.limit100": f"page size limit={PAGE_LIMIT}",
    "page.limitOver": f"page size limit={LIMIT_OVER}",
    "page.links": "paging links",
    "error.unknownSid": "error body, unknown SID",
    "error.unknownRoute": "error body, unknown path",
    "assignments": "assignment route form",
    "rateLimitHeaders": "rate-limit headers seen",
}

_RESEMBLES = {
    "contract": "spsync's API contract (the simulator's contract dialect)",
    "vendor": "the vendor's documents (the simulator's vendor dialect)",
    "mixed": "partly the contract, partly the vendor's documents",
}


def _form_text(key: str, value: Any) -> str:
    if key == "rateLimitHeaders":
        return ", ".join(value) if value else "none"
    if key == "assignments":
        return "not probed (see api.dialect below)"
    return "not observed" if value is None else clean(value)


def render_text(reports: Sequence[Report]) -> str:
    """The human report: one block per tenant, in a fixed order."""
    lines: list[str] = []
    for r in reports:
        if lines:
            lines.append("")
        lines.append(f"Tenant {r.tenant}: install {r.install} at {clean(r.api_url)}")
        sent = sum(1 + c.answer.throttled for c in r.checks if c.outcome != "skipped")
        verdict = (
            "spsync can work with this install"
            if r.ok
            else f"spsync cannot work with this install as it answers ({len(r.problems)} problem"
            f"{'' if len(r.problems) == 1 else 's'} below)"
        )
        lines.append(f"  {verdict}; {sent} GETs sent, nothing written.")
        if r.resembles:
            lines.append(f"  The answers follow {_RESEMBLES[r.resembles]}.")
        lines += ["", "Read"]
        for kind in ("course", "exam", "user", "enrollment", "session"):
            sid, source = r.sids.get(kind, ("-", "nothing gave one"))
            lines.append(f"  {kind:<11} {sid} ({source})")
        lines += ["", "Calls"]
        for c in r.checks:
            status = "" if c.answer.status is None else f" -> {c.answer.status}"
            lines.append(f"  {c.outcome:<10} {c.answer.call}{status}")
            if c.fields:
                lines += textwrap.wrap(
                    "fields: " + ", ".join(c.fields),
                    width=WIDTH,
                    initial_indent=" " * 13,
                    subsequent_indent=" " * 21,
                    break_on_hyphens=False,
                )
            lines.extend(f"{'':13}- {n}" for n in c.notes)
        lines += ["", "Forms"]
        for key, label in FORM_LABELS.items():
            lines.append(f"  {label:<28} {_form_text(key, r.forms.get(key))}")
        lines += [
            "",
            "Not observable (absent from the answers: the planner keeps the last applied value)",
        ]
        lines += textwrap.wrap(
            ", ".join(r.unobservable) if r.unobservable else "nothing",
            width=WIDTH,
            initial_indent="  ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        lines += ["", "api.dialect"]
        for name, setting in r.dialect.items():
            value = "leave unset" if setting["value"] is None else setting["value"]
            lines += textwrap.wrap(
                f"{name}: {value}. {setting['why']}",
                width=WIDTH,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
        for title, items in (("Warnings", r.warnings), ("Problems", r.problems)):
            if items:
                lines += ["", title]
                lines.extend(f"  - {x}" for x in items)
    return "\n".join(lines) + "\n"


def report_json(r: Report) -> dict[str, Any]:
    """One tenant's report as the JSON document holds it (docs/troubleshooting.md)."""
    return {
        "tenant": r.tenant,
        "install": r.install,
        "api_url": r.api_url,
        "ok": r.ok,
        "resembles": r.resembles,
        "read": {k: {"sid": sid, "from": source} for k, (sid, source) in sorted(r.sids.items())},
        "calls": [
            {
                "probe": c.answer.probe,
                "method": "GET",
                "route": c.answer.route,
                "path": c.answer.path,
                "query": [list(q) for q in c.answer.query],
                "status": c.answer.status,
                "throttled": c.answer.throttled,
                "outcome": c.outcome,
                "fields": c.fields,
                "notes": c.notes,
                "headers": dict(c.answer.headers),
            }
            for c in r.checks
        ],
        "forms": {k: r.forms.get(k) for k in FORM_LABELS},
        "unobservable": r.unobservable,
        "dialect": r.dialect,
        "warnings": r.warnings,
        "problems": r.problems,
    }


def render_json(reports: Sequence[Report]) -> str:
    """``{"format_version", "tenants": [...]}``, keys sorted within each object."""
    doc = {"format_version": FORMAT_VERSION, "tenants": [report_json(r) for r in reports]}
    return json_text(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True)) + "\n"
