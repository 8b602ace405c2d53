"""The simulator inside the CLI process (``spsync --sandbox``), persisted in a directory.

::

    app, world = open_embedded(Path(".spsync/sandbox"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sandbox") as client: ...

Any token is accepted. The world lives in ``directory/world.json``; every change is written
there (atomically, fsynced) before its answer is returned, so a process killed at any
instant never loses a change it was told about. One process at a time per directory.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette

from spsync.sandbox.app import create_app
from spsync.sandbox.server import build_world
from spsync.sandbox.world import World

WORLD_FILE = "world.json"


def open_embedded(directory: Path, *, now: datetime | None = None) -> tuple[Starlette, World]:
    """The app and world of the embedded sandbox kept in ``directory`` (created if needed).

    ``now`` fixes the simulated clock (default: real UTC time).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / WORLD_FILE
    world = build_world(now=now, data_path=path)
    app = create_app(world, tokens=None, data_path=path)
    return app, world
