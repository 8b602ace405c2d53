"""JSON Schema (draft 2020-12) of the two plan documents scripts read.

- ``plan``: what ``spsync plan --format json`` and ``spsync show --format json`` print
  (``render.render_json``);
- ``plan-file``: the file ``spsync plan --out FILE`` saves (``plan.dump_plan``).

Both come from the pydantic models of ``spsync.plan``, so a field added there cannot be
left out here. The models' own schema is made strict, since it describes what spsync
*writes*: every key is required (the dump writes them all), no other key is allowed, a
nullable field is a type list (``["string", "null"]``), and actions, reasons and the
summary use ``plan.ACTIONS`` / ``plan.REASONS`` exactly. The ``plan`` document holds the
same objects restricted to the keys ``render_json`` writes (``JSON_KEYS``).

Only these keywords are emitted: ``type``, ``properties``, ``required``,
``additionalProperties``, ``enum``, ``items``, ``pattern``, ``minimum``, ``$ref``/``$defs``,
and ``description``/``title``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from spsync.plan import ACTIONS, REASONS, Plan

KINDS: tuple[str, ...] = ("plan", "plan-file")

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: the keys ``render_json`` writes, per model, in its order
JSON_KEYS: dict[str, tuple[str, ...]] = {
    "Plan": ("format_version", "tenants", "checksum"),
    "TenantPlan": (
        "tenant",
        "install",
        "state_serial",
        "state_lineage",
        "summary",
        "changes",
        "adopt",
        "warnings",
    ),
    "Change": (
        "address",
        "action",
        "reason",
        "destructive",
        "before",
        "after",
        "depends_on",
        "previous_address",
    ),
    "Adoption": ("sid", "refs"),
}

#: what each object and key means (a key of the models missing here is an error)
DESCRIPTIONS: dict[str, str] = {
    # objects
    "Plan": "A plan: one entry per tenant, in tenant name order.",
    "TenantPlan": "The plan of one tenant.",
    "Change": "One change to one address.",
    "Adoption": "A live object found for an address not yet in state; apply records it.",
    "Action": "What apply does to the address.",
    "Reason": "Why the change is needed.",
    "Summary": "How many addresses get each action (every action present, noop included).",
    # Plan
    "format_version": 'The plan format; "1".',
    "tenants": "One plan per tenant, in tenant name order.",
    "targets": "The --target addresses the plan was narrowed to (empty: everything).",
    "refresh": "Whether the live objects were read (false: --no-refresh).",
    "replace": "Sessions booked again on purpose (--replace).",
    "refresh_only": "Made with --refresh-only: only drift is taken into state.",
    "allow_destroy": (
        "Made with --allow-destroy: applying the saved plan needs no flag again, the "
        "review approved its destructive changes."
    ),
    "manifests": "The manifests path the plan was made from, as given to plan.",
    "sandbox": (
        "Made with --sandbox (on the embedded simulator): applied only with --sandbox, and a "
        "plan made against the real API only without it."
    ),
    "checksum": "sha256 over the canonical JSON of the plan file without this key.",
    # TenantPlan
    "tenant": "The tenant name.",
    "install": "The install SID.",
    "api_url": "The API URL the tenant talks to.",
    "state_serial": "The state serial the plan was made on (0: no state yet).",
    "state_lineage": "The state lineage the plan was made on.",
    "summary": "How many addresses get each action.",
    "changes": "The changes, in apply order (kind, then action, then address); no noops.",
    "adopt": (
        "Objects found remotely for addresses not yet in state, to be recorded in state "
        "(address -> SID and the SIDs it hangs off)."
    ),
    "fingerprints": "Address -> fingerprint of each touched object when planning (staleness).",
    "desired_digest": "Keyed digest of the manifests' version of the touched addresses.",
    "desired_count": "Resources in the manifests.",
    "managed_count": "Resources in state when planning.",
    "warnings": "What the plan leaves alone and why (text).",
    # Change
    "address": "The address changed, e.g. session.cert-456.jane.",
    "action": "What apply does to the address.",
    "reason": "Why the change is needed.",
    "destructive": "unassign, cancel or replace: counted against the tenant policy.",
    "before": "The managed fields as they are now; null for a create. Secrets masked.",
    "after": "The managed fields as they will be; null for a removal. Secrets masked.",
    "depends_on": "Addresses of changes in the same plan that must succeed first.",
    "previous_address": "For a move, the address the object had in state; else null.",
    # Adoption
    "sid": "The object's SID (null for an assignment, which has none).",
    "refs": "SIDs the object hangs off (course, exam, enrollment, user, configuration).",
}

_TITLES = {
    "plan": "spsync plan (plan --format json, show --format json)",
    "plan-file": "spsync plan file (plan --out FILE)",
}


def plan_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of the ``plan`` document or of the ``plan-file``."""
    if kind not in KINDS:
        raise ValueError(f"unknown plan schema kind {kind!r}; expected one of {', '.join(KINDS)}")
    defs = dict(_strict_defs())  # a copy: the cached one stays whole
    if kind == "plan":
        defs = {name: _only(d, JSON_KEYS.get(name)) for name, d in defs.items()}
    root = defs.pop("Plan")
    return {"$schema": DRAFT, "title": _TITLES[kind], **root, "$defs": defs}


