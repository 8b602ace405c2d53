"""The planner's view of one tenant, and how its addresses hang together. PURE.

``PlannerBase`` holds what the rules (``planner_provision``, ``planner_sessions``) decide
from: the manifests, the state, the live objects, the decisions made so far. It owns the
dependencies: what an address hangs off (``parents``: an object made anew remakes what
hangs off it, and a target brings them into the plan), and what a change's calls need
besides (``call_deps``). ``linked`` turns both into each change's ``depends_on``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spsync.model import Desired, kind_of
from spsync.observed import LiveObject, LiveSession, Observed
from spsync.plan import EFFECT_REASONS, Action, Adoption, Change, Reason
from spsync.state import ResourceState, State


@dataclass(slots=True)
class Decision:
    """The action and reason decided for one address."""

    action: Action
    reason: Reason
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: before/after hold raw (unmasked) fields; masked when the Change is built
    #: the changes whose call causes this one's remote effect or makes it necessary (an
    #: unassign cancels a session, a scope switch withdraws one, a new user's provision
    #: enrolls the user): in its ``depends_on``, and a target of one of them brings it along
    depends_extra: tuple[str, ...] = ()


#: actions that make an object anew: its dependants in state are made anew too
REMAKES = frozenset({"create", "assign", "schedule"})


class PlannerBase:
    """What the planner decides from, and the dependencies between addresses."""

    def __init__(
        self,
        desired: Desired,
        state: State,
        observed: Observed | None,
        key: bytes,
        *,
        moves: Mapping[str, str] | None = None,
        replace: Iterable[str] = (),
    ) -> None:
        self.d = desired
        self.s = state
        self.o = observed
        self.key = key
        #: new address -> old address of the entries this plan moves (already renamed in
        #: ``state`` and ``observed``)
        self.moves = dict(moves or {})
        #: session addresses to cancel and book again on purpose (``--replace``)
        self.replace = frozenset(replace)
        #: exams switched from unlimited to limited scope by this plan
        self.scoping: set[str] = set()
        self.decisions: dict[str, Decision] = {}
        #: how many of ``decisions`` make their object anew (``REMAKES``): while none does,
        #: no dependant has to be made anew (``parent_remade``), the common case
        self.remakes = 0
        self.adopt: dict[str, Adoption] = {}
        self.warnings: list[str] = []
        #: kind -> managed fields some live object of that kind did not show
        self.unseen: dict[str, set[str]] = {}
        self._course_by_sid = {
            r.sid: a.split(".", 1)[1]
            for a, r in state.resources.items()
            if kind_of(a) == "course" and r.sid
        }
        # local course name of each exam, from the manifests or (for exams leaving them:
        # a role change of the plan still ends what is booked there) state
        self.exam_course: dict[str, str] = {}
        for addr, exam in desired.exams.items():
            self.exam_course[addr] = exam.course
        self._names: dict[str, set[str]] = {k: set() for k in ("course", "exam")}
        for a in (*desired.courses, *desired.exams, *state.resources):
            k, _, name = a.partition(".")
            if k in self._names:
                self._names[k].add(name)
            if k == "exam" and a not in self.exam_course:
                course = self._course_by_sid.get(state.resources[a].refs.get("course", ""))
                if course is not None:
                    self.exam_course[a] = course
        self._courses_of_user: dict[str, list[str]] | None = None
        #: address -> what its calls need beyond what it hangs off (``call_deps``)
        self.call_needs: dict[str, set[str]] = {}
        #: session addresses neither the manifests nor the state hold, booked live and
        #: cancelled by a change of this plan -> their live session
        self._extra_sessions: dict[str, LiveSession] = {}

    # --- helpers ----------------------------------------------------------------------

    def rec(self, address: str) -> ResourceState | None:
        return self.s.resources.get(address)

    def sid(self, address: str) -> str | None:
        r = self.rec(address)
        if r is not None and r.sid:
            return r.sid
        if self.o is not None and address in self.o.adopted:
            return self.o.adopted[address].sid
        return None

    def live(self, address: str) -> LiveObject | None:
        if self.o is None:
            return None
        return self.o.objects.get(address)

    def is_missing(self, address: str) -> bool:
        return self.o is not None and address in self.o.missing

    def course_of_exam(self, exam_name: str) -> str | None:
        exam = self.d.exams.get(f"exam.{exam_name}")
        if exam is not None:
            return exam.course
        rec = self.rec(f"exam.{exam_name}")
        if rec is not None and rec.refs.get("course") in self._course_by_sid:
            return self._course_by_sid[rec.refs["course"]]
        return None

    def limited(self, exam_name: str) -> bool:
        """Effective scope of an exam: the manifest's, else the live one, else last applied,
        else the API default (unlimited)."""
        addr = f"exam.{exam_name}"
        exam = self.d.exams.get(addr)
        if exam is not None and exam.limitedScope is not None:
            return exam.limitedScope
        for obj in (self.live(addr), self.o.adopted.get(addr) if self.o else None):
            if obj is not None and "limitedScope" in obj.fields:
                return bool(obj.fields["limitedScope"])
        rec = self.rec(addr)
        if rec is not None and "limitedScope" in rec.applied:
            return bool(rec.applied["limitedScope"])
        return False

    def parents(self, address: str) -> list[str]:
        """The addresses ``address`` hangs off (structural; whether or not they change).

        Worked out at each call, not kept: it depends on the inputs only, most addresses
        ask once, and a large tenant's 80,000 lists of new strings were ~15 MB at the
        planner's peak."""
        kind, _, rest = address.partition(".")
        if kind == "exam":
            course = self.course_of_exam(rest)
            return [f"course.{course}"] if course else []
        if kind == "enrollment":
            course, user = self.split_pair(address, self.d.courses, "course")
            return [f"course.{course}", f"user.{user}"]
        if kind in ("assignment", "session"):
            exam, user = self.split_pair(address, self.d.exams, "exam")
            out = [f"exam.{exam}"]
            course = self.course_of_exam(exam)
            if kind == "session" and self.limited(exam):
                out.append(f"assignment.{exam}.{user}")
            elif course is not None:
                out.append(f"enrollment.{course}.{user}")
            return out
        return []

    def split_pair(self, address: str, group: Mapping[str, Any], kind: str) -> tuple[str, str]:
        """Split ``kind2.A.B`` where names may hold dots: the first part is a known name."""
        rest = address.split(".", 1)[1]
        head, _, tail = rest.partition(".")
        known = self._names[kind]
        if head in known:
            return head, tail
        parts = rest.split(".")
        for i in range(2, len(parts)):
            head = ".".join(parts[:i])
            if head in known:
                return head, ".".join(parts[i:])
        return parts[0], ".".join(parts[1:])

    def decided(self, address: str, dec: Decision) -> None:
        """Record the decision for ``address`` (final: it is not changed afterwards)."""
        self.decisions[address] = dec
        if dec.action in REMAKES:
            self.remakes += 1

    def parent_remade(self, address: str) -> Reason | None:
        """When ``address`` is in state and an object it hangs off is made anew in this plan
        (created again, re-assigned), it must be made anew too: the parent's reason."""
        if not self.remakes or self.rec(address) is None:
            return None
        for p in self.parents(address):
            dec = self.decisions.get(p)
            if dec is not None and dec.action in REMAKES:
                return dec.reason
        return None

    def call_deps(self, address: str, dec: Decision) -> set[str]:
        """What apply must have done before this change's own calls, beyond what it hangs
        off: the objects whose SIDs its requests name (from the manifests), and for an
        unassign the cancel of the same session (so that spsync's memo is the one kept)."""
        if dec.action in ("create", "update", "assign", "schedule", "reschedule", "replace"):
            return self._sids_used(address)
        if dec.action == "unassign":
            session = "session." + address.split(".", 1)[1]
            other = self.decisions.get(session)
            if (
                other is not None
                and other.action in ("cancel", "replace")
                and other.reason not in EFFECT_REASONS
            ):
                return {session}
        return set()

    def _sids_used(self, address: str) -> set[str]:
        """The addresses whose SIDs the request of a change at ``address`` names."""
        d = self.d
        if address in d.exams:
            return {f"course.{d.exams[address].course}"}
        if address in d.users:
            if self._courses_of_user is None:
                self._courses_of_user = courses_of_users(d)
            name = d.users[address].name
            return {provision_course(name, self._courses_of_user, self.s.resources, d.courses)}
        if address in d.enrollments:
            e = d.enrollments[address]
            return {f"course.{e.course}", f"user.{e.user}"}
        if address in d.assignments or address in d.sessions:
            res = d.assignments.get(address) or d.sessions[address]
            exam = d.exams[f"exam.{res.exam}"]
            out = {f"exam.{res.exam}", f"enrollment.{exam.course}.{res.user}"}
            if address in d.sessions and exam.limited:
                out.add(f"assignment.{res.exam}.{res.user}")
            return out
        return set()

    def forget(self, address: str) -> Decision:
        rec = self.rec(address)
        before = rec.applied if rec is not None else None
        return Decision("forget", "removed", before, None)


