"""The plan tells the whole truth: run one manifest edit through ``spsync plan --out`` and
``spsync apply PLANFILE`` against the simulator, and list every remote effect the plan did
not show (and every remote change it showed that did not happen).

The world's diff (``World.to_json()`` before and after the apply) is read as effects:

- a session that went from ``Scheduled`` to ``Cancelled`` (destructive; or back to ``Needs
  Proctor``, a cancel that reopens the same session), that was booked anew (its type or
  location changed: a replace that got the same session back, destructive), that became
  ``Scheduled`` (booked), or whose appointment or notes moved (rescheduled);
- an enrollment added to or removed from an exam's assignment list (removed: destructive);
- a session opened, which needs no change but accounts for an ``assign`` that moved no
  assignment list (sent again to an enrollment that holds it, where the service opened no
  session after a cancel: the vendor dialect's ``after_cancel="none"``);
- a course, exam, user or enrollment created, or whose fields changed (updated).

Effects are matched to plan addresses through the state file before and after the apply
(``address -> sid/refs``; a session or an assignment also by its ``refs.exam`` and
``refs.enrollment``) and through the plan's adoptions. ``discrepancies`` lists, in words:

- each effect without a change of the right action on one of its addresses (saying what
  the plan did say about them: a ``forget``, a ``move``, an adoption or nothing);
- each remote change of the plan (assign, unassign, schedule, reschedule, cancel, replace)
  that had no such effect;
- the count of destructive changes against the count of destructive effects;
- an SID the plan both adopts (or moves) and cancels or unassigns;
- a booking cancelled at another appointment than the change's ``before`` shows;
- and, once applied, a next plan that is not empty.

When the plan warns that an enrollment leaves the learner role, the effects that warning
tells of are not looked for in its changes: those in exams no state names, and an unassign
from an unlimited exam (no read shows such an exam's assignments) that no change makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from test_api_tls import CA_PEM

from spsync.cli import main
from spsync.model import kind_of
from spsync.plan import STATE_ONLY

#: plan actions that call the API for sessions and assignments (``create``/``update`` of the
#: other kinds may find nothing to change remotely, e.g. a provision that matches)
REMOTE_ACTIONS = frozenset({"assign", "unassign", "schedule", "reschedule", "cancel", "replace"})
#: world fields that change without the object's own managed fields changing
_NOT_FIELDS = frozenset({"editDate", "assigned"})
_BOOKED = frozenset({"schedule", "replace"})
#: what a booking cancelled reads as: ``Cancelled``, or ``Needs Proctor`` again where the
#: service reopens the same session (the vendor dialect's ``after_cancel="same"``)
_ENDS_OF_A_CANCEL = frozenset({"Cancelled", "Needs Proctor"})
_KINDS = {"courses": "course", "exams": "exam", "users": "user", "enrollments": "enrollment"}


@dataclass
class Effect:
    """One remote change seen in the world's diff."""

    what: str
    #: the plan actions any one of which accounts for it
    actions: frozenset[str]
    addresses: frozenset[str]
    destructive: bool
    #: a session or assignment of an exam no state names (never managed, or forgotten)
    unmanaged_exam: bool = False
    #: an unassign from an exam unlimited before and after (no read shows its assignments)
    unlimited_unassign: bool = False
    #: a booking cancelled: its appointment (what the plan's ``before`` must show)
    appointment: str | None = None
    #: what may follow a change but needs none: it only accounts for a change it matches
    optional: bool = False


@dataclass
class Index:
    """Plan addresses by the SIDs they stand for, from state files and adoptions."""

    by_sid: dict[str, set[str]] = field(default_factory=dict)
    by_pair: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    #: address -> the remote identities it stands for (its SID; an assignment's or a
    #: session's (kind, exam, enrollment) too), over every state and adoption
    identities: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)

    def add(self, address: str, sid: str | None, refs: dict[str, str]) -> None:
        mine = self.identities.setdefault(address, set())
        if sid:
            mine.add((sid,))
            self.by_sid.setdefault(sid, set()).add(address)
        kind = kind_of(address)
        if kind in ("session", "assignment") and refs.get("exam") and refs.get("enrollment"):
            key = (kind, refs["exam"], refs["enrollment"])
            self.by_pair.setdefault(key, set()).add(address)
            mine.add(key)

    def sid(self, sid: str) -> frozenset[str]:
        return frozenset(self.by_sid.get(sid, ()))

    def pair(self, kind: str, exam: str, enrollment: str) -> frozenset[str]:
        return frozenset(self.by_pair.get((kind, exam, enrollment), ()))

    def manages_exam(self, exam_sid: str) -> bool:
        return any(kind_of(a) == "exam" for a in self.by_sid.get(exam_sid, ()))


