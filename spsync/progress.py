"""Progress of an apply: a rich bar on a terminal, plain periodic lines elsewhere.

The executor reports through the small ``Progress`` interface; which implementation is used
is the CLI's choice (``make_progress``): a live bar on stderr when stderr is a terminal and
colour is allowed, otherwise one line every ``every_s`` seconds or every tenth of the work,
so CI logs stay short and readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from spsync.sanitize import clean_lines
from spsync.secrets import scrub


class Progress(Protocol):
    """What the executor calls; all methods are cheap and never raise."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, address: str, ok: bool) -> None: ...

    def note(self, text: str) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing (tests, ``--quiet`` callers)."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, address: str, ok: bool) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def finish(self) -> None:
        return None


class LineProgress:
    """Plain lines: ``acme: 120/400 changes (30%), 1 failed, 12.3s``."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._every = every_s
        self._clock = clock
        self._label = ""
        self._total = 0
        self._done = 0
        self._failed = 0
        self._t0 = 0.0
        self._last_t = 0.0
        self._last_decile = 0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done, self._failed = label, total, 0, 0
        self._t0 = self._last_t = self._clock()
        self._last_decile = 0
        self._write(f"{label}: applying {total} change{'s' if total != 1 else ''}")

    def advance(self, address: str, ok: bool) -> None:
        self._done += 1
        if not ok:
            self._failed += 1
        now = self._clock()
        decile = (self._done * 10) // self._total if self._total else 10
        if decile > self._last_decile or now - self._last_t >= self._every:
            if self._done < self._total:
                self._line(now)
            self._last_decile = decile
            self._last_t = now

    def _line(self, now: float) -> None:
        pct = (100 * self._done) // self._total if self._total else 100
        failed = f", {self._failed} failed" if self._failed else ""
        self._write(
            f"{self._label}: {self._done}/{self._total} changes ({pct}%){failed}, "
            f"{now - self._t0:.1f}s"
        )

    def note(self, text: str) -> None:
        self._write(f"{self._label}: {text}" if self._label else text)

    def finish(self) -> None:
        return None


class RichProgress:
    """A live bar on stderr (only when stderr is a terminal)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as _Bar

        self._console = console
        self._bar = _Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None
        self._failed = 0

    def start(self, label: str, total: int) -> None:
        self._failed = 0
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, failed="")

    def advance(self, address: str, ok: bool) -> None:
        if not ok:
            self._failed += 1
        if self._task is not None:
            failed = f"[red]{self._failed} failed" if self._failed else ""
            self._bar.update(self._task, advance=1, failed=failed)

    def note(self, text: str) -> None:
        # a note may quote the API: no markup, links or highlighting made of it
        self._console.print(clean_lines(scrub(text)), markup=False, highlight=False)

    def finish(self) -> None:
        self._bar.stop()
        self._task = None


def make_progress(*, tty: bool, color: bool, write: Callable[[str], None]) -> Progress:
    """A rich bar when stderr is a terminal with colour allowed, else plain lines."""
    if tty and color:
        import sys

        from rich.console import Console

        return RichProgress(Console(file=sys.stderr))
    return LineProgress(write)
