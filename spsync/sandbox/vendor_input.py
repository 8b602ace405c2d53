"""Request bodies as the vendor's hapi/joi service takes them (the ``vendor`` dialect).

joi is set to strip unknown keys rather than refuse them, and to trim strings. So before
the world validates a body, ``clean`` keeps only the keys the simulator models (at every
level, in objects inside lists too) and trims every string; keys the vendor documents but
the simulator does not model are dropped the same way. On the v1 routes an optional
string sent as ``""`` is refused, as joi does unless a route allows it; provision accepts
what the vendor's own provision samples send (``""`` for ``scheduling.open/close``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from spsync.sandbox.constants import PERMITTED_ITEMS, PROCTOR_OPTIONS
from spsync.sandbox.errors import ApiFault


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list whose items follow ``item``."""

    item: Spec


@dataclass(frozen=True, slots=True)
class MapOf:
    """An object with keys of any name (e.g. ``TS…`` SIDs), each value following ``value``."""

    value: Spec


#: A leaf: any JSON value, kept as sent (strings trimmed).
ANY = None
#: What a body may hold: an object of known keys, a list, a map, or any value.
Spec = dict[str, "Spec"] | ListOf | MapOf | None


def _keys(*names: str) -> dict[str, Spec]:
    return dict.fromkeys(names, ANY)


_IDS = _keys("sid", "api", "lms", "external")
_WINDOW = _keys("open", "close")
_CONFIGURATION: dict[str, Spec] = {
    **_keys("url", "duration", "password", "attempts"),
    "access": _WINDOW,
    "scheduling": _WINDOW,
    "notes": _keys("student", "proctor"),
    "proctorTypes": MapOf({"options": dict.fromkeys(sorted(PROCTOR_OPTIONS), ANY)}),
    "permittedItems": {item: _keys("notes") for item in sorted(PERMITTED_ITEMS)},
}
PROVISION: dict[str, Spec] = {
    "course": {"ids": _IDS, **_keys("title", "code")},
    "exam": {
        "ids": _keys("sid", "external"),
        **_keys("title", "description", "type", "limitedScope"),
        "configuration": _CONFIGURATION,
    },
    "user": {"ids": _IDS, **_keys("firstName", "lastName", "email", "timeZone", "currencyCode")},
    "enrollment": _keys("role"),
    "signon": _keys("integrationSid"),
}
#: Schedule: ``currencyCode`` is not the schema's name for ``currency``, so it is dropped.
SCHEDULE = _keys(
    "type",
    "proctorLocationSid",
    "appointmentDateTime",
    "amount",
    "currency",
    "externalAppointmentId",
    "notes",
    "proctorTypeSubCategorySid",
)
RESCHEDULE = _keys("appointmentDateTime", "notes")
CANCEL = _keys("cancellationMemo", "reason")
#: The guide's form documents only ``add``: a ``remove`` is dropped, so it does nothing.
ASSIGN_GUIDE: dict[str, Spec] = {"add": ListOf(_keys("enrollmentSid"))}
_EXAM_PART: dict[str, Spec] = {
    "courseSid": ANY,
    "sectionSid": ListOf(ANY),
    "enrollmentSid": ListOf(ANY),
}
ASSIGN_EXAM: dict[str, Spec] = {"added": _EXAM_PART, "removed": _EXAM_PART}
ASSIGN_NEWEST: dict[str, Spec] = {"added": ListOf(ANY), "removed": ListOf(ANY)}

_LOCATION = re.compile(r"PL[a-f0-9]{32}")


def strip(value: Any, spec: Spec) -> Any:
    """``value`` with the keys ``spec`` does not know dropped and strings trimmed.

    A value of another type than ``spec`` expects is kept as it is, for the world's
    validation to report.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(spec, dict) and isinstance(value, dict):
        return {k: strip(v, spec[k]) for k, v in value.items() if k in spec}
    if isinstance(spec, MapOf) and isinstance(value, dict):
        return {k: strip(v, spec.value) for k, v in value.items()}
    if isinstance(spec, ListOf) and isinstance(value, list):
        return [strip(v, spec.item) for v in value]
    if spec is ANY and isinstance(value, list):
        return [strip(v, ANY) for v in value]
    return value


def refuse_empty(value: Any, path: str = "") -> None:
    """400 INVALIDINPUT at the first string that is empty (after trimming)."""
    if value == "":
        raise _invalid(f'"{path}" is not allowed to be empty')
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_empty(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            refuse_empty(v, f"{path}[{i}]")


def v1_body(body: Any, spec: dict[str, Spec]) -> Any:
    """A v1 route's body: stripped, trimmed, with no empty strings."""
    cleaned = strip(body, spec)
    refuse_empty(cleaned)
    return cleaned


def provision_body(body: Any) -> Any:
    """Provision's body: stripped and trimmed; an empty scheduling date counts as absent."""
    cleaned = strip(body, PROVISION)
    exam = cleaned.get("exam") if isinstance(cleaned, dict) else None
    config = exam.get("configuration") if isinstance(exam, dict) else None
    window = config.get("scheduling") if isinstance(config, dict) else None
    if isinstance(window, dict):
        for key in [k for k, v in window.items() if v == ""]:
            del window[key]
    return cleaned


def schedule_body(body: Any) -> Any:
    """Schedule's body; a ``proctorLocationSid`` must be ``PL`` + 32 lowercase hex."""
    cleaned = v1_body(body, SCHEDULE)
    location = cleaned.get("proctorLocationSid") if isinstance(cleaned, dict) else None
    if location is not None and not (isinstance(location, str) and _LOCATION.fullmatch(location)):
        raise _invalid(
            '"proctorLocationSid" must be a proctor location SID: PL followed by 32 lowercase '
            "hex characters"
        )
    return cleaned


def _invalid(message: str) -> ApiFault:
    return ApiFault(400, "INVALIDINPUT", message)