def index(states: Iterable[dict[str, Any]], tenant_plan: dict[str, Any]) -> Index:
    """Addresses of the states' resources and of the plan's adoptions, by SID and pair; a
    session or assignment the plan changes that neither names (booked by hand) by the pair
    of its exam and enrollment as the states record them."""
    out = Index()
    states = list(states)
    for st in states:
        for address, rec in st.get("resources", {}).items():
            out.add(address, rec.get("sid"), rec.get("refs") or {})
    for address, found in tenant_plan.get("adopt", {}).items():
        out.add(address, found.get("sid"), found.get("refs") or {})
    for c in tenant_plan["changes"]:
        if c["address"] not in out.identities:
            refs = _pair_refs(c["address"], states)
            if refs is not None:
                out.add(c["address"], None, refs)
    return out


def _pair_refs(address: str, states: list[dict[str, Any]]) -> dict[str, str] | None:
    """``{"exam", "enrollment"}`` SIDs of ``session.EXAM.USER`` / ``assignment.EXAM.USER``
    from the states' exam and enrollment records (``None`` when they do not say)."""
    kind, _, rest = address.partition(".")
    if kind not in ("session", "assignment"):
        return None
    records = {a: r for st in states for a, r in st.get("resources", {}).items()}
    courses = {
        r.get("sid"): a.split(".", 1)[1] for a, r in records.items() if kind_of(a) == "course"
    }
    for a, r in records.items():
        name = a.split(".", 1)[1]
        if kind_of(a) != "exam" or not rest.startswith(name + "."):
            continue
        course = courses.get((r.get("refs") or {}).get("course"))
        enrollment = records.get(f"enrollment.{course}.{rest[len(name) + 1 :]}")
        if enrollment is not None and r.get("sid") and enrollment.get("sid"):
            return {"exam": r["sid"], "enrollment": enrollment["sid"]}
    return None


def _install(world: dict[str, Any], install: str) -> dict[str, Any]:
    for inst in world["installs"]:
        if inst["sid"] == install:
            return inst
    return {"courses": [], "exams": [], "users": [], "enrollments": [], "sessions": []}


def effects(
    before: dict[str, Any], after: dict[str, Any], install: str, idx: Index
) -> list[Effect]:
    """The remote effects between two world snapshots, with their candidate addresses."""
    b, a = _install(before, install), _install(after, install)
    out: list[Effect] = []
    out += _session_effects(b, a, idx)
    out += _assignment_effects(b, a, idx)
    out += _object_effects(b, a, idx)
    return out


def _session_effects(b: dict[str, Any], a: dict[str, Any], idx: Index) -> list[Effect]:
    old = {s["sid"]: s for s in b["sessions"]}
    out = []
    for s in a["sessions"]:
        was = old.get(s["sid"], {})
        status_before, status = was.get("status"), s["status"]
        addresses = idx.sid(s["sid"]) | idx.pair("session", s["examSid"], s["enrollmentSid"])
        label = f"session {s['sid']} (exam {s['examSid']}, enrollment {s['enrollmentSid']})"
        if not was:
            out.append(_opened(s, label, idx))
        seen: tuple[str, frozenset[str], bool] | None = None
        cancelled = None
        if status_before == "Scheduled" and status in _ENDS_OF_A_CANCEL:
            why = s.get("statusReason") or "?"
            seen = (f"Scheduled -> {status} ({why})", frozenset({"cancel", "replace"}), True)
            cancelled = was.get("appointmentDate")
        elif status == "Scheduled" and status_before != "Scheduled":
            when = s["appointmentDate"]
            seen = (f"{status_before or 'new'} -> Scheduled at {when}", _BOOKED, False)
        elif status == status_before == "Scheduled" and _rebooked(was, s):
            # the same session cancelled and booked again (``after_cancel="same"``)
            moved = f"booked again {was['appointmentDate']} -> {s['appointmentDate']}"
            seen = (moved, frozenset({"replace"}), True)
            cancelled = was.get("appointmentDate")
        elif status == status_before == "Scheduled" and (
            s["appointmentDate"] != was["appointmentDate"] or s.get("notes") != was.get("notes")
        ):
            moved = f"rescheduled {was['appointmentDate']} -> {s['appointmentDate']}"
            seen = (moved, frozenset({"reschedule"}), False)
        if seen is not None:
            out.append(
                Effect(
                    f"{label}: {seen[0]}",
                    seen[1],
                    addresses,
                    destructive=seen[2],
                    unmanaged_exam=not idx.manages_exam(s["examSid"]),
                    appointment=cancelled,
                )
            )
    return out


