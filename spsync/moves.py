"""Renames: an object that left one address of the state and appears under another. PURE.

A manifest key renamed (``jane:`` -> ``jane-smith:``) leaves its old address in the state
only and its new one in the manifests only. Planned naively, that is a removal (unassign,
cancel) plus an adoption or creation of the very same remote objects. Instead the planner
treats it as a *move*: the state entry takes the new address, no API call is made, and the
dependants (enrollments, assignments, sessions) move with it.

Identity, never the name, decides:

- a course, user or exam whose ``ids`` are the ones last applied under the old address (or
  whose ``ids.sid`` is the SID recorded there); an exam must also stay in the same course;
- an enrollment, assignment or session whose old address, with its course, exam and user
  names renamed as above, is the new address.

Only one-to-one matches move: when two new addresses claim one old one (or the reverse),
none of them moves and the plan shows the removal and the creation as they are.
``spsync state mv`` covers what detection cannot see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from spsync.model import Course, Desired, Exam, User, kind_of
from spsync.observed import Observed
from spsync.state import State

#: kinds whose addresses are made of two names: (kind of the first, kind of the second)
PAIRS: dict[str, tuple[str, str]] = {
    "enrollment": ("course", "user"),
    "assignment": ("exam", "user"),
    "session": ("exam", "user"),
}


def _ids_key(ids: object) -> str:
    return json.dumps(ids, sort_keys=True)


def _identity_moves(
    desired: Desired, state: State, new_only: set[str], old_only: set[str]
) -> dict[str, str]:
    """new -> old for courses, users and exams whose identity is unchanged."""
    moves: dict[str, str] = {}
    groups: dict[str, Mapping[str, Course | User | Exam]] = {
        "course": desired.courses,
        "user": desired.users,
        "exam": desired.exams,
    }
    for kind in ("course", "user", "exam"):
        claims: dict[str, list[str]] = {}
        olds = [a for a in old_only if kind_of(a) == kind]
        for new in sorted(a for a in new_only if kind_of(a) == kind):
            res = groups[kind][new]
            for old in olds:
                rec = state.resources[old]
                if res.ids.kind == "sid":
                    same = bool(rec.sid) and rec.sid == res.ids.sid
                else:
                    applied = rec.applied.get("ids")
                    same = applied is not None and _ids_key(applied) == _ids_key(res.ids.wire())
                if same and isinstance(res, Exam):
                    same = _same_course(state, moves, res.course, rec.refs.get("course"))
                if same:
                    claims.setdefault(new, []).append(old)
        moves.update(_one_to_one(claims))
    return moves


def _same_course(state: State, moves: Mapping[str, str], course: str, sid: str | None) -> bool:
    """Whether the exam's desired course is the course SID it was recorded under."""
    address = f"course.{course}"
    rec = state.resources.get(moves.get(address, address))
    if rec is None or not rec.sid or not sid:
        return False
    return rec.sid == sid


def _one_to_one(claims: Mapping[str, list[str]]) -> dict[str, str]:
    """Keep the claims where one new address matches one old one and nothing else does."""
    taken: dict[str, int] = {}
    for olds in claims.values():
        for old in olds:
            taken[old] = taken.get(old, 0) + 1
    return {new: olds[0] for new, olds in claims.items() if len(olds) == 1 and taken[olds[0]] == 1}


def _dependant_moves(
    moves: Mapping[str, str], new_only: set[str], old_only: set[str]
) -> dict[str, str]:
    """new -> old for enrollments, assignments and sessions whose names were renamed."""
    renamed: dict[str, dict[str, str]] = {"course": {}, "exam": {}, "user": {}}
    for new, old in moves.items():
        kind = kind_of(new)
        if kind in renamed:
            renamed[kind][old.split(".", 1)[1]] = new.split(".", 1)[1]
    if not any(renamed.values()):
        return {}
    claims: dict[str, list[str]] = {}
    for old in sorted(old_only):
        kind = kind_of(old)
        if kind not in PAIRS:
            continue
        first, second = PAIRS[kind]
        parts = old.split(".")[1:]
        for i in range(1, len(parts)):
            a, b = ".".join(parts[:i]), ".".join(parts[i:])
            a2, b2 = renamed[first].get(a, a), renamed[second].get(b, b)
            new = f"{kind}.{a2}.{b2}"
            if new != old and new in new_only:
                claims.setdefault(new, []).append(old)
    return _one_to_one(claims)


def detect_moves(desired: Desired, state: State) -> dict[str, str]:
    """Every rename this plan should show as a move: new address -> old address."""
    wanted = set(desired.addresses())
    new_only = wanted - set(state.resources)
    old_only = set(state.resources) - wanted
    if not new_only or not old_only:
        return {}
    moves = _identity_moves(desired, state, new_only, old_only)
    for new, old in _dependant_moves(moves, new_only, old_only).items():
        if new not in moves and old not in moves.values():
            moves[new] = old
    return moves


def renamed_state(state: State, moves: Mapping[str, str]) -> State:
    """``state`` with each moved entry under its new address."""
    if not moves:
        return state
    back = {old: new for new, old in moves.items()}
    resources = {back.get(a, a): r for a, r in state.resources.items()}
    return state.model_copy(update={"resources": resources})


def renamed_observed(observed: Observed | None, moves: Mapping[str, str]) -> Observed | None:
    """``observed`` as if the moved objects had been observed under their new address."""
    if observed is None or not moves:
        return observed
    back = {old: new for new, old in moves.items()}

    def keys(addresses: Iterable[str]) -> frozenset[str]:
        return frozenset(back.get(a, a) for a in addresses)

    sessions = dict(observed.sessions)
    for old, new in back.items():
        if old in observed.sessions:
            sessions[new] = observed.sessions[old]
        sessions.pop(old, None)
    return observed.model_copy(
        update={
            "objects": {back.get(a, a): o for a, o in observed.objects.items()},
            "missing": keys(observed.missing),
            "unreachable": keys(observed.unreachable),
            "adopted": {a: o for a, o in observed.adopted.items() if a not in moves},
            "sessions": sessions,
        }
    )


def moved_with(addresses: Iterable[str], source: str, dest: str) -> dict[str, str]:
    """``spsync state mv``: old -> new address of ``source`` and, for a course, exam or
    user, of every address among ``addresses`` that names it (its enrollments, assignments
    and sessions). ``ValueError`` when the two are not of one kind."""
    kind = kind_of(source)
    if kind != kind_of(dest) or source == dest:
        raise ValueError(f"cannot move {source} to {dest}: the kinds must match")
    out = {source: dest}
    if kind not in ("course", "exam", "user"):
        return out
    old, new = source.split(".", 1)[1], dest.split(".", 1)[1]
    for address in addresses:
        k = kind_of(address)
        if k not in PAIRS or address == source:
            continue
        first, second = PAIRS[k]
        parts = address.split(".")[1:]
        for i in range(1, len(parts)):
            a, b = ".".join(parts[:i]), ".".join(parts[i:])
            if first == kind and a == old:
                out[address] = f"{k}.{new}.{b}"
            elif second == kind and b == old:
                out[address] = f"{k}.{a}.{new}"
    return out
