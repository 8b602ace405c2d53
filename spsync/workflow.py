"""The apply workflow: the shell around the executor, as ``planning`` is around the planner.

``applying`` locks every selected tenant (in name order, as every run takes them), folds a
leftover journal into its state, opens its audit log and client, plans it, and checks a
saved plan against what it would do now; it yields an ``ApplyRun`` holding the fresh plan
while every lock is held. The caller (the CLI) shows the plan and asks; ``ApplyRun.execute``
then runs the tenants' plans at once, with SIGINT/SIGTERM handled and each tenant's
progress lines kept together. Which API the clients reach is the caller's: it hands over a
``ClientFactory``. Nothing here prints: lines for stderr go to the caller's ``say``.

    async with applying(desireds, store, clients, options, saved=saved) as run:
        show(run.plan)
        ...
        results = await run.execute(progress=progress, say=say)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spsync import planning
from spsync.audit import AUDIT_DIR, AuditLog, fan_out
from spsync.errors import PlanError, SpsyncError
from spsync.journal import replay
from spsync.model import Desired
from spsync.plan import Plan, TenantPlan, UnsafePlanError, make_plan, staleness
from spsync.plan_file import SavedPlan
from spsync.progress import LineProgress, Progress

if TYPE_CHECKING:
    from spsync.api.client import Client
    from spsync.apply import Executor
    from spsync.apply_report import ApplyResult
    from spsync.observed import Observed
    from spsync.plan import Change
    from spsync.state import State
    from spsync.store import StateStore

#: writes one line to the user's stderr (the CLI's ``err``)
Say = Callable[[str], None]


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply: the options of ``spsync apply`` (or those a saved plan was made with)."""

    targets: tuple[str, ...] = ()
    allow_destroy: bool = False
    continue_on_error: bool = False
    #: seconds to wait for a tenant's lock (0: fail at once)
    lock_timeout: float = 0.0
    refresh: bool = True
    replace: tuple[str, ...] = ()
    refresh_only: bool = False
    #: most API calls in flight (the adaptive window's ceiling)
    parallelism: int = 64
    #: a sandbox run (the fixed key of secret fingerprints)
    sandbox: bool = False
    #: the path a lock's holder is told to unlock
    unlock_hint: str = ""
    #: where the audit logs are written
    audit_dir: Path = AUDIT_DIR


@dataclass
class _Prepared:
    """One tenant, locked and planned."""

    desired: Desired
    plan: TenantPlan
    state: State | None
    observed: Observed | None
    client: Client
    audit: AuditLog
    key: bytes
    #: why the tenant policy refused the plan, if it did
    refused: UnsafePlanError | None = None
    #: the changes to execute, once ``execute`` took them out of the plan
    changes: tuple[Change, ...] = ()


def check_saved_tenants(saved: Plan, desireds: Sequence[Desired], manifests: Path) -> None:
    """A saved plan's tenants must all be among the manifests (``PlanError`` otherwise)."""
    have = {d.tenant.tenant for d in desireds}
    missing = [t.tenant for t in saved.tenants if t.tenant not in have]
    if missing:
        raise PlanError(f"the plan is for tenant(s) {', '.join(missing)}, not in {manifests}")


@dataclass
class ApplyRun:
    """A run whose tenants are locked and planned, not executed yet."""

    #: the plan made now (what is shown; equal to the saved plan's changes when there is one)
    plan: Plan
    #: the tenants whose plan their policy refused
    refused: list[UnsafePlanError]
    #: how many tenants were selected
    tenants: int
    _prepared: list[_Prepared] = field(repr=False)
    _store: StateStore = field(repr=False)
    _options: ApplyOptions = field(repr=False)
    _saved: SavedPlan | None = field(repr=False)

    def refusal(self) -> SpsyncError | None:
        """The error the run ends with when a policy refused a tenant's plan, else ``None``."""
        return planning.tenant_errors({}, self.refused, tenants=self.tenants)

    async def execute(self, *, progress: Progress, say: Say) -> list[ApplyResult]:
        """Execute every tenant's plan (exactly the saved plan's changes, when there is
        one); the results in name order. ``Interrupted`` after a signal."""
        saved_by = {t.tenant: t for t in self._saved.plan.tenants} if self._saved else {}
        for p in self._prepared:
            # the executor becomes the only holder of the changes, and lets each go once it
            # is done: a first apply of 100,000 students would otherwise keep its 400,000
            # changes to the end, beside the state that replaces them. With a saved plan
            # they are the reviewed changes: each one's mark was checked equal to the
            # saved plan's (``_check_saved``)
            changes = p.plan.changes
            old = saved_by.get(p.plan.tenant)
            if old is not None:
                p.plan = old  # the reviewed plan's serial and lineage, for the state's mark
                if p.state is not None and p.state.serial == 0:
                    # no state yet: the first one takes the lineage the reviewed plan showed
                    p.state = p.state.model_copy(update={"lineage": old.state_lineage})
            # the fingerprints were for the staleness check, done
            p.changes, p.plan = (
                changes,
                p.plan.model_copy(update={"changes": (), "fingerprints": {}}),
            )
        self.plan = self.plan.model_copy(update={"tenants": ()})  # shown already
        return await _execute_all(
            self._prepared,
            self._store,
            self._options,
            progress=progress,
            say=say,
            plan_checksum=self._saved.plan.checksum if self._saved is not None else None,
        )


