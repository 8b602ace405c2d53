"""The parts every rendering of a plan is built of. PURE: values in, strings out.

A change's symbol, its one-line description (``describe``), its field-level differences
with secret fields masked (``field_lines``), its block of lines (``change_block``), and a
tenant's summary line. ``spsync.render`` (text, json) and ``spsync.render_markdown`` use them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from spsync.model import kind_of
from spsync.plan import ACTIONS, EFFECT_REASONS, SENSITIVE, SENSITIVE_CHANGED, Change, TenantPlan
from spsync.sanitize import clean

SYMBOLS: dict[str, str] = {
    "create": "+",
    "assign": "+",
    "schedule": "+",
    "update": "~",
    "reschedule": "~",
    "unassign": "-",
    "cancel": "-",
    "replace": "-/+",
    "move": "->",
    "refresh": "<=",
    "forget": ".",
}

ChangesOf = Callable[[TenantPlan], Iterable[Change]]
"""Where a rendering takes each tenant's changes from, in order: its own ``changes`` unless
told otherwise (``spsync show`` reads them again from the plan file, a thousand at a time)."""


def own_changes(tp: TenantPlan) -> Iterable[Change]:
    """A tenant plan's changes, as it holds them."""
    return tp.changes


_COLORS = {"+": "32", "~": "33", "-": "31", "-/+": "31", "->": "36", "<=": "36", ".": "36"}
_MASKS = (SENSITIVE, SENSITIVE_CHANGED)
_SECRET_KEYS = frozenset({"password", "token"})


def masked(value: Any, key: str = "") -> Any:
    """``value`` with every secret field (password, token) masked, however deep."""
    if key in _SECRET_KEYS and value is not None:
        return value if value in _MASKS else SENSITIVE
    if isinstance(value, Mapping):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
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
    text = _SHOWN_JSON.encode(value)
    # JSON escapes every C0 control; printable ASCII is all that is left for ``clean`` to
    # pass through unchanged, and most values are just that (a third of rendering a plan)
    return text if text.isascii() and text.isprintable() else clean(text)


#: ``json.dumps(value, ensure_ascii=False, sort_keys=True)``, one encoder for every value
#: (``json.dumps`` with options makes a new one per call)
_SHOWN_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def shown_fields(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """``flatten(masked(fields))`` in one walk: the fields of one side of a change as shown,
    by dotted path, secrets masked."""
    out: dict[str, Any] = {}
    if fields:
        _shown_into(fields, "", out)
    return out


def _shown_into(fields: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in fields.items():
        # a key is the server's as much as a value is (an option's name): shown escaped
        path = f"{prefix}{k}" if k.isascii() and k.isprintable() else f"{prefix}{clean(k)}"
        if k in _SECRET_KEYS and v is not None:
            out[path] = v if v in _MASKS else SENSITIVE
        elif isinstance(v, Mapping):
            if v:
                _shown_into(v, path + ".", out)
            else:
                out[path] = {}
        elif isinstance(v, list | tuple):
            out[path] = masked(v)
        else:
            out[path] = v


def field_lines(change: Change) -> tuple[list[tuple[str, str]], int]:
    """``(symbol, text)`` per shown field, and how many unchanged fields were folded."""
    lines: list[tuple[str, str]] = []
    if change.action in ("forget", "unassign"):
        return lines, 0
    if change.action in ("move", "refresh") and (change.before is None or change.after is None):
        return lines, 0  # nothing is created or removed: only a difference would be news
    before = shown_fields(change.before)
    after = shown_fields(change.after)
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


#: for a ``cancel`` that is the effect of another change's call: the kind of that change
_CAUSE_KIND: dict[str, str] = {
    "unassigned": "assignment",
    "scope-limited": "exam",
    "role-changed": "enrollment",
}


def describe(change: Change) -> str:
    """``create: new`` / ``cancel: removed, destructive`` / ``move: renamed; from user.jane,
    no API call`` / ``update: manifest-changed; moved from user.jane`` / ``cancel: unassigned,
    destructive; by assignment.cert.john``."""
    extra = ", destructive" if change.destructive else ""
    if change.action == "forget":
        extra = "; left untouched remotely"
    elif change.action == "move":
        extra = f"; from {change.previous_address}, no API call"
    elif change.action == "refresh":
        extra = "; state takes the live object, no API call"
    if change.previous_address and change.action != "move":
        extra += f"; moved from {change.previous_address}"  # a moved object that also changed
    causes = effect_causes(change)
    if causes:
        extra += f"; by {', '.join(causes)}"
    return f"{change.action}: {change.reason}{extra}"


def effect_causes(change: Change) -> tuple[str, ...]:
    """The changes whose call has ``change`` (a cancel, or the unassign a role change
    makes) as its effect: its ``depends_on`` of the kind its reason names (all of them when
    none is of that kind); ``()`` for a change that makes its own call."""
    if change.action not in ("cancel", "unassign") or change.reason not in EFFECT_REASONS:
        return ()
    kind = _CAUSE_KIND.get(change.reason, "")
    named = tuple(a for a in change.depends_on if kind_of(a) == kind)
    return named or change.depends_on


def summary_line(tp: TenantPlan, adopt_only: list[str] | None = None) -> str:
    """``Plan: 3 to create, 1 to update; 12 unchanged.`` or ``No changes. …``.
    ``adopt_only``: ``recorded_only(tp)`` when the caller has it already."""
    parts = [f"{tp.summary.get(a, 0):,} to {a}" for a in ACTIONS[:-1] if tp.summary.get(a, 0)]
    noop = tp.summary.get("noop", 0)
    if adopt_only is None:
        adopt_only = recorded_only(tp)
    if not parts and not adopt_only:
        resources = "resource" if noop == 1 else "resources"
        return f"No changes. {tp.tenant} matches its manifests ({noop:,} {resources} unchanged)."
    if adopt_only:
        parts.append(f"{len(adopt_only):,} to record in state")
    return f"Plan: {', '.join(parts)}; {noop:,} unchanged."


def recorded_only(tp: TenantPlan, changed: Container[str] | None = None) -> list[str]:
    """The objects found live that no change covers: they are only recorded in state.
    ``changed``: the addresses of the tenant's changes when the caller gathered them (the
    adopted ones among them suffice); from ``tp.changes`` otherwise."""
    if changed is None:
        changed = {c.address for c in tp.changes}
    return [a for a in tp.adopt if a not in changed]


def change_block(change: Change, *, color: bool = False) -> list[str]:
    """The lines of one change: a header and its field-level differences."""
    sym = SYMBOLS.get(change.action, "?")
    head = f"{sym:>3} {change.address}  ({describe(change)})"
    out = [paint(head, _COLORS.get(sym), color)]
    lines, unchanged = field_lines(change)
    for s, text in lines:
        out.append("      " + paint(f"{s} {text}", _COLORS.get(s), color))
    if unchanged:
        out.append(f"        ({unchanged} unchanged field{'s' if unchanged != 1 else ''} hidden)")
    return out


def paint(text: str, code: str | None, color: bool) -> str:
    """``text`` in the ANSI colour ``code`` when ``color`` is on."""
    if not color or code is None:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"
