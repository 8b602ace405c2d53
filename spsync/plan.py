"""Plans: the changes the planner decided on, as data.

Render, checksum, safety checks, the plan file and apply all consume the same ``Plan``
object; nothing downstream re-derives it (design.md, "changes are data").

A ``Change`` never holds a secret: ``before``/``after`` show ``(sensitive)`` for secret
fields, and ``(changed)`` where the secret differs. Apply builds request payloads from the
(re-loaded) manifests, the state and the change's ``address``; it never reads secrets from
a plan file.

Order (product-spec §4): changes are sorted by kind (courses, exams, users, enrollments,
assignments, sessions — so provisioning comes first, then assignments batched per exam,
then sessions), then by action (forgets and removals before additions: a session's cancel
before any schedule), then by address.

Staleness: a saved plan records the state's lineage and serial, a fingerprint of each live
(or, without refresh, recorded) object its changes touch, and ``desired_digest``, a keyed
HMAC over the manifests' version of those objects. Apply re-plans and refuses the saved plan
when any of them moved (``staleness()``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from spsync.address_table import AddressTable
from spsync.errors import PlanError
from spsync.model import KINDS, Address, InstallSid, Policy, TenantName, kind_of, share_fields_set
from spsync.sanitize import clean, json_text
from spsync.strictjson import strict_loads

Action = Literal[
    "create",
    "update",
    "assign",
    "unassign",
    "schedule",
    "reschedule",
    "cancel",
    "replace",
    "move",
    "refresh",
    "forget",
    "noop",
]
Reason = Literal[
    "new",
    "manifest-changed",
    "drift",
    "removed",
    "renamed",
    "unassigned",
    "scope-limited",
    "role-changed",
    "forced",
]

ACTIONS: tuple[str, ...] = get_args(Action)
REASONS: tuple[str, ...] = get_args(Reason)
DESTRUCTIVE: frozenset[str] = frozenset({"unassign", "cancel", "replace"})
#: actions that send nothing to the API: only the state changes
STATE_ONLY: frozenset[str] = frozenset({"move", "refresh", "forget", "noop"})
#: reasons of a ``cancel`` that is the effect of another change's call (no call of its own)
EFFECT_REASONS: frozenset[str] = frozenset({"unassigned", "scope-limited", "role-changed"})

#: the masks used in before/after for secret fields
SENSITIVE = "(sensitive)"
SENSITIVE_CHANGED = "(changed)"

PLAN_FORMAT_VERSION: Final = "1"

#: within one kind: removals first (a cancel frees the slot a schedule may take), then
#: in-place changes, then additions
ACTION_ORDER: tuple[str, ...] = (
    "move",
    "refresh",
    "forget",
    "unassign",
    "cancel",
    "replace",
    "create",
    "update",
    "assign",
    "schedule",
    "reschedule",
    "noop",
)


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)  # a plan of a large roster holds one Change per address


@dataclass(slots=True, frozen=True, config=ConfigDict(extra="forbid"))
class Change:
    """One change to one address.

    ``before``: the managed fields as they are now (live when refreshed, else as last
    applied), ``None`` for a create. ``after``: as they will be, ``None`` for a removal.
    ``depends_on``: addresses of changes in the same plan that must succeed first.
    ``previous_address``: for a ``move``, the address the object was known under in state.

    Actions that send nothing to the API: ``move`` (the state entry takes the new address),
    ``refresh`` (state takes the live object as it is), ``forget`` (dropped from state). A
    ``cancel`` whose reason is ``unassigned``, ``scope-limited`` or ``role-changed`` is the
    effect of another change's call (in ``depends_on``): apply sends nothing more for it and
    records it once that call succeeded.

    A slotted (pydantic) dataclass rather than a model: a first apply of 100,000 students
    plans 400,000 changes, and a model instance with its ``__dict__`` is ~260 bytes more
    than these eight slots. Validated, dumped and described by a JSON schema as the model
    was; ``model_copy``/``model_dump`` as the model's.
    """

    address: Address
    action: Action
    reason: Reason
    destructive: bool
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    depends_on: tuple[Address, ...] = ()
    previous_address: Address | None = None

    @classmethod
    def trusted(
        cls,
        *,
        address: str,
        action: Action,
        reason: Reason,
        destructive: bool,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        depends_on: tuple[str, ...],
        previous_address: str | None,
    ) -> Change:
        """The ``Change`` of these values, which the caller guarantees are of the field
        types (the planner's own, checked by the type checker): no validation. The
        planner makes one per change; validating each was a fifth of planning a first
        apply. The dicts are taken as they are, not copied."""
        change: Change = _new_change(cls)
        for name, value in zip(
            _CHANGE_FIELDS,
            (address, action, reason, destructive, before, after, depends_on, previous_address),
            strict=True,
        ):
            _set(change, name, value)
        return change

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Change:
        """A copy with the fields of ``update`` replaced (not validated), as a model's."""
        copy: Change = _new_change(Change)
        for name in _CHANGE_FIELDS:
            _set(copy, name, getattr(self, name))
        for name, value in (update or {}).items():
            if name not in _CHANGE_FIELDS:
                raise AttributeError(f"Change has no field {name!r}")
            _set(copy, name, value)
        return copy

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """The change's fields, as pydantic dumps a model (``mode="json"``: JSON values)."""
        dumped: dict[str, Any] = CHANGE_ADAPTER.dump_python(self, mode=mode)
        return dumped


_new_change = object.__new__
_set = object.__setattr__  # a frozen dataclass refuses plain assignment
#: the fields, in the order the plan file writes them
_CHANGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Change))
#: validates and dumps one ``Change`` (a dataclass has no model methods of its own)
CHANGE_ADAPTER: TypeAdapter[Change] = TypeAdapter(Change)


