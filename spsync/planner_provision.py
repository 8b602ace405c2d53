"""The planner's rules for provisioned objects (course, exam, user, enrollment): create,
adopt, update on a manifest change or on drift (the table in ``spsync.planner``). PURE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spsync.fields import canonical, changed_paths, fingerprint_secrets, overlay, project
from spsync.model import Course, Enrollment, Exam, User, kind_of
from spsync.observed import LiveObject
from spsync.plan import Action, Adoption, Reason
from spsync.planner_base import Decision, PlannerBase
from spsync.state import ResourceState

#: fields of a live object never compared with the manifest: identity is checked apart
NOT_COMPARED_LIVE: frozenset[str] = frozenset({"ids"})


class ProvisionRules(PlannerBase):
    """Decisions for provisioned objects, and the comparison of managed fields that every
    kind shares."""

    def identity_changed(self, address: str, res: Any, rec: ResourceState) -> str | None:
        """Why ``res`` is another remote object than the one in state (``None``: same)."""
        # only these kinds have ids (``getattr`` with a default on another model costs a
        # raised and caught AttributeError per enrollment)
        ids = res.ids if isinstance(res, Course | Exam | User) else None
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

    def provisioned(self, address: str, res: Any) -> Decision:
        dec = self._provisioned(address, res)
        if dec.action == "create" and isinstance(res, Enrollment):
            dec.depends_extra = self._made_by_user_call(res)
        return dec

    def _made_by_user_call(self, enrollment: Enrollment) -> tuple[str, ...]:
        """The user created by this plan whose provision call makes ``enrollment`` (the call
        names its course: a new user is enrolled there, as a learner unless the enrollment
        shares the call), as a ``depends_extra``: a target of the user brings it."""
        user = f"user.{enrollment.user}"
        dec = self.decisions.get(user)
        made = (
            dec is not None
            and dec.action == "create"
            and f"course.{enrollment.course}" in self.call_deps(user, dec)
        )
        return (user,) if made else ()

    def _provisioned(self, address: str, res: Any) -> Decision:
        rec = self.rec(address)
        want = canonical(res, self.key)
        if rec is None:
            found = self.o.adopted.get(address) if self.o else None
            if found is None:
                return Decision("create", "new", None, want)
            self.adopt[address] = Adoption(sid=found.sid, refs=found.refs)
            return self.compare(address, want, None, found, new=True)
        remade = self.parent_remade(address)
        if remade is not None:
            return Decision("create", remade, None, want)
        why = self.identity_changed(address, res, rec)
        if why is not None:
            self.warnings.append(
                f"{address}: {why}: another remote object will be provisioned; the old one "
                f"({rec.sid or 'no SID'}) is left as it is"
            )
            return Decision("create", "manifest-changed", None, want)
        if self.is_missing(address):
            return Decision("create", "drift", None, want)
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
    ) -> Decision:
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
            if rec is not None and base == want and _agrees(want, fields):
                # the manifest is what was applied and the live object agrees with it (most
                # addresses of a plan): what the steps below work out, at a fraction of
                # their cost
                return Decision("noop", "new" if new else "manifest-changed", want, want)
            current = overlay(base, fields)
        # identity fields are checked apart (identity_changed), never as an update
        current = {**current, **{k: want[k] for k in NOT_COMPARED_LIVE if k in want}}
        applied = rec.applied if rec is not None else {}
        # nothing changed anywhere (most addresses of a plan): the projection of ``current``
        # onto ``want`` is then ``current`` itself, field for field
        same = current == want
        before = current if same else project(current, want)
        if same or changed_paths(before, want) == []:
            if rec is not None and not _manages_same(applied, want) and address not in self.adopt:
                # the live object already matches an edited manifest: nothing to send, but
                # state must learn the new baseline
                self.adopt[address] = Adoption(sid=rec.sid, refs=rec.refs)
            return Decision("noop", "new" if new else "manifest-changed", before, want)
        reason: Reason
        if new:
            reason = "new"
        elif not _manages_same(applied, want):
            reason = "manifest-changed"
        else:
            reason = "drift"
        return Decision(action, reason, before, want)

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
            if "proctorTypes" in conf and _OPTIONS in readable:
                # a read that lists the types' SIDs alone: their options are the recorded ones
                missing.append(_OPTIONS)
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


#: the proctor types' options, which a read that lists only the types' SIDs leaves out
_OPTIONS = "configuration.proctorTypes.options"


def _agrees(want: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether every live field that ``want`` manages holds ``want``'s value: laid over
    ``want`` and projected back onto it, the live fields then give ``want`` itself (fields
    ``want`` does not manage are dropped by the projection)."""
    return all(k not in want or want[k] == v for k, v in fields.items())


def _manages_same(applied: Mapping[str, Any], want: dict[str, Any]) -> bool:
    """Whether the last applied fields hold what ``want`` manages, as ``want`` has it
    (``project(applied, want) == want``; equal maps project onto each other as they are)."""
    return applied == want or project(applied, want) == want
