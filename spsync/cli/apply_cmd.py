"""``spsync apply PATH|PLANFILE``: plan, confirm, execute, report.

The command holds the lock of every selected tenant from planning to the end of execution,
so the plan it shows (or the saved plan it checks) is the plan it runs (``spsync.workflow``
does the work; this module reads the options, asks, prints). Exit codes: 0 when every
change was done; 1 when anything failed, was refused or cancelled, or on SIGTERM; 130 on
SIGINT (after in-flight calls finished and state was saved).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from spsync.cli.common import (
    Globals,
    ask,
    err,
    global_options,
    globals_of,
    out,
    refresh_only_option,
    replace_option,
    target_option,
)
from spsync.errors import ApplyError, PlanError, UsageError

if TYPE_CHECKING:
    from spsync.apply_report import ApplyResult
    from spsync.plan_file import SavedPlan
    from spsync.workflow import ApplyOptions
from spsync.progress import Progress, make_progress


def _check_sandbox(made_on_sandbox: bool, sandbox: bool, path: Path) -> None:
    """A plan saved with ``--sandbox`` is applied only with it, and the reverse."""
    if made_on_sandbox and not sandbox:
        raise UsageError(
            f"{path} was made with --sandbox (on the embedded simulator); it is never applied "
            f"to the real API: spsync --sandbox apply {path}"
        )
    if sandbox and not made_on_sandbox:
        raise UsageError(
            f"{path} was made against the real API, not the sandbox: apply it without "
            f"--sandbox (spsync apply {path}), or plan again with --sandbox"
        )


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _stderr_progress(no_color: bool) -> Progress:
    color = not no_color and os.environ.get("NO_COLOR", "") == ""
    return make_progress(tty=sys.stderr.isatty(), color=color, write=err)


class Seconds(click.FloatRange):
    """A number of seconds ``>= 0`` that is a number: ``nan`` passes every comparison of a
    range (it waited forever, silently) and ``inf`` is no time to wait, so both are refused."""

    name = "number of seconds"  # not "float range": "'x' is not a valid number of seconds."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        seconds = float(super().convert(value, param, ctx))
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a finite number of seconds.", param, ctx)
        return seconds


#: apply's options that a saved plan fixed when it was made, and how they are written
_DECIDED = {
    "targets": "--target",
    "tenant_names": "--tenant",
    "replace": "--replace",
    "refresh_only": "--refresh-only",
    "refresh": "--refresh/--no-refresh",
}


def _decided_when_planned(ctx: click.Context) -> list[str]:
    """Those of ``_DECIDED`` given on the command line (or by the environment): with a saved
    plan they would be ignored, the plan's own choice applying (``--no-refresh`` too)."""
    from click.core import ParameterSource

    return [
        flag
        for name, flag in _DECIDED.items()
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]