def _opened(s: dict[str, Any], label: str, idx: Index) -> Effect:
    """A session the service opened: where it opens none after a cancel (the vendor
    dialect's ``after_cancel="none"``), an assignment sent again to an enrollment that
    holds it opens one; that accounts for the ``assign``, which moves no assignment list."""
    return Effect(
        f"{label}: opened",
        frozenset({"assign"}),
        idx.pair("assignment", s["examSid"], s["enrollmentSid"]),
        destructive=False,
        optional=True,
    )


def _rebooked(was: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether a session booked before and after was booked anew in between: its type or
    location changed, which no reschedule does."""
    return any(now.get(k) != was.get(k) for k in ("sessionType", "proctorLocationSid"))


def _assignment_effects(b: dict[str, Any], a: dict[str, Any], idx: Index) -> list[Effect]:
    old = {e["sid"]: set(e.get("assigned", ())) for e in b["exams"]}
    limited_before = {e["sid"]: e.get("limitedScope") for e in b["exams"]}
    out = []
    for e in a["exams"]:
        now, was = set(e.get("assigned", ())), old.get(e["sid"], set())
        unlimited = not e.get("limitedScope") and limited_before.get(e["sid"]) is False
        for en, verb, action in [
            *((en, "assigned", "assign") for en in sorted(now - was)),
            *((en, "unassigned", "unassign") for en in sorted(was - now)),
        ]:
            out.append(
                Effect(
                    f"enrollment {en} {verb} to exam {e['sid']}",
                    frozenset({action}),
                    idx.pair("assignment", e["sid"], en),
                    destructive=action == "unassign",
                    unmanaged_exam=not idx.manages_exam(e["sid"]),
                    unlimited_unassign=unlimited and action == "unassign",
                )
            )
    return out


def _object_effects(b: dict[str, Any], a: dict[str, Any], idx: Index) -> list[Effect]:
    out = []
    for table, kind in _KINDS.items():
        old = {x["sid"]: _fields(x) for x in b[table]}
        for x in a[table]:
            addresses = frozenset(ad for ad in idx.sid(x["sid"]) if kind_of(ad) == kind)
            if x["sid"] not in old:
                out.append(
                    Effect(f"{kind} {x['sid']} created", frozenset({"create"}), addresses, False)
                )
            elif old[x["sid"]] != _fields(x):
                changed = sorted(k for k, v in _fields(x).items() if old[x["sid"]].get(k) != v)
                out.append(
                    Effect(
                        f"{kind} {x['sid']} updated ({', '.join(changed)})",
                        frozenset({"create", "update"}),
                        addresses,
                        False,
                    )
                )
    return out


def _fields(x: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in x.items() if k not in _NOT_FIELDS}


def discrepancies(
    tenant_plan: dict[str, Any], found: list[Effect], idx: Index, unseen: Container[str] = ()
) -> list[str]:
    """Every way in which the plan and the observed effects differ (empty: they agree).
    ``unseen``: assignment addresses a person unassigned where no read shows it (no session
    left to close): the plan's unassign of one changes nothing, and no plan can know."""
    changes = {c["address"]: c for c in tenant_plan["changes"]}
    adopted = set(tenant_plan.get("adopt", {}))
    bad: list[str] = []
    accounted: set[tuple[str, str]] = set()
    warned = _warned_role_changes(tenant_plan)
    found = [e for e in found if not (warned and _told(e, changes))]
    for eff in found:
        hits = [(ad, changes[ad]["action"]) for ad in eff.addresses if ad in changes]
        good = [(ad, act) for ad, act in hits if act in eff.actions]
        if good:
            accounted.update(good)
            bad += _shown_otherwise(eff, [changes[ad] for ad, _act in good])
            continue
        if eff.optional:
            continue
        said = [f"{ad} {act} ({changes[ad]['reason']})" for ad, act in sorted(hits)]
        said += [f"{ad} recorded as found remotely" for ad in sorted(eff.addresses & adopted)]
        shown = "; ".join(said) or "nothing"
        where = ", ".join(sorted(eff.addresses)) or "no address in state"
        # a forget/move/refresh/noop or an adoption promises that no call touches the object
        silent = eff.addresses & adopted or any(act in STATE_ONLY for _ad, act in hits)
        head = "touched by a change that calls no API" if silent else "unplanned"
        bad.append(
            f"{head}: {eff.what} [{where}]: wanted {'/'.join(sorted(eff.actions))}, "
            f"the plan says {shown}"
        )
    undone = [
        c
        for c in tenant_plan["changes"]
        if c["action"] == "unassign"
        and c["address"] in unseen
        and (c["address"], "unassign") not in accounted
    ]
    for c in tenant_plan["changes"]:
        if c in undone:
            continue
        if c["action"] in REMOTE_ACTIONS and (c["address"], c["action"]) not in accounted:
            bad.append(
                f"planned, not observed: {c['address']} {c['action']} ({c['reason']}) "
                "changed nothing remotely"
            )
    planned = sum(1 for c in tenant_plan["changes"] if c["destructive"] and c not in undone)
    observed = sum(1 for e in found if e.destructive)
    if planned != observed:
        bad.append(
            f"destructive changes in the plan: {planned}, destructive effects observed: {observed}"
        )
    bad += _adopted_and_destroyed(tenant_plan, idx)
    return bad


def _told(eff: Effect, changes: dict[str, dict[str, Any]]) -> bool:
    """An effect the role-change warning tells of rather than lists: in an exam no state
    names, or an unassign from an unlimited exam that no change of the plan makes."""
    planned = any(ad in changes and changes[ad]["action"] in eff.actions for ad in eff.addresses)
    return eff.unmanaged_exam or (eff.unlimited_unassign and not planned)


def _shown_otherwise(eff: Effect, shown: list[dict[str, Any]]) -> list[str]:
    """A booking cancelled at another appointment than the plan's change showed (its
    ``before``)."""
    return [
        f"shown otherwise: {eff.what}: the plan's {c['address']} {c['action']} shows the "
        f"booking at {c['before']['appointment']}"
        for c in shown
        if eff.appointment is not None
        and (c.get("before") or {}).get("appointment") not in (None, eff.appointment)
    ]


def _warned_role_changes(tenant_plan: dict[str, Any]) -> bool:
    """Whether the plan warns that an enrollment leaving the learner role withdraws what it
    has in exams spsync does not manage, and its assignments to unlimited exams (those
    effects are told, not listed)."""
    return any("leaving the learner role" in w for w in tenant_plan.get("warnings", ()))


def _adopted_and_destroyed(tenant_plan: dict[str, Any], idx: Index) -> list[str]:
    """A remote object (an SID, or an assignment's or session's exam and enrollment) that
    the plan keeps at one address (adopts it, or moves it there) and cancels or unassigns
    at another."""
    kept: dict[tuple[str, ...], str] = {}
    for address in tenant_plan.get("adopt", {}):
        for ident in idx.identities.get(address, ()):
            kept[ident] = address
    for c in tenant_plan["changes"]:
        if c["action"] == "move":
            for ident in idx.identities.get(c.get("previous_address") or "", ()):
                kept[ident] = c["address"]
    bad = []
    for c in tenant_plan["changes"]:
        if c["action"] not in ("cancel", "unassign"):
            continue
        # one line per pair of addresses (an SID and its exam/enrollment pair say the same)
        clashes = {
            kept[ident]: ident
            for ident in sorted(idx.identities.get(c["address"], ()), reverse=True)
            if ident in kept and kept[ident] != c["address"]
        }
        for other, ident in sorted(clashes.items()):
            bad.append(
                f"the plan keeps {'/'.join(ident)} as {other} and also {c['action']}s it as "
                f"{c['address']}"
            )
    return bad


@dataclass
class Cli:
    """The CLI in process, with a state dir and an environment.

    The simulator speaks plain HTTP, yet every client the CLI makes loads a CA bundle
    (a third of a second each, three clients a step): ``SSL_CERT_FILE`` names a bundle of
    one test CA instead, which the client honours, to keep the property test fast."""

    state_dir: Path
    env: dict[str, str]

    def __post_init__(self) -> None:
        bundle = self.state_dir.parent / "one-test-ca.pem"
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_text(CA_PEM)
        self.env = {**self.env, "SSL_CERT_FILE": str(bundle)}

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(
            main, ["--state-dir", str(self.state_dir), *args], env=self.env, catch_exceptions=False
        )

    def state(self, tenant: str) -> dict[str, Any]:
        path = self.state_dir / f"{tenant}.json"
        return json.loads(path.read_text()) if path.exists() else {"resources": {}}


@dataclass
class Applied:
    """One plan applied: the plan of the tenant (the plan file's JSON), the addresses by
    SID, the effects seen in the world."""

    plan: dict[str, Any]
    index: Index
    effects: list[Effect]

    def discrepancies(self, unseen: Container[str] = ()) -> list[str]:
        return discrepancies(self.plan, self.effects, self.index, unseen)


def plan_and_apply(
    cli: Cli,
    tenant_dir: Path,
    tenant: str,
    install: str,
    world: Any,
    *plan_args: str,
    between: Callable[[], None] | None = None,
) -> Applied | str:
    """Plan (refreshed, saved with --out), apply the plan file; what it did, or why it failed.

    ``world``: the simulator's ``World`` (snapshots are taken in process); ``plan_args``:
    more options of ``plan`` (``--target ADDR``); ``between``: what happens to the service
    after the plan and before the apply (its effects are not the apply's)."""
    plan_file = cli.state_dir.parent / "truth-plan.json"
    state_before = cli.state(tenant)
    r = cli(
        "plan",
        str(tenant_dir),
        "--out",
        str(plan_file),
        "--allow-destroy",
        "--format",
        "json",
        *plan_args,
    )
    if r.exit_code != 0:
        return f"plan failed (exit {r.exit_code}): {r.output.strip()[-2000:]}"
    tenant_plan = json.loads(plan_file.read_text())["tenants"][0]
    if between is not None:
        between()
    before = world.to_json()
    r = cli("apply", str(plan_file), "--allow-destroy")
    if r.exit_code != 0:
        return f"apply failed (exit {r.exit_code}): {r.output.strip()[-2000:]}"
    idx = index([state_before, cli.state(tenant)], tenant_plan)
    return Applied(tenant_plan, idx, effects(before, world.to_json(), install, idx))


def check_step(cli: Cli, tenant_dir: Path, tenant: str, install: str, world: Any) -> list[str]:
    """Plan, apply the plan file and compare (``plan_and_apply``); then plan again.
    Returns the discrepancies (a plan or apply that fails is one too)."""
    done = plan_and_apply(cli, tenant_dir, tenant, install, world)
    if isinstance(done, str):
        return [done]
    return with_plan_applied(done, [*done.discrepancies(), *next_plan_left(cli, tenant_dir)])


def next_plan_left(cli: Cli, tenant_dir: Path, *plan_args: str) -> list[str]:
    """What a plan made now (with ``plan_args``) still has to do, as a discrepancy (``[]``:
    nothing)."""
    r = cli(
        "plan",
        str(tenant_dir),
        "--detailed-exitcode",
        "--format",
        "json",
        "--allow-destroy",
        *plan_args,
    )
    if r.exit_code == 0:
        return []
    again = json.loads(r.stdout)["tenants"][0] if r.exit_code == 2 else None
    listed = (
        ", ".join(f"{c['address']} {c['action']} ({c['reason']})" for c in again["changes"])
        if again is not None
        else r.output.strip()[-2000:]
    )
    adopt = sorted(again.get("adopt", {})) if again is not None else []
    return [
        f"the next plan is not empty (exit {r.exit_code}): {listed or '-'}"
        + (f"; to record: {', '.join(adopt)}" if adopt else "")
    ]


def with_plan_applied(done: Applied, bad: list[str]) -> list[str]:
    """``bad``, followed by the changes of the plan applied when there is anything."""
    if bad:
        shown = ", ".join(
            f"{c['address']} {c['action']} ({c['reason']})" for c in done.plan["changes"]
        )
        bad = [*bad, f"(the plan applied: {shown or 'no changes'})"]
    return bad