def courses_of_users(desired: Desired) -> dict[str, list[str]]:
    """User name -> the courses the user is enrolled in (indexed once: a scan of every
    enrollment per user would be O(users x enrollments))."""
    out: dict[str, list[str]] = {}
    for e in desired.enrollments.values():
        out.setdefault(e.user, []).append(e.course)
    return out


def provision_course(
    user: str,
    courses_of_user: Mapping[str, Sequence[str]],
    recorded: Container[str],
    courses: Iterable[str],
) -> str:
    """The course a user-only provision names (the call requires one): a course the user
    is enrolled in, one ``recorded`` in state first, else the tenant's first course."""
    mine = sorted(courses_of_user.get(user, ()))
    for name in mine:
        if f"course.{name}" in recorded:
            return f"course.{name}"
    if mine:
        return f"course.{mine[0]}"
    return min(courses, default="course.?")


def closure(targets: Iterable[str], parents: Any) -> set[str]:
    """``targets`` and, transitively, everything they hang off."""
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        a = todo.pop()
        if a in seen:
            continue
        seen.add(a)
        todo.extend(parents(a))
    return seen


def with_effects(
    selected: Iterable[str], decisions: Mapping[str, Decision], parents: Any
) -> set[str]:
    """``selected`` (closed under ``parents``) and, transitively, every decision caused by
    one of them (its ``depends_extra``) together with everything that one hangs off: what
    a targeted change's call does remotely is a change of the targeted plan."""
    caused: dict[str, list[str]] = {}
    for address, dec in decisions.items():
        for cause in dec.depends_extra:
            caused.setdefault(cause, []).append(address)
    out = set(selected)
    todo = list(out) if caused else []
    while todo:
        for effect in caused.get(todo.pop(), ()):
            if effect not in out:
                new = closure((effect,), parents) - out
                out |= new
                todo.extend(new)
    return out


def linked(changes: Sequence[Change], call_needs: Mapping[str, set[str]]) -> tuple[Change, ...]:
    """``changes`` with ``depends_on`` naming only changes of this (possibly targeted) plan;
    of what a change's calls need (``call_needs``), only what it does not already wait for
    through another of its dependencies (a session waits for its enrollment through its
    assignment)."""
    present = {c.address for c in changes}
    by_address = {c.address: c for c in changes}
    known: dict[str, set[str]] = {}

    def deps(address: str) -> set[str]:
        """The dependencies of the change at ``address`` that are in this plan."""
        mine = known.get(address)
        if mine is None:
            mine = known[address] = {x for x in by_address[address].depends_on if x in present}
        return mine

    out = []
    for c in changes:
        extra = call_needs.get(c.address)
        if not extra and present.issuperset(c.depends_on):
            out.append(c)  # nothing to drop (most changes): each dependency is in the plan
            continue
        mine = deps(c.address)
        kept = tuple(
            x
            for x in c.depends_on
            if x in mine
            and (not extra or x not in extra or not any(x in deps(y) for y in mine if y != x))
        )
        out.append(c if kept == c.depends_on else c.model_copy(update={"depends_on": kept}))
    return tuple(out)
