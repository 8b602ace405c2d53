"""Every decision rule of the planner's table (spsync/planner.py's module docstring), per
kind, through ``build_plan`` alone: each case asserts the whole plan, every change's action,
reason and ``depends_on`` (which names only changes of the same plan).

The rules tests/test_plan_planner.py and tests/test_plan_truth_rules.py already hold are not
repeated here; the cases below are the ones they leave out (a course's or an exam's or an
enrollment's own rules, adoption of an enrollment, the statuses a session can be found in).
All start from the small applied world of ``support.plan.world``: course ``main``, limited
exam ``cert``, users ``jane`` and ``bob`` assigned and booked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.plan import (
    applied_state,
    course,
    edit_live,
    exam,
    live_status,
    missing,
    observed_matching,
    session,
    sid,
    user,
    world,
)

from spsync.model import Desired, Enrollment, Ids
from spsync.observed import LiveObject, Observed
from spsync.plan import TenantPlan
from spsync.planner import build_plan
from spsync.state import ResourceState, State

Row = tuple[str, str, str, tuple[str, ...]]
Inputs = tuple[Desired, State, Observed | None]


def rows(tp: TenantPlan) -> list[Row]:
    """The plan's changes as (address, action, reason, depends_on), in plan order."""
    return [(c.address, c.action, c.reason, c.depends_on) for c in tp.changes]


def applied() -> Inputs:
    """The small world, applied, and observed exactly as applied."""
    d = world()
    st = applied_state(d)
    return d, st, observed_matching(st, d)


def _with(d: Desired, group: str, *resources: Any) -> Desired:
    """``d`` with ``resources`` added to (or replacing theirs in) ``group``."""
    current = getattr(d, group)
    return d.model_copy(update={group: {**current, **{r.address: r for r in resources}}})


def _without(d: Desired, group: str, *addresses: str) -> Desired:
    """``d`` without ``addresses`` in ``group``."""
    current = getattr(d, group)
    return d.model_copy(update={group: {a: v for a, v in current.items() if a not in addresses}})


def _carl_enrolled(d: Desired) -> Desired:
    """``d`` with user carl enrolled in course main (declared, not implied), unassigned."""
    d = _with(d, "users", user("carl"))
    return _with(d, "enrollments", Enrollment(user="carl", course="main"))


CARL_FIELDS = {
    "firstName": "Carl",
    "lastName": "Smith",
    "email": "carl@example.com",
    "timeZone": "America/New_York",
}


def _carl_found(role: str) -> Inputs:
    """Carl and his enrollment exist remotely already (found by his ids; the enrollment of
    the two known SIDs), not in state."""
    d, st, live = applied()
    carl, main = sid("US", "carl-remote"), st.resources["course.main"].sid
    assert main is not None
    adopted = {
        "user.carl": LiveObject(sid=carl, fields=CARL_FIELDS),
        "enrollment.main.carl": LiveObject(
            sid=sid("EN", "carl-remote"),
            refs={"course": main, "user": carl},
            fields={"role": role},
        ),
    }
    return _carl_enrolled(d), st, live.model_copy(update={"adopted": adopted})


# --- course, exam, user, enrollment -----------------------------------------------------------


def new_course_with_an_exam() -> Inputs:
    d, st, live = applied()
    quiz = exam("quiz", "extra")
    return _with(_with(d, "courses", course("extra")), "exams", quiz), st, live


def new_exam_in_an_applied_course() -> Inputs:
    d, st, live = applied()
    return _with(d, "exams", exam("quiz")), st, live


def new_user_enrolled() -> Inputs:
    d, st, live = applied()
    return _carl_enrolled(d), st, live


def course_gone_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, missing(live, "course.main")


def exam_gone_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, missing(live, "exam.cert")


def enrollment_gone_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, missing(live, "enrollment.main.jane")