class Adoption(PlanModel):
    """A live object found for an address not yet in state; apply records it in state.

    ``sid``/``refs`` as in ``ResourceState``. When the plan also has a change for the
    address, apply records it once that change succeeded; otherwise it records it as is
    (its fields already match the manifests), with ``applied`` taken from the manifests.
    """

    sid: str | None = None
    refs: dict[str, str] = {}


class TenantPlan(PlanModel):
    """The plan of one tenant.

    ``summary``: how many addresses get each action, ``noop`` included (every action key is
    present). ``changes``: sorted (see ``change_sort_key``), no noops. ``fingerprints``:
    address -> fingerprint of the object each change (or adoption) touches, as observed when
    planning. ``desired_digest``: keyed HMAC over the tenant's connection and the manifests'
    version of every touched address (secrets included through their keyed fingerprints), so
    a later manifest edit makes a saved plan stale without the plan holding secrets.
    """

    tenant: TenantName
    install: InstallSid
    api_url: str
    state_serial: int
    state_lineage: str
    summary: dict[str, int]
    changes: tuple[Change, ...] = ()
    adopt: dict[Address, Adoption] = {}
    fingerprints: dict[Address, str] = {}
    desired_digest: str = ""
    #: resources in the manifests (0: an empty manifest set)
    desired_count: int = 0
    #: resources in state when planning (what the destroy percentage is measured against)
    managed_count: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """Anything for apply to do: a change, or an adoption to record in state."""
        return bool(self.changes) or bool(self.adopt)

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.destructive)


