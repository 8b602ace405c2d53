"""``spsync apply PATH|PLANFILE``: plan, confirm, execute, report.

The command holds the lock of every selected tenant from planning to the end of execution,
so the plan it shows (or the saved plan it checks) is the plan it runs. Exit codes: 0 when
every change was done; 1 when anything failed, was refused or cancelled, or on SIGTERM;
130 on SIGINT (after in-flight calls finished and state was saved).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from spsync.audit import AUDIT_DIR, AuditLog, fan_out
from spsync.cli.common import (
    ask,
    err,
    global_options,
    globals_of,
    out,
    refresh_only_option,
    replace_option,
    target_option,
)
from spsync.errors import ApplyError, PlanError, SpsyncError, UsageError
from spsync.journal import replay
from spsync.model import Desired

if TYPE_CHECKING:
    from spsync.apply import ApplyResult, Executor
from spsync.progress import make_progress


@dataclass
class _Prepared:
    """One tenant, locked and planned."""

    desired: Desired
    plan: Any  # TenantPlan
    state: Any  # State
    observed: Any  # Observed | None
    client: Any
    audit: AuditLog
    key: bytes
    #: why the tenant policy refused the plan, if it did
    refused: Any = None  # UnsafePlanError | None


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


def _stderr_progress(no_color: bool) -> Any:
    color = not no_color and os.environ.get("NO_COLOR", "") == ""
    return make_progress(tty=sys.stderr.isatty(), color=color, write=err)


@click.command("apply")
@click.argument("path", metavar="PATH|PLANFILE", type=click.Path(exists=True, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 256),
    default=64,
    show_default=True,
    help="Most API calls in flight (the adaptive window's ceiling).",
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
    type=click.FloatRange(0),
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
    from spsync.plan import load_plan

    g = globals_of(ctx)
    saved = None
    if path.is_file():
        saved = load_plan(files.read_owned(path, "plan file", PlanError), str(path))
        _check_sandbox(saved.sandbox, g.sandbox, path)
        if targets or tenant_names or replace or refresh_only:
            raise UsageError(
                "--target, --tenant, --replace and --refresh-only cannot be used with a saved "
                "plan: they were decided when it was made"
            )
        manifests = manifests_opt or Path(saved.manifests or "manifests")
        if not manifests.exists():
            raise UsageError(
                f"{manifests}: no such directory; the plan was made from it: run apply from "
                "the directory plan ran in, or give the manifests with --manifests PATH"
            )
        tenant_names = tuple(t.tenant for t in saved.tenants)
        targets = tuple(saved.targets)
        refresh = saved.refresh
        replace = tuple(saved.replace)
        refresh_only = saved.refresh_only
        # the reviewed file carries the approval of its destructive changes
        allow_destroy = allow_destroy or saved.allow_destroy
    else:
        manifests = path
        if not auto_approve and not _stdin_is_terminal():
            raise UsageError(
                "refusing to apply without confirmation: stdin is not a terminal. Pass "
                "--auto-approve, or review a saved plan (spsync plan PATH --out FILE) and "
                "apply that (spsync apply FILE)"
            )
    return asyncio.run(
        _apply(
            g,
            manifests,
            saved=saved,
            auto_approve=auto_approve or saved is not None,
            parallelism=parallelism,
            targets=targets,
            tenant_names=tenant_names,
            allow_destroy=allow_destroy,
            continue_on_error=continue_on_error,
            lock_timeout=lock_timeout,
            refresh=refresh,
            unlock_hint=str(manifests),
            replace=replace,
            refresh_only=refresh_only,
        )
    )


async def _apply(
    g: Any,
    manifests: Path,
    *,
    saved: Any,
    auto_approve: bool,
    parallelism: int,
    targets: tuple[str, ...],
    tenant_names: tuple[str, ...],
    allow_destroy: bool,
    continue_on_error: bool,
    lock_timeout: float,
    refresh: bool,
    unlock_hint: str,
    replace: tuple[str, ...] = (),
    refresh_only: bool = False,
) -> int:
    from spsync import manifest
    from spsync.cli.clients import client_factory
    from spsync.plan import UnsafePlanError, make_plan, staleness
    from spsync.planning import (
        applied_before,
        check_replace_known,
        each_tenant,
        plan_tenant,
        secret_key,
        shares_of,
        split_targets,
        tenant_errors,
        tenant_name,
    )
    from spsync.render import render_text
    from spsync.store import StateStore

    desireds = manifest.load(manifests, tenants=tenant_names, sandbox=g.sandbox)
    saved_by = {t.tenant: t for t in saved.tenants} if saved is not None else {}
    if saved is not None:
        have = {d.tenant.tenant for d in desireds}
        missing = [t for t in saved_by if t not in have]
        if missing:
            raise PlanError(f"the plan is for tenant(s) {', '.join(missing)}, not in {manifests}")
    store = StateStore(g.state_dir)
    shares = split_targets(desireds, store, targets) if targets else {}
    check_replace_known(desireds, replace)
    # every tenant of a --sandbox run shares one embedded simulator (one factory)
    clients = client_factory(g)
    # one budget of calls in flight for every tenant of the run (as many as one tenant
    # alone takes: --parallelism, at least the default 8 for the plan's paged reads)
    in_flight = max(8, parallelism)
    budget = asyncio.Semaphore(in_flight)
    replayed: set[str] = set()  # tenants whose leftover journal was folded into their file
    async with contextlib.AsyncExitStack() as stack:
        selected = [
            d
            for d in sorted(desireds, key=tenant_name)
            if not targets or shares.get(d.tenant.tenant)
        ]  # a tenant none of the targets is in is not touched, not locked
        audits: dict[str, AuditLog] = {}
        for desired in selected:  # locks in name order, as every run takes them
            name = desired.tenant.tenant
            stack.enter_context(
                store.lock(name, "apply", timeout=lock_timeout, unlock_hint=unlock_hint)
            )
            if replay(store, desired.tenant):
                replayed.add(name)
            audits[name] = stack.enter_context(AuditLog(AUDIT_DIR, name))

        async def prepare(desired: Desired) -> _Prepared:
            name = desired.tenant.tenant
            audit = audits[name]
            client = await stack.enter_async_context(
                clients(desired, max_in_flight=in_flight, budget=budget)
            )
            client.on_call = fan_out(client.on_call, audit.record)
            client.before_send.append(audit.flush)  # its lines go out in batches
            key = secret_key(desired, g.sandbox)
            try:
                tp, state, observed = await plan_tenant(
                    desired,
                    store,
                    client,
                    refresh=refresh,
                    targets=shares.get(name, ()),
                    allow_destroy=allow_destroy,
                    secret_key=key,
                    replace=shares_of(replace, desired),
                    refresh_only=refresh_only,
                )
            except UnsafePlanError as e:
                return _Prepared(desired, e.tenant_plan, None, None, client, audit, key, e)
            return _Prepared(desired, tp, state, observed, client, audit, key)

        prepared: list[_Prepared] = []
        failures: dict[str, SpsyncError] = {}
        for desired, result in await each_tenant(selected, prepare):
            if isinstance(result, SpsyncError):
                failures[desired.tenant.tenant] = result
            else:
                prepared.append(result)
        if failures:
            # nothing is applied unless every tenant could be planned
            error = tenant_errors(failures, tenants=len(selected))
            assert error is not None
            raise error
        refused = [p.refused for p in prepared if p.refused is not None]

        fresh = make_plan(
            [p.plan for p in prepared],
            targets=targets,
            refresh=refresh,
            replace=replace,
            refresh_only=refresh_only,
        )
        if saved is not None:
            problems = []
            applied = []  # tenants this very plan already moved
            for p in prepared:
                old_tp, fresh_tp = saved_by[p.plan.tenant], p.plan
                done = p.state is not None and applied_before(old_tp, saved.checksum, p.state)
                if done:
                    applied.append(done)
                    continue
                # a plan made since an interruption saw its journal folded in memory; folding
                # it into the file saved the state once (serial + 1), what the plan saw is
                # the same
                folded = fresh_tp.tenant in replayed
                if folded and fresh_tp.state_serial - 1 == old_tp.state_serial:
                    fresh_tp = fresh_tp.model_copy(update={"state_serial": old_tp.state_serial})
                problems.extend(staleness(old_tp, fresh_tp))
            if applied and not problems:
                raise PlanError("\n".join(applied if len(applied) == 1 else _errors(applied)))
            problems.extend(applied)
            if problems:
                raise PlanError(
                    "the saved plan is stale; make a new one (spsync plan ... --out FILE):\n"
                    + "\n".join(f"  - {p}" for p in problems)
                )
        out(render_text(fresh, color=g.color), nl=False)
        error = tenant_errors({}, refused, tenants=len(selected))
        if error is not None:
            raise error
        if not fresh.has_changes:
            return 0
        if not auto_approve:
            answer = ask(
                "\nDo you want to perform these actions? Only 'yes' will be accepted to "
                "approve.\n  Enter a value: "
            )
            if answer != "yes":
                raise ApplyError("apply cancelled")
        for p in prepared:
            old = saved_by.get(p.plan.tenant)
            if old is not None:
                # execute exactly the reviewed changes (equal to the fresh ones, checked above)
                p.plan = old
                if p.state is not None and p.state.serial == 0:
                    # no state yet: the first one takes the lineage the reviewed plan showed
                    p.state = p.state.model_copy(update={"lineage": old.state_lineage})
        results = await _execute_all(
            prepared,
            store,
            parallelism=parallelism,
            continue_on_error=continue_on_error,
            progress=_stderr_progress(g.no_color),
            plan_checksum=saved.checksum if saved is not None else None,
        )
    return _report(results, verbose=g.verbose > 0)


def _errors(messages: list[Any]) -> list[str]:
    """Several tenants' errors, one ``error:`` line each."""
    return [f"error: {m}" for m in messages]