def course_ids_changed() -> Inputs:
    d, st, live = applied()
    return _with(d, "courses", course(ids=Ids(external="c-main-2"))), st, live


def course_title_edited() -> Inputs:
    d, st, live = applied()
    return _with(d, "courses", course(title="Main course")), st, live


def course_title_edited_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, edit_live(live, "course.main", title="Renamed in the UI")


def exam_title_edited() -> Inputs:
    d, st, live = applied()
    return _with(d, "exams", exam().model_copy(update={"title": "Certification"})), st, live


def enrollment_role_edited_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, edit_live(live, "enrollment.main.jane", role="instructor")


def course_in_state_only() -> Inputs:
    d, st, live = applied()
    old = ResourceState(sid=sid("CU", "old"), applied={"ids": {"external": "c-old"}})
    return d, st.model_copy(update={"resources": {**st.resources, "course.old": old}}), live


PROVISIONED: list[tuple[Callable[[], Inputs], list[Row]]] = [
    (
        new_course_with_an_exam,
        [
            ("course.extra", "create", "new", ()),
            ("exam.quiz", "create", "new", ("course.extra",)),
        ],
    ),
    # its course is applied and unchanged: nothing of this plan to wait for
    (new_exam_in_an_applied_course, [("exam.quiz", "create", "new", ())]),
    (
        new_user_enrolled,
        [
            ("user.carl", "create", "new", ()),
            ("enrollment.main.carl", "create", "new", ("user.carl",)),
        ],
    ),
    # gone remotely: made anew (drift), and so is everything that hangs off it
    (
        course_gone_remotely,
        [
            ("course.main", "create", "drift", ()),
            ("exam.cert", "create", "drift", ("course.main",)),
            ("enrollment.main.bob", "create", "drift", ("course.main",)),
            ("enrollment.main.jane", "create", "drift", ("course.main",)),
            ("assignment.cert.bob", "assign", "drift", ("enrollment.main.bob", "exam.cert")),
            ("assignment.cert.jane", "assign", "drift", ("enrollment.main.jane", "exam.cert")),
            ("session.cert.bob", "schedule", "drift", ("assignment.cert.bob", "exam.cert")),
            ("session.cert.jane", "schedule", "drift", ("assignment.cert.jane", "exam.cert")),
        ],
    ),
    (
        exam_gone_remotely,
        [
            ("exam.cert", "create", "drift", ()),
            ("assignment.cert.bob", "assign", "drift", ("exam.cert",)),
            ("assignment.cert.jane", "assign", "drift", ("exam.cert",)),
            ("session.cert.bob", "schedule", "drift", ("assignment.cert.bob", "exam.cert")),
            ("session.cert.jane", "schedule", "drift", ("assignment.cert.jane", "exam.cert")),
        ],
    ),
    (
        enrollment_gone_remotely,
        [
            ("enrollment.main.jane", "create", "drift", ()),
            ("assignment.cert.jane", "assign", "drift", ("enrollment.main.jane",)),
            ("session.cert.jane", "schedule", "drift", ("assignment.cert.jane",)),
        ],
    ),
    # another identity: another object (manifest-changed), passed on to what hangs off it
    (
        course_ids_changed,
        [
            ("course.main", "create", "manifest-changed", ()),
            ("exam.cert", "create", "manifest-changed", ("course.main",)),
            ("enrollment.main.bob", "create", "manifest-changed", ("course.main",)),
            ("enrollment.main.jane", "create", "manifest-changed", ("course.main",)),
            (
                "assignment.cert.bob",
                "assign",
                "manifest-changed",
                ("enrollment.main.bob", "exam.cert"),
            ),
            (
                "assignment.cert.jane",
                "assign",
                "manifest-changed",
                ("enrollment.main.jane", "exam.cert"),
            ),
            (
                "session.cert.bob",
                "schedule",
                "manifest-changed",
                ("assignment.cert.bob", "exam.cert"),
            ),
            (
                "session.cert.jane",
                "schedule",
                "manifest-changed",
                ("assignment.cert.jane", "exam.cert"),
            ),
        ],
    ),
    (course_title_edited, [("course.main", "update", "manifest-changed", ())]),
    (course_title_edited_remotely, [("course.main", "update", "drift", ())]),
    (exam_title_edited, [("exam.cert", "update", "manifest-changed", ())]),
    # back to the manifest's learner: no session is withdrawn by that direction
    (enrollment_role_edited_remotely, [("enrollment.main.jane", "update", "drift", ())]),
    (course_in_state_only, [("course.old", "forget", "removed", ())]),
]


