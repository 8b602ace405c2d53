"""UTC date-times as the API writes them: ISO-8601 ending in ``Z``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_UTC_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", re.ASCII)

#: The simulator's clock: returns the current aware UTC datetime (tests inject a fixed one).
Clock = Callable[[], datetime]


def parse_utc(value: object) -> datetime | None:
    """Parse ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; ``None`` if it is not exactly that."""
    if not isinstance(value, str) or not _UTC_Z.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None


@lru_cache(maxsize=1 << 16)
def format_utc(value: datetime) -> str:
    """``2027-03-01T14:00:00Z``; milliseconds only when there are some.

    Remembered: every page of a listing writes several times per row, most of them the
    same (created and edited together, a whole roster's sessions booked at once). Equal
    aware date-times are the same instant, so they are written the same."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_minutes(value: datetime, minutes: int) -> datetime | None:
    """``value`` plus ``minutes``, or ``None`` when that is past the calendar's end (9999)."""
    try:
        return value + timedelta(minutes=minutes)
    except OverflowError:
        return None


def format_opt(value: datetime | None) -> str | None:
    return None if value is None else format_utc(value)


class SettableClock:
    """The simulated clock: real UTC time unless fixed (``--now``, tests).

    Callable; returns an aware UTC datetime. Thread-safe enough: a single attribute swap.
    """

    def __init__(self, fixed: datetime | None = None) -> None:
        self.fixed = fixed

    def __call__(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)

    def set(self, fixed: datetime | None) -> None:
        """Fix the clock at ``fixed``, or return to real time with ``None``."""
        self.fixed = fixed