class Plan(PlanModel):
    """A whole plan: one ``TenantPlan`` per tenant, in tenant name order.

    ``checksum``: ``sha256:`` over the canonical JSON of every other field; a plan file
    whose checksum does not match was edited or damaged and is refused.
    """

    format_version: Literal["1"] = PLAN_FORMAT_VERSION
    tenants: tuple[TenantPlan, ...] = ()
    targets: tuple[Address, ...] = ()
    refresh: bool = True
    #: sessions booked again on purpose (``--replace``)
    replace: tuple[Address, ...] = ()
    #: made with ``--refresh-only``: only what changed remotely is taken into state
    refresh_only: bool = False
    #: made with ``--allow-destroy``: the reviewed file carries that approval, so applying
    #: it needs no flag again (a plan the policy refused is never saved)
    allow_destroy: bool = False
    #: the manifests path the plan was made from, as given to ``plan`` (``apply PLANFILE``
    #: re-loads the manifests from it for request payloads and secrets)
    manifests: str = ""
    #: made with ``--sandbox`` (against the embedded simulator): applied only with it, so a
    #: rehearsal never reaches the real API with the real token (nor the reverse)
    sandbox: bool = False
    checksum: str = ""

    @property
    def has_changes(self) -> bool:
        return any(t.has_changes for t in self.tenants)


# --- ordering ----------------------------------------------------------------------------


def change_sort_key(change: Change) -> tuple[int, int, str]:
    """Kind (dependency order), then action (removals first), then address."""
    return (
        KINDS.index(kind_of(change.address)),
        ACTION_ORDER.index(change.action),
        change.address,
    )


def sort_changes(changes: Iterable[Change]) -> tuple[Change, ...]:
    return tuple(sorted(changes, key=change_sort_key))


def summarize(actions: Iterable[str]) -> dict[str, int]:
    """Count actions; every action appears, in ``ACTIONS`` order."""
    counts = dict.fromkeys(ACTIONS, 0)
    for a in actions:
        counts[a] += 1
    return counts


# --- checksum and plan files ---------------------------------------------------------------


def canonical_json(data: Any) -> str:
    """The one JSON text of ``data`` that checksums are taken over."""
    return _CANONICAL.encode(data)


#: ``json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``: one
#: encoder for every call (``json.dumps`` with options makes a new one per call, and a plan
#: of 8,000 changes takes ~24,000 calls: a checksum, a fingerprint per change)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_checksum(plan: Plan) -> str:
    """SHA-256 of ``canonical_json`` of the plan without its checksum, hashed piece by piece:
    the text (and the dump) of a plan of 80,000 changes is never held whole."""
    digest = hashlib.sha256()
    for part in _canonical_parts(plan):
        digest.update(part.encode())
    return "sha256:" + digest.hexdigest()


def _canonical_parts(plan: Plan) -> Iterator[str]:
    """The text of ``canonical_json(plan.model_dump(mode="json", exclude={"checksum"}))``, in
    pieces: one per change, the rest of each object in one."""

    def tenant(tp: TenantPlan) -> Iterator[str]:
        rest = tp.model_dump(mode="json", exclude={"changes"})
        return _json_object(rest, {"changes": lambda: _changes_json(tp.changes)})

    head = plan.model_dump(mode="json", exclude={"checksum", "tenants"})
    yield from _json_object(
        head, {"tenants": lambda: _json_array(tenant(tp) for tp in plan.tenants)}
    )


def _json_object(
    fields: dict[str, Any], lazy: dict[str, Callable[[], Iterator[str]]]
) -> Iterator[str]:
    """A JSON object as ``canonical_json`` writes it (sorted keys, no spaces), with the
    values of ``lazy``'s keys given as pieces of text."""
    yield "{"
    for i, key in enumerate(sorted({*fields, *lazy})):
        yield ("," if i else "") + canonical_json(key) + ":"
        if key in lazy:
            yield from lazy[key]()
        else:
            yield canonical_json(fields[key])
    yield "}"


#: changes encoded per call: a piece of the checksum's text stays small (~0.5 MB), and
#: the encoder is entered once per piece rather than once per change
_CHUNK = 1000


