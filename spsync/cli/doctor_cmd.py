"""``spsync doctor PATH``: a read-only check of what an install answers, call by call."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from spsync.cli.common import global_options, globals_of, out
from spsync.errors import SpsyncError

if TYPE_CHECKING:
    from spsync.doctor import Report
    from spsync.model import Desired
    from spsync.planning import ClientFactory
    from spsync.store import StateStore


@click.command("doctor")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--tenant", "tenants", multiple=True, metavar="NAME", help="Only this tenant (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="text for people, json for scripts (keys in docs/troubleshooting.md).",
)
@global_options(hide=("--no-color",))
@click.pass_context
def doctor(ctx: click.Context, path: Path, tenants: tuple[str, ...], fmt: str) -> int:
    """Check, read-only, how each tenant's install answers the calls spsync makes.

    Verifies the token and the install, reads one object of each kind and one page of
    each list spsync uses (SIDs from the tenant's state, else from the first items of the
    lists), and reports per call which fields and forms the install answers with, the
    paging and error forms, rate-limit headers, what spsync cannot observe, and which
    api.dialect settings fit. Only GETs are sent: nothing is written, no assignment route
    is called, no onboarding URL is minted. Exit 1 when the token is refused, the API does
    not answer, or an answer has a shape spsync cannot read.

    \b
    Examples:
      spsync doctor manifests/acme
      spsync doctor manifests --tenant acme --format json
    """
    from spsync import manifest
    from spsync.cli.clients import client_factory
    from spsync.doctor import render_json, render_text
    from spsync.store import StateStore

    g = globals_of(ctx)
    desireds = manifest.load(path, tenants=tenants, sandbox=g.sandbox)
    store = StateStore(g.state_dir)
    clients = client_factory(g)  # one embedded simulator for every tenant of a --sandbox run
    reports = [_check(d, store, g.sandbox, clients) for d in desireds]
    out(render_json(reports) if fmt == "json" else render_text(reports), nl=False)
    problems = [f"doctor: {r.tenant}: {p}" for r in reports for p in r.problems]
    if len(problems) == 1:
        raise SpsyncError(problems[0])
    if problems:  # several lines: each says it is an error (the CLI adds nothing to them)
        raise SpsyncError("\n".join(f"error: {p}" for p in problems))
    return 0


def _check(desired: Desired, store: StateStore, sandbox: bool, clients: ClientFactory) -> Report:
    """Probe one tenant's install and judge the answers."""
    from spsync.api.client import run
    from spsync.doctor import analyse, sids_from_state
    from spsync.doctor_probe import probe_install, read_only

    tenant = desired.tenant
    state = store.read_known(tenant.tenant)
    resources = {}
    notes = []
    if state is not None and state.install == tenant.install:
        resources = {a: (rs.sid, rs.refs) for a, rs in state.resources.items()}
    elif state is not None:
        notes.append(
            f"the state of {tenant.tenant} is of install {state.install}, not {tenant.install}: "
            "its SIDs were not used"
        )
    start = {k: (sid, "state") for k, sid in sids_from_state(resources).items()}

    async def go() -> tuple[list, dict]:
        async with read_only(clients(desired, max_in_flight=1)) as c:
            return await probe_install(c, start)

    answers, sids = run(go())
    url = "sandbox (embedded simulator)" if sandbox else tenant.api.url
    return analyse(tenant.tenant, tenant.install, url, answers, sids, notes)


COMMANDS = [doctor]