@contextlib.asynccontextmanager
async def applying(
    desireds: Sequence[Desired],
    store: StateStore,
    clients: planning.ClientFactory,
    options: ApplyOptions,
    *,
    saved: SavedPlan | None = None,
) -> AsyncIterator[ApplyRun]:
    """Lock, replay and plan every selected tenant (those of ``options.targets``; all when
    there are none) and check ``saved`` against the fresh plans; the locks, audit logs and
    clients are held until the block ends. ``PlanError`` when a tenant cannot be planned
    (nothing is applied unless every one could) or the saved plan is stale or applied."""
    o = options
    shares = planning.split_targets(desireds, store, o.targets) if o.targets else {}
    planning.check_replace_known(desireds, o.replace)
    # one budget of calls in flight for every tenant of the run (as many as one tenant
    # alone takes: --parallelism, at least the default 8 for the plan's paged reads)
    in_flight = max(8, o.parallelism)
    budget = asyncio.Semaphore(in_flight)
    replayed: set[str] = set()  # tenants whose leftover journal was folded into their file
    async with contextlib.AsyncExitStack() as stack:
        selected = [
            d
            for d in sorted(desireds, key=planning.tenant_name)
            if not o.targets or shares.get(d.tenant.tenant)
        ]  # a tenant none of the targets is in is not touched, not locked
        audits: dict[str, AuditLog] = {}
        for desired in selected:  # locks in name order, as every run takes them
            name = desired.tenant.tenant
            stack.enter_context(
                store.lock(name, "apply", timeout=o.lock_timeout, unlock_hint=o.unlock_hint)
            )
            if replay(store, desired.tenant):
                replayed.add(name)
            audits[name] = stack.enter_context(AuditLog(o.audit_dir, name))

        async def prepare(desired: Desired) -> _Prepared:
            name = desired.tenant.tenant
            audit = audits[name]
            client = await stack.enter_async_context(
                clients(desired, max_in_flight=in_flight, budget=budget)
            )
            client.on_call = fan_out(client.on_call, audit.record)
            client.before_send.append(audit.flush)  # its lines go out in batches
            key = planning.secret_key(desired, o.sandbox)
            try:
                tp, state, observed = await planning.plan_tenant(
                    desired,
                    store,
                    client,
                    refresh=o.refresh,
                    targets=shares.get(name, ()),
                    allow_destroy=o.allow_destroy,
                    secret_key=key,
                    replace=planning.shares_of(o.replace, desired),
                    refresh_only=o.refresh_only,
                    # only a saved plan is compared with this one (its staleness)
                    witnesses=saved is not None,
                )
            except UnsafePlanError as e:
                return _Prepared(desired, e.tenant_plan, None, None, client, audit, key, e)
            return _Prepared(desired, tp, state, observed, client, audit, key)

        prepared = await _prepare_all(selected, prepare)
        fresh = make_plan(
            [p.plan for p in prepared],
            targets=o.targets,
            refresh=o.refresh,
            replace=o.replace,
            refresh_only=o.refresh_only,
            checksum=saved is not None,
        )
        if saved is not None:
            _check_saved(saved, prepared, replayed)
            saved.release_witnesses()
        yield ApplyRun(
            plan=fresh,
            refused=[p.refused for p in prepared if p.refused is not None],
            tenants=len(selected),
            _prepared=prepared,
            _store=store,
            _options=o,
            _saved=saved,
        )


async def _prepare_all(
    selected: list[Desired], prepare: Callable[[Desired], Awaitable[_Prepared]]
) -> list[_Prepared]:
    """Every selected tenant prepared; ``PlanError`` naming each one that could not be."""
    prepared: list[_Prepared] = []
    failures: dict[str, SpsyncError] = {}
    for desired, result in await planning.each_tenant(selected, prepare):
        if isinstance(result, SpsyncError):
            failures[desired.tenant.tenant] = result
        else:
            prepared.append(result)
    if failures:
        # nothing is applied unless every tenant could be planned
        error = planning.tenant_errors(failures, tenants=len(selected))
        assert error is not None
        raise error
    return prepared