def _changes_json(changes: Sequence[Change]) -> Iterator[str]:
    """``canonical_json`` of the list of ``changes``' JSON dumps, in pieces of ``_CHUNK``
    changes each (a list's canonical JSON is its items' joined by commas)."""
    yield "["
    for i in range(0, len(changes), _CHUNK):
        dumps = [c.model_dump(mode="json") for c in changes[i : i + _CHUNK]]
        yield ("," if i else "") + canonical_json(dumps)[1:-1]
    yield "]"


def _json_array(items: Iterable[Iterable[str]]) -> Iterator[str]:
    """A JSON array of items each given as pieces of text."""
    yield "["
    for i, parts in enumerate(items):
        if i:
            yield ","
        yield from parts
    yield "]"


def make_plan(
    tenants: Sequence[TenantPlan],
    *,
    targets: Sequence[str] = (),
    refresh: bool = True,
    allow_destroy: bool = False,
    manifests: str = "",
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    checksum: bool = True,
) -> Plan:
    """Assemble tenant plans (sorted by tenant name) into a checksummed ``Plan``.
    ``checksum=False``: without its checksum (``""``), for a plan that is applied as it is
    made and never saved nor shown as JSON (the checksum encodes every change again)."""
    plan = Plan(
        tenants=tuple(sorted(tenants, key=lambda t: t.tenant)),
        targets=tuple(targets),
        refresh=refresh,
        replace=tuple(replace),
        refresh_only=refresh_only,
        allow_destroy=allow_destroy,
        manifests=manifests,
    )
    return plan.model_copy(update={"checksum": compute_checksum(plan)}) if checksum else plan


def dump_plan(plan: Plan) -> str:
    """The plan file text (JSON, sorted keys, trailing newline)."""
    return json_text(json.dumps(plan.model_dump(mode="json"), sort_keys=True, indent=1)) + "\n"