def test_an_identity_change_warns_that_the_old_object_stays() -> None:
    d, st, live = course_ids_changed()
    tp = build_plan(d, st, live)
    assert tp.warnings == (
        f"course.main: ids changed: another remote object will be provisioned; the old one "
        f"({st.resources['course.main'].sid}) is left as it is",
    )
    assert tp.adopt == {}


def test_an_exam_moved_to_another_course_is_another_exam() -> None:
    other = course("other")
    before = _with(world(), "courses", other)
    st = applied_state(before)
    moved = _with(world(exams=[exam(course_name="other")]), "courses", other)
    tp = build_plan(moved, st, observed_matching(st, before))
    assert rows(tp) == [
        ("exam.cert", "create", "manifest-changed", ()),
        # the implied enrollments follow the exam: the old ones are only dropped
        ("enrollment.main.bob", "forget", "removed", ()),
        ("enrollment.main.jane", "forget", "removed", ()),
        ("enrollment.other.bob", "create", "new", ()),
        ("enrollment.other.jane", "create", "new", ()),
        (
            "assignment.cert.bob",
            "assign",
            "manifest-changed",
            ("enrollment.other.bob", "exam.cert"),
        ),
        (
            "assignment.cert.jane",
            "assign",
            "manifest-changed",
            ("enrollment.other.jane", "exam.cert"),
        ),
        ("session.cert.bob", "schedule", "manifest-changed", ("assignment.cert.bob", "exam.cert")),
        (
            "session.cert.jane",
            "schedule",
            "manifest-changed",
            ("assignment.cert.jane", "exam.cert"),
        ),
    ]
    assert tp.warnings == (
        f"exam.cert: moved to course other: another remote object will be provisioned; the "
        f"old one ({st.resources['exam.cert'].sid}) is left as it is",
    )


def test_an_enrollment_found_remotely_is_adopted_not_created() -> None:
    d, st, live = _carl_found("learner")
    tp = build_plan(d, st, live)
    assert rows(tp) == []
    assert {a: (v.sid, v.refs) for a, v in tp.adopt.items()} == {
        "enrollment.main.carl": (
            sid("EN", "carl-remote"),
            {"course": st.resources["course.main"].sid, "user": sid("US", "carl-remote")},
        ),
        "user.carl": (sid("US", "carl-remote"), {}),
    }
    assert tp.summary["create"] == 0 and tp.summary["noop"] == 12


def test_an_enrollment_found_remotely_with_another_role_is_updated_as_new() -> None:
    d, st, live = _carl_found("instructor")
    tp = build_plan(d, st, live)
    assert rows(tp) == [("enrollment.main.carl", "update", "new", ())]
    c = tp.changes[0]
    assert (c.before, c.after) == ({"role": "instructor"}, {"role": "learner"})
    assert sorted(tp.adopt) == ["enrollment.main.carl", "user.carl"]


# --- assignment -------------------------------------------------------------------------------


def carl_assigned_without_session() -> Inputs:
    _d, st, live = applied()
    return world(["jane", "bob", "carl"], scheduled=["jane", "bob"]), st, live


def unassigned_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, missing(live, "assignment.cert.bob")


