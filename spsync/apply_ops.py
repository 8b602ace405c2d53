"""Apply's operations: one tenant's changes grouped into units of work. PURE.

An operation is one API round (or a few) completing one or more changes, named by the
``work`` the executor's dispatch table runs for it:

- ``forget``, ``refresh``: state only, whatever the kind;
- ``course``, ``exam``, ``enrollment``, ``session``: one change each;
- ``user``: a user's provision, sharing its call with one enrollment of that user created or
  updated by the same plan (course by SID + user + enrollment);
- ``assignments``: every assign and unassign of one exam (sent in batches).

``move`` changes make no operation: the executor records them before any work starts. An
operation waits for the changes its members' ``depends_on`` name (those of this run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from spsync.errors import ApplyError
from spsync.model import Desired, kind_of
from spsync.plan import EFFECT_REASONS, Change
from spsync.state import State

#: the work of a change that sends nothing, by action; any other runs the work of its kind
STATE_WORK: frozenset[str] = frozenset({"forget", "refresh"})
#: kinds whose changes run one by one
SINGLE_KINDS: frozenset[str] = frozenset({"course", "exam", "user", "enrollment", "session"})


@dataclass(eq=False, slots=True)
class Op:
    """One unit of work completing ``changes``.

    A first apply of 100,000 students holds some 300,000 of them when it starts: slotted,
    and dependencies as tuples (a set of one address is 216 bytes, a tuple 48)."""

    label: str
    changes: list[Change]
    #: the key of the work in the executor's dispatch table
    work: str
    deps: tuple[str, ...]
    order: int
    #: group operations run the members whose dependencies succeeded, skip the others
    group: bool = False
    #: member address -> its own dependencies (group operations only)
    member_deps: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_MEMBERS)


#: the member dependencies of every operation that is not a group (never written to)
_NO_MEMBERS: Mapping[str, tuple[str, ...]] = MappingProxyType({})


def work_of(change: Change) -> str:
    """The work that runs one change alone."""
    if change.action in STATE_WORK:
        return change.action
    if _effect_unassign(change):
        return "forget"
    kind = kind_of(change.address)
    if kind not in SINGLE_KINDS:  # assign/unassign run grouped; nothing else reaches here
        raise ApplyError(f"{change.address}: cannot apply {change.action} to a {kind}")
    return kind


def build_ops(changes: Sequence[Change], desired: Desired, state: State) -> list[Op]:
    """The operations of ``changes`` (in plan order, noops left out), in plan order."""
    in_plan = {c.address for c in changes}
    order = {c.address: i for i, c in enumerate(changes)}

    def deps(change: Change) -> tuple[str, ...]:
        return tuple(x for x in change.depends_on if x in in_plan and x != change.address)

    ops: list[Op] = []
    taken: set[str] = set()

    # users, each sharing its call with one enrollment of its own when there is one; the
    # candidates are indexed by user once (a scan of every change per user would cost
    # O(users x changes))
    partners: dict[str, list[Change]] = {}
    for e in changes:
        if e.action in ("create", "update") and e.address in desired.enrollments:
            partners.setdefault(desired.enrollments[e.address].user, []).append(e)
    for c in changes:
        user = desired.users.get(c.address)
        if user is None or c.action not in ("create", "update"):
            continue
        partner = next((e for e in partners.get(user.name, ()) if e.address not in taken), None)
        members = [c] if partner is None else [c, partner]
        taken.update(m.address for m in members)
        inside = {m.address for m in members}
        wait = _without(set().union(*(deps(m) for m in members)), inside)
        ops.append(Op(c.address, members, "user", wait, order[c.address]))

    # assignments, one group per exam
    groups: dict[str, list[Change]] = {}
    for c in changes:
        if (
            kind_of(c.address) == "assignment"
            and c.action in ("assign", "unassign")
            and not _effect_unassign(c)
        ):
            groups.setdefault(_assignment_exam(c, desired, state), []).append(c)
            taken.add(c.address)
    for key, members in groups.items():
        member_deps = {m.address: deps(m) for m in members}
        inside = {m.address for m in members}
        ops.append(
            Op(
                label=f"assignment.{key}.*",
                changes=members,
                work="assignments",
                deps=_without(set().union(*member_deps.values()), inside),
                order=min(order[m.address] for m in members),
                group=True,
                member_deps={a: _without(ds, inside) for a, ds in member_deps.items()},
            )
        )

    for c in changes:
        if c.address in taken or c.action == "move":
            continue  # moves are recorded before any work starts
        ops.append(Op(c.address, [c], work_of(c), deps(c), order[c.address]))
    ops.sort(key=lambda o: o.order)
    return in_waves(ops)


def _effect_unassign(change: Change) -> bool:
    """An unassign that is the effect of another change's call (an enrollment's role change
    drops it from the exam's assignments): apply sends nothing for it, and only drops it
    from state once that call succeeded (it waits for it through ``depends_on``)."""
    return change.action == "unassign" and change.reason in EFFECT_REASONS


def _without(addresses: Iterable[str], inside: set[str]) -> tuple[str, ...]:
    """``addresses`` (each once) not in ``inside``, sorted (a stable order to wait on them
    in)."""
    return tuple(sorted(a for a in addresses if a not in inside))


#: the work that joins the wave of the first group needing it: a student's provision
WAVE_WORK: frozenset[str] = frozenset({"user", "enrollment"})


def in_waves(ops: list[Op]) -> list[Op]:
    """``ops`` in the order the executor starts them: each exam's assignments as a wave.

    In plan order, every user is provisioned before any assignment group is ready (a group
    waits for all of its enrollments, which are spread over the whole roster), so a first
    apply ran as two phases, provisions then schedules, and stalled between them. Here the
    operations that feed the first group come first, then that group and what waits on it,
    then the second group's, and so on: the first exam's sessions are booked while the next
    exam's students are provisioned. Only the order in which ready operations start
    changes; every operation still waits for its dependencies. The order is stable: ops
    that feed no group and follow none keep their place at the front, and so do courses and
    exams (one call each, and every wave needs its exam).
    """
    owner = {c.address: op for op in ops for c in op.changes}
    rank: dict[int, int] = {}
    groups = [op for op in ops if op.group]
    for wave, group in enumerate(groups):
        rank[id(group)] = wave
        for dep in group.deps:
            feeder = owner.get(dep)
            if feeder is not None and feeder.work in WAVE_WORK:
                rank.setdefault(id(feeder), wave)
    for op in ops:  # what waits on a wave joins it (plan order: dependencies come first)
        if id(op) in rank:
            continue
        waves = [rank[id(owner[d])] for d in op.deps if d in owner and id(owner[d]) in rank]
        if waves:
            rank[id(op)] = max(waves)
    if not groups:
        return ops
    return sorted(ops, key=lambda op: rank.get(id(op), -1))


def _assignment_exam(c: Change, desired: Desired, state: State) -> str:
    """The exam an assignment change belongs to: the manifests', else the one in state."""
    asg = desired.assignments.get(c.address)
    if asg is not None:
        return asg.exam
    rs = state.resources.get(c.address)
    exam_sid = rs.refs.get("exam") if rs else None
    for addr, res in state.resources.items():
        if kind_of(addr) == "exam" and res.sid == exam_sid and exam_sid:
            return addr.split(".", 1)[1]
    return exam_sid or "?"
