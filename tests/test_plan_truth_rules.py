"""The planner shows every remote effect: side-effect cancels, moves, forced and refresh-only
plans (docs/planning.md, "Actions and reasons"). Built from models directly."""

from __future__ import annotations

from typing import Any

import pytest
from support.plan import acts, applied_state, change, exam, observed_matching, world

from spsync.errors import PlanError
from spsync.model import Desired, Enrollment, Ids
from spsync.moves import moved_with
from spsync.observed import Observed
from spsync.planner import build_plan
from spsync.state import State


def renamed(d: Desired, old: str, new: str) -> Desired:
    """``d`` with user ``old`` renamed ``new`` (same ids) everywhere it is named."""
    users = {}
    for u in d.users.values():
        if u.name == old:
            u = u.model_copy(update={"name": new})
        users[u.address] = u

    def rekey(group: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for r in group.values():
            if r.user == old:
                r = r.model_copy(update={"user": new})
            out[r.address] = r
        return out

    return d.model_copy(
        update={
            "users": users,
            "enrollments": rekey(d.enrollments),
            "assignments": rekey(d.assignments),
            "sessions": rekey(d.sessions),
        }
    )


# --- side effects ------------------------------------------------------------------------------


def test_a_removed_user_s_booked_session_is_cancelled_by_the_unassign(
    st: State, live: Observed
) -> None:
    for observed in (None, live):
        tp = build_plan(world(["jane"]), st, observed)
        assert acts(tp) == [
            ("user.bob", "forget", "removed"),
            ("enrollment.main.bob", "forget", "removed"),
            ("assignment.cert.bob", "unassign", "removed"),
            ("session.cert.bob", "cancel", "unassigned"),
        ]
        cancel = change(tp, "session.cert.bob")
        assert cancel.destructive and cancel.depends_on == ("assignment.cert.bob",)
        assert [c.address for c in tp.destructive] == ["assignment.cert.bob", "session.cert.bob"]
        assert tp.summary["cancel"] == 1 and tp.summary["forget"] == 2


def test_a_booked_session_spsync_does_not_manage_is_shown_when_an_unassign_cancels_it(
    d: Desired, st: State, live: Observed
) -> None:
    # bob's session is not in the manifests nor in state, but is booked live
    d2 = d.model_copy(
        update={"sessions": {a: s for a, s in d.sessions.items() if a != "session.cert.bob"}}
    )
    st2 = st.model_copy(
        update={"resources": {a: r for a, r in st.resources.items() if a != "session.cert.bob"}}
    )
    booked = live.sessions["session.cert.bob"]
    observed = live.model_copy(update={"sessions": {"assignment.cert.bob": booked}})
    d3 = d2.model_copy(
        update={
            "assignments": {a: v for a, v in d2.assignments.items() if a != "assignment.cert.bob"}
        }
    )
    tp = build_plan(d3, st2, observed)
    assert acts(tp) == [
        ("assignment.cert.bob", "unassign", "removed"),
        ("session.cert.bob", "cancel", "unassigned"),
    ]
    assert change(tp, "session.cert.bob").before["appointment"] == booked.appointment


def test_switching_to_limited_scope_replaces_the_booked_sessions(st: State) -> None:
    unlimited = world(exams=[exam(limited=False)])
    st_u = applied_state(unlimited)
    live_u = observed_matching(st_u, unlimited)
    limited = world(exams=[exam(limited=True)])
    tp = build_plan(limited, st_u, live_u)
    assert acts(tp) == [
        ("exam.cert", "update", "manifest-changed"),
        ("assignment.cert.bob", "assign", "scope-limited"),
        ("assignment.cert.jane", "assign", "scope-limited"),
        ("session.cert.bob", "replace", "scope-limited"),
        ("session.cert.jane", "replace", "scope-limited"),
    ]
    replace = change(tp, "session.cert.bob")
    assert replace.destructive
    assert replace.depends_on == ("assignment.cert.bob", "exam.cert")
    assert change(tp, "assignment.cert.bob").depends_on == ("exam.cert",)
    assert tp.adopt == {}
    assert any("switching to limited scope" in w for w in tp.warnings)


def test_switching_to_limited_scope_cancels_a_session_without_assignment(st: State) -> None:
    unlimited = world(exams=[exam(limited=False)])
    st_u = applied_state(unlimited)
    live_u = observed_matching(st_u, unlimited)
    limited = world(["jane", "bob"], scheduled=["jane"], exams=[exam(limited=True)])
    limited = limited.model_copy(
        update={
            "assignments": {
                a: v for a, v in limited.assignments.items() if a != "assignment.cert.bob"
            }
        }
    )
    tp = build_plan(limited, st_u, live_u)
    assert ("session.cert.bob", "cancel", "scope-limited") in acts(tp)
    assert change(tp, "session.cert.bob").depends_on == ("exam.cert",)


def test_a_learner_made_instructor_loses_the_session(d: Desired, st: State, live: Observed) -> None:
    d2 = world(["jane", "bob"], scheduled=["jane"])
    d2 = d2.model_copy(
        update={
            "enrollments": {
                **d2.enrollments,
                "enrollment.main.bob": Enrollment(user="bob", course="main", role="instructor"),
            },
            "assignments": {a: v for a, v in d2.assignments.items() if a != "assignment.cert.bob"},
        }
    )
    tp = build_plan(d2, st, live)
    assert acts(tp) == [
        ("enrollment.main.bob", "update", "manifest-changed"),
        ("assignment.cert.bob", "unassign", "removed"),
        ("session.cert.bob", "cancel", "role-changed"),
    ]
    assert change(tp, "session.cert.bob").depends_on == (
        "assignment.cert.bob",
        "enrollment.main.bob",
    )
    assert tp.warnings == (
        "enrollment.main.bob: leaving the learner role withdraws the enrollment's sessions "
        "and assignments in every exam of its course; those of exams spsync does not manage, "
        "and its assignments to unlimited exams (which no read shows), are not shown as "
        "changes",
    )


def test_a_target_brings_the_effects_of_its_changes(st: State, live: Observed) -> None:
    tp = build_plan(world(["jane"]), st, live, targets=["assignment.cert.bob"])
    assert acts(tp) == [
        ("user.bob", "forget", "removed"),
        ("enrollment.main.bob", "forget", "removed"),
        ("assignment.cert.bob", "unassign", "removed"),
        ("session.cert.bob", "cancel", "unassigned"),
    ]


# --- moves -------------------------------------------------------------------------------------


def test_a_renamed_user_moves_with_its_dependants(d: Desired, st: State, live: Observed) -> None:
    for observed in (None, live):
        tp = build_plan(renamed(d, "jane", "jane-smith"), st, observed)
        assert acts(tp) == [
            ("user.jane-smith", "move", "renamed"),
            ("enrollment.main.jane-smith", "move", "renamed"),
            ("assignment.cert.jane-smith", "move", "renamed"),
            ("session.cert.jane-smith", "move", "renamed"),
        ]
        assert change(tp, "user.jane-smith").previous_address == "user.jane"
        assert change(tp, "session.cert.jane-smith").previous_address == "session.cert.jane"
        assert tp.destructive == () and tp.adopt == {}
        assert tp.summary["move"] == 4


def test_a_move_with_an_edit_is_the_edit_with_its_previous_address(
    d: Desired, st: State, live: Observed
) -> None:
    d2 = renamed(d, "jane", "jane-smith")
    u = d2.users["user.jane-smith"].model_copy(update={"lastName": "Smith-Jones"})
    d2 = d2.model_copy(update={"users": {**d2.users, u.address: u}})
    tp = build_plan(d2, st, live)
    upd = change(tp, "user.jane-smith")
    assert (upd.action, upd.reason, upd.previous_address) == (
        "update",
        "manifest-changed",
        "user.jane",
    )
    assert upd.after["lastName"] == "Smith-Jones"


def test_a_user_with_other_ids_is_not_a_move(d: Desired, st: State, live: Observed) -> None:
    d2 = renamed(d, "jane", "jane-smith")
    u = d2.users["user.jane-smith"].model_copy(update={"ids": Ids(external="u-someone-else")})
    d2 = d2.model_copy(update={"users": {**d2.users, u.address: u}})
    tp = build_plan(d2, st, None)
    assert ("user.jane-smith", "create", "new") in acts(tp)
    assert ("user.jane", "forget", "removed") in acts(tp)
    assert ("session.cert.jane", "cancel", "unassigned") in acts(tp)
    assert all(c.action != "move" for c in tp.changes)


def test_two_candidates_for_one_old_address_move_neither(d: Desired, st: State) -> None:
    d2 = renamed(d, "jane", "jane-a")
    twin = d2.users["user.jane-a"].model_copy(update={"name": "jane-b"})
    d2 = d2.model_copy(update={"users": {**d2.users, twin.address: twin}})
    tp = build_plan(d2, st, None)
    assert ("user.jane-a", "create", "new") in acts(tp)
    assert ("user.jane-b", "create", "new") in acts(tp)


def test_a_user_named_by_its_recorded_sid_moves(d: Desired, st: State) -> None:
    d2 = renamed(d, "jane", "jane-smith")
    recorded = st.resources["user.jane"].sid
    u = d2.users["user.jane-smith"].model_copy(update={"ids": Ids(sid=recorded)})
    d2 = d2.model_copy(update={"users": {**d2.users, u.address: u}})
    tp = build_plan(d2, st, None)
    assert change(tp, "user.jane-smith").previous_address == "user.jane"
    assert change(tp, "session.cert.jane-smith").action == "move"


def test_a_plan_never_cancels_a_sid_the_manifests_keep(d: Desired, st: State) -> None:
    # a stale second state entry for jane's session (an interrupted move): dropped, not
    # cancelled
    dup = st.resources["session.cert.jane"]
    st2 = st.model_copy(update={"resources": {**st.resources, "session.cert.old-jane": dup}})
    tp = build_plan(d, st2, None)
    assert acts(tp) == [("session.cert.old-jane", "forget", "removed")]
    assert tp.warnings == (
        "session.cert.old-jane: its remote object is also session.cert.jane, which the "
        "manifests keep; only dropped from state (use `spsync state mv session.cert.old-jane "
        "session.cert.jane` to say it moved)",
    )


def test_state_mv_takes_the_dependants_along() -> None:
    addresses = [
        "user.jane",
        "user.janet",
        "enrollment.main.jane",
        "enrollment.main.janet",
        "assignment.cert.jane",
        "session.cert.jane",
        "session.cert.janet",
    ]
    assert moved_with(addresses, "user.jane", "user.jane-smith") == {
        "user.jane": "user.jane-smith",
        "enrollment.main.jane": "enrollment.main.jane-smith",
        "assignment.cert.jane": "assignment.cert.jane-smith",
        "session.cert.jane": "session.cert.jane-smith",
    }
    assert moved_with(["exam.cert", "session.cert.jane"], "exam.cert", "exam.cert2") == {
        "exam.cert": "exam.cert2",
        "session.cert.jane": "session.cert2.jane",
    }
    with pytest.raises(ValueError, match="the kinds must match"):
        moved_with(addresses, "user.jane", "exam.jane")


# --- --replace and --refresh-only ---------------------------------------------------------


def test_replace_books_a_session_again(d: Desired, st: State, live: Observed) -> None:
    tp = build_plan(d, st, live, replace=["session.cert.jane"])
    assert acts(tp) == [("session.cert.jane", "replace", "forced")]
    assert change(tp, "session.cert.jane").destructive


def test_replace_takes_sessions_of_the_manifests_only(d: Desired, st: State) -> None:
    with pytest.raises(PlanError) as e:
        build_plan(d, st, None, replace=["user.jane", "session.cert.jnae"])
    assert str(e.value) == (
        "acme: --replace user.jane: only sessions can be replaced (booked again); courses, "
        "exams, users, enrollments and assignments cannot be deleted through the API; "
        "--replace session.cert.jnae: not a session of the manifests; did you mean "
        "session.cert.jane?"
    )


def test_refresh_only_takes_drift_into_state_and_nothing_else(
    d: Desired, st: State, live: Observed
) -> None:
    moved = live.objects["session.cert.bob"].replace(
        fields={**live.objects["session.cert.bob"].fields, "appointment": "2027-04-01T09:00:00Z"}
    )
    gone = {a: o for a, o in live.objects.items() if a != "user.jane"}
    observed = live.model_copy(
        update={
            "objects": {**gone, "session.cert.bob": moved},
            "missing": frozenset({"user.jane"}),
        }
    )
    d2 = world(["jane", "bob", "carl"])  # carl is new: a refresh-only plan leaves him be
    tp = build_plan(d2, st, observed, refresh_only=True)
    assert acts(tp) == [
        ("user.jane", "forget", "drift"),
        ("session.cert.bob", "refresh", "drift"),
    ]
    refresh = change(tp, "session.cert.bob")
    assert refresh.before["appointment"] == "2027-03-01T14:00:00Z"
    assert refresh.after["appointment"] == "2027-04-01T09:00:00Z"
    assert not refresh.destructive
    with pytest.raises(PlanError, match="--refresh-only needs the live objects"):
        build_plan(d2, st, None, refresh_only=True)


def test_refresh_only_with_cancelled_session(d: Desired, st: State, live: Observed) -> None:
    cancelled = live.objects["session.cert.bob"].replace(status="Cancelled")
    observed = live.model_copy(update={"objects": {**live.objects, "session.cert.bob": cancelled}})
    tp = build_plan(d, st, observed, refresh_only=True)
    assert acts(tp) == [("session.cert.bob", "forget", "drift")]


def test_back_to_limited_scope_keeps_the_assignments_the_api_holds(
    d: Desired, st: State, live: Observed
) -> None:
    # the exam went unlimited and back: the assignments recorded while it was limited are
    # still held by the API, so the switch withdraws nothing and nothing is re-sent
    unlimited = world(exams=[exam(limited=False)])
    step = build_plan(unlimited, st, live)
    assert acts(step) == [("exam.cert", "update", "manifest-changed")]
    back = live.model_copy(
        update={
            "objects": {
                **live.objects,
                "exam.cert": live.objects["exam.cert"].replace(
                    fields={**live.objects["exam.cert"].fields, "limitedScope": False}
                ),
            }
        }
    )
    tp = build_plan(d, st, back)
    assert acts(tp) == [("exam.cert", "update", "drift")]
