"""Plans: the changes the planner decided on, as data.

Render, checksum, safety checks, the plan file and apply all consume the same ``Plan``
object; nothing downstream re-derives it (design.md, "changes are data").

A ``Change`` never holds a secret: ``before``/``after`` show ``(sensitive)`` for secret
fields, and ``(changed)`` where the secret differs. Apply builds request payloads from the
(re-loaded) manifests, the state and the change's ``address``; it never reads secrets from
a plan file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Action = Literal[
    "create",
    "update",
    "assign",
    "unassign",
    "schedule",
    "reschedule",
    "cancel",
    "replace",
    "forget",
    "noop",
]
Reason = Literal["new", "manifest-changed", "drift", "removed"]

ACTIONS: tuple[str, ...] = (
    "create",
    "update",
    "assign",
    "unassign",
    "schedule",
    "reschedule",
    "cancel",
    "replace",
    "forget",
    "noop",
)
REASONS: tuple[str, ...] = ("new", "manifest-changed", "drift", "removed")
DESTRUCTIVE: frozenset[str] = frozenset({"unassign", "cancel", "replace"})

#: the masks used in before/after for secret fields
SENSITIVE = "(sensitive)"
SENSITIVE_CHANGED = "(changed)"


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(PlanModel):
    """One change to one address.

    ``before``: the managed fields as they are now (live when refreshed, else as last
    applied), ``None`` for a create. ``after``: as they will be, ``None`` for a removal.
    ``depends_on``: addresses of changes in the same plan that must succeed first.
    """

    address: str
    action: Action
    reason: Reason
    destructive: bool
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    depends_on: tuple[str, ...] = ()
