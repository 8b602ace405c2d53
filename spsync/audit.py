"""The audit log: one JSON line per API call in ``.spsync/audit/<tenant>.jsonl``.

Each line: ``time`` (UTC), ``run`` (one id per apply), ``tenant``, ``method``, ``route``
(the path template), ``path`` (without its query string: queries may carry e-mail
addresses), ``status`` (``null`` when no response came), ``duration_ms``, ``attempt``
(1 for the first try), ``address`` (the change being executed, ``null`` for the plan's
reads) and ``code`` (the API's error code, if any). Never a body, header or secret.

The address comes from a context variable the executor sets around each change, so the
client's ``on_call`` hook needs no parameter for it: asyncio tasks inherit the context.

Lines are gathered and written together by ``flush``, which apply has the API client call
before each request it sends (so the log is never more than the answers of one moment
behind), and which runs by itself every ``FLUSH_LINES`` lines and on close.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from spsync import files
from spsync.errors import StateError
from spsync.sanitize import clean

#: the address (or batch label) of the change whose calls are being made
CURRENT_ADDRESS: ContextVar[str | None] = ContextVar("spsync_current_address", default=None)

AUDIT_DIR = Path(".spsync") / "audit"
#: lines held at most before they are written without being asked
FLUSH_LINES = 64


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Appends audit lines for one tenant; use ``record`` as (part of) the client's
    ``on_call`` hook."""

    def __init__(
        self,
        directory: Path,
        tenant: str,
        *,
        run: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.path = Path(directory) / f"{tenant}.jsonl"
        self.tenant = tenant
        self.run = run or uuid.uuid4().hex[:12]
        self._clock = clock
        files.make_dirs(self.path.parent, "the audit directory", StateError)
        self._fh: IO[str] | None = os.fdopen(self._open(), "a", encoding="utf-8")
        self._pending: list[str] = []
        self.lines = 0

    def _open(self) -> int:
        """The log file, appended to only where it claims to be: neither it nor its
        directory may be a symbolic link (one committed to the repository would make every
        apply write outside it)."""
        directory = self.path.parent
        if directory.resolve() != directory.absolute():
            raise StateError(
                f"{directory}: the audit directory is or passes through a symbolic link "
                "(refused: spsync writes its audit log only where it claims to be)"
            )
        try:
            return files.open_append(self.path)
        except OSError as e:
            raise StateError(f"{self.path}: cannot open the audit log: {e.strerror}") from None

    def record(self, call: Any) -> None:
        """Log one HTTP attempt (a ``CallRecord`` of the client)."""
        if self._fh is None:
            return
        path = str(getattr(call, "path", "") or "").split("?", 1)[0]
        duration = getattr(call, "duration_s", None)
        line = {
            "time": self._clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "run": self.run,
            "tenant": self.tenant,
            "method": getattr(call, "method", None),
            "route": getattr(call, "route", None),
            "path": path,
            "status": getattr(call, "status", None),
            "duration_ms": None if duration is None else round(float(duration) * 1000, 1),
            "attempt": getattr(call, "attempt", None),
            "address": CURRENT_ADDRESS.get(),
            # the client names it ``error``: the API's code, ``HTTP <status>``, or the
            # transport failure (``ReadTimeout``, ...)
            "code": getattr(call, "error", None) or getattr(call, "code", None),
        }
        if isinstance(line["code"], str):
            line["code"] = clean(line["code"])  # the API's own text: one safe line
        self._pending.append(json.dumps(line, sort_keys=True))
        self.lines += 1
        if len(self._pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the lines recorded since the last flush (one ``write(2)``)."""
        if not self._pending or self._fh is None:
            return
        self._pending.append("")
        self._fh.write("\n".join(self._pending))
        self._pending.clear()
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fan_out(*hooks: Callable[[Any], None] | None) -> Callable[[Any], None]:
    """One ``on_call`` hook calling several (``None`` entries skipped)."""
    live = [h for h in hooks if h is not None]

    def hook(call: Any) -> None:
        for h in live:
            h(call)

    return hook
