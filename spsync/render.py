"""Renderings of a ``Plan``: text (terminals), markdown (pull-request comments), json
(scripts). PURE: strings in, strings out; no I/O, no clock, no env.

Every rendering shows the same plan object; secret fields are already masked by the planner
(``(sensitive)`` / ``(changed)``) and masked again here, so nothing secret can leak through
a hand-made plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spsync.plan import ACTIONS, SENSITIVE, SENSITIVE_CHANGED, Change, Plan, TenantPlan

FORMATS: tuple[str, ...] = ("text", "markdown", "json")

#: GitHub's limit on a comment is 65,536 characters; stay well below it
MARKDOWN_LIMIT = 60_000
#: when details must be cut, each kind of action keeps this many examples as long as it can
MARKDOWN_EXAMPLES = 10

SYMBOLS: dict[str, str] = {
    "create": "+",
    "assign": "+",
    "schedule": "+",
    "update": "~",
    "reschedule": "~",
    "unassign": "-",
    "cancel": "-",
    "replace": "-/+",
    "forget": ".",
}

#: which action's details are dropped first when a markdown comment is too long
TRUNCATE_ORDER: tuple[str, ...] = (
    "create",
    "schedule",
    "assign",
    "forget",
    "update",
    "reschedule",
    "unassign",
    "cancel",
    "replace",
)

_COLORS = {"+": "32", "~": "33", "-": "31", "-/+": "31", ".": "36"}
_MASKS = (SENSITIVE, SENSITIVE_CHANGED)
_SECRET_KEYS = frozenset({"password", "token"})


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """Render ``plan`` as ``text``, ``markdown`` or ``json`` (colour only for text)."""
    if fmt == "text":
        return render_text(plan, color=color)
    if fmt == "markdown":
        return render_markdown(plan)
    if fmt == "json":
        return render_json(plan)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --- shared helpers --------------------------------------------------------------------------


def _masked(value: Any, key: str = "") -> Any:
    if key in _SECRET_KEYS and value is not None:
        return value if value in _MASKS else SENSITIVE
    if isinstance(value, Mapping):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def flatten(fields: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Nested fields as dotted paths; an empty map is a leaf (``{}``)."""
    out: dict[str, Any] = {}
    for k, v in (fields or {}).items():
        path = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, path + "."))
        else:
            out[path] = v
    return out


def fmt_value(value: Any) -> str:
    """A field value as shown: JSON, except the secret masks, which are shown bare."""
    if isinstance(value, str) and value in _MASKS:
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_lines(change: Change) -> tuple[list[tuple[str, str]], int]:
    """``(symbol, text)`` per shown field, and how many unchanged fields were folded."""
    before = flatten(_masked(change.before))
    after = flatten(_masked(change.after))
    lines: list[tuple[str, str]] = []
    if change.action in ("forget", "unassign"):
        return lines, 0
    if change.before is None:
        return [("+", f"{p}: {fmt_value(v)}") for p, v in sorted(after.items())], 0
    if change.after is None:
        return [("-", f"{p}: {fmt_value(v)}") for p, v in sorted(before.items())], 0
    unchanged = 0
    for path in sorted(before.keys() | after.keys()):
        if path in before and path in after:
            if _same(before[path], after[path]):
                unchanged += 1
            else:
                lines.append(
                    ("~", f"{path}: {fmt_value(before[path])} -> {fmt_value(after[path])}")
                )
        elif path in after:
            lines.append(("+", f"{path}: {fmt_value(after[path])}"))
        else:
            lines.append(("-", f"{path}: {fmt_value(before[path])}"))
    return lines, unchanged


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a == b
    return type(a) is type(b) and a == b


def describe(change: Change) -> str:
    """``create: new`` / ``cancel: removed, destructive``."""
    extra = ", destructive" if change.destructive else ""
    if change.action == "forget":
        extra = "; left untouched remotely"
    return f"{change.action}: {change.reason}{extra}"


def summary_line(tp: TenantPlan) -> str:
    """``Plan: 3 to create, 1 to update; 12 unchanged.`` or ``No changes. …``."""
    parts = [f"{tp.summary.get(a, 0):,} to {a}" for a in ACTIONS[:-1] if tp.summary.get(a, 0)]
    noop = tp.summary.get("noop", 0)
    adopt_only = [a for a in tp.adopt if a not in {c.address for c in tp.changes}]
    if not parts and not adopt_only:
        return f"No changes. {tp.tenant} matches its manifests ({noop:,} resources unchanged)."
    if adopt_only:
        parts.append(f"{len(adopt_only):,} to record in state")
    return f"Plan: {', '.join(parts)}; {noop:,} unchanged."


