"""The state file of one tenant: which remote objects spsync manages, and their SIDs.

``state/<tenant>.json`` (product-spec §5)::

    {"version": 1, "lineage": uuid, "serial": n, "tenant", "install", "api_url",
     "resources": {ADDRESS: {"sid": ..., ...}}}

Sorted keys, pretty-printed. Never a secret: secret fields are kept as keyed fingerprints.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

STATE_VERSION = 1


class ResourceState(BaseModel):
    """What spsync knows of one managed address.

    ``sid``: the object's own SID (``None`` for an assignment, which has none).
    ``refs``: SIDs it hangs off, e.g. ``{"course": "CU…", "exam": "EX…", "enrollment": "EN…",
    "user": "US…", "configuration": "EC…"}``.
    ``applied``: the managed fields as last applied (the planner's drift baseline), in the
    same normal form as the manifests; secrets as keyed fingerprints.
    """

    model_config = ConfigDict(extra="forbid")

    sid: str | None = None
    refs: dict[str, str] = {}
    applied: dict[str, Any] = {}


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    tenant: str
    install: str
    api_url: str
    resources: dict[str, ResourceState] = {}
