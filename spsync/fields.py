"""Normal forms of managed fields, shared by the planner, observation, import and apply.

PURE. What a resource's managed fields are (``canonical``: the manifest's normal form,
secrets as keyed fingerprints), how a live object's fields are laid over the last applied
ones (``overlay``: a field a read did not return keeps its last value), projected onto
what a manifest manages (``project``), compared (``changed_paths``), masked for display
(``mask``), and digested (``fingerprint_of``, ``desired_digest_of``: what a saved plan
checks against). The planner decides with these; nothing here decides anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from spsync.model import (
    Course,
    Desired,
    Enrollment,
    Exam,
    Session,
    Tenant,
    User,
    kind_of,
)
from spsync.observed import LiveObject, Observed
from spsync.plan import SENSITIVE, SENSITIVE_CHANGED, canonical_json
from spsync.secrets import Secret
from spsync.state import State

#: the key of secret fingerprints in sandbox mode (no token is read there)
SANDBOX_KEY = b"spsync-sandbox"

#: fields whose values are secrets, wherever they appear
SECRET_FIELDS: frozenset[str] = frozenset({"password"})

#: nested maps compared as a whole (their keys are data, not a fixed set of fields)
MAP_PATHS: frozenset[tuple[str, ...]] = frozenset(
    {("ids",), ("configuration", "proctorTypes"), ("configuration", "permittedItems")}
)


def secret_key_for(tenant: Tenant) -> bytes:
    """The key of secret fingerprints: the tenant's token, or ``SANDBOX_KEY`` without one."""
    if tenant.api.token is None:
        return SANDBOX_KEY
    return tenant.api.token.reveal().encode()


# --- normal forms --------------------------------------------------------------------------


