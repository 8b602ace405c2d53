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


#: the provision's permitted items under their v1 names (``permitted<Item>``); the vendor
#: documents every pair as always sent
_ITEMS: tuple[str, ...] = (
    "BathroomBreak",
    "Calculator",
    "Dictionary",
    "Earplugs",
    "FormulaSheet",
    "Notes",
    "Textbook",
    "Websites",
)


def permitted_items(data: dict[str, Any]) -> dict[str, Any] | None:
    """``permittedCalculator: true`` + ``permittedCalculatorInformation: "…"`` ->
    ``{"calculator": {"notes": "…"}}``; ``None`` (unobserved) when no item switch was sent,
    or when any item is unknown: its switch left out or not a boolean (``null``), or the
    item permitted and its ``…Information`` left out or not a text. A missing switch is not
    ``false`` and missing notes are not "none"; as the items are compared as one map, one
    unknown item leaves the whole map unknown."""
    if not any(k.startswith(_PERMITTED) and k not in _NOT_ITEMS for k in data):
        return None
    names = dict.fromkeys(_ITEMS)
    for key in data:  # switches the provision has no item for (BlankPaper), as sent
        name = key[len(_PERMITTED) :]
        if key.startswith(_PERMITTED) and key not in _NOT_ITEMS and not key.endswith("Information"):
            names.setdefault(name)
    items: dict[str, Any] = {}
    for name in names:
        switch = data.get(f"{_PERMITTED}{name}")
        if name not in _ITEMS and switch is not True:
            continue
        if not isinstance(switch, bool):
            return None
        if switch:
            notes = data.get(f"{_PERMITTED}{name}Information")
            if not isinstance(notes, str):
                return None
            items[name[0].lower() + name[1:]] = {"notes": notes} if notes else {}
    return items


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
