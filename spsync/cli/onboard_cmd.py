"""``spsync onboard PATH session.EXAM.USER``: a fresh onboarding URL, printed, never kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from spsync.cli.common import Globals, addresses_given, global_options, globals_of, out, spsync_hint
from spsync.errors import UsageError
from spsync.model import kind_of


@click.command("onboard")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("address", metavar="session.EXAM.USER", callback=addresses_given)
@click.option(
    "--tenant", "tenant_names", multiple=True, metavar="NAME", help="Only this tenant (repeatable)."
)
@global_options(hide=("--no-color",))
@click.pass_context
def onboard_cmd(ctx: click.Context, path: Path, address: str, tenant_names: tuple[str, ...]) -> int:
    """Print a fresh onboarding URL for a scheduled session.

    \b
    The URL is single-use and expires: it is generated on demand, printed on
    stdout, and never written to state, logs or the audit log.

    \b
    Example:
      spsync onboard manifests/acme session.cert-456.jane
    """
    from spsync import manifest
    from spsync.store import StateStore

    g = globals_of(ctx)
    if kind_of(address) != "session" or address.count(".") < 2:
        raise UsageError(f"{address}: not a session address (session.EXAM.USER)")
    store = StateStore(g.state_dir)
    found: list[tuple[Any, Any]] = []
    desireds = manifest.load(path, tenants=tenant_names, sandbox=g.sandbox)
    for desired in desireds:
        state = store.load(desired.tenant)  # with any journal of an interrupted apply
        if address in state.resources:
            found.append((desired, state.resources[address]))
    names = ", ".join(d.tenant.tenant for d in desireds)
    if not found:
        raise _not_found(address, desireds, names, path)
    if len(found) > 1:
        raise UsageError(f"{address} is in the state of several tenants; pick one with --tenant")
    desired, rs = found[0]
    exam_sid = rs.refs.get("exam")
    if not rs.sid or not exam_sid:
        raise UsageError(f"{address}: its state entry has no session or exam SID")
    url = asyncio.run(_fetch(desired, g, address, exam_sid, rs.sid))
    out(url)
    return 0


async def _fetch(desired: Any, g: Globals, address: str, exam_sid: str, sid: str) -> str:
    from spsync.cli.clients import client_factory
    from spsync.sanitize import clean

    async with client_factory(g)(desired) as client:
        session = await client.get_session(exam_sid, sid)
        if session.status != "Scheduled":
            raise UsageError(
                f"{address} ({sid}) is {clean(session.status)}, not Scheduled: only a scheduled "
                "session has an onboarding URL"
            )
        return str(await client.onboard_url(exam_sid, sid))


def _not_found(address: str, desireds: list[Any], names: str, path: Path) -> UsageError:
    """Why ``address`` has no state entry: not applied yet (apply would book it), or no
    session of the manifests (apply would not: a typo, or an exam and user never booked)."""
    from spsync.suggest import did_you_mean

    if any(address in d.sessions for d in desireds):
        return UsageError(
            f"{address} is not in the state of {names}: apply it first "
            f"({spsync_hint(f'apply {path}')})"
        )
    pool = [a for d in desireds for a in d.sessions]
    hint = "" if _names_known(address, desireds) else did_you_mean(address, pool, quoted=False)
    if hint:
        return UsageError(f"{address} is not a session of {names}{hint}")
    return UsageError(
        f"{address} is not a session of {names}: no item of sessions: in the manifests has "
        "that exam and user"
    )


def _names_known(address: str, desireds: list[Any]) -> bool:
    """Whether ``session.EXAM.USER`` names a declared exam and user (a typo does not)."""
    for d in desireds:
        users = {u.split(".", 1)[1] for u in d.users}
        for exam in d.exams:
            prefix = f"session.{exam.split('.', 1)[1]}."
            if address.startswith(prefix) and address[len(prefix) :] in users:
                return True
    return False


COMMANDS = [onboard_cmd]
