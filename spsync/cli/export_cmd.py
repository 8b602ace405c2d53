"""``spsync export PATH --tenant T``: manifests and state from what an install already holds."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spsync.cli.common import global_options, globals_of, out
from spsync.errors import SpsyncError, UsageError

if TYPE_CHECKING:
    from spsync.export import Export, Snapshot
    from spsync.model import Desired
    from spsync.state import State
    from spsync.store import StateStore


@click.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--tenant",
    "tenant",
    required=True,
    metavar="NAME",
    help="The tenant to write: its directory PATH/NAME and its state file.",
)
@click.option(
    "--course",
    "courses",
    multiple=True,
    metavar="SID",
    help="A course to export, by SID (repeatable; default: the courses of the tenant's state).",
)
@click.option(
    "--install",
    metavar="SID",
    default=None,
    help="The install (AI…); default: the one of the tenant's state.",
)
@click.option(
    "--api-url",
    metavar="URL",
    default=None,
    help="The API URL; default: the one of the tenant's state, else the public API.",
)
@click.option(
    "--token-env",
    metavar="VAR",
    default=None,
    help="The variable holding the API token (default SPSYNC_<TENANT>_TOKEN).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing tenant directory and state file.",
)
@global_options(hide=("--no-color",))
@click.pass_context
def export(
    ctx: click.Context,
    path: Path,
    tenant: str,
    courses: tuple[str, ...],
    install: str | None,
    api_url: str | None,
    token_env: str | None,
    force: bool,
) -> int:
    """Write manifests (PATH/TENANT/) and state from the objects an install holds.

    Reads the courses, their exams and configurations, enrollments, assignments and booked
    sessions, and the enrolled users, then writes a tenant directory (tenant.yaml,
    courses.yaml, exams.yaml, users.yaml, enrollments.yaml, assignments.yaml,
    sessions.yaml) and the tenant's state, so that the next plan reports no changes. The
    API has no list of courses: name them with --course, or let the tenant's existing
    state give them. Exam passwords are never written: each is an {env: …} reference
    that must hold the live value. Refuses to replace an existing tenant directory or
    state file without --force; nothing is left half-written.

    \b
    Examples:
      spsync export manifests --tenant acme --install AIa1b2… --course CU0123…
      spsync --sandbox export manifests --tenant acme --force
    """
    from spsync.api.client import run
    from spsync.cli.clients import client_factory
    from spsync.model import (
        DEFAULT_API_URL,
        INSTALL_PATTERN,
        TENANT_PATTERN,
        Api,
        Desired,
        Tenant,
    )
    from spsync.secrets import Secret
    from spsync.store import StateStore

    g = globals_of(ctx)
    if not re.fullmatch(TENANT_PATTERN, tenant):
        raise UsageError(f"--tenant {tenant!r}: lower-case letters, digits and '-' only")
    if install is not None and not re.fullmatch(INSTALL_PATTERN, install):
        # said first: other checks would send the user elsewhere (--course, --force)
        raise UsageError(f"--install {install!r}: not an install SID (AI + 32 lowercase hex)")
    store = StateStore(g.state_dir)
    target = path / tenant
    state_file = store.path(tenant)
    if not force:
        for existing in (target, state_file):
            if existing.exists():
                raise UsageError(f"{existing} already exists; replace it with --force")
    prior = store.read(tenant)
    install = install or (prior.install if prior else None)
    if not install:
        raise UsageError(
            f"no install: give --install AI… (the tenant {tenant} has no state to take it from)"
        )
    api_url = api_url or (prior.api_url if prior else DEFAULT_API_URL)
    course_sids = list(courses) or _state_sids(prior, "course")
    if not course_sids:
        raise UsageError(
            "no course to export: the API cannot list courses; name them with --course SID "
            f"(repeatable), or keep the tenant's state ({state_file}) to take them from"
        )
    token_env = token_env or f"SPSYNC_{tenant.upper().replace('-', '_')}_TOKEN"
    token = None
    if not g.sandbox:
        if not os.environ.get(token_env):
            raise UsageError(f"{token_env} is not set: it must hold the API token of {tenant}")
        token = Secret(os.environ[token_env], f"env:{token_env}")
    head = Desired(tenant=Tenant(tenant=tenant, install=install, api=Api(url=api_url, token=token)))
    user_sids = _state_sids(prior, "user")

    async def read() -> Snapshot:
        from spsync.export import read_install

        async with client_factory(g)(head) as client:
            return await read_install(client, course_sids, user_sids=user_sids)

    snapshot = run(read())
    with store.lock(tenant, "export", unlock_hint=str(target)):
        written = _write(g.sandbox, store, target, head, snapshot, token_env, prior)
    out(written)
    return 0


def _state_sids(prior: State | None, kind: str) -> list[str]:
    """The SIDs of the ``kind`` objects an existing state knows."""
    if prior is None:
        return []
    return sorted(r.sid for a, r in prior.resources.items() if a.startswith(kind + ".") and r.sid)


def _write(
    sandbox: bool,
    store: StateStore,
    target: Path,
    head: Desired,
    snapshot: Snapshot,
    token_env: str,
    prior: State | None,
) -> str:
    """Write the tenant directory (through a temporary one, renamed into place) and its
    state; returns the summary to print. Nothing is left half-written."""
    from spsync import manifest
    from spsync.export import build, state_resources
    from spsync.planning import secret_key
    from spsync.state import new_state

    tenant = head.tenant
    ex = build(
        snapshot,
        tenant=tenant.tenant,
        install=tenant.install,
        api_url=tenant.api.url,
        token_env=token_env,
    )
    _refuse_secrets(ex, head, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    backup: Path | None = None
    try:
        for name, text in ex.files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        # read back as plan will: the passwords come from the live exams (in memory only)
        env = dict(os.environ)
        unknown: set[str] = set()
        for variable, secret in ex.passwords.items():
            if secret is not None:
                env[variable] = secret.reveal()
            elif not env.get(variable):
                unknown.add(variable)
                env[variable] = "not-returned-by-the-api"
        (desired,) = manifest.load(tmp, sandbox=sandbox, env=env)
        key = secret_key(desired, sandbox)
        base = (
            prior
            if prior is not None and prior.install == tenant.install
            else new_state(desired.tenant)
        )
        state = base.model_copy(
            update={
                "install": tenant.install,
                "api_url": tenant.api.url,
                "resources": state_resources(desired, ex, key, unknown=unknown),
            }
        )
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(backup / target.name)
        tmp.rename(target)
        try:
            saved = store.save(state)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            if backup is not None:
                (backup / target.name).rename(target)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    return _summary(ex, target, store.path(tenant.tenant), saved.serial, sandbox, unknown)


def _refuse_secrets(ex: Export, head: Desired, target: Path) -> None:
    """Refuse, before anything is written, manifests holding the API token or a live exam
    password in any form: a server that echoes one into a title or a name would otherwise
    have it committed with the manifests (a mask instead would be a change to plan)."""
    from spsync.secrets import scrub

    secrets = [p.reveal() for p in ex.passwords.values() if p is not None]
    if head.tenant.api.token is not None:
        secrets.append(head.tenant.api.token.reveal())
    for name, text in ex.files.items():
        for number, line in enumerate(text.splitlines(), 1):
            if scrub(line, secrets) != line:
                raise SpsyncError(
                    f"{target / name}:{number}: what the API answered holds the API token or "
                    "an exam password; nothing written (the line is not shown)"
                )


def _summary(
    ex: Export, target: Path, state_file: Path, serial: int, sandbox: bool, unknown: set[str]
) -> str:
    counts = ex.counts
    parts = ", ".join(
        f"{counts.get(kind, 0)} {kind}{'s' if counts.get(kind, 0) != 1 else ''}"
        for kind in ("course", "exam", "user", "enrollment", "assignment", "session")
    )
    lines = [
        f"Exported {target}: {parts}.",
        f"State written to {state_file} (serial {serial}).",
    ]
    for warning in ex.warnings:
        lines.append(f"warning: {warning}")
    variables = sorted(ex.passwords)
    if variables:
        lines.append(
            "Exam passwords are read from "
            + ", ".join(variables)
            + ": set each to the exam's current password before planning."
        )
    if unknown:
        lines.append(
            "Not returned by the API (the first plan sends the value you set): "
            + ", ".join(sorted(unknown))
        )
    flag = "--sandbox " if sandbox else ""
    lines.append(f"Check it: spsync {flag}plan {target} --detailed-exitcode  (expect no changes)")
    return "\n".join(lines)


COMMANDS = [export]
