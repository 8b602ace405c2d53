"""§4 exam scope (unlimited, limited, switching, role changes) and §5 assignments (both forms,
idempotence, removal cancels, rejected bodies). Part of the simulator's contract suite (see
conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    HEX32,
    Api,
    assert_error,
    detail_paths,
    exam_body,
    schedule_body,
    sid,
    user_body,
)

# ---------------------------------------------------------------------------------------
# §4 exam semantics: unlimited vs limited scope
# ---------------------------------------------------------------------------------------


def test_unlimited_scope_every_learner_has_an_active_session(api: Api) -> None:
    course = api.course()
    before = api.learner(course)["enrollment"]["sid"]
    teacher = api.learner(course, role="instructor")["enrollment"]["sid"]
    exam = api.exam(course, limited=False)["exam"]["sid"]
    after = api.learner(course)["enrollment"]["sid"]
    for enrollment in (before, after):
        found = api.active(enrollment, exam)
        assert [s["status"] for s in found] == ["Needs Proctor"], found
    assert api.active(teacher, exam) == []


def test_limited_scope_no_session_until_assigned(api: Api) -> None:
    course = api.course()
    exam = api.exam(course, limited=True)["exam"]["sid"]
    enrollment = api.learner(course)["enrollment"]["sid"]
    assert api.active(enrollment, exam) == []
    api.assign(course, exam, add=[enrollment])
    assert [s["status"] for s in api.active(enrollment, exam)] == ["Needs Proctor"]


def test_switching_scope_follows_the_rule(api: Api) -> None:
    course = api.course()
    exam = exam_body(limited=False)
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    ex = out["exam"]["sid"]
    assigned = api.learner(course)["enrollment"]["sid"]
    other = api.learner(course)["enrollment"]["sid"]
    api.assign(course, ex, add=[assigned])
    kept = api.only_active(assigned, ex)
    dropped = api.only_active(other, ex)
    exam["limitedScope"] = True
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    assert out["exam"]["result"] == "Updated"
    assert api.only_active(assigned, ex) == kept
    assert api.active(other, ex) == []
    s = api.session(ex, dropped)
    assert (s["status"], s["statusReason"]) == ("Cancelled", "removed-by-limited-scope")
    exam["limitedScope"] = False
    api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    assert api.only_active(other, ex) not in (dropped, kept)


def test_role_changes_follow_the_rule(api: Api) -> None:
    course = api.course()
    ex = api.exam(course, limited=False)["exam"]["sid"]
    body = {"course": {"ids": {"sid": course}}, "user": user_body(), "enrollment": {}}
    en = api.provision_ok(body)["enrollment"]["sid"]
    first = api.only_active(en, ex)
    body["enrollment"] = {"role": "instructor"}
    api.provision_ok(body)
    assert api.active(en, ex) == []
    assert api.session(ex, first)["status"] == "Cancelled"
    body["enrollment"] = {"role": "learner"}
    api.provision_ok(body)
    assert api.only_active(en, ex) != first


def test_switching_scope_creates_and_cancels_sessions(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
    assert flow.sessions(en, ex, includeActive="true")["total"] == 0
    unlimited = pl.full()
    unlimited["exam"] = {"ids": {"sid": ex}, "limitedScope": False}
    assert flow.provision(unlimited)["exam"]["result"] == "Updated"
    assert flow.active(en, ex)["status"] == "Needs Proctor"
    limited = pl.full()
    limited["exam"] = {"ids": {"sid": ex}, "limitedScope": True}
    flow.provision(limited)
    past = flow.sessions(en, ex)["results"]
    assert [s["status"] for s in past] == ["Cancelled"]
    details = flow.session(ex, past[0]["sid"])
    assert details["statusReason"] == "removed-by-limited-scope"
    assert cu


# ---------------------------------------------------------------------------------------
# §5 assignments
# ---------------------------------------------------------------------------------------


def test_assignment_course_form_response_and_idempotence(api: Api) -> None:
    course = api.course()
    exam = api.exam(course)["exam"]["sid"]
    a = api.learner(course)["enrollment"]["sid"]
    b = api.learner(course)["enrollment"]["sid"]
    out = api.assign(course, exam, add=[a])
    assert out == {"examSid": exam, "assigned": [a]}
    first = api.only_active(a, exam)
    out = api.assign(course, exam, add=[a, b])
    assert set(out) == {"examSid", "assigned"}
    assert sorted(out["assigned"]) == sorted([a, b])
    assert api.only_active(a, exam) == first  # idempotent: no second session
    r = api.assignments(course, exam, {})
    assert r.status_code == 200
    assert sorted(r.json()["assigned"]) == sorted([a, b])


def test_removing_an_unassigned_enrollment_changes_nothing(api: Api) -> None:
    course = api.course()
    exam = api.exam(course)["exam"]["sid"]
    a = api.learner(course)["enrollment"]["sid"]
    b = api.learner(course)["enrollment"]["sid"]
    api.assign(course, exam, add=[a])
    assert api.assign(course, exam, remove=[b]) == {"examSid": exam, "assigned": [a]}
    assert api.active(b, exam) == []
    assert len(api.active(a, exam)) == 1


def test_assignment_removal_cancels_with_reason(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    out = api.assign(f.course, f.exam, remove=[f.enrollment])
    assert out == {"examSid": f.exam, "assigned": []}
    s = api.session(f.exam, es)
    assert s["status"] == "Cancelled"
    assert s["statusReason"] == "removed-by-limited-scope"
    assert api.active(f.enrollment, f.exam) == []
    past = api.sessions(f.enrollment, f.exam).json()["results"]
    assert [p["sid"] for p in past] == [es]
    # Re-adding gives a fresh active session.
    api.assign(f.course, f.exam, add=[f.enrollment])
    again = api.only_active(f.enrollment, f.exam)
    assert again != es


def test_removing_a_scheduled_assignment_cancels_it(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert api.schedule(f.exam, es, schedule_body()).status_code == 200
    api.assign(f.course, f.exam, remove=[f.enrollment])
    s = api.session(f.exam, es)
    assert (s["status"], s["statusReason"]) == ("Cancelled", "removed-by-limited-scope")
    assert api.active(f.enrollment, f.exam) == []


def test_assignment_exam_form_has_the_same_effect(api: Api) -> None:
    course = api.course()
    exam = api.exam(course)["exam"]["sid"]
    a = api.learner(course)["enrollment"]["sid"]
    path = f"{api.v1}/exams/{exam}/assignment"
    r = api.send("PUT", path, {"added": [a]})
    assert r.status_code == 200, r.text
    assert set(r.json()["assigned"]) == {a}
    es = api.only_active(a, exam)
    r = api.assignments(course, exam, {})
    assert r.json()["assigned"] == [a]
    r = api.send("PUT", path, {"removed": [a]})
    assert r.status_code == 200, r.text
    assert r.json()["assigned"] == []
    s = api.session(exam, es)
    assert (s["status"], s["statusReason"]) == ("Cancelled", "removed-by-limited-scope")


def test_assignment_of_foreign_or_unknown_enrollment_is_rejected(api: Api) -> None:
    course = api.course()
    exam = api.exam(course)["exam"]["sid"]
    mine = api.learner(course)["enrollment"]["sid"]
    foreign = api.learner(api.course())["enrollment"]["sid"]
    for bad in (foreign, sid("EN")):
        r = api.assignments(
            course, exam, {"add": [{"enrollmentSid": mine}, {"enrollmentSid": bad}]}
        )
        assert r.status_code in (400, 404), r.text
        assert_error(r, r.status_code)
        r = api.send("PUT", f"{api.v1}/exams/{exam}/assignment", {"added": [bad]})
        assert r.status_code in (400, 404), r.text
        assert_error(r, r.status_code)
    # Nothing of the rejected call took effect.
    assert api.assignments(course, exam, {}).json()["assigned"] == []
    assert api.active(mine, exam) == []


@pytest.mark.parametrize(
    "body",
    [
        {"add": "EN"},
        {"add": [{"enrollmentSid": "EN1"}]},
        {"add": [{"enrollment": "x"}]},
        {"add": ["EN" + HEX32]},
        {"remove": {"enrollmentSid": "EN" + HEX32}},
        [],
        {"add": [None]},
    ],
)
def test_assignment_bad_bodies_are_400(api: Api, body: Any) -> None:
    course = api.course()
    exam = api.exam(course)["exam"]["sid"]
    assert_error(api.assignments(course, exam, body), 400, "INVALIDINPUT")


def test_assignment_exam_of_another_course_is_rejected(api: Api) -> None:
    course = api.course()
    exam = api.exam(api.course())["exam"]["sid"]
    r = api.assignments(course, exam, {"add": []})
    assert r.status_code in (400, 404)
    assert_error(r, r.status_code)


def test_newer_assignment_form(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
    other = flow.add_learner(cu, "second")
    path = f"{flow.v1}/exams/{ex}/assignment"
    got = flow.call("PUT", path, json={"added": [en, other]})
    assert got == {"examSid": ex, "assigned": [en, other]}
    es = flow.active(other, ex)["sid"]
    assert flow.call("PUT", path, json={"removed": [other]}) == {"examSid": ex, "assigned": [en]}
    assert flow.session(ex, es)["status"] == "Cancelled"
    err = flow.call("PUT", path, 400, json={"added": [{"enrollmentSid": en}]})
    assert detail_paths(err) == ["added[0]"]


def test_assignment_errors(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex = r["course"]["sid"], r["exam"]["sid"]
    other = flow.provision({"course": pl.course("other-course"), "user": pl.user("x")})
    stranger = flow.call("GET", f"{flow.v1}/courses/{other['course']['sid']}/enrollments")
    stranger_en = stranger["results"][0]["sid"]
    err = flow.assign(cu, ex, add=[stranger_en], status=400)
    assert detail_paths(err) == ["add[0].enrollmentSid"]
    err = flow.assign(cu, ex, add=["EN" + "e" * 32], status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    err = flow.assign(cu, ex, add=["EN-bad"], status=400)
    assert detail_paths(err) == ["add[0].enrollmentSid"]
    # The exam is not in that course.
    flow.assign(other["course"]["sid"], ex, add=[stranger_en], status=404)
    path = f"{flow.v1}/courses/{cu}/exams/{ex}/assignments"
    assert detail_paths(flow.call("PUT", path, 400, json={"add": "x"})) == ["add"]
    assert detail_paths(flow.call("PUT", path, 400, json={"plus": []})) == ["plus"]
