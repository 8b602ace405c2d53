"""``spsync plan PATH``: what apply would change, per tenant; never writes anything but --out."""

from __future__ import annotations

from pathlib import Path

import click

from spsync.cli.common import (
    Globals,
    err,
    global_options,
    globals_of,
    out,
    refresh_only_option,
    replace_option,
    target_option,
)
from spsync.errors import SpsyncError, UsageError
from spsync.render import FORMATS


@click.command("plan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--tenant", "tenants", multiple=True, metavar="NAME", help="Only this tenant (repeatable)."
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the plan to FILE, for `spsync apply FILE` (applied exactly as reviewed).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for terminals, markdown for pull-request comments, json for scripts.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when changes are pending (0: none, 1: error).",
)
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read the live objects (--no-refresh: compare manifests with state only).",
)
@target_option
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow more destructive changes (unassign, cancel, replace) than the tenant policy.",
)
@replace_option
@refresh_only_option
@global_options
@click.pass_context
def plan(
    ctx: click.Context,
    path: Path,
    tenants: tuple[str, ...],
    out_file: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    refresh: bool,
    targets: tuple[str, ...],
    allow_destroy: bool,
    replace: tuple[str, ...],
    refresh_only: bool,
) -> int:
    """Show what apply would change: manifests vs state and the live API.

    PATH is a tenant directory (holding tenant.yaml) or a directory of them. Each change
    names its action (create, update, assign, unassign, schedule, reschedule, cancel,
    replace, move, refresh, forget) and why (new, manifest-changed, drift, removed,
    renamed, unassigned, scope-limited, role-changed, forced). A plan with more
    destructive changes than the tenant policy allows is refused (exit 1) unless
    --allow-destroy. Nothing is written except the --out file.

    \b
    Examples:
      spsync plan manifests/acme
      spsync plan manifests --format markdown --out plan.json
    """
    from spsync import files, manifest
    from spsync.api.client import run
    from spsync.cli.clients import client_factory
    from spsync.plan_file import write_plan_to
    from spsync.planning import plan_all, tenant_errors
    from spsync.render import chunks
    from spsync.store import StateStore, write_atomic

    g = globals_of(ctx)
    if out_file is not None:  # found before the API is asked anything or a plan is shown
        _check_out(out_file)
        files.check_writable(out_file, "the plan file", UsageError)
    desireds = manifest.load(path, tenants=tenants, sandbox=g.sandbox)
    store = StateStore(g.state_dir)
    failures: dict[str, SpsyncError] = {}
    result, refused = run(
        plan_all(
            desireds,
            store,
            sandbox=g.sandbox,
            clients=client_factory(g),
            refresh=refresh,
            targets=targets,
            allow_destroy=allow_destroy,
            manifests=path.as_posix(),
            replace=replace,
            refresh_only=refresh_only,
            failures=failures,
        )
    )
    refusals = {e.tenant_plan.tenant: str(e) for e in refused}
    if result.tenants:
        # the tenants that could be planned are shown even when another one failed
        for chunk in chunks(result, fmt, color=g.color, refused=refusals):
            out(chunk, nl=False)
    error = tenant_errors(failures, refused, tenants=len(desireds))
    if error is not None:
        raise error
    if out_file is not None:
        write_atomic(
            out_file,
            lambda fh: write_plan_to(fh, result),
            what="the plan file",
            error=UsageError,
        )
        err(f"Saved the plan to {out_file}; apply it with: {_apply_hint(out_file, g)}")
    if detailed_exitcode and result.has_changes:
        return 2
    return 0


def _check_out(out_file: Path) -> None:
    """``--out -`` reads as "to standard output", where the plan is shown already: a file
    named ``-`` would be written instead, so it is refused."""
    if str(out_file) == "-":
        raise UsageError(
            "--out -: give the plan file a name (--out plan.json); the plan is shown on "
            "standard output already (--format json for scripts)"
        )


def _apply_hint(out_file: Path, g: Globals) -> str:
    """The command that applies a saved plan: a sandbox plan must be applied on the sandbox."""
    return f"spsync {'--sandbox ' if g.sandbox else ''}apply {out_file}"


COMMANDS = [plan]