def _bob_removed() -> Desired:
    """The manifests without bob's assignment and session (bob stays enrolled)."""
    return _without(world(scheduled=["jane"]), "assignments", "assignment.cert.bob")


def removed_and_already_unassigned_remotely() -> Inputs:
    _d, st, live = applied()
    gone = live_status(missing(live, "assignment.cert.bob"), "session.cert.bob", "Cancelled")
    return _bob_removed(), st, gone


def removed_with_its_session_cancelled_remotely() -> Inputs:
    _d, st, live = applied()
    return _bob_removed(), st, live_status(live, "session.cert.bob", "Cancelled")


ASSIGNMENTS: list[tuple[Callable[[], Inputs], list[Row]]] = [
    (
        carl_assigned_without_session,
        [
            ("user.carl", "create", "new", ()),
            ("enrollment.main.carl", "create", "new", ("user.carl",)),
            ("assignment.cert.carl", "assign", "new", ("enrollment.main.carl",)),
        ],
    ),
    (
        unassigned_remotely,
        [
            ("assignment.cert.bob", "assign", "drift", ()),
            ("session.cert.bob", "schedule", "drift", ("assignment.cert.bob",)),
        ],
    ),
    # nothing left to unassign or cancel: both only dropped from state
    (
        removed_and_already_unassigned_remotely,
        [
            ("assignment.cert.bob", "forget", "removed", ()),
            ("session.cert.bob", "forget", "removed", ()),
        ],
    ),
    # the unassign is sent; the session it would cancel is gone already: only forgotten,
    # after the unassign
    (
        removed_with_its_session_cancelled_remotely,
        [
            ("assignment.cert.bob", "unassign", "removed", ()),
            ("session.cert.bob", "forget", "removed", ("assignment.cert.bob",)),
        ],
    ),
]


# --- session ----------------------------------------------------------------------------------


def booked_for_a_held_assignment() -> Inputs:
    d = world()
    st = applied_state(world(scheduled=["jane"]))  # bob assigned, never booked
    return d, st, observed_matching(st, d)


def needing_a_proctor_remotely() -> Inputs:
    d, st, live = applied()
    return d, st, live_status(live, "session.cert.jane", "Needs Proctor")


def sub_category_edited() -> Inputs:
    d, st, live = applied()
    return _with(d, "sessions", session("cert", "jane", proctorTypeSubCategory="sub-1")), st, live


def removed_while_needing_a_proctor() -> Inputs:
    _d, st, live = applied()
    return world(scheduled=["jane"]), st, live_status(live, "session.cert.bob", "Needs Proctor")


SESSIONS: list[tuple[Callable[[], Inputs], list[Row]]] = [
    (booked_for_a_held_assignment, [("session.cert.bob", "schedule", "new", ())]),
    # not booked any more (the proctor withdrew): booked again
    (needing_a_proctor_remotely, [("session.cert.jane", "schedule", "drift", ())]),
    # the reschedule endpoint cannot change it: cancel and book again
    (sub_category_edited, [("session.cert.jane", "replace", "manifest-changed", ())]),
    # not booked: nothing to cancel
    (removed_while_needing_a_proctor, [("session.cert.bob", "forget", "removed", ())]),
]


RULES = PROVISIONED + ASSIGNMENTS + SESSIONS


@pytest.mark.parametrize("inputs,expected", RULES, ids=[case.__name__ for case, _ in RULES])
def test_rule(inputs: Callable[[], Inputs], expected: list[Row]) -> None:
    """The whole plan of one rule's case: every change's action, reason and depends_on."""
    assert rows(build_plan(*inputs())) == expected


def test_a_sub_category_replace_shows_both_values() -> None:
    tp = build_plan(*sub_category_edited())
    c = tp.changes[0]
    assert c.destructive is True
    assert c.before is not None and c.after is not None
    assert "proctorTypeSubCategory" not in c.before
    assert c.after["proctorTypeSubCategory"] == "sub-1"
