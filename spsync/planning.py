"""What the commands that plan share (plan, apply, show's freshness checks): the client of a
tenant, the key of secret fingerprints, and planning one tenant or many.

This is the imperative shell around the pure planner: it reads state, observes through the
client, and hands both to ``planner.build_plan``. Which API a client reaches is not its
business: the caller hands it a ``ClientFactory`` (the CLI's wiring makes the embedded
simulator's clients for ``--sandbox``); by default, the tenant's API (``api_client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from spsync.api import wire
from spsync.api.client import CALL_TIMEOUT, Client
from spsync.api.transport import HTTP_STACKS
from spsync.collector import bulk
from spsync.errors import PlanError, SpsyncError, UsageError
from spsync.fields import SANDBOX_KEY
from spsync.model import Desired
from spsync.observe import observe
from spsync.observed import Observed
from spsync.plan import (
    Plan,
    TenantPlan,
    UnsafePlanError,
    check_safety,
    compute_checksum,
    make_plan,
    summarize,
)
from spsync.planner import build_plan, replace_problems, unknown_targets
from spsync.sanitize import clean
from spsync.secrets import has_known_secrets, scrub
from spsync.state import AppliedPlan, ResourceState, State
from spsync.store import StateStore


class ClientFactory(Protocol):
    """Makes the API client of a tenant; ``options`` go to ``Client`` (``max_in_flight``,
    ``budget``, ...). One factory serves one run: the CLI's sandbox factory keeps the one
    embedded simulator every tenant of the run talks to."""

    def __call__(self, desired: Desired, /, **options: Any) -> Client:
        """A new client of ``desired``'s tenant (entered with ``async with``)."""
        ...


def secret_key(desired: Desired, sandbox: bool) -> bytes:
    """The key of secret fingerprints: the tenant's API token; a fixed key in sandbox mode
    (no token is read there)."""
    if sandbox:
        return SANDBOX_KEY
    token = desired.tenant.api.token
    if token is None:
        where = desired.tenant.file or "tenant.yaml"
        raise UsageError(f"{desired.tenant.tenant}: no API token (api.token in {where})")
    return token.reveal().encode()


#: the overall deadline of one HTTP exchange, in seconds (docs/api-client.md#bounds)
CALL_TIMEOUT_ENV = "SPSYNC_CALL_TIMEOUT"


def call_timeout(env: Mapping[str, str]) -> float:
    """``SPSYNC_CALL_TIMEOUT`` as seconds (default ``CALL_TIMEOUT``); ``UsageError`` when it
    is not a positive number."""
    text = env.get(CALL_TIMEOUT_ENV, "").strip()
    if not text:
        return CALL_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(
            f"{CALL_TIMEOUT_ENV} must be a positive number of seconds, got {clean(text)!r}"
        )
    return value


#: which HTTP stack the clients send through (``transport.HTTP_STACKS``; docs/api-client.md)
HTTP_STACK_ENV = "SPSYNC_HTTP_STACK"


def http_stack(env: Mapping[str, str]) -> str:
    """``SPSYNC_HTTP_STACK`` (default ``spsync``); ``UsageError`` when it names no stack."""
    text = env.get(HTTP_STACK_ENV, "").strip().lower() or HTTP_STACKS[0]
    if text not in HTTP_STACKS:
        raise UsageError(
            f"{HTTP_STACK_ENV} must be one of {', '.join(HTTP_STACKS)}, got {clean(text)!r}"
        )
    return text


