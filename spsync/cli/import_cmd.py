"""``spsync import PATH ADDR SID``: adopt an existing remote object into state."""

from __future__ import annotations

from pathlib import Path

import click

from spsync.cli.common import addresses_given, global_options, globals_of, out, spsync_hint
from spsync.errors import PlanError, UsageError


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("address", metavar="ADDR", callback=addresses_given)
@click.argument("sid")
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    metavar="NAME",
    help="The tenant of ADDR, when several declare it (repeatable).",
)
@global_options(hide=("--no-color",))
@click.pass_context
def import_(
    ctx: click.Context, path: Path, address: str, sid: str, tenants: tuple[str, ...]
) -> int:
    """Adopt the existing remote object SID as ADDR (which the manifests must declare).

    The object is read through the API and recorded in state with its live fields, so the
    next plan shows how the manifest differs from it. Objects it hangs off must be in state
    first (a course before its exams; a user and course before their enrollment; an exam
    and enrollment before a session). Nothing changes remotely.

    \b
    Example:
      spsync import manifests/acme course.acme-main CU0123456789abcdef0123456789abcdef
    """
    from spsync import manifest
    from spsync.api.client import run
    from spsync.cli.clients import client_factory
    from spsync.planning import import_resource, secret_key
    from spsync.secrets import scrub
    from spsync.state import ResourceState
    from spsync.store import StateStore

    g = globals_of(ctx)
    desireds = manifest.load(path, tenants=tenants, sandbox=g.sandbox)
    owners = [d for d in desireds if address in set(d.addresses())]
    if not owners:
        from spsync.suggest import did_you_mean

        pool = [a for d in desireds for a in d.addresses()]
        hint = did_you_mean(address, pool, quoted=False)
        raise PlanError(f"{address} is not in the manifests under {path}{hint}")
    if len(owners) > 1:
        names = ", ".join(d.tenant.tenant for d in owners)
        raise UsageError(f"{address} is declared by tenants {names}; choose one with --tenant")
    desired = owners[0]
    store = StateStore(g.state_dir)
    name = desired.tenant.tenant
    unverified: list[str] = []
    with store.lock(name, "import", unlock_hint=str(path)):
        state = store.load(desired.tenant)

        async def read() -> ResourceState:
            async with client_factory(g)(desired) as client:
                return await import_resource(
                    desired,
                    state,
                    client,
                    address,
                    sid,
                    secret_key=secret_key(desired, g.sandbox),
                    unverified=unverified,
                    sandbox=g.sandbox,
                    manifests=str(path),
                )

        rec = run(read())
        if scrub(rec.model_dump_json()) != rec.model_dump_json():
            # a server echoing the token or a password into a field: never into state
            raise PlanError(
                f"{address} ({sid}): what the API answered holds the API token or a password; "
                "nothing recorded"
            )
        resources = dict(state.resources)
        resources[address] = rec
        saved = store.save(state.model_copy(update={"resources": dict(sorted(resources.items()))}))
    out(f"Imported {address} ({sid}) into the state of {name} (serial {saved.serial})")
    if unverified:
        out(
            f"The API does not return {', '.join(sorted(unverified))}: recorded as the "
            "manifests have them (not verified)."
        )
    out(f"Run `{spsync_hint(f'plan {path}')}` to see how the manifests differ from it.")
    return 0


COMMANDS = [import_]
