"""Field checks shared by the simulated endpoints; each records problems with their path."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from functools import lru_cache
from typing import Any

from spsync.sandbox.errors import Problems
from spsync.sandbox.sids import is_sid
from spsync.sandbox.timefmt import parse_utc

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_URL = re.compile(r"https?://[^\s/]+\S*")

#: The largest integer field value accepted: a signed 32-bit integer, as a database column
#: of the service would hold it (larger values would overflow date arithmetic, too).
MAX_INT = 2**31 - 1

#: Marks "absent" apart from an explicit null in a request body.
MISSING: Any = object()


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: str) -> bool:
    """True for an IANA zone name known to the system's tz database."""
    zones = _zones()
    if zones:
        return name in zones
    # No listing available (no system tz database): ask zoneinfo for the one name.
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def obj(
    p: Problems, value: Any, path: str, allowed: frozenset[str] | tuple[str, ...]
) -> dict | None:
    """An object whose keys are all in ``allowed``; unknown keys are problems."""
    if not isinstance(value, dict):
        p.add(path or "body", "must be a JSON object")
        return None
    for key in value:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            p.add(where, "unknown field")
    return value


def text(p: Problems, value: Any, path: str, *, max_len: int = 1000) -> str | None:
    """A non-blank string (``None`` and problems otherwise)."""
    if not isinstance(value, str):
        p.add(path, "must be a string")
        return None
    if not value.strip():
        p.add(path, "must not be empty")
        return None
    if len(value) > max_len:
        p.add(path, f"must be at most {max_len} characters")
        return None
    return value


def free_text(p: Problems, value: Any, path: str, *, max_len: int = 10000) -> str | None:
    """A string that may be empty."""
    if not isinstance(value, str):
        p.add(path, "must be a string")
        return None
    if len(value) > max_len:
        p.add(path, f"must be at most {max_len} characters")
        return None
    return value


def enum(p: Problems, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        p.add(path, f"must be one of {', '.join(choices)}")
        return None
    return value


def boolean(p: Problems, value: Any, path: str) -> bool | None:
    if not isinstance(value, bool):
        p.add(path, "must be true or false")
        return None
    return value


def positive_int(p: Problems, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        p.add(path, "must be an integer greater than 0")
        return None
    if value > MAX_INT:
        p.add(path, f"must be at most {MAX_INT}")
        return None
    return value


def utc_time(p: Problems, value: Any, path: str) -> datetime | None:
    parsed = parse_utc(value)
    if parsed is None:
        p.add(path, 'must be an ISO-8601 UTC date-time ending in "Z", e.g. 2027-03-01T14:00:00Z')
    return parsed


def email(p: Problems, value: Any, path: str) -> str | None:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        p.add(path, "must be a valid email address")
        return None
    return value


def timezone(p: Problems, value: Any, path: str) -> str | None:
    if not isinstance(value, str) or not is_timezone(value):
        p.add(path, "must be an IANA time zone name, e.g. America/New_York")
        return None
    return value


def currency(p: Problems, value: Any, path: str) -> str | None:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        p.add(path, "must be a 3-letter ISO-4217 currency code in capitals, e.g. USD")
        return None
    return value


def url(p: Problems, value: Any, path: str) -> str | None:
    if not isinstance(value, str) or len(value) > 2048 or not _URL.fullmatch(value):
        p.add(path, "must be an http(s) URL")
        return None
    return value


def sid(p: Problems, value: Any, path: str, prefix: str | tuple[str, ...]) -> str | None:
    if not is_sid(value, prefix):
        first = prefix if isinstance(prefix, str) else prefix[0]
        p.add(path, f"must be a SID: {first} followed by 32 lowercase hex characters")
        return None
    return value


def amount(p: Problems, value: Any, path: str) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        p.add(path, "must be a number greater than or equal to 0")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        p.add(path, "must be a finite number")
        return None
    return value