def _adopt_only(tp: TenantPlan) -> list[str]:
    changed = {c.address for c in tp.changes}
    return [a for a in tp.adopt if a not in changed]


def change_block(change: Change, *, color: bool = False) -> list[str]:
    """The lines of one change: a header and its field-level differences."""
    sym = SYMBOLS.get(change.action, "?")
    head = f"{sym:>3} {change.address}  ({describe(change)})"
    out = [_paint(head, _COLORS.get(sym), color)]
    lines, unchanged = field_lines(change)
    for s, text in lines:
        out.append("      " + _paint(f"{s} {text}", _COLORS.get(s), color))
    if unchanged:
        out.append(f"        ({unchanged} unchanged field{'s' if unchanged != 1 else ''} hidden)")
    return out


def _paint(text: str, code: str | None, color: bool) -> str:
    if not color or code is None:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


# --- text ----------------------------------------------------------------------------------


def render_text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like text: ``+ ~ - -/+`` per change with field-level old -> new, unchanged
    fields folded, then a one-line summary per tenant."""
    out: list[str] = []
    for tp in plan.tenants:
        if out:
            out.append("")
        head = (
            f"Tenant {tp.tenant} (install {tp.install}, state serial {tp.state_serial}"
            f"{'' if plan.refresh else ', live objects not read: --no-refresh'})"
        )
        out.append(_paint(head, "1", color))
        if plan.targets:
            out.append(f"Targeted: {', '.join(plan.targets)} (and what they depend on)")
        for change in tp.changes:
            out.append("")
            out.extend(change_block(change, color=color))
        adopt_only = _adopt_only(tp)
        if adopt_only:
            out.append("")
            out.append("Found remotely, to be recorded in state (no API change):")
            out.extend(f"  = {a} ({tp.adopt[a].sid or 'assigned'})" for a in adopt_only)
        for w in tp.warnings:
            out.append("")
            out.append(_paint(f"Warning: {w}", "33", color))
        out.append("")
        out.append(_paint(summary_line(tp), "1", color))
    return "\n".join(out) + "\n"


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
    doc = {
        "format_version": plan.format_version,
        "tenants": [
            {
                "tenant": tp.tenant,
                "install": tp.install,
                "state_serial": tp.state_serial,
                "state_lineage": tp.state_lineage,
                "summary": {a: tp.summary.get(a, 0) for a in ACTIONS},
                "changes": [
                    {
                        "address": c.address,
                        "action": c.action,
                        "reason": c.reason,
                        "destructive": c.destructive,
                        "before": _sorted(_masked(c.before)),
                        "after": _sorted(_masked(c.after)),
                        "depends_on": list(c.depends_on),
                        "previous_address": c.previous_address,
                    }
                    for c in tp.changes
                ],
                "adopt": {
                    a: {"sid": tp.adopt[a].sid, "refs": _sorted(tp.adopt[a].refs)}
                    for a in sorted(tp.adopt)
                },
                "warnings": list(tp.warnings),
            }
            for tp in plan.tenants
        ],
        "checksum": plan.checksum,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- markdown ------------------------------------------------------------------------------


def _plural(action: str, n: int) -> str:
    return action if n == 1 else action + "s"


def _fence(body: str) -> str:
    """A backtick fence longer than any run of backticks inside ``body``."""
    longest = run = 0
    for ch in body:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _summary_table(plan: Plan) -> list[str]:
    cols = [a for a in ACTIONS[:-1] if any(tp.summary.get(a, 0) for tp in plan.tenants)]
    header = ["tenant", *cols, "unchanged"]
    rows = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for tp in plan.tenants:
        cells = [f"`{tp.tenant}`"] + [f"{tp.summary.get(a, 0):,}" for a in cols]
        cells.append(f"{tp.summary.get('noop', 0):,}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _destructive_line(c: Change) -> str:
    return f"- **{c.action}** `{c.address}` ({c.reason})"


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: the summary table first, destructive changes always listed,
    details folded in ``<details>``; never longer than ``limit`` characters — details of
    creates are dropped first (then schedules, assigns, ...), each with a count."""
    budget = limit
    for _ in range(8):
        text = _markdown(plan, budget)
        if len(text) <= limit:
            return text
        budget -= len(text) - limit + 200
    return text[: limit - 2] + "\n"  # unreachable in practice; the cap holds regardless


def _diff_line(line: str) -> str:
    """A line of a change block for a ```diff fence: a ``+`` or ``-`` moves to the first
    column, where the diff highlighting of pull-request pages colours it; the text after it
    stays where it was, so the block still reads as aligned."""
    text = line.lstrip(" ")
    if text[:1] not in ("+", "-"):
        return line
    return text[0] + " " * (len(line) - len(text)) + text[1:]