@cache
def _strict_defs() -> dict[str, Any]:
    """The models' schemas made strict, plus ``Action``, ``Reason`` and ``Summary``."""
    raw = Plan.model_json_schema(mode="serialization")
    models = {**raw.pop("$defs"), "Plan": raw}
    defs = {name: _object(name, schema) for name, schema in models.items()}
    defs["Action"] = {"description": DESCRIPTIONS["Action"], "type": "string", "enum": [*ACTIONS]}
    defs["Reason"] = {"description": DESCRIPTIONS["Reason"], "type": "string", "enum": [*REASONS]}
    defs["Summary"] = {
        "description": DESCRIPTIONS["Summary"],
        "type": "object",
        "properties": {
            a: {"description": f"Addresses whose action is {a}.", "type": "integer", "minimum": 0}
            for a in ACTIONS
        },
        "required": [*ACTIONS],
        "additionalProperties": False,
    }
    return defs


#: keys whose schema is one of the shared definitions rather than the models' own
_SHARED = {
    "action": {"$ref": "#/$defs/Action"},
    "reason": {"$ref": "#/$defs/Reason"},
    "summary": {"$ref": "#/$defs/Summary"},
    "checksum": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
}


def _object(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    props = {
        key: {"description": DESCRIPTIONS[key], **(_SHARED.get(key) or _value(prop))}
        for key, prop in schema["properties"].items()
    }
    return {
        "description": DESCRIPTIONS[name],
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _value(schema: dict[str, Any]) -> dict[str, Any]:
    """One value's schema without pydantic's titles and defaults; ``X | None`` as a type
    list, a ``const`` as a one-value ``enum``."""
    out = {k: v for k, v in schema.items() if k not in ("title", "default", "description")}
    if "anyOf" in out:
        alternatives = out.pop("anyOf")
        (value,) = [a for a in alternatives if a != {"type": "null"}]
        if len(alternatives) != 2 or "type" not in value:
            raise AssertionError(f"unexpected schema {schema}")  # only ``X | None`` is used
        out.update(_value(value), type=[value["type"], "null"])
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "patternProperties" in out:  # a map keyed by addresses: every key must be one
        ((pattern, value),) = out.pop("patternProperties").items()
        out["propertyNames"] = {**out.get("propertyNames", {}), "pattern": pattern}
        out["additionalProperties"] = value
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _value(out[key])
    return out


def _only(schema: dict[str, Any], keys: tuple[str, ...] | None) -> dict[str, Any]:
    """An object schema restricted to ``keys`` (``None``: as it is)."""
    if keys is None:
        return schema
    return {
        **schema,
        "properties": {k: schema["properties"][k] for k in keys},
        "required": list(keys),
    }