def _check_saved(saved: SavedPlan, prepared: list[_Prepared], replayed: set[str]) -> None:
    """``PlanError`` when the saved plan was applied already, or is stale: it must be what
    the tenants' fresh plans would do."""
    saved_by = {t.tenant: t for t in saved.plan.tenants}
    checksum = saved.plan.checksum
    problems: list[str] = []
    applied: list[str] = []  # tenants this very plan already moved
    for p in prepared:
        old_tp, fresh_tp = saved_by[p.plan.tenant], p.plan
        done = p.state is not None and planning.applied_before(old_tp, checksum, p.state)
        if done:
            applied.append(done)
            continue
        # a plan made since an interruption saw its journal folded in memory; folding it
        # into the file saved the state once (serial + 1), what the plan saw is the same
        folded = fresh_tp.tenant in replayed
        if folded and fresh_tp.state_serial - 1 == old_tp.state_serial:
            fresh_tp = fresh_tp.model_copy(update={"state_serial": old_tp.state_serial})
        name = old_tp.tenant
        problems.extend(staleness(old_tp, fresh_tp, saved.marks[name], saved.fingerprints[name]))
    if applied and not problems:
        raise PlanError("\n".join(applied if len(applied) == 1 else _errors(applied)))
    problems.extend(applied)
    if problems:
        raise PlanError(
            "the saved plan is stale; make a new one (spsync plan ... --out FILE):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _errors(messages: list[str]) -> list[str]:
    """Several tenants' errors, one ``error:`` line each."""
    return [f"error: {m}" for m in messages]


class _Signals:
    """SIGINT/SIGTERM during execution: the first stops new work, the second also cuts off
    calls in flight (of every tenant being applied)."""

    def __init__(self, say: Say) -> None:
        self.executors: list[Executor] = []
        self.received: int | None = None
        self.count = 0
        self._say = say

    def handle(self, signum: int) -> None:
        """A signal arrived."""
        self.count += 1
        if self.received is None:
            self.received = signum
        if not self.executors:
            return
        if self.count == 1:
            self._say(
                f"\n{signal.Signals(signum).name}: stopping; finishing the calls in flight "
                "(send it again to abandon them)"
            )
            for ex in self.executors:
                ex.request_stop()
        else:
            for ex in self.executors:
                ex.cancel_in_flight()

    def attach(self, ex: Executor) -> None:
        """An executor started: a signal received before stops it at once."""
        self.executors.append(ex)
        if self.received is not None:
            ex.request_stop()


class _InOrder:
    """Each tenant's progress lines, kept until the tenant is done and then written whole, in
    the tenants' name order: tenants applied at once never interleave their lines."""

    def __init__(self, names: list[str], write: Say) -> None:
        self._write = write
        self._waiting = list(names)
        self._lines: dict[str, list[str]] = {n: [] for n in names}
        self._done: set[str] = set()

    def progress(self, name: str) -> LineProgress:
        """The progress display of ``name``: lines kept for later."""
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
    store: StateStore,
    options: ApplyOptions,
    *,
    progress: Progress,
    say: Say,
    plan_checksum: str | None = None,
) -> list[ApplyResult]:
    """Execute the tenants' plans, up to ``TENANTS_AT_ONCE`` tenants at once (tenants are
    independent: a failure stops only its own tenant's work); the results in name order.
    With ``plan_checksum`` (a saved plan), record in each state it moved that this plan
    did, so that applying it again says so."""
    from spsync.apply import Interrupted
    from spsync.apply_report import failure_report

    loop = asyncio.get_running_loop()
    sig = _Signals(say)
    installed = []
    for s in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(s, sig.handle, s)
            installed.append(s)
    todo = [p for p in prepared if p.changes or p.plan.has_changes]  # changes taken out
    # several tenants at once: each one's progress lines are kept and written whole
    in_order = _InOrder([p.plan.tenant for p in todo], say) if len(todo) > 1 else None
    by_tenant = {p.plan.tenant: p for p in todo}

    async def run_one(desired: Desired) -> ApplyResult | None:
        p = by_tenant[desired.tenant.tenant]
        try:
            if sig.received is not None:
                return None  # stopped before this tenant started
            shown = in_order.progress(p.plan.tenant) if in_order is not None else progress
            return await _execute_one(
                p, store, options, progress=shown, sig=sig, plan_checksum=plan_checksum
            )
        finally:
            if in_order is not None:
                in_order.done(p.plan.tenant)

    try:
        outcomes = await planning.each_tenant([p.desired for p in todo], run_one)
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


def _taken(p: _Prepared) -> tuple[Change, ...]:
    """``p``'s changes, which ``p`` no longer holds: the executor becomes their only holder
    and lets each go once done."""
    changes, p.changes = p.changes, ()
    return changes


async def _execute_one(
    p: _Prepared,
    store: StateStore,
    options: ApplyOptions,
    *,
    progress: Progress,
    sig: _Signals,
    plan_checksum: str | None,
) -> ApplyResult:
    """Execute one tenant's plan (its lock held by the caller)."""
    from spsync.apply import execute_tenant
    from spsync.fields import applied_fields

    tp = p.plan
    assert p.state is not None  # only a refused plan has none, and it is never executed

    def applied_of(address: str, d: Desired = p.desired, key: bytes = p.key) -> Any:
        return applied_fields(d, address, key)

    result = await execute_tenant(
        _taken(p),
        p.desired,
        p.state,
        p.client,
        store,
        applied_of=applied_of,
        adopt=tp.adopt,
        live_sessions=p.observed.sessions if p.observed is not None else {},
        parallelism=options.parallelism,
        continue_on_error=options.continue_on_error,
        progress=progress,
        on_executor=sig.attach,
    )
    if plan_checksum is not None:
        result.state = planning.record_applied_plan(
            store, result.state, tp, plan_checksum, complete=result.ok
        )
    return result
