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
  - removed while its assignment stays: ``cancel``/removed; when its assignment is unassigned
    in the same plan, the unassign cancels it and the session is only forgotten.

Only fields the manifest manages (non-``None``) are compared, normalised on both sides, so
an apply followed by a plan is always empty. Secret fields are compared through keyed
fingerprints (state keeps only those) and shown as ``(sensitive)`` / ``(changed)``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spsync.errors import PlanError
from spsync.fields import (
    canonical,
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
from spsync.model import (
    KINDS,
    Desired,
    Exam,
    kind_of,
)
from spsync.moves import detect_moves, renamed_observed, renamed_state
from spsync.observed import (
    ACTIVE_STATUSES,
    CANCELLED,
    DONE_STATUSES,
    NEEDS_PROCTOR,
    SCHEDULED,
    LiveObject,
    LiveSession,
    Observed,
)
from spsync.plan import (
    DESTRUCTIVE,
    EFFECT_REASONS,
    Action,
    Adoption,
    Change,
    Reason,
    TenantPlan,
    sort_changes,
    summarize,
)
from spsync.state import ResourceState, State
from spsync.suggest import did_you_mean

#: session fields the reschedule endpoint can change; any other change is a replace
RESCHEDULABLE: frozenset[str] = frozenset({"appointment", "notes"})

#: fields of a live object never compared with the manifest: identity is checked apart
NOT_COMPARED_LIVE: frozenset[str] = frozenset({"ids"})


def _top_fields(paths: Iterable[str]) -> set[str]:
    return {p.split(".", 1)[0] for p in paths}


@dataclass
class _Decision:
    action: Action
    reason: Reason
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: before/after hold raw (unmasked) fields; masked when the Change is built
    depends_extra: tuple[str, ...] = ()


#: actions that make an object anew: its dependants in state are made anew too
_REMAKES = frozenset({"create", "assign", "schedule"})


class _Planner:
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
        self.decisions: dict[str, _Decision] = {}
        self.adopt: dict[str, Adoption] = {}
        self.warnings: list[str] = []
        #: kind -> managed fields some live object of that kind did not show
        self.unseen: dict[str, set[str]] = {}
        # local course name of each exam, from the manifests or (for removed exams) state
        self.exam_course: dict[str, str] = {}
        for addr, exam in desired.exams.items():
            self.exam_course[addr] = exam.course
        self._names: dict[str, set[str]] = {k: set() for k in ("course", "exam")}
        for a in (*desired.courses, *desired.exams, *state.resources):
            k, _, name = a.partition(".")
            if k in self._names:
                self._names[k].add(name)
        self._parents: dict[str, list[str]] = {}
        self._courses_of_user: dict[str, list[str]] | None = None
        #: address -> what its calls need beyond what it hangs off (``call_deps``)
        self.call_needs: dict[str, set[str]] = {}
        self._course_by_sid = {
            r.sid: a.split(".", 1)[1]
            for a, r in state.resources.items()
            if kind_of(a) == "course" and r.sid
        }

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
        """The addresses ``address`` hangs off (structural; whether or not they change)."""
        out = self._parents.get(address)
        if out is None:
            out = self._parents[address] = self._parents_of(address)
        return out

    def _parents_of(self, address: str) -> list[str]:
        kind, _, rest = address.partition(".")
        if kind == "exam":
            course = self.course_of_exam(rest)
            return [f"course.{course}"] if course else []
        if kind == "enrollment":
            course, user = self._split_pair(address, self.d.courses, "course")
            return [f"course.{course}", f"user.{user}"]
        if kind in ("assignment", "session"):
            exam, user = self._split_pair(address, self.d.exams, "exam")
            out = [f"exam.{exam}"]
            course = self.course_of_exam(exam)
            if kind == "session" and self.limited(exam):
                out.append(f"assignment.{exam}.{user}")
            elif course is not None:
                out.append(f"enrollment.{course}.{user}")
            return out
        return []

    def _split_pair(self, address: str, group: Mapping[str, Any], kind: str) -> tuple[str, str]:
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

    def parent_remade(self, address: str) -> Reason | None:
        """When ``address`` is in state and an object it hangs off is made anew in this plan
        (created again, re-assigned), it must be made anew too: the parent's reason."""
        if self.rec(address) is None:
            return None
        for p in self.parents(address):
            dec = self.decisions.get(p)
            if dec is not None and dec.action in _REMAKES:
                return dec.reason
        return None

    def call_deps(self, address: str, dec: _Decision) -> set[str]:
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

    # --- provisioned kinds ----------------------------------------------------------------

    def identity_changed(self, address: str, res: Any, rec: ResourceState) -> str | None:
        """Why ``res`` is another remote object than the one in state (``None``: same)."""
        ids = getattr(res, "ids", None)
        if ids is not None:
            if ids.kind == "sid":
                if rec.sid and ids.sid != rec.sid:
                    return f"ids.sid changed from {rec.sid} to {ids.sid}"
            elif "ids" in rec.applied and rec.applied["ids"] != ids.wire():
                return "ids changed"
        if isinstance(res, Exam):
            course_sid = self.sid(f"course.{res.course}")
            if course_sid and rec.refs.get("course") and rec.refs["course"] != course_sid:
                return f"moved to course {res.course}"
        return None

    def provisioned(self, address: str, res: Any) -> _Decision:
        rec = self.rec(address)
        want = canonical(res, self.key)
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is None:
                return _Decision("create", "new", None, want)
            self.adopt[address] = Adoption(sid=found.sid, refs=found.refs)
            return self.compare(address, want, None, found, new=True)
        remade = self.parent_remade(address)
        if remade is not None:
            return _Decision("create", remade, None, want)
        why = self.identity_changed(address, res, rec)
        if why is not None:
            self.warnings.append(
                f"{address}: {why}: another remote object will be provisioned; the old one "
                f"({rec.sid or 'no SID'}) is left as it is"
            )
            return _Decision("create", "manifest-changed", None, want)
        if self.is_missing(address):
            return _Decision("create", "drift", None, want)
        return self.compare(address, want, rec, self.live(address))

    def compare(
        self,
        address: str,
        want: dict[str, Any],
        rec: ResourceState | None,
        live: LiveObject | None,
        *,
        new: bool = False,
        action: Action = "update",
    ) -> _Decision:
        """Compare managed fields: the manifest vs last applied, and vs the live object."""
        # fields a live object does not show (amount of a session, a password the API does
        # not return) keep their last applied value; on first contact the manifest's
        base = rec.applied if rec is not None else want
        current = base
        if live is not None:
            fields = live.fields
            if address.startswith("exam."):  # the only kind with secrets
                fields = fingerprint_secrets(fields, self.key)
            self._note_unseen(address, want, fields)
            current = overlay(base, fields)
        # identity fields are checked apart (identity_changed), never as an update
        current = {**current, **{k: want[k] for k in NOT_COMPARED_LIVE if k in want}}
        applied = rec.applied if rec is not None else {}
        before = project(current, want)
        if changed_paths(before, want) == []:
            if rec is not None and project(applied, want) != want and address not in self.adopt:
                # the live object already matches an edited manifest: nothing to send, but
                # state must learn the new baseline
                self.adopt[address] = Adoption(sid=rec.sid, refs=rec.refs)
            return _Decision("noop", "new" if new else "manifest-changed", before, want)
        reason: Reason
        if new:
            reason = "new"
        elif project(applied, want) != want:
            reason = "manifest-changed"
        else:
            reason = "drift"
        return _Decision(action, reason, before, want)

    def _note_unseen(
        self, address: str, want: Mapping[str, Any], fields: Mapping[str, Any]
    ) -> None:
        """Remember which managed fields the live object lacks that reads of its kind may
        show (``Observed.unobserved``; said once per kind). Fields no read shows (a
        session's amount) are not news on every plan."""
        kind = kind_of(address)
        readable = self.o.unobserved.get(kind) if self.o is not None else None
        if not readable:
            return
        missing = [k for k in want if k not in fields and k in readable]
        conf, live_conf = want.get("configuration"), fields.get("configuration")
        if isinstance(conf, dict) and isinstance(live_conf, dict):
            missing += [
                f"configuration.{k}"
                for k in conf
                if k not in live_conf and f"configuration.{k}" in readable
            ]
        if missing:
            self.unseen.setdefault(kind, set()).update(missing)

    def unseen_warnings(self) -> list[str]:
        """One line per kind whose live objects lack fields the manifests manage."""
        return [
            f"{kind}s: the API's reads do not return {', '.join(sorted(fields))}: spsync keeps "
            "their last applied values and cannot see a change made to them outside spsync "
            "(docs/api-dialects.md)"
            for kind, fields in sorted(self.unseen.items())
        ]

    def forget(self, address: str) -> _Decision:
        rec = self.rec(address)
        before = rec.applied if rec is not None else None
        return _Decision("forget", "removed", before, None)

    # --- assignments ------------------------------------------------------------------

    def assignment(self, address: str) -> _Decision:
        exam_name, _user = self._split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        res = self.d.assignments.get(address)
        if res is None:
            if f"exam.{exam_name}" not in self.d.exams:
                return self.forget(address)  # its exam left management: left as it is
            if self.is_missing(address):
                return self.forget(address)  # already unassigned remotely
            twin = self._twin(address)
            if twin is not None:
                return self._forget_twin(address, twin)
            return _Decision("unassign", "removed", {}, None)
        if not self.limited(exam_name):
            # an unlimited exam gives every learner enrollment a session: nothing to assign.
            # One assigned while the exam was limited stays recorded: the API still holds it
            # (a role change or a removal unassigns it, which the plan must then show)
            return _Decision("noop", "manifest-changed" if rec is not None else "new", {}, {})
        if exam_name in self.scoping and rec is None:
            # while the exam was unlimited, a session proved nothing about an assignment:
            # only one recorded in state is known to be held; the others are sent
            return _Decision("assign", "scope-limited", None, {})
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is not None:
                self.adopt[address] = Adoption(sid=None, refs=found.refs)
                return _Decision("noop", "new", {}, {})
            return _Decision("assign", "new", None, {})
        remade = self.parent_remade(address)
        if remade is not None:
            return _Decision("assign", remade, None, {})
        if self.is_missing(address):
            return _Decision("assign", "drift", None, {})
        return _Decision("noop", "manifest-changed", {}, {})

    def _twin(self, address: str) -> str | None:
        """Another address of the same kind kept by this plan whose state entry (or adopted
        object) is this address's remote object: the same session SID, or the same exam and
        enrollment for an assignment. Removing this one would remove that one too."""
        rec = self.rec(address)
        if rec is None:
            return None
        mine = self._identity(rec.sid, rec.refs, kind_of(address))
        if mine is None:
            return None
        for other in self._kept_by_identity.get(mine, ()):
            if other != address:
                return other
        return None

    @staticmethod
    def _identity(sid: str | None, refs: Mapping[str, str], kind: str) -> tuple[str, ...] | None:
        if kind == "session":
            return (kind, sid) if sid else None
        if kind == "assignment" and refs.get("exam") and refs.get("enrollment"):
            return (kind, refs["exam"], refs["enrollment"])
        return None

    def _index_kept(self) -> None:
        """Identities of the assignments and sessions the manifests keep (in state or found)."""
        self._kept_by_identity: dict[tuple[str, ...], list[str]] = {}
        for group in (self.d.assignments, self.d.sessions):
            for address in group:
                rec = self.rec(address)
                found = self.o.adopted.get(address) if self.o is not None else None
                obj = rec if rec is not None else found
                if obj is None:
                    continue
                ident = self._identity(obj.sid, obj.refs, kind_of(address))
                if ident is not None:
                    self._kept_by_identity.setdefault(ident, []).append(address)

    def _forget_twin(self, address: str, twin: str) -> _Decision:
        self.warnings.append(
            f"{address}: its remote object is also {twin}, which the manifests keep; only "
            f"dropped from state (use `spsync state mv {address} {twin}` to say it moved)"
        )
        return self.forget(address)

    # --- sessions ---------------------------------------------------------------------

    def _cancel_cause(self, exam_name: str, user: str) -> tuple[Reason, str] | None:
        """``(reason, address)`` of the change in this plan whose call cancels the session
        of ``user`` in ``exam_name`` as a side effect, if any."""
        course = self.course_of_exam(exam_name)
        enrollment = f"enrollment.{course}.{user}"
        dec = self.decisions.get(enrollment)
        if dec is not None and dec.action == "update" and _role_leaves_learner(dec):
            return "role-changed", enrollment
        assignment = f"assignment.{exam_name}.{user}"
        if exam_name in self.scoping and self.rec(assignment) is None:
            return "scope-limited", f"exam.{exam_name}"
        dec = self.decisions.get(assignment)
        if dec is not None and dec.action == "unassign" and self.limited(exam_name):
            # only a limited-scope exam withdraws the session of an unassigned enrollment
            return "unassigned", assignment
        return None

    def removed_session(self, address: str) -> _Decision:
        """A session in state (or booked live) that the manifests no longer hold."""
        exam_name, user = self._split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        if f"exam.{exam_name}" not in self.d.exams:
            return self.forget(address)  # its exam left management: left as it is
        twin = self._twin(address)
        if twin is not None:
            return self._forget_twin(address, twin)
        live = self.live(address)
        extra = self._extra_sessions.get(address)
        if self.o is None:
            gone = False
        elif extra is not None:
            gone = extra.status not in ACTIVE_STATUSES
        else:
            gone = self.is_missing(address) or (
                live is not None and live.status not in ACTIVE_STATUSES
            )
        before = rec.applied if rec is not None else _session_fields(extra)
        cause = self._cancel_cause(exam_name, user)
        if gone:
            d = self.forget(address)  # nothing left to cancel
            if cause is not None:
                d.depends_extra = (cause[1],)
            return d
        if cause is not None:
            return _Decision("cancel", cause[0], before, None, depends_extra=(cause[1],))
        if live is not None and live.status != SCHEDULED:
            return self.forget(address)
        return _Decision("cancel", "removed", before, None)

    def session(self, address: str) -> _Decision:
        exam_name, user = self._split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        res = self.d.sessions.get(address)
        live = self.live(address)
        if res is None:
            return self.removed_session(address)
        want = canonical(res, self.key)
        withdrawn = self._withdrawn_by_scope(exam_name, user)
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is None:
                return _Decision("schedule", "new", None, want)
            self.adopt[address] = Adoption(sid=found.sid, refs=found.refs)
            return self._forced(
                address, withdrawn, self._session_compare(address, want, None, found, new=True)
            )
        booked = live is None or live.status not in (CANCELLED, NEEDS_PROCTOR, *DONE_STATUSES)
        if withdrawn and booked and not self.is_missing(address):
            # the switch withdraws it, the plan books it again
            dec = self._session_compare(address, want, rec, live)
            return _Decision("replace", "scope-limited", dec.before, want)
        remade = self.parent_remade(address)
        if remade is not None:
            return _Decision("schedule", remade, None, want)
        if self.is_missing(address):
            return _Decision("schedule", "drift", None, want)
        if live is not None and live.status in DONE_STATUSES:
            dec = self._session_compare(address, want, rec, live)
            if dec.action != "noop" or address in self.replace:
                self.warnings.append(
                    f"{address}: the session is {live.status}; its manifest changes can no "
                    "longer be applied"
                )
            return _Decision("noop", dec.reason, dec.before, want)
        if live is not None and live.status in (CANCELLED, NEEDS_PROCTOR):
            return _Decision("schedule", "drift", None, want)
        return self._forced(address, withdrawn, self._session_compare(address, want, rec, live))

    def _withdrawn_by_scope(self, exam_name: str, user: str) -> bool:
        """Whether this plan's switch of the exam to limited scope withdraws the user's
        session: the API holds no assignment of it (none recorded in state)."""
        return exam_name in self.scoping and self.rec(f"assignment.{exam_name}.{user}") is None

    def _forced(self, address: str, withdrawn: bool, dec: _Decision) -> _Decision:
        """A booked session that must be booked anew whatever its fields: its exam's switch
        to limited scope withdraws it (``withdrawn``), or ``--replace`` names it."""
        if withdrawn:
            return _Decision("replace", "scope-limited", dec.before, dec.after)
        if address in self.replace:
            return _Decision("replace", "forced", dec.before, dec.after)
        return dec

    def _session_compare(
        self,
        address: str,
        want: dict[str, Any],
        rec: ResourceState | None,
        live: LiveObject | None,
        *,
        new: bool = False,
    ) -> _Decision:
        dec = self.compare(address, want, rec, live, new=new, action="reschedule")
        if dec.action == "noop":
            return dec
        changed = _top_fields(changed_paths(dec.before or {}, want))
        if changed - RESCHEDULABLE:
            dec.action = "replace"
        return dec

    # --- the whole plan ----------------------------------------------------------------

    def run(self) -> None:
        by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        for address in set(self.d.addresses()) | set(self.s.resources):
            by_kind[kind_of(address)].append(address)
        self._index_kept()
        self._extra_sessions: dict[str, LiveSession] = {}
        # kind by kind, so that every parent is decided before its dependants
        for kind in KINDS:
            if kind == "assignment":
                self._find_scoping()
            if kind == "session":
                by_kind[kind].extend(self._booked_elsewhere())
            if kind == "assignment":
                self._warn_role_changes()
            for address in sorted(by_kind[kind]):
                dec = self.decide(address)
                if address in self.moves and dec.action == "noop":
                    dec = _Decision("move", "renamed")
                if dec.action == "noop":
                    # counted, never shown: keep the verdict, not its two field maps (a large
                    # tenant holds tens of thousands of them until the plan is built)
                    dec.before = dec.after = None
                self.decisions[address] = dec

    def _find_scoping(self) -> None:
        """Exams this plan switches from unlimited to limited scope: the switch withdraws
        every session of an enrollment the API has not assigned (api-contract §5)."""
        for address, dec in self.decisions.items():
            if kind_of(address) != "exam" or dec.action != "update":
                continue
            if (dec.after or {}).get("limitedScope") is True and (dec.before or {}).get(
                "limitedScope"
            ) is not True:
                self.scoping.add(address.split(".", 1)[1])
                self.warnings.append(
                    f"{address}: switching to limited scope withdraws the session of every "
                    "learner the API has not assigned; the plan assigns and books again those "
                    "the manifests hold"
                )

    def _warn_role_changes(self) -> None:
        """An enrollment leaving the learner role loses its sessions and assignments in
        every exam of its course: those of managed exams are changes of this plan; exams
        spsync does not manage (never declared, or removed from the manifests) are not
        observed, so the reviewer is told."""
        for address, dec in self.decisions.items():
            role_change = dec.action == "update" and _role_leaves_learner(dec)
            if kind_of(address) == "enrollment" and role_change:
                self.warnings.append(
                    f"{address}: leaving the learner role withdraws the enrollment's "
                    "sessions and assignments in every exam of its course; those of "
                    "exams spsync does not manage are not shown as changes"
                )

    def _booked_elsewhere(self) -> list[str]:
        """Session addresses neither the manifests nor the state hold whose live session is
        booked and will be cancelled by a change of this plan (an unassign, a scope switch):
        they are shown as cancels of their own."""
        if self.o is None:
            return []
        out: list[str] = []
        for address, dec in self.decisions.items():
            if kind_of(address) != "assignment":
                continue
            exam_name, user = self._split_pair(address, self.d.exams, "exam")
            if dec.action != "unassign" and not self._withdrawn_by_scope(exam_name, user):
                continue
            session = "session." + address.split(".", 1)[1]
            if session in self.d.sessions or session in self.s.resources:
                continue
            live = self.o.sessions.get(address)
            if live is not None and live.status == SCHEDULED:
                self._extra_sessions[session] = live
                out.append(session)
        return out

    def refresh_decide(self, address: str) -> _Decision | None:
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
            return _Decision("forget", "drift", rec.applied, None)
        if live is None or kind == "assignment":
            return _Decision("noop", "drift")
        fields = live.fields
        if kind == "exam":
            fields = fingerprint_secrets(fields, self.key)
        now = overlay(rec.applied, project(fields, rec.applied))
        if changed_paths(rec.applied, now) == []:
            return _Decision("noop", "drift")
        return _Decision("refresh", "drift", rec.applied, now)

    def run_refresh_only(self) -> None:
        for address in sorted(self.s.resources, key=lambda a: (KINDS.index(kind_of(a)), a)):
            dec = self.refresh_decide(address)
            if dec is not None:
                if dec.action == "noop":
                    dec.before = dec.after = None
                self.decisions[address] = dec

    def decide(self, address: str) -> _Decision:
        kind = kind_of(address)
        if kind == "assignment":
            return self.assignment(address)
        if kind == "session":
            return self.session(address)
        res = resource_at(self.d, address)
        if res is None:
            return self.forget(address)
        return self.provisioned(address, res)

    def change(self, address: str, dec: _Decision) -> Change:
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
        return Change(
            address=address,
            action=dec.action,
            reason=dec.reason,
            destructive=dec.action in DESTRUCTIVE,
            before=mask(dec.before),
            after=after,
            depends_on=tuple(sorted(deps)),
            previous_address=self.moves.get(address),
        )


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
) -> TenantPlan:
    """Decide every change for one tenant. PURE.

    ``observed`` is ``None`` without refresh: then only the manifests and the state are
    compared. ``targets`` narrows the plan to those addresses and what they depend on
    (unknown ones: ``PlanError`` with a did-you-mean). ``secret_key`` keys the secret
    fingerprints (default: ``secret_key_for(desired.tenant)``). ``replace`` names sessions
    to cancel and book again even when nothing changed (``--replace``). ``refresh_only``
    plans no remote change at all: only what changed remotely is taken into state.

    Renames are detected first (``spsync.moves``): the plan is made against the state with
    the moved entries under their new addresses, and shows each as a ``move``.
    """
    key = secret_key if secret_key is not None else secret_key_for(desired.tenant)
    tenant = desired.tenant.tenant
    known = set(desired.addresses()) | set(state.resources)
    if targets:
        problems = unknown_targets(targets, known)
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
        selected = closure((moves.get(t, t) for t in targets), p.parents)
        # a targeted change's side effects (the sessions an unassign cancels) come with it
        selected |= {
            a
            for a, d in p.decisions.items()
            if d.reason in EFFECT_REASONS and any(x in selected for x in d.depends_extra)
        }

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
        fingerprints={a: fingerprint_of(a, state, observed, key) for a in touched},
        desired_digest=desired_digest_of(desired, touched, key),
        desired_count=len(desired.addresses()),
        managed_count=len(state.resources),
        warnings=tuple(sorted(p.warnings + p.unseen_warnings())),
    )