class _Signals:
    """SIGINT/SIGTERM during execution: the first stops new work, the second also cuts off
    calls in flight (of every tenant being applied)."""

    def __init__(self) -> None:
        self.executors: list[Executor] = []
        self.received: int | None = None
        self.count = 0

    def handle(self, signum: int) -> None:
        self.count += 1
        if self.received is None:
            self.received = signum
        if not self.executors:
            return
        if self.count == 1:
            err(
                f"\n{signal.Signals(signum).name}: stopping; finishing the calls in flight "
                "(send it again to abandon them)"
            )
            for ex in self.executors:
                ex.request_stop()
        else:
            for ex in self.executors:
                ex.cancel_in_flight()

    def attach(self, ex: Executor) -> None:
        self.executors.append(ex)
        if self.received is not None:
            ex.request_stop()


class _InOrder:
    """Each tenant's progress lines, kept until the tenant is done and then written whole, in
    the tenants' name order: tenants applied at once never interleave their lines."""

    def __init__(self, names: list[str], write: Any) -> None:
        self._write = write
        self._waiting = list(names)
        self._lines: dict[str, list[str]] = {n: [] for n in names}
        self._done: set[str] = set()

    def progress(self, name: str) -> Any:
        from spsync.progress import LineProgress

        return LineProgress(self._lines[name].append)

    def done(self, name: str) -> None:
        """``name`` will write nothing more: write what every finished tenant at the head
        of the order has kept."""
        self._done.add(name)
        while self._waiting and self._waiting[0] in self._done:
            for line in self._lines.pop(self._waiting.pop(0)):
                self._write(line)


