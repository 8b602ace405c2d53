"""The pure planner: every action and reason of product-spec §4, built from models directly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.plan import (
    KEY,
    PL2,
    TOKEN,
    acts,
    applied_state,
    change,
    edit_live,
    exam,
    hand_change,
    live_status,
    missing,
    observed_matching,
    session,
    sid,
    tenant,
    user,
    world,
)

from spsync.api import wire
from spsync.errors import PlanError
from spsync.fields import secret_key_for
from spsync.model import Desired, Enrollment
from spsync.observed import LiveObject, Observed
from spsync.plan import TenantPlan, staleness
from spsync.planner import build_plan
from spsync.planner_base import linked
from spsync.state import ResourceState, State


def with_users(d: Desired, **users: Any) -> Desired:
    return d.model_copy(update={"users": {**d.users, **users}})


def with_sessions(d: Desired, *sessions: Any) -> Desired:
    return d.model_copy(update={"sessions": {**d.sessions, **{s.address: s for s in sessions}}})


# --- create / noop ---------------------------------------------------------------------------


def test_empty_state_creates_everything_in_dependency_order(d: Desired) -> None:
    empty = State(lineage="l", tenant="acme", install=d.tenant.install, api_url="u")
    tp = build_plan(d, empty, None)
    assert acts(tp) == [
        ("course.main", "create", "new"),
        ("exam.cert", "create", "new"),
        ("user.bob", "create", "new"),
        ("user.jane", "create", "new"),
        ("enrollment.main.bob", "create", "new"),
        ("enrollment.main.jane", "create", "new"),
        ("assignment.cert.bob", "assign", "new"),
        ("assignment.cert.jane", "assign", "new"),
        ("session.cert.bob", "schedule", "new"),
        ("session.cert.jane", "schedule", "new"),
    ]
    assert change(tp, "exam.cert").depends_on == ("course.main",)
    assert change(tp, "enrollment.main.jane").depends_on == ("course.main", "user.jane")
    assert change(tp, "assignment.cert.jane").depends_on == ("enrollment.main.jane", "exam.cert")
    assert change(tp, "session.cert.jane").depends_on == ("assignment.cert.jane", "exam.cert")
    # a user's provision names a course: the one it is enrolled in, made by this plan too
    assert change(tp, "user.jane").depends_on == ("course.main",)
    assert change(tp, "user.jane").before is None
    assert change(tp, "user.jane").after == {
        "ids": {"external": "u-jane"},
        "firstName": "Jane",
        "lastName": "Smith",
        "email": "jane@example.com",
        "timeZone": "America/New_York",
    }
    assert tp.summary["create"] == 6 and tp.summary["noop"] == 0
    assert tp.desired_count == 10 and tp.managed_count == 0


def test_applied_state_plans_nothing_with_or_without_refresh(
    d: Desired, st: State, live: Observed
) -> None:
    for observed in (None, live):
        tp = build_plan(d, st, observed)
        assert tp.changes == () and tp.adopt == {} and tp.warnings == ()
        assert tp.summary["noop"] == 10
        assert sum(tp.summary.values()) == 10
        assert not tp.has_changes


def test_numbers_compare_by_value(d: Desired, st: State) -> None:
    rec = st.resources["session.cert.jane"]
    st.resources["session.cert.jane"] = rec.model_copy(
        update={"applied": {**rec.applied, "amount": 0}}  # int in state, float in manifest
    )
    assert build_plan(d, st, None).changes == ()


# --- update ---------------------------------------------------------------------------------


def test_manifest_change_is_an_update(d: Desired, st: State, live: Observed) -> None:
    d2 = with_users(d, **{"user.jane": user("jane", lastName="Doe")})
    for observed in (None, live):
        tp = build_plan(d2, st, observed)
        assert acts(tp) == [("user.jane", "update", "manifest-changed")]
        c = change(tp, "user.jane")
        assert c.before is not None and c.after is not None
        assert (c.before["lastName"], c.after["lastName"]) == ("Smith", "Doe")
        assert c.destructive is False and c.depends_on == ()


def test_live_edit_is_drift_back_to_the_manifest(d: Desired, st: State, live: Observed) -> None:
    tp = build_plan(d, st, edit_live(live, "user.bob", email="bobby@example.com"))
    assert acts(tp) == [("user.bob", "update", "drift")]
    c = change(tp, "user.bob")
    assert c.before is not None and c.after is not None
    assert (c.before["email"], c.after["email"]) == ("bobby@example.com", "bob@example.com")
    # without refresh the live edit is not seen
    assert build_plan(d, st, None).changes == ()


def test_exam_configuration_edited_in_the_ui_is_drift(
    d: Desired, st: State, live: Observed
) -> None:
    conf = {**live.objects["exam.cert"].fields["configuration"], "duration": 90}
    tp = build_plan(d, st, edit_live(live, "exam.cert", configuration=conf))
    assert acts(tp) == [("exam.cert", "update", "drift")]
    c = change(tp, "exam.cert")
    assert c.before["configuration"]["duration"] == 90  # type: ignore[index]
    assert c.after["configuration"]["duration"] == 120  # type: ignore[index]


def test_live_already_matching_an_edited_manifest_is_recorded_not_sent(
    d: Desired, st: State, live: Observed
) -> None:
    d2 = with_users(d, **{"user.jane": user("jane", lastName="Doe")})
    tp = build_plan(d2, st, edit_live(live, "user.jane", lastName="Doe"))
    assert tp.changes == ()
    assert list(tp.adopt) == ["user.jane"]
    assert tp.adopt["user.jane"].sid == st.resources["user.jane"].sid
    assert tp.has_changes  # apply must still record the new baseline


def test_unmanaged_fields_are_never_compared(d: Desired, st: State, live: Observed) -> None:
    d2 = with_users(d, **{"user.jane": user("jane", timeZone=None)})
    st.resources["user.jane"].applied.pop("timeZone")
    tp = build_plan(
        d2, st, edit_live(live, "user.jane", timeZone="Europe/Paris", currencyCode="EUR")
    )
    assert tp.changes == ()


def test_newly_managed_field_is_a_manifest_change(d: Desired, st: State, live: Observed) -> None:
    d2 = with_users(d, **{"user.jane": user("jane", currencyCode="USD")})
    tp = build_plan(d2, st, edit_live(live, "user.jane", currencyCode="EUR"))
    assert acts(tp) == [("user.jane", "update", "manifest-changed")]
    c = change(tp, "user.jane")
    assert c.before["currencyCode"] == "EUR" and c.after["currencyCode"] == "USD"  # type: ignore[index]


# --- secrets --------------------------------------------------------------------------------


def _text(tp: TenantPlan) -> str:
    return json.dumps(tp.model_dump(mode="json"))


def test_password_change_in_manifest_is_masked(st: State, live: Observed) -> None:
    d2 = world(exams=[exam(password="new-secret-pw")])
    for observed in (None, live):
        tp = build_plan(d2, st, observed)
        assert acts(tp) == [("exam.cert", "update", "manifest-changed")]
        c = change(tp, "exam.cert")
        assert c.before["configuration"]["password"] == "(sensitive)"  # type: ignore[index]
        assert c.after["configuration"]["password"] == "(changed)"  # type: ignore[index]
        text = _text(tp)
        for secret in ("new-secret-pw", "pw-1", TOKEN):
            assert secret not in text
        assert "hmac-sha256:" + "" not in json.dumps([c.before, c.after])


def test_password_changed_remotely_is_drift(d: Desired, st: State, live: Observed) -> None:
    from spsync.secrets import Secret

    conf = {**live.objects["exam.cert"].fields["configuration"], "password": Secret("ui-pw")}
    tp = build_plan(d, st, edit_live(live, "exam.cert", configuration=conf))
    assert acts(tp) == [("exam.cert", "update", "drift")]
    assert "ui-pw" not in _text(tp)


def test_rotated_token_with_unchanged_password_only_records_new_fingerprint(
    d: Desired, st: State, live: Observed
) -> None:
    tp = build_plan(d, st, live, secret_key=b"rotated-token")
    assert tp.changes == ()
    assert list(tp.adopt) == ["exam.cert"]
    assert secret_key_for(tenant()) == KEY


# --- gone remotely ----------------------------------------------------------------------------


def test_user_deleted_remotely_is_created_again_with_its_dependants(
    d: Desired, st: State, live: Observed
) -> None:
    o = missing(
        live, "user.jane", "enrollment.main.jane", "assignment.cert.jane", "session.cert.jane"
    )
    assert acts(build_plan(d, st, o)) == [
        ("user.jane", "create", "drift"),
        ("enrollment.main.jane", "create", "drift"),
        ("assignment.cert.jane", "assign", "drift"),
        ("session.cert.jane", "schedule", "drift"),
    ]
    # only the user seen as gone: its dependants are made anew anyway
    assert acts(build_plan(d, st, missing(live, "user.jane"))) == [
        ("user.jane", "create", "drift"),
        ("enrollment.main.jane", "create", "drift"),
        ("assignment.cert.jane", "assign", "drift"),
        ("session.cert.jane", "schedule", "drift"),
    ]


def test_unassigned_remotely_is_assigned_and_scheduled_again(
    d: Desired, st: State, live: Observed
) -> None:
    o = missing(live, "assignment.cert.bob")
    assert acts(build_plan(d, st, o)) == [
        ("assignment.cert.bob", "assign", "drift"),
        ("session.cert.bob", "schedule", "drift"),
    ]


def test_ids_change_provisions_another_object_with_a_warning(d: Desired, st: State) -> None:
    from spsync.model import Ids

    d2 = with_users(d, **{"user.bob": user("bob", ids=Ids(api="bob-2"))})
    tp = build_plan(d2, st, None)
    assert acts(tp) == [
        ("user.bob", "create", "manifest-changed"),
        ("enrollment.main.bob", "create", "manifest-changed"),
        ("assignment.cert.bob", "assign", "manifest-changed"),
        ("session.cert.bob", "schedule", "manifest-changed"),
    ]
    old = st.resources["user.bob"].sid
    assert tp.warnings == (
        f"user.bob: ids changed: another remote object will be provisioned; the old one ({old}) "
        "is left as it is",
    )


# --- first contact: adoption --------------------------------------------------------------------


def test_user_found_remotely_is_adopted_not_created(d: Desired, st: State, live: Observed) -> None:
    d2 = world(["jane", "bob", "carl"], scheduled=["jane", "bob"])
    carl_sid = sid("US", "carl-remote")
    fields = {"firstName": "Carl", "lastName": "Smith", "email": "carl@example.com"}
    fields["timeZone"] = "America/New_York"
    o = live.model_copy(update={"adopted": {"user.carl": LiveObject(sid=carl_sid, fields=fields)}})
    tp = build_plan(d2, st, o)
    assert acts(tp) == [
        ("enrollment.main.carl", "create", "new"),
        ("assignment.cert.carl", "assign", "new"),
    ]
    assert tp.adopt["user.carl"].sid == carl_sid
    assert tp.summary["noop"] == 10 + 1
    # differing fields: an update (reason new), still never a create
    o2 = o.model_copy(
        update={
            "adopted": {"user.carl": LiveObject(sid=carl_sid, fields={**fields, "lastName": "X"})}
        }
    )
    tp2 = build_plan(d2, st, o2)
    assert ("user.carl", "update", "new") in acts(tp2)
    assert change(tp2, "user.carl").before["lastName"] == "X"  # type: ignore[index]
    assert "user.carl" in tp2.adopt


def test_scheduled_session_found_remotely_is_adopted(d: Desired) -> None:
    st = applied_state(world(scheduled=["jane"]))
    live = observed_matching(st, d)
    found = LiveObject(
        sid=sid("ES", "bob-remote"),
        refs={"exam": "EXx", "enrollment": "ENx"},
        fields={
            "appointment": "2027-03-01T14:00:00Z",
            "type": "automated",
            "proctorLocation": session("cert", "bob").proctorLocation,
            "externalAppointmentId": "appt-bob",
            "notes": None,
        },
        status="Scheduled",
    )
    tp = build_plan(d, st, live.model_copy(update={"adopted": {"session.cert.bob": found}}))
    assert tp.changes == ()
    assert tp.adopt["session.cert.bob"].sid == found.sid
    moved = found.replace(fields={**found.fields, "appointment": "2027-04-01T09:00:00Z"})
    tp = build_plan(d, st, live.model_copy(update={"adopted": {"session.cert.bob": moved}}))
    assert acts(tp) == [("session.cert.bob", "reschedule", "new")]


# --- assignments ------------------------------------------------------------------------------


def test_assign_without_session_and_unassign_removed(d: Desired, st: State, live: Observed) -> None:
    d2 = world(["jane", "bob", "carl"], scheduled=["jane"])
    d2 = d2.model_copy(
        update={
            "assignments": {a: v for a, v in d2.assignments.items() if a != "assignment.cert.bob"}
        }
    )
    tp = build_plan(d2, st, live)
    assert acts(tp) == [
        ("user.carl", "create", "new"),
        ("enrollment.main.carl", "create", "new"),
        ("assignment.cert.bob", "unassign", "removed"),
        ("assignment.cert.carl", "assign", "new"),
        ("session.cert.bob", "cancel", "unassigned"),  # the unassign cancels it
    ]
    assert change(tp, "assignment.cert.bob").destructive is True
    assert change(tp, "session.cert.bob").depends_on == ("assignment.cert.bob",)
    # the booked session the unassign cancels is a destructive change of its own
    assert change(tp, "session.cert.bob").destructive is True
    assert tp.summary["cancel"] == 1 and len(tp.destructive) == 2


def test_unlimited_exam_has_no_assignments(st: State) -> None:
    d = world(exams=[exam(limited=False)])
    empty = State(lineage="l", tenant="acme", install=d.tenant.install, api_url="u")
    tp = build_plan(d, empty, None)
    assert [a for a, _x, _r in acts(tp) if a.startswith("assignment")] == []
    assert change(tp, "session.cert.jane").depends_on == ("enrollment.main.jane", "exam.cert")
    assert tp.summary["noop"] == 2  # the implied assignments
    # an exam that became unlimited: its assignments stay recorded (the API still holds
    # them), nothing is sent for them
    tp = build_plan(d, st, None)
    assert acts(tp) == [("exam.cert", "update", "manifest-changed")]
    # ... so that a later removal is an unassign the plan shows, and cancels no session
    # (an unlimited exam keeps every learner's session)
    gone = world(["jane"], exams=[exam(limited=False)])
    tp = build_plan(gone, st, None)
    assert ("assignment.cert.bob", "unassign", "removed") in acts(tp)
    assert ("session.cert.bob", "cancel", "removed") in acts(tp)
    # the cancel goes first, so that the session keeps spsync's memo rather than the one
    # the unassignment would leave
    assert change(tp, "assignment.cert.bob").depends_on == ("exam.cert", "session.cert.bob")
    assert change(tp, "session.cert.bob").depends_on == ("exam.cert",)


# --- sessions ---------------------------------------------------------------------------------


def test_session_cancelled_remotely_is_scheduled_again(
    d: Desired, st: State, live: Observed
) -> None:
    tp = build_plan(d, st, live_status(live, "session.cert.jane", "Cancelled"))
    assert acts(tp) == [("session.cert.jane", "schedule", "drift")]
    assert change(tp, "session.cert.jane").depends_on == ()
    tp = build_plan(d, st, missing(live, "session.cert.jane"))
    assert acts(tp) == [("session.cert.jane", "schedule", "drift")]


def test_appointment_changes_are_reschedules(d: Desired, st: State, live: Observed) -> None:
    d2 = with_sessions(d, session("cert", "jane", appointment="2027-03-08T14:00:00Z"))
    tp = build_plan(d2, st, live)
    assert acts(tp) == [("session.cert.jane", "reschedule", "manifest-changed")]
    c = change(tp, "session.cert.jane")
    assert (c.before["appointment"], c.after["appointment"]) == (  # type: ignore[index]
        "2027-03-01T14:00:00Z",
        "2027-03-08T14:00:00Z",
    )
    assert c.destructive is False
    moved = edit_live(live, "session.cert.bob", appointment="2027-05-01T10:00:00Z")
    assert acts(build_plan(d, st, moved)) == [("session.cert.bob", "reschedule", "drift")]
    d3 = with_sessions(d, session("cert", "jane", notes="Bring a pencil"))
    assert acts(build_plan(d3, st, live)) == [
        ("session.cert.jane", "reschedule", "manifest-changed")
    ]


@pytest.mark.parametrize(
    "field,value",
    [
        ("type", "b-virtual"),
        ("proctorLocation", PL2),
        ("amount", 25.0),
        ("currency", "EUR"),
        ("externalAppointmentId", "appt-new"),
    ],
)
def test_what_reschedule_cannot_change_is_a_replace(
    d: Desired, st: State, live: Observed, field: str, value: Any
) -> None:
    d2 = with_sessions(d, session("cert", "jane", **{field: value}))
    tp = build_plan(d2, st, live)
    assert acts(tp) == [("session.cert.jane", "replace", "manifest-changed")]
    assert change(tp, "session.cert.jane").destructive is True
    assert change(tp, "session.cert.jane").after[field] == value  # type: ignore[index]


def test_type_changed_remotely_is_a_replace_for_drift(
    d: Desired, st: State, live: Observed
) -> None:
    tp = build_plan(d, st, edit_live(live, "session.cert.bob", type="ad-hoc"))
    assert acts(tp) == [("session.cert.bob", "replace", "drift")]


def test_session_removed_while_assigned_is_cancelled(d: Desired, st: State, live: Observed) -> None:
    d2 = world(scheduled=["jane"])  # bob stays assigned
    for observed in (None, live):
        tp = build_plan(d2, st, observed)
        assert acts(tp) == [("session.cert.bob", "cancel", "removed")]
        c = change(tp, "session.cert.bob")
        assert c.destructive is True and c.after is None
        assert c.before["appointment"] == "2027-03-01T14:00:00Z"  # type: ignore[index]
    # already cancelled remotely: nothing left to cancel
    tp = build_plan(d2, st, live_status(live, "session.cert.bob", "Cancelled"))
    assert acts(tp) == [("session.cert.bob", "forget", "removed")]


@pytest.mark.parametrize(
    "status",
    [
        "Onboarding",
        "Checked In",
        "In Progress",
        "Processing",
        "Incident",
        "Pending Review",
        "Closed",
        "Completed",
    ],
)
def test_a_session_under_way_or_over_is_left_alone_with_a_warning(
    d: Desired, st: State, live: Observed, status: str
) -> None:
    # every status the vendor documents for a session begun or ended: no move, no re-booking
    d2 = with_sessions(d, session("cert", "jane", appointment="2027-03-08T14:00:00Z"))
    for sent in (status, status.upper().replace(" ", "_")):
        read = wire.Session.model_validate({"sid": "ES" + "0" * 32, "status": sent}).status
        tp = build_plan(d2, st, live_status(live, "session.cert.jane", read))
        assert tp.changes == ()
        assert tp.warnings == (
            f"session.cert.jane: the session is {status}; its manifest changes can no longer "
            "be applied",
        )


# --- forget -------------------------------------------------------------------------------------


def test_removed_provisioned_objects_are_forgotten(st: State, live: Observed) -> None:
    d2 = world(["jane"])
    tp = build_plan(d2, st, live)
    assert acts(tp) == [
        ("user.bob", "forget", "removed"),
        ("enrollment.main.bob", "forget", "removed"),
        ("assignment.cert.bob", "unassign", "removed"),
        ("session.cert.bob", "cancel", "unassigned"),
    ]
    assert change(tp, "user.bob").after is None
    assert change(tp, "user.bob").before["lastName"] == "Smith"  # type: ignore[index]


def test_forgotten_exam_takes_its_assignments_and_sessions_along(st: State) -> None:
    d = world(exams=[])
    d = d.model_copy(
        update={
            "enrollments": {
                e.address: e for e in (Enrollment(user=u, course="main") for u in ("bob", "jane"))
            }
        }
    )
    tp = build_plan(d, st, None)
    assert acts(tp) == [
        ("exam.cert", "forget", "removed"),
        ("assignment.cert.bob", "forget", "removed"),
        ("assignment.cert.jane", "forget", "removed"),
        ("session.cert.bob", "forget", "removed"),
        ("session.cert.jane", "forget", "removed"),
    ]
    assert tp.destructive == ()


# --- dependencies ---------------------------------------------------------------------------


def test_a_user_without_enrollments_waits_for_the_first_course() -> None:
    d = world(["jane"], scheduled=[])
    d = with_users(d, **{"user.solo": user("solo")})
    empty = State(lineage="l", tenant="acme", install=d.tenant.install, api_url="u")
    tp = build_plan(d, empty, None)
    assert change(tp, "user.solo").depends_on == ("course.main",)
    # a targeted user brings no course: its provision uses the one in state
    tp = build_plan(d, empty, None, targets=["user.solo"])
    assert [(c.address, c.depends_on) for c in tp.changes] == [("user.solo", ())]


def test_what_a_change_waits_for_through_another_is_not_listed_again() -> None:
    enrollment = hand_change("enrollment.main.jane", "update", "manifest-changed")
    assignment = hand_change("assignment.cert.jane", "assign", depends_on=(enrollment.address,))
    sess = hand_change(
        "session.cert.jane",
        "schedule",
        depends_on=(assignment.address, enrollment.address, "exam.cert"),
    )
    needs = {sess.address: {enrollment.address, "exam.cert"}}
    # the session waits for its enrollment through its assignment; the exam is no change
    linked_all = linked([enrollment, assignment, sess], needs)
    assert linked_all[2].depends_on == (assignment.address,)
    # without the assignment in the plan, the session waits for the enrollment itself
    assert linked([enrollment, sess], needs)[1].depends_on == (enrollment.address,)
    # a structural dependency is kept even where it is also reached through another
    structural = sess.model_copy(update={"depends_on": (assignment.address, enrollment.address)})
    assert linked([enrollment, assignment, structural], {})[2] == structural


def test_a_plan_whose_dependencies_moved_is_stale_and_says_why(d: Desired) -> None:
    empty = State(lineage="l", tenant="acme", install=d.tenant.install, api_url="u")
    fresh = build_plan(d, empty, None)
    # as a plan file of an earlier spsync: the user's change did not list its course
    old = tuple(
        c.model_copy(update={"depends_on": ()}) if c.address == "user.jane" else c
        for c in fresh.changes
    )
    saved = fresh.model_copy(update={"changes": old})
    assert staleness(saved, fresh) == [
        "acme: changes whose dependencies are now different (was the plan made by another "
        "version of spsync?): user.jane"
    ]
    assert staleness(fresh, fresh) == []
    # the state moved meanwhile (an apply stopped part way): that is the reason, not a
    # version of spsync
    moved = saved.model_copy(update={"state_serial": 3})
    assert staleness(moved, fresh) == [
        "the state of acme changed since planning (serial 3 -> 0)",
        "acme: changes whose dependencies are now different: user.jane",
    ]


# --- targets ------------------------------------------------------------------------------------


def test_target_pulls_in_what_it_depends_on(d: Desired) -> None:
    empty = State(lineage="l", tenant="acme", install=d.tenant.install, api_url="u")
    tp = build_plan(d, empty, None, targets=["session.cert.jane"])
    assert [c.address for c in tp.changes] == [
        "course.main",
        "exam.cert",
        "user.jane",
        "enrollment.main.jane",
        "assignment.cert.jane",
        "session.cert.jane",
    ]
    assert sum(tp.summary.values()) == 6


def test_unknown_target_suggests(d: Desired, st: State) -> None:
    with pytest.raises(PlanError) as e:
        build_plan(d, st, None, targets=["user.jame", "course.nope-at-all-xyz"])
    assert str(e.value) == (
        "acme: unknown target user.jame; did you mean user.jane?; unknown target "
        "course.nope-at-all-xyz"
    )


# --- determinism and fingerprints -----------------------------------------------------------------


def test_plan_is_deterministic(st: State, live: Observed) -> None:
    d2 = world(["jane", "carl"], scheduled=["carl"])
    a = build_plan(d2, st, live)
    st2 = State.model_validate_json(st.model_dump_json())
    b = build_plan(d2, st2, observed_matching(st2, world()))
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()


def test_fingerprints_follow_live_objects_and_digest_follows_manifests(
    d: Desired, st: State, live: Observed
) -> None:
    d2 = with_users(d, **{"user.jane": user("jane", lastName="Doe")})
    base = build_plan(d2, st, live)
    assert list(base.fingerprints) == ["user.jane"]
    moved = build_plan(d2, st, edit_live(live, "user.jane", email="j@example.com"))
    assert moved.fingerprints["user.jane"] != base.fingerprints["user.jane"]
    assert moved.desired_digest == base.desired_digest
    d3 = with_users(d, **{"user.jane": user("jane", lastName="Dee")})
    assert build_plan(d3, st, live).desired_digest != base.desired_digest
    # a password edit changes the digest of a plan touching the exam, without showing it
    e1 = build_plan(world(exams=[exam(password="a-1")]), st, None)
    e2 = build_plan(world(exams=[exam(password="a-2")]), st, None)
    assert e1.desired_digest != e2.desired_digest
    assert e1.desired_digest.startswith("hmac-sha256:")


def test_a_plan_without_witnesses_is_the_plan_less_its_staleness_checks(
    d: Desired, st: State, live: Observed
) -> None:
    """An apply that plans and executes at once asks for no fingerprints nor digest (only a
    saved plan is ever compared with a later one): everything else is the same plan."""
    d2 = with_users(d, **{"user.jane": user("jane", lastName="Doe")})
    full = build_plan(d2, st, live)
    bare = build_plan(d2, st, live, witnesses=False)
    assert full.fingerprints and full.desired_digest
    assert (bare.fingerprints, bare.desired_digest) == ({}, "")
    assert bare == full.model_copy(update={"fingerprints": {}, "desired_digest": ""})


def test_removed_addresses_keep_their_state_baseline(d: Desired, st: State) -> None:
    st.resources["user.ghost"] = ResourceState(sid=sid("US", "ghost"), applied={"lastName": "G"})
    tp = build_plan(d, st, None)
    assert acts(tp) == [("user.ghost", "forget", "removed")]
    assert change(tp, "user.ghost").before == {"lastName": "G"}


def test_role_change_is_an_enrollment_update(d: Desired, st: State, live: Observed) -> None:
    en = Enrollment(user="jane", course="main", role="instructor")
    d2 = d.model_copy(update={"enrollments": {**d.enrollments, en.address: en}})
    tp = build_plan(d2, st, live)
    assert acts(tp) == [("enrollment.main.jane", "update", "manifest-changed")]
    c = change(tp, "enrollment.main.jane")
    assert (c.before, c.after) == ({"role": "learner"}, {"role": "instructor"})


def test_course_referenced_by_sid_is_adopted_when_found(
    d: Desired, st: State, live: Observed
) -> None:
    from spsync.model import Course, Ids

    ref = Course(name="legacy", ids=Ids(sid=sid("CU", "legacy")))
    d2 = d.model_copy(update={"courses": {**d.courses, ref.address: ref}})
    assert acts(build_plan(d2, st, None)) == [("course.legacy", "create", "new")]
    found = LiveObject(sid=ref.ids.sid, fields={"title": "Old", "code": "OLD"})
    tp = build_plan(d2, st, live.model_copy(update={"adopted": {ref.address: found}}))
    assert tp.changes == ()
    assert tp.adopt[ref.address].sid == ref.ids.sid
