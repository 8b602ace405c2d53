"""Which API the simulator speaks: the project's contract, or the vendor's documents.

``contract`` (the default) answers as ``api-contract.md`` says. ``vendor`` answers as the
vendor's own documents describe the service, in their sparsest documented shapes (string
answers to writes, sparse list items and report rows, v1-shaped reads, hapi's 404), with
switches for what those documents leave open: which assignment endpoint exists, what
becomes of a session after a cancel, the largest page, and whether the appointments report
lists unbooked sessions. docs/sandbox.md has the table of differences.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from spsync.sandbox.constants import MAX_PAGE_LIMIT

DIALECTS: tuple[str, ...] = ("contract", "vendor")
ASSIGNMENT_FORMS: tuple[str, ...] = ("guide", "exam", "newest")
AFTER_CANCEL: tuple[str, ...] = ("new", "same", "none")
REPORT_ROWS: tuple[str, ...] = ("all", "booked")

#: The environment variables of the embedded sandbox, by ``Dialect`` field.
ENV: dict[str, str] = {
    "name": "SPSYNC_SANDBOX_DIALECT",
    "assignment_form": "SPSYNC_SANDBOX_ASSIGNMENT_FORM",
    "after_cancel": "SPSYNC_SANDBOX_AFTER_CANCEL",
    "page_max": "SPSYNC_SANDBOX_PAGE_MAX",
    "report_rows": "SPSYNC_SANDBOX_REPORT_ROWS",
}
#: The ``sandbox serve`` options, by ``Dialect`` field.
OPTIONS: dict[str, str] = {
    "name": "--dialect",
    "assignment_form": "--assignment-form",
    "after_cancel": "--after-cancel",
    "page_max": "--page-max",
    "report_rows": "--report-rows",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "name": DIALECTS,
    "assignment_form": ASSIGNMENT_FORMS,
    "after_cancel": AFTER_CANCEL,
    "report_rows": REPORT_ROWS,
}
#: The switches' defaults, in field order (also the only values ``contract`` takes).
_DEFAULT_SWITCHES = ("newest", "new", MAX_PAGE_LIMIT, "all")
_INTEGER = re.compile(r"-?[0-9]{1,9}")
_LONG_INTEGER = re.compile(r"-?[0-9]+")
#: The largest ``page_max`` accepted (a page is built in memory).
PAGE_MAX_LIMIT = 10_000


class DialectError(ValueError):
    """A dialect setting with a bad value; ``field`` says which ``Dialect`` field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Dialect:
    """The simulator's dialect and its switches (the switches matter only for ``vendor``)."""

    name: str = "contract"
    assignment_form: str = "newest"
    after_cancel: str = "new"
    page_max: int = MAX_PAGE_LIMIT
    report_rows: str = "all"

    def __post_init__(self) -> None:
        for field, choices in _CHOICES.items():
            value = getattr(self, field)
            if value not in choices:
                raise DialectError(field, f"must be one of {', '.join(choices)}, got {value!r}")
        page_max = self.page_max
        if isinstance(page_max, bool) or not isinstance(page_max, int):
            raise DialectError("page_max", f"must be an integer, got {page_max!r}")
        if not 1 <= page_max <= PAGE_MAX_LIMIT:
            raise DialectError("page_max", f"must be from 1 to {PAGE_MAX_LIMIT}, got {page_max}")
        switches = (self.assignment_form, self.after_cancel, self.page_max, self.report_rows)
        if self.name == "contract" and switches != _DEFAULT_SWITCHES:
            raise DialectError("name", "the switches apply only to the vendor dialect")

    @classmethod
    def contract(cls) -> Dialect:
        """Today's behaviour, as ``api-contract.md`` describes it."""
        return cls()

    @classmethod
    def vendor(cls, **overrides: Any) -> Dialect:
        """The vendor's documents; ``overrides`` set switches (``after_cancel="same"``)."""
        return replace(cls(name="vendor"), **overrides)

    @property
    def is_vendor(self) -> bool:
        return self.name == "vendor"

    def view(self) -> dict[str, Any]:
        """The JSON form shown by ``GET /_sandbox/config``."""
        d = asdict(self)
        return {
            "name": d["name"],
            "assignmentForm": d["assignment_form"],
            "afterCancel": d["after_cancel"],
            "pageMax": d["page_max"],
            "reportRows": d["report_rows"],
        }


def parse_page_max(raw: str) -> int:
    """``--page-max`` / ``SPSYNC_SANDBOX_PAGE_MAX`` text as an integer (``DialectError``)."""
    text = raw.strip()
    if _LONG_INTEGER.fullmatch(text) and not _INTEGER.fullmatch(text):
        # an integer, too long to read: the range is what is wrong with it
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise DialectError("page_max", f"must be from 1 to {PAGE_MAX_LIMIT}, got {shown}")
    if not _INTEGER.fullmatch(text):
        raise DialectError("page_max", f"must be an integer, got {raw!r}")
    return int(text)


def build(settings: Mapping[str, str | None]) -> Dialect:
    """A ``Dialect`` from text settings by field name (``None``: not given).

    The name defaults to ``contract``; a switch given with it is refused, so that a
    setting cannot silently do nothing.
    """
    name = settings.get("name") or "contract"
    given: dict[str, Any] = {k: v for k, v in settings.items() if k != "name" and v is not None}
    if "page_max" in given:
        given["page_max"] = parse_page_max(given["page_max"])
    if name == "contract":
        for field in given:
            raise DialectError(field, "applies only to the vendor dialect")
        return Dialect.contract()
    if name != "vendor":
        raise DialectError("name", f"must be one of {', '.join(DIALECTS)}, got {name!r}")
    return Dialect.vendor(**given)


def from_env(environ: Mapping[str, str] | None = None) -> Dialect:
    """The embedded sandbox's dialect from ``SPSYNC_SANDBOX_*`` (``DialectError`` names the
    field; empty variables count as unset)."""
    env = os.environ if environ is None else environ
    return build({field: env.get(var) or None for field, var in ENV.items()})