async def _execute_all(
    prepared: list[_Prepared],
    store: Any,
    *,
    parallelism: int,
    continue_on_error: bool,
    progress: Any,
    plan_checksum: str | None = None,
) -> list[ApplyResult]:
    """Execute the tenants' plans, up to ``TENANTS_AT_ONCE`` tenants at once (tenants are
    independent: a failure stops only its own tenant's work); the results in name order.
    With ``plan_checksum`` (a saved plan), record in each state it moved that this plan
    did, so that applying it again says so."""
    from spsync.apply import Interrupted, failure_report
    from spsync.planning import each_tenant

    loop = asyncio.get_running_loop()
    sig = _Signals()
    installed = []
    for s in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(s, sig.handle, s)
            installed.append(s)
    todo = [p for p in prepared if p.plan.has_changes]
    # several tenants at once: each one's progress lines are kept and written whole
    in_order = _InOrder([p.plan.tenant for p in todo], err) if len(todo) > 1 else None
    by_tenant = {p.plan.tenant: p for p in todo}

    async def run_one(desired: Desired) -> ApplyResult | None:
        p = by_tenant[desired.tenant.tenant]
        try:
            if sig.received is not None:
                return None  # stopped before this tenant started
            shown = in_order.progress(p.plan.tenant) if in_order is not None else progress
            return await _execute_one(
                p,
                store,
                parallelism=parallelism,
                continue_on_error=continue_on_error,
                progress=shown,
                sig=sig,
                plan_checksum=plan_checksum,
            )
        finally:
            if in_order is not None:
                in_order.done(p.plan.tenant)

    try:
        outcomes = await each_tenant([p.desired for p in todo], run_one)
    finally:
        for s in installed:
            loop.remove_signal_handler(s)
    results: list[ApplyResult] = []
    for _desired, outcome in outcomes:
        if isinstance(outcome, SpsyncError):
            raise outcome  # e.g. a state file that could not be written
        if outcome is not None:
            results.append(outcome)
    if sig.received is not None:
        code = 130 if sig.received == signal.SIGINT else 1
        name = signal.Signals(sig.received).name
        raise Interrupted(
            f"interrupted by {name}; state saved, a re-run continues where this stopped\n"
            + failure_report(results),
            exit_code=code,
        )
    return results


