"""Renderings of a ``Plan``: text (terminals), markdown (pull-request comments), json
(scripts). PURE: strings in, strings out; no I/O, no clock, no env.

Text and json are here, markdown (within a size limit) in ``spsync.render_markdown``, and
the parts they share (symbols, field-level differences, descriptions) in
``spsync.render_parts``. Every rendering shows the same plan object; secret fields are
already masked by the planner (``(sensitive)`` / ``(changed)``) and masked again here, so
nothing secret can leak through a hand-made plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from spsync.json_pieces import IndentedJson
from spsync.plan import ACTIONS, Change, Plan, TenantPlan
from spsync.render_markdown import MARKDOWN_LIMIT as MARKDOWN_LIMIT  # re-exported
from spsync.render_markdown import render_markdown as render_markdown  # re-exported
from spsync.render_parts import ChangesOf as ChangesOf  # re-exported
from spsync.render_parts import (
    change_block,
    masked,
    own_changes,
    paint,
    recorded_only,
    summary_line,
)
from spsync.render_parts import fmt_value as fmt_value  # re-exported
from spsync.sanitize import clean

FORMATS: tuple[str, ...] = ("text", "markdown", "json")


def render(
    plan: Plan, fmt: str, *, color: bool = False, refused: Mapping[str, str] | None = None
) -> str:
    """Render ``plan`` as ``text``, ``markdown`` or ``json`` (colour only for text).

    ``refused``: tenant -> why the safety policy refused its plan; the markdown says so at
    its top (text and json leave it to the error the command prints).
    """
    if fmt == "text":
        return render_text(plan, color=color)
    if fmt == "markdown":
        return render_markdown(plan, refused=refused)
    if fmt == "json":
        return render_json(plan)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --- text ----------------------------------------------------------------------------------


def chunks(
    plan: Plan,
    fmt: str,
    *,
    color: bool = False,
    refused: Mapping[str, str] | None = None,
    changes_of: ChangesOf = own_changes,
) -> Iterator[str]:
    """``render(plan, fmt)`` in pieces of about ``CHUNK_CHARS`` (text) or a thousand changes
    (json), never the whole text; markdown (cut to its limit) in one piece. The changes are
    those of ``changes_of``, read once each, in order."""
    if fmt == "text":
        return text_chunks(plan, color=color, changes_of=changes_of)
    if fmt == "json":
        return json_chunks(plan, changes_of=changes_of)
    if fmt == "markdown":
        return iter((render_markdown(plan, refused=refused, changes_of=changes_of),))
    return iter((render(plan, fmt, color=color, refused=refused),))


def render_text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like text: ``+ ~ - -/+`` per change with field-level old -> new, unchanged
    fields folded, then a one-line summary per tenant."""
    return "".join(text_chunks(plan, color=color))


#: about how many characters ``text_chunks`` gathers before giving them
CHUNK_CHARS = 1 << 16


def text_chunks(
    plan: Plan, *, color: bool = False, changes_of: ChangesOf = own_changes
) -> Iterator[str]:
    """``render_text(plan)`` in pieces of whole lines, about ``CHUNK_CHARS`` each: what
    prints a plan of 400,000 changes without holding its text (110 MB) and its lines."""
    lines: list[str] = []
    size = 0
    for line in _text_lines(plan, color, changes_of):
        lines.append(line)
        size += len(line) + 1
        if size >= CHUNK_CHARS:
            yield "\n".join(lines) + "\n"
            lines.clear()
            size = 0
    if lines:
        yield "\n".join(lines) + "\n"


def _text_lines(plan: Plan, color: bool, changes_of: ChangesOf) -> Iterator[str]:
    first = True
    for tp in plan.tenants:
        if not first:
            yield ""
        first = False
        head = (
            f"Tenant {tp.tenant} (install {tp.install}, state serial {tp.state_serial}"
            f"{'' if plan.refresh else ', live objects not read: --no-refresh'})"
        )
        yield paint(head, "1", color)
        if plan.targets:
            yield f"Targeted: {', '.join(plan.targets)} (and what they depend on)"
        covered: set[str] = set()  # the objects found live that a change covers
        for change in changes_of(tp):
            if change.address in tp.adopt:
                covered.add(change.address)
            yield ""
            yield from change_block(change, color=color)
        adopt_only = recorded_only(tp, covered)
        if adopt_only:
            yield ""
            yield "Found remotely, to be recorded in state (no API change):"
            yield from (f"  = {a} ({tp.adopt[a].sid or 'assigned'})" for a in adopt_only)
        for w in tp.warnings:
            yield ""
            yield paint(f"Warning: {clean(w)}", "33", color)
        yield ""
        yield paint(summary_line(tp, adopt_only), "1", color)


# --- json ----------------------------------------------------------------------------------


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def render_json(plan: Plan) -> str:
    """The JSON of product-spec §4, with everything apply will do: each change's
    ``depends_on`` and ``previous_address`` (a ``move``'s old address, else null), and each
    tenant's ``adopt`` (objects recorded in state as found) and ``warnings``. Keys are only
    ever added; ``spsync schema --kind plan`` describes the document."""
    return "".join(json_chunks(plan))


#: ``render_json``'s layout, in pieces
_JSON = IndentedJson(json.JSONEncoder(indent=2, ensure_ascii=False))


def json_chunks(plan: Plan, *, changes_of: ChangesOf = own_changes) -> Iterator[str]:
    """``render_json(plan)`` in pieces: ``json.dumps(doc, indent=2, ensure_ascii=False)``
    of the document, a thousand changes at a time, the changes taken from ``changes_of``
    as they come."""
    doc = {"format_version": plan.format_version, "tenants": [], "checksum": plan.checksum}
    tenants = (partial(_tenant_pieces, tp, changes_of) for tp in plan.tenants)
    yield from _JSON.with_hole(doc, "tenants", 0, lambda depth: _JSON.array(tenants, depth))
    yield "\n"


def _tenant_pieces(tp: TenantPlan, changes_of: ChangesOf, depth: int) -> Iterator[str]:
    changes = (_change_doc(c) for c in changes_of(tp))
    yield from _JSON.with_hole(
        _tenant_doc(tp), "changes", depth, partial(_JSON.plain_array, changes)
    )


def _tenant_doc(tp: TenantPlan) -> dict[str, Any]:
    """A tenant's object without its changes (their place kept: given in pieces)."""
    return {
        "tenant": tp.tenant,
        "install": tp.install,
        "state_serial": tp.state_serial,
        "state_lineage": tp.state_lineage,
        "summary": {a: tp.summary.get(a, 0) for a in ACTIONS},
        "changes": [],
        "adopt": {
            a: {"sid": tp.adopt[a].sid, "refs": _sorted(tp.adopt[a].refs)} for a in sorted(tp.adopt)
        },
        "warnings": list(tp.warnings),
    }


def _change_doc(c: Change) -> dict[str, Any]:
    return {
        "address": c.address,
        "action": c.action,
        "reason": c.reason,
        "destructive": c.destructive,
        "before": _sorted(masked(c.before)),
        "after": _sorted(masked(c.after)),
        "depends_on": list(c.depends_on),
        "previous_address": c.previous_address,
    }