def _markdown(plan: Plan, budget: int) -> str:
    head: list[str] = ["### spsync plan", ""]
    if not plan.has_changes:
        head.append("No changes: every tenant matches its manifests.")
        head.append("")
    head.extend(_summary_table(plan))
    if plan.targets:
        head.extend(["", f"Targeted: {', '.join(f'`{t}`' for t in plan.targets)}"])
    if not plan.refresh:
        head.extend(["", "Live objects were not read (`--no-refresh`)."])
    fixed = "\n".join(head)

    # per tenant: its section head, destructive list, warnings, and detail blocks
    sections = []
    for tp in plan.tenants:
        s_head = ["", f"#### `{tp.tenant}` — {summary_line(tp)}"]
        destructive = [_destructive_line(c) for c in tp.changes if c.destructive]
        warnings = [f"- :warning: {w}" for w in tp.warnings]
        blocks = [
            (c.action, "\n".join(_diff_line(x) for x in change_block(c)) + "\n") for c in tp.changes
        ]
        adopt_only = _adopt_only(tp)
        if adopt_only:
            blocks.extend(
                ("record", f"  = {a} (found remotely, recorded in state)\n") for a in adopt_only
            )
        sections.append((tp, s_head, destructive, warnings, blocks))

    # fixed parts: everything but the detail blocks, with room for the "… and N more" lines
    reserve = 0
    for _tp, s_head, _d, warnings, blocks in sections:
        reserve += sum(len(x) + 1 for x in s_head + warnings)
        if blocks:
            reserve += 120 + 80 * len({a for a, _ in blocks})
    room_destructive = max(0, budget // 2 - len(fixed) - reserve)
    total_destructive = sum(sum(len(x) + 1 for x in d) for *_x, d, _w, _b in sections)
    keep_destructive = total_destructive <= room_destructive

    room = budget - len(fixed) - reserve
    dropped_destructive = 0
    if keep_destructive:
        room -= total_destructive + 40 * len(sections)
    else:
        room -= room_destructive + 200 * len(sections)

    # choose which detail blocks to keep: first cut every kind of action down to a few
    # examples, creates first; then, if still too long, drop those examples too
    keep: list[list[bool]] = [[True] * len(b) for *_x, b in sections]
    total = sum(len(t) for *_x, b in sections for _a, t in b)
    for floor in (MARKDOWN_EXAMPLES, 0):
        for action in (*TRUNCATE_ORDER, "record"):
            excess = total - room
            if excess <= 0:
                break
            positions = [
                (si, bi)
                for si, (*_x, blocks) in enumerate(sections)
                for bi, (a, _t) in enumerate(blocks)
                if a == action
            ]
            # keep the first ``floor`` of this action; drop from the end backwards
            for si, bi in reversed(positions[floor:]):
                if excess <= 0:
                    break
                if keep[si][bi]:
                    keep[si][bi] = False
                    size = len(sections[si][4][bi][1])
                    excess -= size
                    total -= size

    out = [fixed]
    d_room = room_destructive
    for si, (tp, s_head, destructive, warnings, blocks) in enumerate(sections):
        out.extend(s_head)
        if destructive:
            out.append("")
            nd = len(destructive)
            out.append(f"**{nd:,} destructive change{'s' if nd != 1 else ''}:**")
            out.append("")
            if keep_destructive:
                out.extend(destructive)
            else:
                shown = 0
                for line in destructive:
                    if d_room - (len(line) + 1) < 0:
                        break
                    d_room -= len(line) + 1
                    out.append(line)
                    shown += 1
                dropped_destructive = len(destructive) - shown
                if dropped_destructive:
                    out.append(
                        f"- … and {dropped_destructive:,} more destructive changes "
                        "(see `spsync show` of the plan file)"
                    )
        if warnings:
            out.append("")
            out.extend(warnings)
        if not blocks:
            continue
        kept = [t for (a, t), k in zip(blocks, keep[si], strict=True) if k]
        dropped: dict[str, int] = {}
        for (a, _t), k in zip(blocks, keep[si], strict=True):
            if not k:
                dropped[a] = dropped.get(a, 0) + 1
        body = "\n".join(kept)
        for a in (*TRUNCATE_ORDER, "record"):
            if dropped.get(a):
                noun = "records in state" if a == "record" else _plural(a, dropped[a])
                body += f"\n… and {dropped[a]:,} more {noun}\n"
        if dropped:
            body += "\n(the whole plan: spsync show PLANFILE)\n"
        fence = _fence(body)
        n = len(tp.changes)
        out.extend(
            [
                "",
                f"<details><summary>Details: {n:,} change{'s' if n != 1 else ''}</summary>",
                "",
                f"{fence}diff",
                body.rstrip("\n"),
                fence,
                "",
                "</details>",
            ]
        )
    return "\n".join(out) + "\n"