def load_plan(text: str, where: str = "plan file") -> Plan:
    """Parse a plan file; ``PlanError`` when it is corrupt, edited, or of an unknown format."""
    try:
        raw = strict_loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(
            f"{where}: not a plan file: bad JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except ValueError as e:  # a duplicate key, NaN
        raise PlanError(f"{where}: not a plan file: {e}") from None
    if not isinstance(raw, dict) or "format_version" not in raw:
        raise PlanError(f"{where}: not a plan file (no format_version)")
    if raw["format_version"] != PLAN_FORMAT_VERSION:
        raise PlanError(
            f"{where}: plan format_version {raw['format_version']!r} is not supported "
            f"(this spsync reads {PLAN_FORMAT_VERSION!r}); make the plan again"
        )
    try:
        plan = Plan.model_validate_json(text, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        # a key of the file is part of the location: shown escaped, on one line
        loc = clean(".".join(str(p) for p in first["loc"])) or "(top level)"
        raise PlanError(f"{where}: not a valid plan file: {loc}: {first['msg']}") from None
    if plan.checksum != compute_checksum(plan):
        raise PlanError(
            f"{where}: checksum mismatch: the plan file was edited or damaged; make the plan again"
        )
    return plan


# --- safety --------------------------------------------------------------------------------


class UnsafePlanError(PlanError):
    """A plan refused by the safety policy; carries the tenant plan so it can still be shown."""

    def __init__(self, message: str, tenant_plan: TenantPlan) -> None:
        super().__init__(message)
        self.tenant_plan = tenant_plan


def check_safety(
    tp: TenantPlan, policy: Policy, managed_count: int, *, allow_destroy: bool
) -> None:
    """Refuse a plan that destroys more than the tenant's policy allows.

    Destructive changes (unassign, cancel, replace) may number at most ``maxDestroy`` and at
    most ``maxDestroyPercent`` % of the ``managed_count`` resources in state. An empty
    manifest set against a non-empty state is refused too: it is far more likely a wrong path
    than a wish to stop managing everything. ``allow_destroy`` lifts both checks.
    """
    if allow_destroy:
        return
    if tp.desired_count == 0 and managed_count > 0:
        raise UnsafePlanError(
            f"{tp.tenant}: the manifests hold no resources but the state manages "
            f"{managed_count}; refusing to forget or remove all of them (wrong path?). "
            "If that is really meant, run again with --allow-destroy",
            tp,
        )
    destructive = tp.destructive
    n = len(destructive)
    if n == 0:
        return
    percent = 100.0 * n / managed_count if managed_count else 100.0
    over_count = n > policy.maxDestroy
    over_percent = percent > policy.maxDestroyPercent
    if not (over_count or over_percent):
        return
    limits = []
    if over_count:
        limits.append(f"maxDestroy {policy.maxDestroy}")
    if over_percent:
        limits.append(
            f"maxDestroyPercent {policy.maxDestroyPercent:g}% ({percent:.1f}% of "
            f"{managed_count} managed)"
        )
    counts = summarize(c.action for c in destructive)
    what = ", ".join(f"{counts[a]} {a}" for a in ACTIONS if a in DESTRUCTIVE and counts[a])
    raise UnsafePlanError(
        f"{tp.tenant}: plan refused: {n} destructive change{'s' if n != 1 else ''} ({what}) "
        f"exceed{'s' if n == 1 else ''} the tenant policy ({'; '.join(limits)}); review them "
        "and run again with --allow-destroy, or raise policy limits in tenant.yaml",
        tp,
    )


# --- staleness -------------------------------------------------------------------------------


def change_mark(change: Change, dump: dict[str, Any] | None = None) -> bytes:
    """What a saved plan keeps of a change to check it against the change made now: its
    action (one byte: the index in ``ACTIONS``), a digest of its JSON without
    ``depends_on`` (16 bytes) and one of its ``depends_on`` (8 bytes). Equal marks: the
    same change; equal but for the last part: the same change waiting for others.
    ``dump``: the change's ``model_dump(mode="json")``, when the caller has it."""
    fields = dict(change.model_dump(mode="json") if dump is None else dump)
    depends_on = fields.pop("depends_on")
    return (
        bytes((ACTIONS.index(change.action),))
        + hashlib.sha256(canonical_json(fields).encode()).digest()[:16]
        + hashlib.sha256(canonical_json(depends_on).encode()).digest()[:8]
    )


#: where a mark's digest of the change without its ``depends_on`` ends; a mark's size
_MARK_REST = 17
MARK_SIZE = 25
#: the size of a ``fingerprint_mark``
FINGERPRINT_MARK_SIZE = 16


def fingerprint_mark(fingerprint: str) -> bytes:
    """What a saved plan keeps of one fingerprint: a digest of it (equal or not is all
    the staleness check asks)."""
    return hashlib.sha256(fingerprint.encode()).digest()[:FINGERPRINT_MARK_SIZE]


def change_marks(changes: Iterable[Change]) -> AddressTable:
    """The ``change_mark`` of each change, by address (of two changes of one address, the
    last: as a dict of them would)."""
    return AddressTable({c.address: change_mark(c) for c in changes}.items(), MARK_SIZE)


def fingerprint_marks(fingerprints: Mapping[str, str]) -> AddressTable:
    """The ``fingerprint_mark`` of each address's fingerprint."""
    marks = ((a, fingerprint_mark(fp)) for a, fp in fingerprints.items())
    return AddressTable(marks, FINGERPRINT_MARK_SIZE)


def staleness(
    saved: TenantPlan,
    fresh: TenantPlan,
    marks: AddressTable | None = None,
    fingerprints: AddressTable | None = None,
) -> list[str]:
    """Why a saved tenant plan no longer applies, against the one made now (empty: it is
    fresh, apply it as is).

    Covers the connection (install, API URL), the state (lineage, serial), the live objects
    the plan touches (``fingerprints``: ``fields.fingerprint_of`` now), the manifests
    (``desired_digest``), and the changes themselves: one added, removed or different since
    the plan was made, and the objects to adopt. ``marks`` and ``fingerprints``: the saved
    plan's changes and fingerprints as marks (``change_marks``, ``fingerprint_marks``: a
    plan file read for apply keeps only those); ``None``: those of ``saved``.
    """
    reasons: list[str] = []
    if (saved.install, saved.api_url) != (fresh.install, fresh.api_url):
        reasons.append(
            f"{saved.tenant}: the plan was made for install {saved.install} at "
            f"{saved.api_url}, the manifests now say {fresh.install} at {fresh.api_url}"
        )
    if saved.state_serial == 0 and fresh.state_serial == 0:
        pass  # no state then, none now: a fresh lineage is drawn on every load until saved
    elif saved.state_serial != 0 and fresh.state_lineage != saved.state_lineage:
        reasons.append(
            f"the state of {saved.tenant} is another lineage ({fresh.state_lineage}, plan was "
            f"made for {saved.state_lineage})"
        )
    elif fresh.state_serial != saved.state_serial:
        # (a plan made before any state: its lineage was drawn for it alone, so a state
        # written since, by whatever apply, is a change of the state, not another lineage)
        reasons.append(
            f"the state of {saved.tenant} changed since planning (serial {saved.state_serial} "
            f"-> {fresh.state_serial})"
        )
    if fingerprints is None:
        fingerprints = fingerprint_marks(saved.fingerprints)
    now = fresh.fingerprints
    moved = [a for a, fp in fingerprints.items() if a not in now or fingerprint_mark(now[a]) != fp]
    if moved:
        reasons.append(f"live objects changed since planning: {_shown(moved)}")
    # the digest is over the manifests' version of what the plan touches: when the fresh
    # plan touches other addresses (the live world changed), it differs whatever the
    # manifests did, and the changes listed below say why the plan is stale
    touched_same = len(now) == len(fingerprints) and all(a in now for a, _ in fingerprints.items())
    if fresh.desired_digest != saved.desired_digest and touched_same:
        reasons.append(f"the manifests of {saved.tenant} changed since planning")
    # what moved outside the plan (connection, state, live objects, manifests) explains any
    # difference of its changes; only without it may the plan come from another version
    world_moved = bool(reasons)
    old = change_marks(saved.changes) if marks is None else marks
    unmatched = {c.address: c for c in fresh.changes}  # until met in the saved plan
    removed: list[str] = []
    different: list[str] = []  # "address (old action -> new action)"
    rewired: list[str] = []  # the same change waiting for other changes: a plan made by
    # another version of spsync (dependencies follow from the manifests, state and live
    # objects, checked above)
    for a, was in old.items():  # in address order
        change = unmatched.pop(a, None)
        if change is None:
            removed.append(a)
            continue
        mark = change_mark(change)
        if was[:_MARK_REST] != mark[:_MARK_REST]:
            different.append(f"{a} ({ACTIONS[was[0]]} -> {change.action})")
        elif was != mark:
            rewired.append(a)
    added = sorted(unmatched)
    if added:
        reasons.append(f"{saved.tenant}: changes not in the plan: {_shown(added)}")
    if removed:
        reasons.append(f"{saved.tenant}: changes no longer needed: {_shown(removed)}")
    if different:
        reasons.append(f"{saved.tenant}: changes that are now different: {_shown(different)}")
    if rewired:
        guess = "" if world_moved else " (was the plan made by another version of spsync?)"
        reasons.append(
            f"{saved.tenant}: changes whose dependencies are now different{guess}: "
            f"{_shown(rewired)}"
        )
    if dict(saved.adopt) != dict(fresh.adopt):
        adopt = sorted(
            a
            for a in set(saved.adopt) | set(fresh.adopt)
            if saved.adopt.get(a) != fresh.adopt.get(a)
        )
        reasons.append(f"{saved.tenant}: objects to adopt changed: {_shown(adopt)}")
    return reasons


def _shown(items: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` items, and how many more there are."""
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")
