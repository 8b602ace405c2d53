"""One translation layer for the read shapes the service may answer with.

The contract's reads (api-contract.md §7) use the provision request's shapes; the vendor's
v1 reference documents others for the same objects (see docs/api-dialects.md):

- exam: ``type: Online`` (capitalised) and ``isLimitedScope`` for ``online``/``limitedScope``;
- exam configuration: ``examOpenDate``/``examCloseDate``, ``scheduleOpenDate``/
  ``scheduleCloseDate``, ``studentNotes``/``proctorNotes``, ``proctorTypes`` as a list of
  SIDs without options, ``permitted<Item>`` + ``permitted<Item>Information`` for
  ``access``, ``scheduling``, ``notes``, ``proctorTypes`` and ``permittedItems``;
- enrollment rows: ``enrollmentSid`` for ``sid``;
- course: ``courseCode``/``courseTitle`` for ``code``/``title``.

Each function takes the raw JSON object (before validation) and returns it in the
contract's shape, adding a key only when the service sent what it stands for: a field the
service did not send stays absent, so the model's ``model_fields_set`` tells what was
observed (``spsync.observe`` keeps the last applied value of everything else). Anything
not a dict is passed through for the model to reject.
"""

from __future__ import annotations

from typing import Any

#: exam configuration keys that only the v1 form has
_V1_CONFIGURATION_KEYS = frozenset(
    {
        "examOpenDate",
        "examCloseDate",
        "scheduleOpenDate",
        "scheduleCloseDate",
        "studentNotes",
        "proctorNotes",
    }
)

_PERMITTED = "permitted"
#: v1 ``permitted…`` keys that are not an item switch
_NOT_ITEMS = frozenset({"permittedOtherItems"})


def exam(data: Any) -> Any:
    """An exam read in either form -> the contract's form."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "limitedScope" not in out and "isLimitedScope" in out:
        out["limitedScope"] = out["isLimitedScope"]
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].strip().lower()
    if isinstance(out.get("configuration"), dict):
        out["configuration"] = configuration(out["configuration"])
    return out


def _is_v1_configuration(data: dict[str, Any]) -> bool:
    return isinstance(data.get("proctorTypes"), list) or any(
        k in data for k in _V1_CONFIGURATION_KEYS
    )


def _pair(data: dict[str, Any], first: str, second: str, names: tuple[str, str]) -> Any:
    """``{names[0]: data[first], names[1]: data[second]}`` for the keys present, or
    ``None`` when neither is."""
    if first not in data and second not in data:
        return None
    out = {}
    if first in data:
        out[names[0]] = data[first]
    if second in data:
        out[names[1]] = data[second]
    return out


def configuration(data: dict[str, Any]) -> dict[str, Any]:
    """An exam configuration in either form -> the contract's form. In the v1 form the
    proctor types come as a list of SIDs without their options: they are kept apart
    (``proctorTypeSids``), so that the options stay unobserved rather than read as none."""
    if not _is_v1_configuration(data):
        return data
    out: dict[str, Any] = {
        k: data[k] for k in ("sid", "url", "duration", "attempts", "password") if k in data
    }
    for key, first, second, names in (
        ("access", "examOpenDate", "examCloseDate", ("open", "close")),
        ("scheduling", "scheduleOpenDate", "scheduleCloseDate", ("open", "close")),
        ("notes", "studentNotes", "proctorNotes", ("student", "proctor")),
    ):
        value = _pair(data, first, second, names)
        if value is not None:
            out[key] = value
    pts = data.get("proctorTypes")
    if isinstance(pts, list):
        out["proctorTypeSids"] = pts
    elif isinstance(pts, dict):
        out["proctorTypes"] = pts
    items = permitted_items(data)
    if items is not None:
        out["permittedItems"] = items
    return out


def permitted_items(data: dict[str, Any]) -> dict[str, Any] | None:
    """``permittedCalculator: true`` + ``permittedCalculatorInformation: "…"`` ->
    ``{"calculator": {"notes": "…"}}``; ``None`` when no item switch was sent."""
    items: dict[str, Any] = {}
    seen = False
    for key, value in data.items():
        if not key.startswith(_PERMITTED) or key.endswith("Information") or key in _NOT_ITEMS:
            continue
        name = key[len(_PERMITTED) :]
        if not name or not isinstance(value, bool):
            continue
        seen = True
        if value:
            item = name[0].lower() + name[1:]
            notes = data.get(f"{key}Information")
            items[item] = {"notes": notes} if isinstance(notes, str) and notes else {}
    return items if seen else None


def enrollment(data: Any) -> Any:
    """An enrollment row naming its SID ``enrollmentSid`` -> ``sid``."""
    if isinstance(data, dict) and "sid" not in data and "enrollmentSid" in data:
        return {**data, "sid": data["enrollmentSid"]}
    return data


def course(data: Any) -> Any:
    """A course with ``courseCode``/``courseTitle`` -> ``code``/``title``."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "code" not in out and "courseCode" in out:
        out["code"] = out["courseCode"]
    if "title" not in out and "courseTitle" in out:
        out["title"] = out["courseTitle"]
    return out