@click.command("apply")
@click.argument("path", metavar="PATH|PLANFILE", type=click.Path(exists=True, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 256),
    default=64,
    show_default=True,
    help="Most API calls in flight: the ceiling of the adaptive window, which starts at 8.",
)
@target_option
@click.option(
    "--tenant", "tenant_names", multiple=True, metavar="NAME", help="Only this tenant (repeatable)."
)
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow more destructive changes than policy (a PLANFILE saved with it needs no flag).",
)
@click.option(
    "--continue-on-error",
    is_flag=True,
    help="On a failure, skip only the changes that depend on it.",
)
@click.option(
    "--lock-timeout",
    type=Seconds(0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for a tenant's lock (0: fail at once).",
)
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read live objects before planning.",
)
@replace_option
@refresh_only_option
@click.option(
    "--manifests",
    "manifests_opt",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="With a PLANFILE: where the manifests are (default: the path the plan was made from).",
)
@global_options
@click.pass_context
def apply_cmd(
    ctx: click.Context,
    path: Path,
    auto_approve: bool,
    parallelism: int,
    targets: tuple[str, ...],
    tenant_names: tuple[str, ...],
    allow_destroy: bool,
    continue_on_error: bool,
    lock_timeout: float,
    refresh: bool,
    manifests_opt: Path | None,
    replace: tuple[str, ...],
    refresh_only: bool,
) -> int:
    """Apply the manifests under PATH, or exactly the changes of a saved PLANFILE.

    \b
    With PATH, shows the plan and asks for confirmation ("yes") on a terminal;
    elsewhere --auto-approve is required. A PLANFILE (spsync plan --out FILE)
    counts as approved, with --allow-destroy if it was planned with it; it is
    refused when anything it was made from changed, or when it was applied
    already.
    Every completed change is recorded at once: an interrupted run loses
    nothing, and running it again continues where it stopped.

    \b
    Exit codes: 0 everything done; 1 a change failed, the plan was refused
    or cancelled, or SIGTERM; 130 SIGINT (after finishing calls in flight).

    \b
    Examples:
      spsync apply manifests/acme
      spsync --sandbox apply manifests --auto-approve
      spsync plan manifests --out plan.json && spsync apply plan.json
    """
    from spsync import files
    from spsync.plan_file import read_saved_plan
    from spsync.workflow import ApplyOptions

    g = globals_of(ctx)
    saved = None
    if path.is_file():
        saved = read_saved_plan(files.read_owned(path, "plan file", PlanError), str(path))
        plan = saved.plan
        _check_sandbox(plan.sandbox, g.sandbox, path)
        decided = _decided_when_planned(ctx)
        if decided:
            what = "what it chooses was" if len(decided) == 1 else "what they choose was"
            raise UsageError(
                f"{', '.join(decided)} cannot be used with a saved plan: {what} decided when "
                "the plan was made"
            )
        manifests = manifests_opt or Path(plan.manifests or "manifests")
        if not manifests.exists():
            raise UsageError(
                f"{manifests}: no such directory; the plan was made from it: run apply from "
                "the directory plan ran in, or give the manifests with --manifests PATH"
            )
        tenant_names = tuple(t.tenant for t in plan.tenants)
        targets = tuple(plan.targets)
        refresh = plan.refresh
        replace = tuple(plan.replace)
        refresh_only = plan.refresh_only
        # the reviewed file carries the approval of its destructive changes
        allow_destroy = allow_destroy or plan.allow_destroy
    else:
        if manifests_opt is not None:
            raise UsageError(
                f"--manifests is for a saved PLANFILE; {path} is already the manifests to "
                "apply (drop --manifests, or give the plan file as PATH)"
            )
        manifests = path
        if not auto_approve and not _stdin_is_terminal():
            raise UsageError(
                "refusing to apply without confirmation: stdin is not a terminal. Pass "
                "--auto-approve, or review a saved plan (spsync plan PATH --out FILE) and "
                "apply that (spsync apply FILE)"
            )
    options = ApplyOptions(
        targets=targets,
        allow_destroy=allow_destroy,
        continue_on_error=continue_on_error,
        lock_timeout=lock_timeout,
        refresh=refresh,
        replace=replace,
        refresh_only=refresh_only,
        parallelism=parallelism,
        sandbox=g.sandbox,
        unlock_hint=str(manifests),
        audit_dir=g.audit_dir,
    )
    return asyncio.run(
        _apply(
            g,
            manifests,
            tenant_names,
            options,
            saved=saved,
            auto_approve=auto_approve or saved is not None,
        )
    )


async def _apply(
    g: Globals,
    manifests: Path,
    tenant_names: tuple[str, ...],
    options: ApplyOptions,
    *,
    saved: SavedPlan | None,
    auto_approve: bool,
) -> int:
    """Plan under the locks, show the plan, ask, execute; the report's exit code."""
    from spsync import manifest
    from spsync.cli.clients import client_factory
    from spsync.render import text_chunks
    from spsync.store import StateStore
    from spsync.workflow import applying, check_saved_tenants

    desireds = manifest.load(manifests, tenants=tenant_names, sandbox=g.sandbox)
    if saved is not None:
        check_saved_tenants(saved.plan, desireds, manifests)
    store = StateStore(g.state_dir)
    async with applying(desireds, store, client_factory(g), options, saved=saved) as run:
        for chunk in text_chunks(run.plan, color=g.color):
            out(chunk, nl=False)
        error = run.refusal()
        if error is not None:
            raise error
        if not run.plan.has_changes:
            return 0
        if not auto_approve:
            answer = ask(
                "\nDo you want to perform these actions? Only 'yes' will be accepted to "
                "approve.\n  Enter a value: "
            )
            if answer != "yes":
                raise ApplyError("apply cancelled")
        results = await run.execute(progress=_stderr_progress(g.no_color), say=err)
    return _report(results, verbose=g.verbose > 0)


def _report(results: list[ApplyResult], *, verbose: bool = False) -> int:
    from spsync.apply_report import done_by_action, failure_report, summary_line

    if all(r.ok for r in results):
        for r in results:
            out(f"{summary_line(r)}: {done_by_action(r)}")
            if verbose and r.window is not None:
                out(f"{r.tenant}: {r.window.describe()}")
        out("Apply complete.")
        return 0
    raise ApplyError("apply did not finish:\n" + failure_report(results))


COMMANDS = [apply_cmd]
