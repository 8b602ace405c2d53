"""The simulator inside the CLI process (``spsync --sandbox``), persisted in a directory.

::

    app, world = open_embedded(Path(".spsync/sandbox"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sandbox") as client: ...

Any token is accepted. The world lives in ``directory/world.json``; every change is written
there (atomically, fsynced) before its answer is returned, so a process killed at any
instant never loses a change it was told about.

One process at a time per directory: each loads the world whole and writes it back whole,
so two at once would lose one's changes. ``open_embedded`` takes an OS file lock on
``directory/world.lock`` before loading (a second process waits for it, saying so, then
reads what the first wrote); the lock is released when the command ends (its click
context closes) or the process dies (the kernel releases it).

The simulated clock is real UTC time unless ``SPSYNC_SANDBOX_NOW`` (``2027-06-01T00:00:00Z``)
fixes it: the CLI's counterpart of ``sandbox serve --now``, so that a demo or a test whose
appointments lie at fixed dates keeps working as time passes.

The dialect comes from ``SPSYNC_SANDBOX_DIALECT`` (``contract`` or ``vendor``) and its
switches from ``SPSYNC_SANDBOX_ASSIGNMENT_FORM``, ``…_AFTER_CANCEL``, ``…_PAGE_MAX`` and
``…_REPORT_ROWS`` (``sandbox serve``'s options), read on every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO

import click
from starlette.applications import Starlette

from spsync.errors import LockError, UsageError
from spsync.interrupts import ctrl_c_interrupts
from spsync.sandbox.app import create_app
from spsync.sandbox.dialect import ENV, Dialect, DialectError, from_env
from spsync.sandbox.server import build_world
from spsync.sandbox.timefmt import parse_utc
from spsync.sandbox.world import World

WORLD_FILE = "world.json"
LOCK_FILE = "world.lock"
NOW_ENV = "SPSYNC_SANDBOX_NOW"
#: how long a second process waits for the sandbox another one is using (seconds)
LOCK_WAIT_ENV = "SPSYNC_SANDBOX_LOCK_WAIT"
LOCK_WAIT = 600.0

#: sandbox directory -> the open lock file this process holds it with
_held: dict[Path, IO[str]] = {}


def fixed_now(environ: Mapping[str, str] | None = None) -> datetime | None:
    """The clock fixed by ``SPSYNC_SANDBOX_NOW``, or ``None`` (real time) when it is unset."""
    value = (os.environ if environ is None else environ).get(NOW_ENV, "")
    if value == "":
        return None
    parsed = parse_utc(value)
    if parsed is None:
        raise UsageError(
            f"{NOW_ENV}: expected an ISO-8601 UTC date-time ending in Z "
            f"(e.g. 2027-06-01T00:00:00Z), got {value!r}"
        )
    return parsed


def env_dialect(environ: Mapping[str, str] | None = None) -> Dialect:
    """The dialect set by ``SPSYNC_SANDBOX_*``; a bad value is a ``UsageError`` naming the
    variable."""
    try:
        return from_env(environ)
    except DialectError as e:
        raise UsageError(f"{ENV[e.field]}: {e}") from None


def open_embedded(
    directory: Path, *, now: datetime | None = None, dialect: Dialect | None = None
) -> tuple[Starlette, World]:
    """The app and world of the embedded sandbox kept in ``directory`` (created if needed).

    ``now`` fixes the simulated clock (default: ``SPSYNC_SANDBOX_NOW``, else real UTC time);
    ``dialect`` the API spoken (default: from ``SPSYNC_SANDBOX_DIALECT`` and its switches).
    """
    if now is None:
        now = fixed_now()
    if dialect is None:
        dialect = env_dialect()
    directory.mkdir(parents=True, exist_ok=True)
    hold(directory)
    path = directory / WORLD_FILE
    world = build_world(now=now, data_path=path)
    app = create_app(world, tokens=None, data_path=path, dialect=dialect)
    return app, world


def hold(directory: Path) -> None:
    """Take the sandbox's lock for this process (waiting while another holds it, up to
    ``SPSYNC_SANDBOX_LOCK_WAIT`` seconds, then ``LockError``). Held until the current click
    command ends, or for the process's life outside one."""
    key = directory.resolve()
    if key in _held:
        return
    fh: IO[str] = open(directory / LOCK_FILE, "a+")  # noqa: SIM115 - held past return
    try:
        if not _try_lock(fh):
            wait = _lock_wait()
            holder = _holder(fh)
            sys.stderr.write(
                f"the sandbox {directory} is in use by {holder}; waiting for it to finish "
                f"(up to {wait:g}s)\n"
            )
            deadline = time.monotonic() + wait
            with ctrl_c_interrupts():
                while not _try_lock(fh):
                    if time.monotonic() >= deadline:
                        raise LockError(
                            f"the sandbox {directory} is still in use by {holder} after "
                            f"{wait:g}s; run one --sandbox command at a time"
                        )
                    time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
    except BaseException:
        fh.close()
        raise
    _held[key] = fh
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lambda: release(directory))


def release(directory: Path) -> None:
    """Give the sandbox's lock back (closing the file releases the OS lock)."""
    fh = _held.pop(directory.resolve(), None)
    if fh is not None:
        with contextlib.suppress(OSError):
            fh.seek(0)
            fh.truncate()
        fh.close()


def _try_lock(fh: IO[str]) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    return fh.read().strip() or "another spsync process"


def _lock_wait() -> float:
    value = os.environ.get(LOCK_WAIT_ENV, "")
    try:
        return float(value) if value else LOCK_WAIT
    except ValueError:
        raise UsageError(f"{LOCK_WAIT_ENV}: expected a number of seconds, got {value!r}") from None
