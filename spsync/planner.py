"""The planner: desired + state + observed -> ``TenantPlan``. PURE: no I/O, no clock, no env.

For every address in the manifests or the state it decides one action and its reason
(product-spec §4). The rules, per kind:

course, exam, user, enrollment (provisioned objects)
  - in the manifests only: ``create``/new — or, when observation found the object
    remotely (a user by its external/api/lms id, an enrollment of known SIDs), it is
    *adopted*: no create; ``update``/new if its managed fields differ, else only recorded.
  - in both: ``create`` again when it is gone remotely (drift), when its identity changed
    (``ids``, or an exam's course: manifest-changed — the old object is left as is), or when
    an object it hangs off is made anew (the parent's reason). Otherwise managed fields are
    compared: the manifest against the last applied fields (``manifest-changed``), and the
    manifest against the live object (``drift`` when only the live side moved): ``update``
    back to the manifest.
  - in the state only: ``forget``/removed (dropped from state, left untouched remotely).
assignment (limited-scope exams only; for an unlimited exam every learner enrollment has a
  session, so there is nothing to assign)
  - ``assign``/new, or ``assign``/drift when it was unassigned remotely.
  - removed from the manifests: ``unassign``/removed, which also cancels its session —
    unless its exam is forgotten (then it is forgotten too).
session
  - ``schedule``/new; ``schedule``/drift when the live session was cancelled remotely.
  - appointment or notes changed: ``reschedule``; anything the reschedule endpoint cannot
    change (type, proctorLocation, amount, currency, externalAppointmentId,
    proctorTypeSubCategory): ``replace`` (cancel + schedule).
  - removed while its assignment stays: ``cancel``/removed. When its assignment is
    unassigned in the same plan, the unassign's call cancels it: ``cancel``/unassigned, the
    effect of that call (its ``depends_on`` names the unassign); ``forget``/removed when it
    is already gone remotely. A booked session neither the manifests nor the state hold
    (booked by hand) that an unassign, a role change or a scope switch of the plan cancels
    is such a ``cancel`` too.

Only fields the manifest manages (non-``None``) are compared, normalised on both sides, so
an apply followed by a plan is always empty. Secret fields are compared through keyed
fingerprints (state keeps only those) and shown as ``(sensitive)`` / ``(changed)``.

Each change's ``depends_on`` names the changes of the plan that must succeed first: what it
hangs off, and what its calls need besides (``spsync.planner_base``); apply follows it and
nothing else.

Where the rules live: ``planner_provision`` (provisioned objects), ``planner_sessions``
(assignments and sessions), ``planner_base`` (what they decide from, and the dependencies);
this module runs them over every address and builds the ``TenantPlan``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from spsync.errors import PlanError
from spsync.fields import (
    changed_paths,
    desired_digest_of,
    fingerprint_of,
    fingerprint_secrets,
    mask,
    overlay,
    project,
    resource_at,
    secret_key_for,
)
from spsync.model import KINDS, Desired, kind_of
from spsync.moves import detect_moves, renamed_observed, renamed_state
from spsync.observed import CANCELLED, NEEDS_PROCTOR, Observed
from spsync.plan import DESTRUCTIVE, Change, TenantPlan, sort_changes, summarize
from spsync.planner_base import Decision, closure, linked, with_effects
from spsync.planner_sessions import SessionRules
from spsync.state import State
from spsync.suggest import did_you_mean


class _Planner(SessionRules):
    """Every rule of the table above, over every address of one tenant."""

    def run(self) -> None:
        """Decide every address of the manifests and the state, kind by kind."""
        by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        for address in set(self.d.addresses()) | set(self.s.resources):
            by_kind[kind_of(address)].append(address)
        self._index_kept()
        # kind by kind, so that every parent is decided before its dependants
        for kind in KINDS:
            if kind == "assignment":
                self._find_scoping()
            if kind == "session":
                by_kind[kind].extend(self._booked_elsewhere())
            if kind == "assignment":
                self._warn_role_changes()
                by_kind[kind].extend(self._assigned_elsewhere())
            for address in sorted(by_kind[kind]):
                dec = self.decide(address)
                if address in self.moves and dec.action == "noop":
                    dec = Decision("move", "renamed")
                if dec.action == "noop":
                    # counted, never shown: keep the verdict, not its two field maps (a large
                    # tenant holds tens of thousands of them until the plan is built)
                    dec = _unchanged(dec)
                self.decided(address, dec)

    def refresh_decide(self, address: str) -> Decision | None:
        """``--refresh-only``: take what changed remotely into state, change nothing remotely.
        Addresses not in state are left for a normal plan (``None``)."""
        rec = self.rec(address)
        if rec is None:
            return None
        kind = kind_of(address)
        live = self.live(address)
        if self.is_missing(address) or (
            kind == "session" and live is not None and live.status in (CANCELLED, NEEDS_PROCTOR)
        ):
            return Decision("forget", "drift", rec.applied, None)
        if live is None or kind == "assignment":
            return Decision("noop", "drift")
        fields = live.fields
        if kind == "exam":
            fields = fingerprint_secrets(fields, self.key)
        now = overlay(rec.applied, project(fields, rec.applied))
        if changed_paths(rec.applied, now) == []:
            return Decision("noop", "drift")
        return Decision("refresh", "drift", rec.applied, now)

    def run_refresh_only(self) -> None:
        for address in sorted(self.s.resources, key=lambda a: (KINDS.index(kind_of(a)), a)):
            dec = self.refresh_decide(address)
            if dec is not None:
                if dec.action == "noop":
                    dec = _unchanged(dec)
                self.decided(address, dec)

    def decide(self, address: str) -> Decision:
        kind = kind_of(address)
        if kind == "assignment":
            return self.assignment(address)
        if kind == "session":
            return self.session(address)
        res = resource_at(self.d, address)
        if res is None:
            return self.forget(address)
        return self.provisioned(address, res)

    def change(self, address: str, dec: Decision) -> Change:
        deps = {
            p
            for p in self.parents(address)
            if p in self.decisions and self.decisions[p].action not in ("noop", "forget")
        }
        deps.update(dec.depends_extra)
        calls = self.call_deps(address, dec) - deps - {address}
        if calls:
            self.call_needs[address] = calls
            deps |= calls
        after = mask(dec.after, dec.before)
        return Change.trusted(
            address=address,
            action=dec.action,
            reason=dec.reason,
            destructive=dec.action in DESTRUCTIVE,
            before=mask(dec.before),
            after=after,
            depends_on=tuple(sorted(deps)),
            previous_address=self.moves.get(address),
        )


#: one shared decision per kind of "unchanged" verdict (never changed once decided)
_UNCHANGED: dict[tuple[str, str, tuple[str, ...]], Decision] = {}


def _unchanged(dec: Decision) -> Decision:
    """A ``noop`` decision without its field maps, shared by every address it fits: a tenant
    of 20,000 students keeps ~80,000 of them until the plan is built."""
    key = (dec.action, dec.reason, dec.depends_extra)
    shared = _UNCHANGED.get(key)
    if shared is None:
        shared = _UNCHANGED[key] = Decision(dec.action, dec.reason, None, None, dec.depends_extra)
    return shared


def unknown_targets(targets: Iterable[str], known: Iterable[str]) -> list[str]:
    """Messages for targets that name no address of ``known``, with a did-you-mean."""
    pool = set(known)
    return [
        f"unknown target {t}{did_you_mean(t, pool, quoted=False)}" for t in targets if t not in pool
    ]


def build_plan(
    desired: Desired,
    state: State,
    observed: Observed | None,
    *,
    targets: Sequence[str] = (),
    secret_key: bytes | None = None,
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    witnesses: bool = True,
) -> TenantPlan:
    """Decide every change for one tenant. PURE.

    ``observed`` is ``None`` without refresh: then only the manifests and the state are
    compared. ``targets`` narrows the plan to those addresses, what they depend on and
    what their calls cause remotely (``with_effects``; unknown ones: ``PlanError`` with a
    did-you-mean). ``secret_key`` keys the secret
    fingerprints (default: ``secret_key_for(desired.tenant)``). ``replace`` names sessions
    to cancel and book again even when nothing changed (``--replace``). ``refresh_only``
    plans no remote change at all: only what changed remotely is taken into state.
    ``witnesses=False`` leaves out what only a saved plan needs to tell later that it went
    stale (``fingerprints``, ``desired_digest``): an apply that plans and executes at once
    never compares them, and a first apply of 100,000 students spent seconds and 70 MB on
    400,000 fingerprints.

    Renames are detected first (``spsync.moves``): the plan is made against the state with
    the moved entries under their new addresses, and shows each as a ``move``.
    """
    key = secret_key if secret_key is not None else secret_key_for(desired.tenant)
    tenant = desired.tenant.tenant
    if targets:
        problems = unknown_targets(targets, (*desired.addresses(), *state.resources))
        if problems:
            raise PlanError(f"{tenant}: " + "; ".join(problems))
    _check_replace(tenant, replace, desired, refresh_only)
    if refresh_only and observed is None:
        raise PlanError(f"{tenant}: --refresh-only needs the live objects: drop --no-refresh")
    moves = {} if refresh_only else detect_moves(desired, state)
    state = renamed_state(state, moves)
    observed = renamed_observed(observed, moves)
    p = _Planner(desired, state, observed, key, moves=moves, replace=replace)
    if refresh_only:
        p.run_refresh_only()
    else:
        p.run()
    selected: set[str] | None = None
    if targets:
        # a targeted change's remote effects come with it (the sessions an unassign or a
        # role change cancels; the assigns and replaces of a scope switch), and so on
        selected = with_effects(
            closure((moves.get(t, t) for t in targets), p.parents), p.decisions, p.parents
        )

    changes: list[Change] = []
    actions: list[str] = []
    for address, dec in p.decisions.items():
        if selected is not None and address not in selected:
            continue
        actions.append(dec.action)
        if dec.action != "noop":
            changes.append(p.change(address, dec))
    adopt = {a: v for a, v in sorted(p.adopt.items()) if selected is None or a in selected}
    ordered = linked(sort_changes(changes), p.call_needs)
    present = {c.address for c in ordered}
    touched = sorted(present | set(adopt))
    unassigns = sum(c.action == "unassign" for c in ordered)
    if unassigns and desired.tenant.api.dialect.assignments == "guide":
        p.warnings.append(
            f"api.dialect.assignments is guide, whose documented body has no removal: the "
            f"{unassigns} unassign(s) fail unless the install honours it "
            "(docs/api-dialects.md)"
        )
    return TenantPlan(
        tenant=desired.tenant.tenant,
        install=desired.tenant.install,
        api_url=desired.tenant.api.url,
        state_serial=state.serial,
        state_lineage=state.lineage,
        summary=summarize(actions),
        changes=ordered,
        adopt=adopt,
        fingerprints={a: fingerprint_of(a, state, observed, key) for a in touched}
        if witnesses
        else {},
        desired_digest=desired_digest_of(desired, touched, key) if witnesses else "",
        desired_count=len(desired.addresses()),
        managed_count=len(state.resources),
        warnings=tuple(sorted(p.warnings + p.unseen_warnings())),
    )


def _check_replace(
    tenant: str, replace: Sequence[str], desired: Desired, refresh_only: bool
) -> None:
    if replace and refresh_only:
        raise PlanError(f"{tenant}: --replace and --refresh-only exclude each other")
    problems = replace_problems(replace, desired.sessions)
    if problems:
        raise PlanError(f"{tenant}: " + "; ".join(problems))


def replace_problems(replace: Iterable[str], sessions: Iterable[str]) -> list[str]:
    """``--replace`` takes sessions of the manifests, and nothing else: messages for the
    addresses that are not, with a did-you-mean."""
    known = set(sessions)
    problems = []
    for address in replace:
        if address in known:
            continue
        if kind_of(address) != "session":
            problems.append(
                f"--replace {address}: only sessions can be replaced (booked again); courses, "
                "exams, users, enrollments and assignments cannot be deleted through the API"
            )
        else:
            problems.append(
                f"--replace {address}: not a session of the manifests"
                + did_you_mean(address, known, quoted=False)
            )
    return problems
