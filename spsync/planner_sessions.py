"""The planner's rules for assignments and sessions: assign and unassign, schedule,
reschedule, replace and cancel, and what a change of another object does to them (a scope
switch, a role change, an unassignment) (the table in ``spsync.planner``). PURE."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spsync.fields import canonical, changed_paths, overlay, project
from spsync.model import kind_of
from spsync.observed import (
    BOOKED_STATUSES,
    CANCELLED,
    DONE_STATUSES,
    NEEDS_PROCTOR,
    UNASSIGNED_ENDS,
    LiveObject,
    LiveSession,
)
from spsync.plan import Adoption, Reason
from spsync.planner_base import Decision
from spsync.planner_provision import ProvisionRules
from spsync.state import ResourceState

#: session fields the reschedule endpoint can change; any other change is a replace
RESCHEDULABLE: frozenset[str] = frozenset({"appointment", "notes"})


class SessionRules(ProvisionRules):
    """Decisions for assignments and sessions."""

    # --- assignments ------------------------------------------------------------------

    def assignment(self, address: str) -> Decision:
        exam_name, user = self.split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        res = self.d.assignments.get(address)
        if res is None:
            if f"exam.{exam_name}" not in self.d.exams:
                cause = self._role_change_of(exam_name, user) if rec is not None else ()
                if cause and not self.is_missing(address):
                    # its exam leaves management, but this plan's role change drops the
                    # assignment remotely: not "left untouched"
                    return Decision("unassign", "role-changed", {}, None, cause)
                return self.forget(address)  # its exam left management: left as it is
            if rec is None:
                # assigned by hand (``_assigned_elsewhere``): the role change drops it
                return Decision(
                    "unassign", "role-changed", {}, None, self._role_change_of(exam_name, user)
                )
            if self.is_missing(address):
                return self.forget(address)  # already unassigned remotely
            twin = self._twin(address)
            if twin is not None:
                return self._forget_twin(address, twin)
            return Decision("unassign", "removed", {}, None, self._role_change_of(exam_name, user))
        if not self.limited(exam_name):
            # an unlimited exam gives every learner enrollment a session: nothing to assign.
            # One assigned while the exam was limited stays recorded: the API still holds it
            # (a role change or a removal unassigns it, which the plan must then show)
            if rec is not None and self.is_missing(address):
                # unassigned remotely (by a person, or with a role change) while the exam
                # still read as limited: the API holds it no more, and once the exam is
                # unlimited its sessions cannot tell; dropped from state, so that a switch
                # back to limited scope assigns it again instead of losing its session
                return Decision("forget", "drift", rec.applied, None)
            return Decision("noop", "manifest-changed" if rec is not None else "new", {}, {})
        if exam_name in self.scoping and rec is None:
            # while the exam was unlimited, a session proved nothing about an assignment:
            # only one recorded in state is known to be held; the others are sent
            return Decision("assign", "scope-limited", None, {}, (f"exam.{exam_name}",))
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is not None:
                self.adopt[address] = Adoption(sid=None, refs=found.refs)
                return Decision("noop", "new", {}, {})
            return Decision("assign", "new", None, {})
        remade = self.parent_remade(address)
        if remade is not None:
            return Decision("assign", remade, None, {})
        if self.is_missing(address) or self._left_without_a_session(address):
            return Decision("assign", "drift", None, {})
        return Decision("noop", "manifest-changed", {}, {})

    def _left_without_a_session(self, address: str) -> bool:
        """Whether the manifests book the enrollment in the exam, and its current session
        was cancelled other than by an unassignment with none opened since (some installs
        open none until the enrollment is assigned again): apply sends its assignment
        again to open a session to book, which assigns it where a person unassigned it
        meanwhile (no read tells)."""
        if "session." + address.split(".", 1)[1] not in self.d.sessions:
            return False
        current = self.o.sessions.get(address) if self.o is not None else None
        return (
            current is not None
            and current.status == CANCELLED
            and current.statusReason not in UNASSIGNED_ENDS
        )

    def _role_change_of(self, exam_name: str, user: str) -> tuple[str, ...]:
        """The enrollment change of this plan that takes ``user`` out of the learner role in
        the course of ``exam_name`` (the service then drops the enrollment from the exam's
        assignments), as a ``depends_extra``; ``()`` when there is none."""
        enrollment = f"enrollment.{self.course_of_exam(exam_name)}.{user}"
        dec = self.decisions.get(enrollment)
        if dec is not None and dec.action == "update" and _role_leaves_learner(dec):
            return (enrollment,)
        return ()

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
        for group, kind in ((self.d.assignments, "assignment"), (self.d.sessions, "session")):
            for address in group:
                rec = self.rec(address)
                found = self.o.adopted.get(address) if self.o is not None else None
                obj = rec if rec is not None else found
                if obj is None:
                    continue
                # the kind's one string, not a new one per address (40,000 of them)
                ident = self._identity(obj.sid, obj.refs, kind)
                if ident is not None:
                    self._kept_by_identity.setdefault(ident, []).append(address)

    def _forget_twin(self, address: str, twin: str) -> Decision:
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

    def removed_session(self, address: str) -> Decision:
        """A session in state (or booked live) that the manifests no longer hold."""
        exam_name, user = self.split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        if f"exam.{exam_name}" not in self.d.exams:
            return self._left_with_exam(address, exam_name, user)
        twin = self._twin(address)
        if twin is not None:
            return self._forget_twin(address, twin)
        live = self.live(address)
        extra = self._extra_sessions.get(address)
        if self.o is None:
            gone = False
        elif extra is not None:
            gone = extra.status not in BOOKED_STATUSES
        else:
            # a recorded session waiting for a proctor again (the service reopened it after
            # a cancel) holds no booking: nothing of it is left to cancel
            gone = self.is_missing(address) or (
                live is not None and live.status not in BOOKED_STATUSES
            )
        before = _as_it_is(rec, live) if rec is not None else _session_fields(extra)
        cause = self._cancel_cause(exam_name, user)
        if gone and cause is not None and rec is not None:
            again = self._booked_again(address, live.sid if live is not None else None)
            if again is not None:
                # the recorded booking ended and a person booked the enrollment again: the
                # change that cancels the address's session cancels that booking; apply
                # cancels it (not the recorded one) where the cause leaves it to apply
                self.adopt[address] = Adoption(sid=again.sid, refs=dict(rec.refs))
                return Decision(
                    "cancel", cause[0], _session_fields(again), None, depends_extra=(cause[1],)
                )
        if gone:
            d = self.forget(address)  # nothing left to cancel
            if cause is not None:
                d.depends_extra = (cause[1],)
            return d
        if cause is not None:
            return Decision("cancel", cause[0], before, None, depends_extra=(cause[1],))
        if live is not None and live.status not in BOOKED_STATUSES:
            return self.forget(address)
        return Decision("cancel", "removed", before, None)

    def _left_with_exam(self, address: str, exam_name: str, user: str) -> Decision:
        """A session of an exam leaving the manifests: left as it is remotely, unless this
        plan's role change of its enrollment withdraws it (the service cancels it all the
        same, so the plan shows that cancel)."""
        rec = self.rec(address)
        extra = self._extra_sessions.get(address)
        cause = self._role_change_of(exam_name, user) if rec is not None or extra else ()
        if extra is not None and cause:
            # booked by hand, in no manifest nor state: the role change cancels it
            return Decision("cancel", "role-changed", _session_fields(extra), None, cause)
        if rec is None or not cause or self.is_missing(address):
            return self.forget(address)
        live = self.live(address)
        if live is not None and live.status not in BOOKED_STATUSES:
            # ended already, or waiting for a proctor again (reopened after a cancel) or
            # under way: the role change cancels no booking of it
            d = self.forget(address)
            d.depends_extra = cause
            return d
        return Decision("cancel", "role-changed", _as_it_is(rec, live), None, depends_extra=cause)

    def _booked_again(self, address: str, ended: str | None) -> LiveSession | None:
        """The enrollment's current session of the exam when it is booked (``Scheduled`` or
        waiting for approval) and is not ``ended``, the SID of the address's booking that
        ended or went, else ``None``: the booking was made again outside spsync."""
        current = self.o.sessions.get(address) if self.o is not None else None
        if current is None or current.status not in BOOKED_STATUSES:
            return None
        if ended is not None and current.sid == ended:
            return None
        return current

    def session(self, address: str) -> Decision:
        exam_name, user = self.split_pair(address, self.d.exams, "exam")
        rec = self.rec(address)
        res = self.d.sessions.get(address)
        live = self.live(address)
        if res is None:
            return self.removed_session(address)
        want = canonical(res, self.key)
        withdrawn = f"exam.{exam_name}" if self._withdrawn_by_scope(exam_name, user) else None
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is None:
                return Decision("schedule", "new", None, want)
            self.adopt[address] = Adoption(sid=found.sid, refs=found.refs)
            return self._forced(
                address, withdrawn, self._session_compare(address, want, None, found, new=True)
            )
        again = self._rebooked_moved(address, rec, live)
        if again is not None:
            live = again
        if live is not None and live.sid and live.sid != rec.sid:
            # observation found the address's booking under another SID (cancelled and
            # booked again outside spsync): the plan takes it over, and any change of it
            # is made to that one
            self.adopt[address] = Adoption(sid=live.sid, refs=live.refs)
        missing = again is None and self.is_missing(address)
        booked = live is None or live.status not in (CANCELLED, NEEDS_PROCTOR, *DONE_STATUSES)
        if withdrawn is not None and booked and not missing:
            # the switch withdraws it, the plan books it again
            dec = self._session_compare(address, want, rec, live)
            return Decision("replace", "scope-limited", dec.before, want, (withdrawn,))
        remade = self.parent_remade(address)
        if remade is not None:
            return Decision("schedule", remade, None, want)
        if missing:
            return Decision("schedule", "drift", None, want)
        if live is not None and live.status in DONE_STATUSES:
            dec = self._session_compare(address, want, rec, live)
            if dec.action != "noop" or address in self.replace:
                self.warnings.append(
                    f"{address}: the session is {live.status}; its manifest changes can no "
                    "longer be applied"
                )
            return Decision("noop", dec.reason, dec.before, want)
        if live is not None and live.status in (CANCELLED, NEEDS_PROCTOR):
            return Decision("schedule", "drift", None, want)
        return self._forced(address, withdrawn, self._session_compare(address, want, rec, live))

    def _rebooked_moved(
        self, address: str, rec: ResourceState, live: LiveObject | None
    ) -> LiveObject | None:
        """The booking a person made again for a session that moved here (a renamed key)
        after its recorded booking ended or went: booked under another SID. For an
        address of the manifests observation makes that booking the address's live session
        itself (``observe_sessions._booking_of``); the old address of a move is not one, so
        the planner takes it over here, as it would have been without the rename, rather
        than plan a ``schedule`` that apply cannot make."""
        if address not in self.moves or (live is None and not self.is_missing(address)):
            return None
        if live is not None and live.status != CANCELLED:
            return None
        current = self._booked_again(address, rec.sid)
        if current is None:
            return None
        return LiveObject(current.sid, dict(rec.refs), _session_fields(current), current.status)

    def _withdrawn_by_scope(self, exam_name: str, user: str) -> bool:
        """Whether this plan's switch of the exam to limited scope withdraws the user's
        session: the API holds no assignment of it (none recorded in state)."""
        return exam_name in self.scoping and self.rec(f"assignment.{exam_name}.{user}") is None

    def _forced(self, address: str, withdrawn: str | None, dec: Decision) -> Decision:
        """A booked session that must be booked anew whatever its fields: its exam's switch
        to limited scope withdraws it (``withdrawn``: that exam's address), or ``--replace``
        names it."""
        if withdrawn is not None:
            return Decision("replace", "scope-limited", dec.before, dec.after, (withdrawn,))
        if address in self.replace:
            return Decision("replace", "forced", dec.before, dec.after)
        return dec

    def _session_compare(
        self,
        address: str,
        want: dict[str, Any],
        rec: ResourceState | None,
        live: LiveObject | None,
        *,
        new: bool = False,
    ) -> Decision:
        dec = self.compare(address, want, rec, live, new=new, action="reschedule")
        if dec.action == "noop":
            return dec
        changed = _top_fields(changed_paths(dec.before or {}, want))
        if changed - RESCHEDULABLE:
            dec.action = "replace"
        return dec

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
                    "exams spsync does not manage, and its assignments to unlimited exams "
                    "(which no read shows), are not shown as changes"
                )

    def _assigned_elsewhere(self) -> list[str]:
        """Assignment addresses neither the manifests nor the state hold (assigned by hand,
        found by observation) that a role change of this plan drops: the service takes an
        enrollment leaving the learner role out of every assignment list of its course, so
        each is an ``unassign`` (role-changed) of its own, the effect of that change."""
        if self.o is None:
            return []
        out = []
        for address, dec in self.decisions.items():
            if not (
                kind_of(address) == "enrollment"
                and dec.action == "update"
                and _role_leaves_learner(dec)
            ):
                continue
            course, user = self.split_pair(address, self.d.courses, "course")
            for exam, exam_course in self.exam_course.items():
                assignment = f"assignment.{exam.split('.', 1)[1]}.{user}"
                if (
                    exam_course == course
                    and assignment in self.o.adopted
                    and assignment not in self.d.assignments
                    and assignment not in self.s.resources
                ):
                    out.append(assignment)
        return out

    def _booked_elsewhere(self) -> list[str]:
        """Session addresses neither the manifests nor the state hold (booked by hand) whose
        live session is booked and will be cancelled by a change of this plan (an unassign,
        a role change, a scope switch): they are shown as cancels of their own."""
        if self.o is None:
            return []
        sessions = self.o.sessions
        found: dict[str, LiveSession | None] = {}
        for address, dec in self.decisions.items():
            kind = kind_of(address)
            if kind == "assignment":
                exam_name, user = self.split_pair(address, self.d.exams, "exam")
                # only a limited-scope exam withdraws the session of an unassigned
                # enrollment (as ``_cancel_cause``): one the plan makes unlimited keeps it
                unassigned = dec.action == "unassign" and self.limited(exam_name)
                if unassigned or self._withdrawn_by_scope(exam_name, user):
                    session = "session." + address.split(".", 1)[1]
                    # one assigned by hand has its live session under the session's address
                    found[session] = sessions.get(address) or sessions.get(session)
            elif kind == "enrollment" and dec.action == "update" and _role_leaves_learner(dec):
                course, user = self.split_pair(address, self.d.courses, "course")
                # the exams of the manifests and those leaving them (``exam_course``)
                for exam, exam_course in self.exam_course.items():
                    if exam_course == course:
                        session = f"session.{exam.split('.', 1)[1]}.{user}"
                        found.setdefault(session, sessions.get(session))
        if self.scoping:
            for address, live in sessions.items():
                if address.startswith("session.") and self._withdrawn_by_scope(
                    *self.split_pair(address, self.d.exams, "exam")
                ):
                    found.setdefault(address, live)
        out = []
        for session, live in found.items():
            if session in self.d.sessions or session in self.s.resources:
                continue
            if live is not None and live.status in BOOKED_STATUSES:
                self._extra_sessions[session] = live
                out.append(session)
        return out


def _role_leaves_learner(dec: Decision) -> bool:
    """An enrollment update that makes a learner something else: the service withdraws the
    enrollment's sessions."""
    before: object = (dec.before or {}).get("role", "learner")
    after: object = (dec.after or {}).get("role", "learner")
    return before == "learner" and after != "learner"


def _as_it_is(rec: ResourceState, live: LiveObject | None) -> dict[str, Any]:
    """The managed fields of a session in state as they are now: the last applied ones,
    with what the live booking shows of them (moved by a person: the appointment a cancel
    removes is the live one)."""
    if live is None or not live.fields:
        return rec.applied
    return overlay(rec.applied, project(live.fields, rec.applied))


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


def _top_fields(paths: Iterable[str]) -> set[str]:
    return {p.split(".", 1)[0] for p in paths}
