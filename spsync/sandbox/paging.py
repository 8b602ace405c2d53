"""Lists of the simulated API: pages, paging parameters, status filters and sorting."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from spsync.sandbox.constants import ACTIVE_STATUSES, MAX_PAGE_LIMIT, STATUSES
from spsync.sandbox.errors import Problems

_SEARCHABLE_STATUS = {s.lower().replace(" ", "").replace("-", ""): s for s in STATUSES}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list endpoint: ``items`` out of ``total`` starting at ``offset``."""

    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def check_paging(offset: int, limit: int, max_limit: int = MAX_PAGE_LIMIT) -> None:
    """400 unless ``0 <= offset`` and ``1 <= limit <= max_limit`` (api-contract §7: 100)."""
    p = Problems()
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        p.add("offset", "must be an integer greater than or equal to 0")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit:
        p.add("limit", f"must be an integer from 1 to {max_limit}")
    p.raise_if_any()


def page(
    items: list[Any],
    offset: int,
    limit: int,
    render: Callable[[Any], dict],
    max_limit: int = MAX_PAGE_LIMIT,
) -> Page:
    """The page of ``items`` at ``offset``, each item rendered by ``render`` (only the page's
    own: ``items`` may be keys that ``render`` looks up)."""
    check_paging(offset, limit, max_limit)
    return Page([render(x) for x in items[offset : offset + limit]], len(items), offset, limit)


def statuses(values: Iterable[str]) -> set[str]:
    """Status filter values → canonical names ("needs-proctor" and "active" tolerated)."""
    out: set[str] = set()
    p = Problems()
    for i, raw in enumerate(values):
        key = raw.strip().lower().replace(" ", "").replace("-", "").replace("_", "")
        if key == "active":
            out |= ACTIVE_STATUSES
        elif key in _SEARCHABLE_STATUS:
            out.add(_SEARCHABLE_STATUS[key])
        else:
            p.add(f"status[{i}]", f"must be one of {', '.join(STATUSES)}")
    p.raise_if_any()
    return out


def descending(key: str, order: str) -> bool:
    """Validate sorting; True for descending."""
    p = Problems()
    if key != "createdDate":
        p.add("sortKeys", "must be createdDate")
    if order.upper() not in ("ASC", "DESC"):
        p.add("sortOrder", "must be ASC or DESC")
    p.raise_if_any()
    return order.upper() == "DESC"
