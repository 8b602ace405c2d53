"""``spsync doctor``'s output: the reports as text for people and as JSON for scripts
(docs/troubleshooting.md). Pure; what came from the server is shown cleaned.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from spsync.doctor_values import LIMIT_OVER, PAGE_LIMIT, Report
from spsync.sanitize import clean, json_text

#: the version of ``render_json``'s document (keys are only ever added)
FORMAT_VERSION = "1"

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