def client_options(desired: Desired, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for the ``Client`` of ``desired``'s tenant, with the call deadline
    (``SPSYNC_CALL_TIMEOUT``), the HTTP stack (``SPSYNC_HTTP_STACK``) and the tenant's
    assignment form unless given."""
    made = dict(options)
    made.setdefault("call_timeout", call_timeout(os.environ))
    made.setdefault("http_stack", http_stack(os.environ))
    made.setdefault("assignment_form", desired.tenant.api.dialect.assignments)
    return made


def api_client(desired: Desired, /, **options: Any) -> Client:
    """The client of a tenant's API: its URL with its token (a ``ClientFactory``)."""
    tenant = desired.tenant
    return Client(
        tenant.api.url, tenant.install, tenant.api.token, **client_options(desired, options)
    )


async def plan_tenant(
    desired: Desired,
    store: StateStore,
    client: Client | None,
    *,
    refresh: bool = True,
    targets: Sequence[str] = (),
    allow_destroy: bool = False,
    secret_key: bytes,
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    witnesses: bool = True,
) -> tuple[TenantPlan, State, Observed | None]:
    """Plan one tenant: load its state, observe (unless ``refresh`` is off or there is no
    client), build the plan, check it against the tenant's safety policy. ``witnesses``: as
    ``build_plan``'s (off for an apply that is not of a saved plan).

    Raises ``UnsafePlanError`` (a ``PlanError`` carrying the plan) when the policy refuses it.
    """
    # the state, the live objects and the decisions: built in bulk, no cycles
    with bulk():
        state = store.load(desired.tenant)
    observed = None
    if refresh and client is not None:
        with bulk():
            observed = await observe(desired, state, client)
    with bulk():
        tp = build_plan(
            desired,
            state,
            observed,
            targets=targets,
            secret_key=secret_key,
            replace=replace,
            refresh_only=refresh_only,
            witnesses=witnesses,
        )
        tp = scrubbed(tp)
    check_safety(tp, desired.tenant.policy, len(state.resources), allow_destroy=allow_destroy)
    return tp, state, observed


def scrubbed(tp: TenantPlan) -> TenantPlan:
    """``tp`` with every form of every secret read in this process masked in the values it
    shows: a server may echo a token or a password into any field, and a plan is printed,
    posted and saved. (Exam passwords themselves never reach a plan: they are compared as
    keyed fingerprints.) Costs nothing while no secret was read.

    Only a change that holds a secret is copied: a first apply of 100,000 students plans
    400,000 changes, and a copy of each would be a second plan in memory."""
    if not has_known_secrets():
        return tp
    changes = tuple(_scrubbed_change(c) for c in tp.changes)
    warnings = tuple(scrub(w) for w in tp.warnings)
    same = all(a is b for a, b in zip(changes, tp.changes, strict=True))
    if same and all(a is b for a, b in zip(warnings, tp.warnings, strict=True)):
        return tp
    return tp.model_copy(update={"changes": changes, "warnings": warnings})


def _scrubbed_change(change: Any) -> Any:
    """``change`` itself when none of its values holds a secret, else a masked copy."""
    if not change.before and not change.after:
        return change
    before, after = _scrubbed(change.before), _scrubbed(change.after)
    if before is change.before and after is change.after:
        return change
    return change.model_copy(update={"before": before, "after": after})


def _scrubbed(value: Any) -> Any:
    """``value`` with secrets masked in its strings, the keys of its maps included (a
    server names options as it likes); the very same object when it held none (``scrub``
    gives back the string it was given when nothing matched)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        pairs = [(scrub(k) if isinstance(k, str) else k, _scrubbed(v)) for k, v in value.items()]
        same = all(
            k2 is k and v2 is v for (k2, v2), (k, v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    if isinstance(value, list | tuple):
        seq = [_scrubbed(v) for v in value]
        return value if all(a is b for a, b in zip(seq, value, strict=True)) else seq
    return value


def split_targets(
    desireds: Sequence[Desired], store: StateStore, targets: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Each tenant's share of ``targets``; ``PlanError`` (with did-you-mean) for a target no
    selected tenant knows."""
    known: dict[str, set[str]] = {}
    for d in desireds:
        state = store.read_known(d.tenant.tenant)
        known[d.tenant.tenant] = set(d.addresses()) | set(state.resources if state else ())
    everything = set().union(*known.values()) if known else set()
    problems = unknown_targets(targets, everything)
    if problems:
        raise PlanError("; ".join(problems))
    return {t: tuple(x for x in targets if x in addrs) for t, addrs in known.items()}


def empty_tenant_plan(desired: Desired, state: State) -> TenantPlan:
    """The plan of a tenant none of the targets belong to: nothing."""
    return TenantPlan(
        tenant=desired.tenant.tenant,
        install=desired.tenant.install,
        api_url=desired.tenant.api.url,
        state_serial=state.serial,
        state_lineage=state.lineage,
        summary=summarize(()),
        desired_count=len(desired.addresses()),
        managed_count=len(state.resources),
    )


#: tenants worked on at once by a run over several tenants (planned, or applied). Each holds
#: its live objects while it is planned, so this also bounds the memory of a large run.
TENANTS_AT_ONCE = 4
#: API calls in flight across every tenant of one plan run (one tenant alone takes as many)
CALLS_IN_FLIGHT = 8

T = TypeVar("T")


def tenant_name(desired: Desired) -> str:
    """The key tenants are sorted by: their name."""
    return desired.tenant.tenant


async def each_tenant(
    desireds: Sequence[Desired],
    work: Callable[[Desired], Awaitable[T]],
    *,
    at_once: int | None = None,
) -> list[tuple[Desired, T | SpsyncError]]:
    """``work(desired)`` for every tenant, at most ``at_once`` (``TENANTS_AT_ONCE``) at a
    time, started in name order; the results in name order.

    A tenant whose work raises a ``SpsyncError`` (an API failure, a damaged state file, a
    missing token) has that error as its result, and the other tenants go on; anything
    else (a bug) is raised once every tenant has finished. With ``at_once=1`` the tenants
    run one after another, with the same results.
    """
    limit = asyncio.Semaphore(at_once or TENANTS_AT_ONCE)

    async def one(desired: Desired) -> T:
        async with limit:
            return await work(desired)

    ordered = sorted(desireds, key=tenant_name)
    results = await asyncio.gather(*(one(d) for d in ordered), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, SpsyncError):
            raise result
    return list(zip(ordered, results, strict=True))  # type: ignore[arg-type]


def tenant_errors(
    failures: Mapping[str, SpsyncError],
    refused: Sequence[UnsafePlanError] = (),
    *,
    tenants: int,
) -> SpsyncError | None:
    """The error a command over ``tenants`` tenants ends with when some failed or had their
    plan refused (``None`` when none did): a single error as it is when it names its tenant
    already (a refusal) or the run had one tenant, else one ``error: TENANT: …`` line per
    tenant, in name order, so that no tenant's failure hides another's."""
    lines = {name: f"{name}: {e}" for name, e in failures.items()}
    lines.update({e.tenant_plan.tenant: str(e) for e in refused})
    if not lines:
        return None
    if len(lines) == 1:
        if refused:
            return refused[0]
        ((name, error),) = failures.items()
        return error if tenants == 1 else PlanError(lines[name])
    return PlanError("\n".join(f"error: {lines[name]}" for name in sorted(lines)))


@contextlib.asynccontextmanager
async def _client_or_none(
    desired: Desired, clients: ClientFactory, enabled: bool, budget: Any
) -> AsyncIterator[Client | None]:
    if not enabled:
        yield None
        return
    async with clients(desired, budget=budget) as client:
        yield client


async def plan_all(
    desireds: Sequence[Desired],
    store: StateStore,
    *,
    sandbox: bool,
    clients: ClientFactory = api_client,
    refresh: bool = True,
    targets: Sequence[str] = (),
    allow_destroy: bool = False,
    manifests: str = "",
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    failures: dict[str, SpsyncError] | None = None,
) -> tuple[Plan, list[UnsafePlanError]]:
    """Plan every tenant into one checksummed ``Plan`` (tenants in name order).

    Up to ``TENANTS_AT_ONCE`` tenants are planned at once, sharing ``CALLS_IN_FLIGHT``
    calls in flight; the plan is the same as planning them one after another.
    Unsafe tenant plans are kept in the plan (so they can be shown) and their refusals
    returned; the caller decides to fail. ``failures``: when given, a tenant that cannot be
    planned (``SpsyncError``) is recorded there and left out of the plan while the others
    are planned; when not, the first such error (in name order) is raised. ``sandbox``: a
    plan of the sandbox (its fixed secret key, marked so in the plan); ``clients`` makes the
    clients of the live reads (the embedded simulator's, for a sandbox plan).
    """
    shares = split_targets(desireds, store, targets) if targets else {}
    check_replace_known(desireds, replace)
    budget = asyncio.Semaphore(CALLS_IN_FLIGHT)

    async def plan_one(desired: Desired) -> TenantPlan:
        # an unsafe plan is raised (UnsafePlanError, carrying the plan) and sorted out below
        name = desired.tenant.tenant
        if targets and not shares.get(name):
            return empty_tenant_plan(desired, store.load(desired.tenant))
        async with _client_or_none(desired, clients, refresh, budget) as client:
            tp, _state, _obs = await plan_tenant(
                desired,
                store,
                client,
                refresh=refresh,
                targets=shares.get(name, ()),
                allow_destroy=allow_destroy,
                secret_key=secret_key(desired, sandbox),
                replace=shares_of(replace, desired),
                refresh_only=refresh_only,
            )
        return tp

    plans: list[TenantPlan] = []
    refused: list[UnsafePlanError] = []
    for desired, result in await each_tenant(desireds, plan_one):
        if isinstance(result, UnsafePlanError):
            refused.append(result)
            plans.append(result.tenant_plan)
        elif isinstance(result, SpsyncError):
            if failures is None:
                raise result
            failures[desired.tenant.tenant] = result
        else:
            plans.append(result)
    plan = make_plan(
        plans,
        targets=targets,
        refresh=refresh,
        manifests=manifests,
        allow_destroy=allow_destroy,
        replace=replace,
        refresh_only=refresh_only,
    )
    if sandbox:
        plan = plan.model_copy(update={"sandbox": True})
        plan = plan.model_copy(update={"checksum": compute_checksum(plan)})
    return plan, refused


def shares_of(replace: Sequence[str], desired: Desired) -> tuple[str, ...]:
    """The ``--replace`` addresses of one tenant (several tenants: each takes its own)."""
    return tuple(a for a in replace if a in desired.sessions)


def check_replace_known(desireds: Sequence[Desired], replace: Sequence[str]) -> None:
    """Every ``--replace`` address must be a session of one of the tenants (``PlanError``
    with a did-you-mean otherwise)."""
    problems = replace_problems(replace, {a for d in desireds for a in d.sessions})
    if problems:
        raise PlanError("; ".join(problems))


def applied_before(saved: TenantPlan, checksum: str, state: State) -> str | None:
    """Why a saved tenant plan must not run: this very plan already moved the state (the
    state's ``applied_plan`` names it and no other write came since). ``None`` otherwise:
    the usual staleness checks then say what changed."""
    mark = state.applied_plan
    if mark is None or mark.checksum != checksum or mark.serial != state.serial:
        return None
    how = "already applied" if mark.complete else "partly applied, then stopped"
    after = "make a new plan" if mark.complete else "make a new plan for what is left"
    return (
        f"{saved.tenant}: this plan was {how} (state serial {mark.from_serial} -> {mark.serial} "
        f"by plan {checksum}); {after}"
    )


def record_applied_plan(
    store: StateStore, state: State, saved: TenantPlan, checksum: str, *, complete: bool
) -> State:
    """Save ``state`` (as the apply of ``saved`` left it) naming the plan that moved it,
    for ``applied_before``; returns what was saved."""
    mark = AppliedPlan(
        checksum=checksum,
        from_serial=saved.state_serial,
        serial=state.serial + 1,  # the serial of the save below
        complete=complete,
    )
    return store.save(state.model_copy(update={"applied_plan": mark}))


# --- import ----------------------------------------------------------------------------------

#: SID prefix of each importable kind
IMPORT_PREFIX = {"course": "CU", "exam": "EX", "user": "US", "enrollment": "EN", "session": "ES"}


def _options_unseen(e: wire.Exam) -> bool:
    """Whether the exam's read named its proctor types without their options (v1 form)."""
    conf = e.configuration
    return conf is not None and conf.proctorTypes is None and conf.proctorTypeSids is not None


def _options_as_manifest(
    seen: dict[str, Any], want: Mapping[str, Any], unverified: list[str] | None
) -> dict[str, Any]:
    """``seen`` with the options of each proctor type the read named taken from the
    manifest: the read does not show them, so they are unknown, not none."""
    conf = seen.get("configuration")
    wanted = (want.get("configuration") or {}).get("proctorTypes") or {}
    if not isinstance(conf, dict) or not isinstance(types := conf.get("proctorTypes"), dict):
        return seen
    taken = {ts: wanted[ts] for ts in types if isinstance(wanted.get(ts), dict)}
    if unverified is not None and any(taken.values()):
        unverified.append("configuration.proctorTypes.options")
    return {**seen, "configuration": {**conf, "proctorTypes": {**types, **taken}}}


async def import_resource(
    desired: Desired,
    state: State,
    client: Client,
    address: str,
    sid: str,
    *,
    secret_key: bytes,
    unverified: list[str] | None = None,
    sandbox: bool = False,
    manifests: str = "PATH",
) -> ResourceState:
    """Read the remote object ``sid`` and return the state entry that adopts it as ``address``
    (``manifests``: the manifests' path as the user gave it, for the commands it suggests).

    ``applied`` is the live object's managed fields (so the next plan shows how the manifest
    differs from it, as manifest-changed updates). A managed field the read does not return
    (a session's amount or currency, a location the service does not show) is recorded as
    the manifest has it, since nothing says otherwise and a change of it would cancel and
    book again; its name is added to ``unverified``. A secret the read does not return is
    left out instead: the next apply sends it (an update, never destructive), because spsync
    cannot tell what the install holds. The objects it hangs off must be in state already
    (import or apply the course before its exams, ...). ``PlanError`` for an address the
    manifests lack, a wrong SID prefix, an object not found or belonging elsewhere (its
    hints say ``spsync --sandbox`` with ``sandbox``).
    """
    from spsync import translate
    from spsync.api import wire
    from spsync.errors import NotFoundError
    from spsync.fields import (
        SECRET_FIELDS,
        canonical,
        fingerprint_secrets,
        overlay,
        project,
        resource_at,
    )
    from spsync.model import kind_of
    from spsync.suggest import did_you_mean

    kind = kind_of(address)
    res = resource_at(desired, address)
    if res is None:
        hint = did_you_mean(address, desired.addresses(), quoted=False)
        raise PlanError(f"{address} is not in the manifests of {desired.tenant.tenant}{hint}")
    if kind == "assignment":
        raise PlanError(
            f"{address}: an assignment has no SID to import; import its enrollment (and session), "
            "and the next apply records the assignment"
        )
    prefix = IMPORT_PREFIX[kind]
    if not wire.is_sid(sid, prefix):
        raise PlanError(f"{address}: {sid!r} is not a {kind} SID ({prefix} + 32 lowercase hex)")
    if address in state.resources:
        raise PlanError(
            f"{address} is already in state as {state.resources[address].sid or 'assigned'}; "
            f"forget it first (spsync {'--sandbox ' if sandbox else ''}state rm "
            f"{shlex.quote(manifests)} {address})"
        )

    def need(parent: str) -> str:
        rec = state.resources.get(parent)
        if rec is None or not rec.sid:
            raise PlanError(f"{address}: import or apply {parent} first (its SID is needed)")
        return rec.sid

    where = f"install {desired.tenant.install}"
    refs: dict[str, str] = {}
    try:
        if kind == "course":
            live = translate.course_fields(await client.get_course(sid))
        elif kind == "exam":
            course_sid = need(f"course.{res.course}")
            e = await client.get_exam(course_sid, sid)
            live = translate.exam_fields(e)
            refs = {"course": course_sid}
            if e.configuration is not None and e.configuration.sid:
                refs["configuration"] = e.configuration.sid
        elif kind == "user":
            live = translate.user_fields(await client.get_user(sid))
        elif kind == "enrollment":
            course_sid = need(f"course.{res.course}")
            user_sid = need(f"user.{res.user}")
            match = [e for e in await client.list_enrollments(course_sid) if e.sid == sid]
            if not match:
                raise NotFoundError(f"enrollment {sid} not found in course {course_sid}")
            if match[0].userSid != user_sid:
                raise PlanError(
                    f"{address}: enrollment {sid} belongs to user {match[0].userSid}, not "
                    f"user.{res.user} ({user_sid})"
                )
            live = {"role": match[0].role}
            refs = {"course": course_sid, "user": user_sid}
        else:  # session
            exam = desired.exams[f"exam.{res.exam}"]
            exam_sid = need(f"exam.{res.exam}")
            enrollment_sid = need(f"enrollment.{exam.course}.{res.user}")
            s = await client.get_session(exam_sid, sid)
            if s.enrollmentSid and s.enrollmentSid != enrollment_sid:
                raise PlanError(
                    f"{address}: session {sid} belongs to enrollment {s.enrollmentSid}, not "
                    f"enrollment.{exam.course}.{res.user} ({enrollment_sid})"
                )
            live = translate.session_fields(s)
            refs = {
                "course": need(f"course.{exam.course}"),
                "exam": exam_sid,
                "enrollment": enrollment_sid,
            }
    except NotFoundError:
        raise PlanError(f"{address}: {sid} not found remotely in {where}") from None
    want = canonical(res, secret_key)
    seen = project(live, want)
    if kind == "exam" and _options_unseen(e):
        seen = _options_as_manifest(seen, want, unverified)
    assumed = {k: v for k, v in want.items() if k not in seen and k not in SECRET_FIELDS}
    conf, seen_conf = want.get("configuration"), seen.get("configuration")
    if isinstance(conf, dict) and isinstance(seen_conf, dict):
        assumed["configuration"] = {
            k: v for k, v in conf.items() if k not in seen_conf and k not in SECRET_FIELDS
        }
    if unverified is not None:
        unverified += [k for k in assumed if k not in ("ids", "configuration")]
        unverified += [f"configuration.{k}" for k in assumed.get("configuration", {})]
    applied = fingerprint_secrets(overlay(assumed, seen), secret_key)
    if "ids" in want:
        applied["ids"] = want["ids"]
    return ResourceState(sid=sid, refs=refs, applied=applied)
