"""``spsync unlock PATH LOCK_ID``: release a tenant lock whose holder is gone."""

from __future__ import annotations

from pathlib import Path

import click

from spsync.cli.common import global_options, globals_of, out
from spsync.errors import StateError


@click.command("unlock")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("lock_id")
@global_options(hide=("--no-color",))
@click.pass_context
def unlock_cmd(ctx: click.Context, path: Path, lock_id: str) -> int:
    """Release the lock LOCK_ID of a tenant under PATH whose holder is gone.

    \b
    The id is the one a blocked command prints. A lock whose holder still runs on this
    machine is never released; locally the OS releases a dead holder's lock by itself,
    so this is mostly for shared state backends.

    \b
    Example:
      spsync unlock manifests/acme 7f3c9a2e-5b1d-4c8e-9f0a-1b2c3d4e5f6a
    """
    from spsync.cli.state_cmd import tenant_names
    from spsync.store import StateStore

    g = globals_of(ctx)
    store = StateStore(g.state_dir)
    names = tenant_names(path)  # each tenant.yaml's name, checked: it names the lock file
    held = {n: store.holder(n) for n in names}
    for name, info in held.items():
        if info is not None and info.id == lock_id:
            store.unlock(name, lock_id)
            out(
                f"released lock {lock_id} of {name} (was held by pid {info.pid} on "
                f"{info.host} for {info.operation} since {info.since})"
            )
            return 0
    current = [f"{n}: {i.id}" for n, i in held.items() if i is not None]
    listed = "; current locks: " + ", ".join(current) if current else "; no tenant is locked"
    raise StateError(f"no tenant under {path} holds lock {lock_id}{listed}")


COMMANDS = [unlock_cmd]