def linked(changes: Sequence[Change], call_needs: Mapping[str, set[str]]) -> tuple[Change, ...]:
    """``changes`` with ``depends_on`` naming only changes of this (possibly targeted) plan;
    of what a change's calls need (``call_needs``), only what it does not already wait for
    through another of its dependencies (a session waits for its enrollment through its
    assignment)."""
    present = {c.address for c in changes}
    deps = {c.address: {x for x in c.depends_on if x in present} for c in changes}
    out = []
    for c in changes:
        mine, extra = deps[c.address], call_needs.get(c.address, set())
        kept = tuple(
            x
            for x in c.depends_on
            if x in mine and (x not in extra or not any(x in deps[y] for y in mine if y != x))
        )
        out.append(c if kept == c.depends_on else c.model_copy(update={"depends_on": kept}))
    return tuple(out)


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


def _role_leaves_learner(dec: _Decision) -> bool:
    """An enrollment update that makes a learner something else: the service withdraws the
    enrollment's sessions."""
    before: object = (dec.before or {}).get("role", "learner")
    after: object = (dec.after or {}).get("role", "learner")
    return before == "learner" and after != "learner"


def _session_fields(live: LiveSession | None) -> dict[str, Any]:
    """The manifest-shaped fields of a live session not in state (what a cancel removes)."""
    if live is None:
        return {}
    fields = {
        "appointment": live.appointment,
        "type": live.type,
        "proctorLocation": live.proctorLocation,
        "notes": live.notes,
        "externalAppointmentId": live.externalAppointmentId,
    }
    return {k: v for k, v in fields.items() if v is not None}
