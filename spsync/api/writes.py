"""The writes of the API, each confirmed: provision, assignments, and the session writes.

Every write returns once its effect is known. An idempotent write (provision, the
assignment change) is simply re-sent by the choke point; the assignment change is then
confirmed by its answer or by reading each enrollment's sessions back. An unsafe write
(schedule, reschedule, cancel) whose outcome is unknown is settled by a read before it is
ever sent again (the ``resolve`` of ``Caller._call``), so a session is never booked twice;
an answer that is not the session is checked by reading it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from spsync.api import assignments, wire
from spsync.api.calls import Unresolved, with_note
from spsync.api.reads import Reader
from spsync.api.routes import R_PROVISION, R_SESSION
from spsync.errors import ApiError, NoSuchRouteError, NotFoundError, ResponseError


class Writer(Reader):
    """The writes of a ``Client`` (``assignment_form`` and ``found_form`` set by its
    ``__init__``)."""

    #: ``api.dialect.assignments``: a form, or ``auto``
    assignment_form: str
    #: the form the service answered to in this run (``auto`` tries no other once one worked)
    found_form: str | None

    async def provision(self, body: wire.ProvisionRequest) -> wire.ProvisionResponse:
        """Create or match course/exam/user/enrollment. Safe to repeat: matched by ids, so a
        retry after a lost answer reports ``Found Existing`` where the first said ``Created``."""
        return await self._one(
            "POST", R_PROVISION, {}, wire.ProvisionResponse, safety="idempotent", body=body
        )

    async def update_assignments(
        self,
        course_sid: str,
        exam_sid: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        limited: bool = True,
    ) -> wire.AssignmentList | None:
        """Assign/unassign enrollments (idempotent), in the tenant's assignment form
        (``spsync.api.assignments``). Returns once the change is confirmed: by the answer
        when it lists the exam's assignments (returned), else by reading each enrollment's
        sessions back (``None``). ``ResponseError`` when the read-back shows the service did
        not do it.

        ``limited=False``: the exam is of unlimited scope, where every learner keeps a
        session assigned or not, so no read can show a removal: the service's accepting it
        confirms it (in a form that documents removals).

        With ``auto``, a removal the guide form ignored (it documents only ``add``) is sent
        again in the forms that document one, when the service serves them."""
        forms = assignments.candidates(self.assignment_form, self.found_form)
        form, answer = await self._send_assignments(forms, course_sid, exam_sid, add, remove)
        if (
            answer is not None
            and answer.examSid == exam_sid
            and assignments.confirmed_by_answer(answer, add, remove)
        ):
            return answer
        not_added, not_removed = await self._read_back(exam_sid, add, remove if limited else ())
        if not limited and form not in assignments.REMOVES:
            not_removed = list(remove)  # unseen, and most likely ignored by this form
        if not_removed and form not in assignments.REMOVES and self.assignment_form == "auto":
            others = [f for f in assignments.AUTO_ORDER if f in assignments.REMOVES]
            with contextlib.suppress(NoSuchRouteError, NotFoundError):
                await self._send_assignments(others, course_sid, exam_sid, (), not_removed)
                if limited:
                    _, not_removed = await self._read_back(exam_sid, (), not_removed)
                else:
                    not_removed = []
        if not_added or not_removed:
            raise self._not_confirmed(form, not_added, not_removed)
        return None

    async def _send_assignments(
        self,
        forms: Sequence[str],
        course_sid: str,
        exam_sid: str,
        add: Sequence[str],
        remove: Sequence[str],
    ) -> tuple[str, wire.AssignmentList | None]:
        """Send the change in the first of ``forms`` whose endpoint exists: ``(form, the
        answer when it is the assignment list)``; remembers the form for the run."""
        first_error: ApiError | None = None
        for form in forms:
            route, params, body = assignments.request(form, course_sid, exam_sid, add, remove)
            try:
                answer = await self._call(
                    "PUT", route, params, wire.AssignmentList, safety="idempotent", body=body,
                    empty_ok=True, any_body=True,
                )  # fmt: skip
            except (NoSuchRouteError, NotFoundError) as exc:
                if len(forms) == 1:
                    raise
                # while the form is not known, a missing endpoint means: try the next form
                first_error = first_error or exc
                continue
            self.found_form = form
            return form, answer
        assert first_error is not None
        raise with_note(
            first_error,
            f"(tried the {', '.join(forms)} assignment forms, each answered "
            f"{first_error.status}: the install serves none of them, or the exam or an "
            "enrollment does not exist; set api.dialect.assignments in tenant.yaml, see "
            "docs/api-dialects.md)",
        ) from None

    async def _read_back(
        self, exam_sid: str, add: Sequence[str], remove: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """``(not assigned, still assigned)`` among ``add``/``remove``, read from each
        enrollment's sessions of the exam: an assigned one has an active session."""

        async def active(enrollment_sid: str) -> bool:
            listed = await self.list_enrollment_sessions(enrollment_sid, exam_sid)
            return any(x.status in wire.ACTIVE_STATUSES for x in listed)

        wanted = [(e, True) for e in add] + [(e, False) for e in remove]
        seen = await self._pooled(lambda pair: active(pair[0]), wanted)
        wrong = [(e, want) for (e, want), got in zip(wanted, seen, strict=True) if want != got]
        return [e for e, want in wrong if want], [e for e, want in wrong if not want]

    def _not_confirmed(
        self, form: str, not_added: Sequence[str], not_removed: Sequence[str]
    ) -> ResponseError:
        parts = []
        if not_added:
            parts.append(f"{len(not_added)} not assigned ({', '.join(not_added[:3])})")
        if not_removed:
            parts.append(f"{len(not_removed)} still assigned ({', '.join(not_removed[:3])})")
        hint = ""
        if not_removed and form not in assignments.REMOVES:
            hint = (
                f"; the {form} form documents no removal: set api.dialect.assignments to "
                "exam or newest if the install serves one (docs/api-dialects.md)"
            )
        return ResponseError(
            "the service accepted the assignment change, but reading it back shows "
            f"{' and '.join(parts)}{hint}",
            method="PUT",
            path=assignments.ROUTES[form],
        )

    async def schedule_session(
        self, exam_sid: str, session_sid: str, req: wire.ScheduleRequest, *, enrollment_sid: str
    ) -> wire.Session:
        """Schedule a ``Needs Proctor`` session. Never books twice: when an attempt's outcome
        is unknown, the enrollment's sessions are read before anything is sent again."""
        want_time = wire.normalise_time(req.appointmentDateTime)

        async def outcome() -> wire.Session | None:
            sessions = await self.list_enrollment_sessions(enrollment_sid, exam_sid)
            found = next((s for s in sessions if s.sid == session_sid), None)
            if found is None:
                raise Unresolved(f"session {session_sid} is not among the enrollment's sessions")
            if found.status == wire.NEEDS_PROCTOR:
                return None
            if req.externalAppointmentId is not None and (
                "externalAppointmentId" not in found.model_fields_set
            ):
                # list items the vendor documents carry no external id: the details do
                found = await self.get_session(exam_sid, session_sid)
            if _booked_as(found, want_time, req.externalAppointmentId):
                try:
                    return await self.get_session(exam_sid, session_sid)
                except ApiError:
                    return found  # it is scheduled; the list item is enough to say so
            raise Unresolved(
                f"session {session_sid} is {found.status} for {found.appointmentDate}, "
                "not as requested"
            )

        params = {"examSid": exam_sid, "sessionSid": session_sid}
        result = await self._call(
            "POST", R_SESSION, params, wire.Session, safety="unsafe", body=req,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        # the answer is not the session: read it back, and it must be booked as asked
        current = await self.get_session(exam_sid, session_sid)
        if not _booked_as(current, want_time, req.externalAppointmentId):
            raise ResponseError(
                f"the service accepted the booking of session {session_sid}, but reading it "
                f"back shows it {current.status} for {current.appointmentDate}",
                method="POST",
                path=R_SESSION,
            )
        return current

    async def reschedule_session(
        self, exam_sid: str, session_sid: str, appointment: str, *, notes: str | None = None
    ) -> wire.Session:
        """Move a ``Scheduled`` session; an unknown outcome is settled by reading the session."""
        body = wire.RescheduleRequest(appointmentDateTime=appointment, notes=notes)
        want_time = wire.normalise_time(appointment)
        params = {"examSid": exam_sid, "sessionSid": session_sid}

        async def outcome() -> wire.Session | None:
            current = await self.get_session(exam_sid, session_sid)
            if current.status in wire.BOOKED_STATUSES:
                # a move of the notes alone keeps the appointment: it shows in the notes
                return current if _moved_as(current, want_time, notes) else None
            raise Unresolved(f"session {session_sid} is {current.status}")

        result = await self._call(
            "PUT", R_SESSION, params, wire.Session, safety="unsafe", body=body,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        current = await self.get_session(exam_sid, session_sid)
        if not _moved_as(current, want_time, notes):
            raise ResponseError(
                f"the service accepted the move of session {session_sid}, but reading it back "
                f"shows it {current.status} for {current.appointmentDate}"
                + ("" if _same_notes(current, notes) else " with other notes"),
                method="PUT",
                path=R_SESSION,
            )
        return current

    async def cancel_session(
        self, exam_sid: str, session_sid: str, *, memo: str, reason: str = "other-reason"
    ) -> wire.Session:
        """Cancel a session; an unknown outcome is settled by reading its status."""
        body = wire.CancelRequest.model_validate({"cancellationMemo": memo, "reason": reason})
        params = {"examSid": exam_sid, "sessionSid": session_sid}

        async def outcome() -> wire.Session | None:
            current = await self.get_session(exam_sid, session_sid)
            if _unbooked(current):
                return current
            if current.status in wire.BOOKED_STATUSES:
                return None
            raise Unresolved(f"session {session_sid} is {current.status}")

        result = await self._call(
            "DELETE", R_SESSION, params, wire.Session, safety="unsafe", body=body,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        current = await self.get_session(exam_sid, session_sid)
        if not _unbooked(current):
            raise ResponseError(
                f"the service accepted the cancellation of session {session_sid}, but reading "
                f"it back shows it {current.status}",
                method="DELETE",
                path=R_SESSION,
            )
        return current


def _booked_as(s: wire.Session, when: str | None, external_id: str | None) -> bool:
    """Whether ``s`` is booked for ``when`` (and, when given and shown, under
    ``external_id``: an answer that does not show the external id says nothing against)."""
    return (
        s.status in wire.BOOKED_STATUSES
        and s.appointmentDate == when
        and (
            external_id is None
            or "externalAppointmentId" not in s.model_fields_set
            or s.externalAppointmentId == external_id
        )
    )


def _moved_as(s: wire.Session, when: str | None, notes: str | None) -> bool:
    """Whether ``s`` is booked for ``when`` with ``notes`` (when sent)."""
    return s.status in wire.BOOKED_STATUSES and s.appointmentDate == when and _same_notes(s, notes)


def _same_notes(s: wire.Session, notes: str | None) -> bool:
    """Whether ``s`` shows ``notes``: notes not sent are not changed, and a read that does not
    show the notes says nothing against (the service trims what it keeps)."""
    if notes is None or "notes" not in s.model_fields_set:
        return True
    return (s.notes or "").strip() == notes.strip()


def _unbooked(s: wire.Session) -> bool:
    """A session a cancel has done with: cancelled, or (where the service reopens the same
    session after a cancel) waiting for a proctor again."""
    return s.status in (wire.CANCELLED, wire.NEEDS_PROCTOR)