async def _execute_one(
    p: _Prepared,
    store: Any,
    *,
    parallelism: int,
    continue_on_error: bool,
    progress: Any,
    sig: _Signals,
    plan_checksum: str | None,
) -> ApplyResult:
    """Execute one tenant's plan (its lock held by the caller)."""
    from spsync.apply import execute_tenant
    from spsync.fields import applied_fields
    from spsync.planning import record_applied_plan

    tp = p.plan

    def applied_of(address: str, d: Desired = p.desired, key: bytes = p.key) -> Any:
        return applied_fields(d, address, key)

    result = await execute_tenant(
        tp.changes,
        p.desired,
        p.state,
        p.client,
        store,
        applied_of=applied_of,
        adopt=tp.adopt,
        live_sessions=p.observed.sessions if p.observed is not None else {},
        parallelism=parallelism,
        continue_on_error=continue_on_error,
        progress=progress,
        on_executor=sig.attach,
    )
    if plan_checksum is not None:
        result.state = record_applied_plan(
            store, result.state, tp, plan_checksum, complete=result.ok
        )
    return result


def _report(results: list[ApplyResult], *, verbose: bool = False) -> int:
    from spsync.apply import done_by_action, failure_report, summary_line

    if all(r.ok for r in results):
        for r in results:
            out(f"{summary_line(r)}: {done_by_action(r)}")
            if verbose and r.window is not None:
                out(f"{r.tenant}: {r.window.describe()}")
        out("Apply complete.")
        return 0
    raise ApplyError("apply did not finish:\n" + failure_report(results))


COMMANDS = [apply_cmd]
