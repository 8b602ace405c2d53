"""``spsync doctor``'s judgement: from the raw answers of an install's GETs to findings.

Pure: no I/O, no clock, no environment. ``spsync.doctor_probe`` sends the GETs and hands
over one ``Answer`` per probe, in the order of ``PROBES``; ``analyse`` turns them into a
``Report`` (what each call answered with, which forms the install uses, what spsync cannot
observe, which ``api.dialect`` settings fit, and the problems that stop spsync), and
``render_text`` / ``render_json`` show it. Everything shown that came from the server (field
names, codes, messages) goes through ``sanitize.clean``; values are never shown, except
the few enumerations a finding names (``online`` vs ``Online``).

This module holds the SIDs to read and the verdict on the whole install, and is the entry
the rest of spsync uses; its parts: ``doctor_values`` (the probes, ``Answer``, ``Check``,
``Report``), ``doctor_forms`` (the forms the answers show), ``doctor_calls`` (the check of
one call) and ``doctor_render`` (text and JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spsync.doctor_calls import MAX_FIELDS, check_of
from spsync.doctor_forms import error_shape, forms_of, object_forms, resemblance
from spsync.doctor_render import FORMAT_VERSION, render_json, render_text, report_json
from spsync.doctor_values import (
    DELIBERATE,
    LIMIT_OVER,
    PAGE_LIMIT,
    PROBES,
    SID,
    WATCHED,
    Answer,
    Check,
    Report,
    first_item,
    object_of,
)
from spsync.sanitize import clean

__all__ = [
    "DELIBERATE",
    "FORMAT_VERSION",
    "LIMIT_OVER",
    "MAX_FIELDS",
    "PAGE_LIMIT",
    "PROBES",
    "Answer",
    "Check",
    "Report",
    "analyse",
    "check_of",
    "error_shape",
    "forms_of",
    "object_forms",
    "render_json",
    "render_text",
    "report_json",
    "resemblance",
    "sids_from_answer",
    "sids_from_state",
]

# --- finding SIDs to read ---------------------------------------------------------------------


def _sid(value: Any, prefix: str) -> str | None:
    return value if isinstance(value, str) and SID.match(value) and value[:2] == prefix else None


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


def sids_from_answer(answer: Answer, known: Mapping[str, str]) -> dict[str, str]:
    """SIDs a list answer offers for the probes still to come (its first item), never
    mixing courses: an item of another course than the one already chosen gives nothing."""
    item = first_item(answer.body) if answer.ok else None
    if item is None:
        return {}
    if answer.probe == "users":
        user = _sid(item.get("sid"), "US")
        return {"user": user} if user else {}
    if answer.probe == "report":
        exam, enr = item.get("exam"), item.get("enrollment")
        exam_obj = exam if isinstance(exam, dict) else {}
        enr_obj = enr if isinstance(enr, dict) else {}
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
    out: list[str] = []
    for probe, fields in WATCHED.items():
        obj = object_of(answers[probe]) if probe in answers else None
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
