"""The simulator inside the CLI process (``spsync --sandbox``), persisted in a directory.

::

    app, world = open_embedded(Path(".spsync/sandbox"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sandbox") as client: ...

Any token is accepted. The world lives in ``directory/world.json``; every change is written
there (atomically, fsynced) before its answer is returned, so a process killed at any
instant never loses a change it was told about. One process at a time per directory.

The simulated clock is real UTC time unless ``SPSYNC_SANDBOX_NOW`` (``2027-06-01T00:00:00Z``)
fixes it: the CLI's counterpart of ``sandbox serve --now``, so that a demo or a test whose
appointments lie at fixed dates keeps working as time passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette

from spsync.errors import UsageError
from spsync.sandbox.app import create_app
from spsync.sandbox.server import build_world
from spsync.sandbox.timefmt import parse_utc
from spsync.sandbox.world import World

WORLD_FILE = "world.json"
NOW_ENV = "SPSYNC_SANDBOX_NOW"


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


def open_embedded(directory: Path, *, now: datetime | None = None) -> tuple[Starlette, World]:
    """The app and world of the embedded sandbox kept in ``directory`` (created if needed).

    ``now`` fixes the simulated clock (default: ``SPSYNC_SANDBOX_NOW``, else real UTC time).
    """
    if now is None:
        now = fixed_now()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / WORLD_FILE
    world = build_world(now=now, data_path=path)
    app = create_app(world, tokens=None, data_path=path)
    return app, world
