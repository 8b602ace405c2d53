"""The three documented forms of the assignment call (limited-scope exams), and which to use.

The vendor documents three incompatible endpoints for the same effect (docs/api-dialects.md):

- ``guide``: ``PUT …/courses/{CU}/exams/{EX}/assignments``
  ``{"add": [{"enrollmentSid": EN}], "remove": [...]}``;
- ``exam``: ``PUT …/exams/{EX}/assignments``
  ``{"added": {"courseSid": CU, "enrollmentSid": [EN]}, "removed": {...}}``;
- ``newest``: ``PUT …/exams/{EX}/assignment`` ``{"added": [EN], "removed": [EN]}``.

The guide form documents only ``add``; ``remove`` is what the contract adds to it, and a
service that strips unknown keys ignores it (the read-back after the call catches that).
A tenant fixes the form with ``api.dialect.assignments`` in tenant.yaml; ``auto`` (the
default) tries them in ``AUTO_ORDER`` and keeps the first the service serves, moving on
only when a form's endpoint does not exist (404/405). PURE: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from spsync.api import wire

Form = Literal["guide", "exam", "newest"]
FORMS: tuple[Form, ...] = ("guide", "exam", "newest")
#: the setting's values: a form, or ``auto``
SETTINGS: tuple[str, ...] = ("auto", *FORMS)
#: the order ``auto`` tries: the contract's form first (what spsync always sent), then the
#: vendor reference's newest, then its older exam-scoped one
AUTO_ORDER: tuple[Form, ...] = ("guide", "newest", "exam")
#: forms whose documented body can withdraw an enrollment
REMOVES: frozenset[str] = frozenset({"exam", "newest"})

R_GUIDE = "/v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/assignments"
R_EXAM = "/v1/installs/{installSid}/exams/{examSid}/assignments"
R_NEWEST = "/v1/installs/{installSid}/exams/{examSid}/assignment"
ROUTES: dict[str, str] = {"guide": R_GUIDE, "exam": R_EXAM, "newest": R_NEWEST}


class AssignmentGroup(wire.Request):
    """One side of the exam-scoped form's body."""

    courseSid: wire.CourseSid
    enrollmentSid: list[wire.EnrollmentSid]


class ExamAssignmentsRequest(wire.Request):
    """``PUT …/exams/{e}/assignments`` body (the reference's older form)."""

    added: AssignmentGroup | None = None
    removed: AssignmentGroup | None = None


class ExamAssignmentRequest(wire.Request):
    """``PUT …/exams/{e}/assignment`` body (the reference's newest form)."""

    added: list[wire.EnrollmentSid] | None = None
    removed: list[wire.EnrollmentSid] | None = None


def request(
    form: str, course_sid: str, exam_sid: str, add: Sequence[str], remove: Sequence[str]
) -> tuple[str, dict[str, str], wire.Request]:
    """``(route, path parameters, body)`` of one assignment call in ``form``."""
    if form == "guide":
        return (
            R_GUIDE,
            {"courseSid": course_sid, "examSid": exam_sid},
            wire.AssignmentsRequest(
                add=[wire.EnrollmentRef(enrollmentSid=s) for s in add] or None,
                remove=[wire.EnrollmentRef(enrollmentSid=s) for s in remove] or None,
            ),
        )
    if form == "exam":
        return (
            R_EXAM,
            {"examSid": exam_sid},
            ExamAssignmentsRequest(
                added=AssignmentGroup(courseSid=course_sid, enrollmentSid=list(add))
                if add
                else None,
                removed=AssignmentGroup(courseSid=course_sid, enrollmentSid=list(remove))
                if remove
                else None,
            ),
        )
    if form == "newest":
        return (
            R_NEWEST,
            {"examSid": exam_sid},
            ExamAssignmentRequest(added=list(add) or None, removed=list(remove) or None),
        )
    raise ValueError(f"unknown assignment form {form!r}")


def candidates(setting: str, found: str | None) -> list[str]:
    """The forms to try, in order: the configured one, else the one found earlier in this
    run, else ``AUTO_ORDER``."""
    if setting != "auto":
        return [setting]
    if found is not None:
        return [found]
    return list(AUTO_ORDER)


def confirmed_by_answer(
    answer: wire.AssignmentList | None, add: Sequence[str], remove: Sequence[str]
) -> bool:
    """Whether the answer itself shows the change: the contract's answer lists the exam's
    assignments; any other answer (``OK``, empty) says nothing, and a read-back decides."""
    if answer is None:
        return False
    assigned = set(answer.assigned)
    return set(add) <= assigned and not (set(remove) & assigned)