def normalise_exam_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop empty option/notes maps inside ``proctorTypes``/``permittedItems`` (no options and
    ``options: {}`` mean the same), in place; returns ``fields``."""
    conf = fields.get("configuration")
    if isinstance(conf, dict):
        pts = conf.get("proctorTypes")
        if isinstance(pts, dict):
            conf["proctorTypes"] = {
                ts: ({"options": v["options"]} if isinstance(v, dict) and v.get("options") else {})
                for ts, v in pts.items()
            }
        items = conf.get("permittedItems")
        if isinstance(items, dict):
            conf["permittedItems"] = {
                k: ({"notes": v["notes"]} if isinstance(v, dict) and v.get("notes") else {})
                for k, v in items.items()
            }
    return fields


def fingerprint_secrets(value: Any, key: bytes) -> Any:
    """A copy of ``value`` with every ``Secret`` replaced by its keyed fingerprint."""
    if isinstance(value, Secret):
        return value.fingerprint(key)
    if isinstance(value, dict):
        return {k: fingerprint_secrets(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fingerprint_secrets(v, key) for v in value]
    return value


def canonical(
    resource: Course | Exam | User | Enrollment | Session | None, key: bytes
) -> dict[str, Any]:
    """The managed fields of a desired resource in normal form, secrets fingerprinted.

    This is what state keeps as ``applied`` once the resource was applied. Assignments have
    no fields (``{}``); pass ``None`` for one.
    """
    if resource is None:
        return {}
    if isinstance(resource, Course | User):
        return resource.model_dump(exclude_none=True, exclude={"name"})
    if isinstance(resource, Exam):
        out = resource.model_dump(
            exclude_none=True, exclude={"name": True, "course": True, "configuration": {"password"}}
        )
        if resource.configuration is not None:
            out["configuration"]["password"] = resource.configuration.password.fingerprint(key)
        return normalise_exam_fields(out)
    if isinstance(resource, Enrollment):
        return {"role": resource.role}
    if isinstance(resource, Session):
        return resource.model_dump(exclude_none=True, exclude={"exam", "user"})
    raise TypeError(f"not a desired resource: {type(resource).__name__}")


def resource_at(desired: Desired, address: str) -> Any:
    """The desired resource at ``address`` (``None`` when the manifests do not have it)."""
    group = _GROUPS.get(address.partition(".")[0])
    return None if group is None else getattr(desired, group).get(address)


#: the ``Desired`` map of each kind's resources (asked once per address of a plan)
_GROUPS: dict[str, str] = {
    "course": "courses",
    "exam": "exams",
    "user": "users",
    "enrollment": "enrollments",
    "assignment": "assignments",
    "session": "sessions",
}


def applied_fields(desired: Desired, address: str, key: bytes) -> dict[str, Any]:
    """What apply records as ``applied`` in state after applying ``address``."""
    res = resource_at(desired, address)
    if res is None:
        raise KeyError(address)
    return {} if kind_of(address) == "assignment" else canonical(res, key)


def mask(
    fields: dict[str, Any] | None, other: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """``fields`` with secrets masked: ``(sensitive)``, or ``(changed)`` where ``other`` (the
    before side) holds a different fingerprint. ``fields`` itself when there is nothing to
    mask in it (no secret field, no nested map): a plan shares its decisions' maps rather
    than copy 400,000 of them for 100,000 students. Nothing writes to either afterwards."""
    if fields is None:
        return None
    if not any(k in SECRET_FIELDS or isinstance(v, dict) for k, v in fields.items()):
        return fields
    out: dict[str, Any] = {}
    for k, v in fields.items():
        o = other.get(k) if isinstance(other, dict) else None
        if k in SECRET_FIELDS:
            out[k] = (
                SENSITIVE_CHANGED if other is not None and o is not None and o != v else SENSITIVE
            )
        elif isinstance(v, dict):
            out[k] = mask(v, o if isinstance(o, dict) else ({} if other is not None else None))
        else:
            out[k] = v
    return out


def unmasked(shown: Mapping[str, Any], applied: Mapping[str, Any]) -> dict[str, Any]:
    """What ``mask`` hid, taken back: ``shown`` (a plan's fields, secrets masked) with each
    masked value taken from ``applied`` (the state's, where secrets are keyed fingerprints)."""
    out: dict[str, Any] = {}
    for k, v in shown.items():
        old = applied.get(k)
        if v in (SENSITIVE, SENSITIVE_CHANGED):
            if old is not None:
                out[k] = old
        elif isinstance(v, dict):
            out[k] = unmasked(v, old if isinstance(old, dict) else {})
        else:
            out[k] = v
    return out


def project(
    source: Mapping[str, Any], shape: Mapping[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The part of ``source`` that ``shape`` manages: its keys, recursively into fixed-field
    sub-objects; maps listed in ``MAP_PATHS`` are taken whole."""
    out: dict[str, Any] = {}
    for k, v in shape.items():
        if k not in source:
            continue
        sv = source[k]
        sub = (*path, k)
        if isinstance(v, dict) and isinstance(sv, dict) and sub not in MAP_PATHS:
            out[k] = project(sv, v, sub)
        else:
            out[k] = sv
    return out


def overlay(
    base: Mapping[str, Any], top: Mapping[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``base`` with ``top``'s values laid over it (recursively, maps whole)."""
    out = dict(base)
    for k, v in top.items():
        sub = (*path, k)
        if isinstance(v, dict) and isinstance(out.get(k), dict) and sub not in MAP_PATHS:
            out[k] = overlay(out[k], v, sub)
        else:
            out[k] = v
    return out


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted paths of fields that differ (numbers compare by value: 0 == 0.0)."""
    if old == new:
        return []
    plain = _plain_changed_paths(old, new)
    if plain is not None:
        return plain
    # imported here: most plans never get this far, and the import is a sixtieth of a
    # second of every command's start
    from deepdiff import DeepDiff

    diff = DeepDiff(dict(old), dict(new), ignore_numeric_type_changes=True, view="tree")
    paths: set[str] = set()
    for items in diff.values():
        for item in items:
            parts = [str(p) for p in item.path(output_format="list")]
            paths.add(".".join(parts))
    return sorted(paths)


#: leaves ``_plain_changed_paths`` compares itself; ``int | float`` mixes compare by value
_PLAIN_LEAVES: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_NUMBERS: frozenset[type] = frozenset({int, float})


def _plain_changed_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str] | None:
    """``changed_paths`` of maps of maps and plain leaves (what managed fields are), walked
    directly: DeepDiff took ~0.2 ms per changed object, most of planning a change to a
    tenth of a large roster. ``None`` for anything else, which DeepDiff decides: a list, a
    leaf whose type changed, a NaN, a key that is not a string or starts with ``__``
    (DeepDiff skips those), and two maps that share under half their keys (DeepDiff
    reports such a map as a whole: ``threshold_to_diff_deeper``, a third)."""
    paths: set[str] = set()
    return sorted(paths) if _walk_changed(old, new, "", paths) else None


def _walk_changed(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str, out: set[str]
) -> bool:
    """Add to ``out`` the paths under ``prefix`` that differ; ``False`` as soon as a pair
    is not for this walk (``_plain_changed_paths``)."""
    keys = old.keys() | new.keys()
    if len(keys) > 1 and 2 * len(old.keys() & new.keys()) < len(keys):
        return False
    for k in keys:
        if type(k) is not str or k.startswith("__"):
            return False
        path = prefix + k
        if k not in old or k not in new:
            out.add(path)
            continue
        a, b = old[k], new[k]
        ta, tb = type(a), type(b)
        if ta is dict and tb is dict:
            if a != b and not _walk_changed(a, b, path + ".", out):
                return False
        elif not _plain_pair(ta, tb):
            return False
        elif a != b:
            if a != a or b != b:  # NaN
                return False
            out.add(path)
    return True


def _plain_pair(ta: type, tb: type) -> bool:
    """Leaves of these types compare by ``==`` alone: the same plain type, or two numbers."""
    if ta not in _PLAIN_LEAVES or tb not in _PLAIN_LEAVES:
        return False
    return ta is tb or (ta in _NUMBERS and tb in _NUMBERS)


# --- fingerprints and digests --------------------------------------------------------------


def fingerprint_of(address: str, state: State, observed: Observed | None, key: bytes) -> str:
    """A digest of what is known of ``address`` now: its state record and, when observed,
    its live object / session. A saved plan stores it; apply recomputes it to spot objects
    that moved since planning."""
    rec = state.resources.get(address)
    if rec is None and observed is None:
        return _NOTHING_KNOWN  # every address of a first plan without refresh
    if rec is None and observed is not None and not _seen(address, observed):
        return _NOTHING_SEEN  # every address of a first plan: one text for 400,000
    payload: dict[str, Any] = {"state": rec.model_dump(mode="json") if rec else None}
    if observed is not None:
        live: Any = None
        if address in observed.missing:
            live = "missing"
        elif address in observed.objects:
            live = _live_payload(observed.objects[address], key)
        elif address in observed.adopted:
            live = {"adopted": _live_payload(observed.adopted[address], key)}
        payload["live"] = live
        session = observed.sessions.get(address)
        payload["session"] = session.as_dict() if session else None
    return _digest(payload)


def _digest(payload: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(payload).encode()).hexdigest()


#: ``fingerprint_of`` an address neither in state nor observed
_NOTHING_KNOWN = _digest({"state": None})
#: ``fingerprint_of`` an address not in state, and looked for but not seen
_NOTHING_SEEN = _digest({"state": None, "live": None, "session": None})


def _seen(address: str, observed: Observed) -> bool:
    """Whether observing found anything of ``address`` (what its fingerprint covers)."""
    return (
        address in observed.missing
        or address in observed.objects
        or address in observed.adopted
        or address in observed.sessions
    )


def _live_payload(obj: LiveObject, key: bytes) -> dict[str, Any]:
    return {
        "sid": obj.sid,
        "refs": obj.refs,
        "status": obj.status,
        "fields": fingerprint_secrets(obj.fields, key),
    }


def desired_digest_of(desired: Desired, addresses: Iterable[str], key: bytes) -> str:
    """Keyed HMAC over the tenant's connection and the manifests' version of ``addresses``."""
    t = desired.tenant
    tenant = {
        "tenant": t.tenant,
        "install": t.install,
        "api_url": t.api.url,
        "signon": t.signon.integrationSid if t.signon else None,
    }
    # the MAC of canonical_json({"resources": {a: body of a}, "tenant": tenant}), fed a
    # thousand addresses at a time: at 100,000 students the bodies and their text were
    # ~400 MB at once
    mac = hmac.new(key, b'{"resources":{', hashlib.sha256)
    ordered = sorted(set(addresses))
    for i in range(0, len(ordered), _DIGEST_CHUNK):
        bodies = {a: _desired_body(desired, a, key) for a in ordered[i : i + _DIGEST_CHUNK]}
        mac.update((("," if i else "") + canonical_json(bodies)[1:-1]).encode())
    mac.update(('},"tenant":' + canonical_json(tenant) + "}").encode())
    return "hmac-sha256:" + mac.hexdigest()


#: addresses whose manifest versions ``desired_digest_of`` encodes at once
_DIGEST_CHUNK = 1000


def _desired_body(desired: Desired, address: str, key: bytes) -> Any:
    res = resource_at(desired, address)
    if res is None:
        return None
    if kind_of(address) == "assignment":
        return {"exam": res.exam, "user": res.user}
    body = canonical(res, key)
    if isinstance(res, Exam):
        body["course"] = res.course
    return body


# --- the planner ---------------------------------------------------------------------------
