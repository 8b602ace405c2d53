"""Contract tests of the simulator over real HTTP: every endpoint of api-contract §4–§8.

All tests share one server (clock fixed at 2027-01-15T12:00:00Z); each uses its own install.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow

SESSION_KEYS = {
    "sid",
    "installSid",
    "examSid",
    "enrollmentSid",
    "userSid",
    "courseSid",
    "status",
    "statusReason",
    "sessionType",
    "proctorLocationSid",
    "proctorTypeSid",
    "appointmentDate",
    "appointmentEndDate",
    "duration",
    "externalAppointmentId",
    "notes",
    "createdDate",
    "editDate",
    "dateScheduled",
}
LIST_ITEM_KEYS = {
    "sid",
    "status",
    "sessionType",
    "appointmentDate",
    "externalAppointmentId",
    "createdDate",
    "editDate",
}
ENVELOPE_KEYS = {"total", "count", "offset", "first", "next", "prev", "last", "results"}


@pytest.fixture
def flow(shared_client: httpx.Client, fresh_install: str) -> Flow:
    return Flow(shared_client, fresh_install)


def _paths(error: dict[str, Any]) -> list[str]:
    return [d["path"] for d in error.get("details", [])]


# ---------------------------------------------------------------------------- provision §4
def test_provision_creates_then_finds_existing_with_same_sids(flow: Flow) -> None:
    first = flow.provision(pl.full())
    assert set(first) == {"course", "exam", "configuration", "user", "enrollment"}
    assert {k: v["result"] for k, v in first.items()} == dict.fromkeys(first, "Created")
    prefixes = {"course": "CU", "exam": "EX", "configuration": "EC", "user": "US"}
    for key, prefix in {**prefixes, "enrollment": "EN"}.items():
        sid = first[key]["sid"]
        assert sid[:2] == prefix and len(sid) == 34
        assert all(ch in "0123456789abcdef" for ch in sid[2:])
    again = flow.provision(pl.full())
    assert again == {k: {"sid": v["sid"], "result": "Found Existing"} for k, v in first.items()}


def test_changed_title_is_updated_and_visible(flow: Flow) -> None:
    first = flow.provision(pl.full())
    body = pl.full()
    body["course"]["title"] = "Renamed"
    body["exam"]["title"] = "Renamed exam"
    r = flow.provision(body)
    assert r["course"] == {"sid": first["course"]["sid"], "result": "Updated"}
    assert r["exam"] == {"sid": first["exam"]["sid"], "result": "Updated"}
    assert r["configuration"]["result"] == "Found Existing"
    assert r["user"]["result"] == "Found Existing"
    course = flow.call("GET", f"{flow.v1}/courses/{first['course']['sid']}")
    assert course["title"] == "Renamed"
    assert course["code"] == "ACME-001"
    assert course["ids"] == {"external": "client-account-123"}
    assert set(course) == {"sid", "title", "code", "ids", "createdDate", "editDate"}


def test_entities_given_only_by_ids_are_matched_untouched(flow: Flow) -> None:
    first = flow.provision(pl.full())
    body = {
        "course": {"ids": {"external": "client-account-123"}},
        "exam": {"ids": {"sid": first["exam"]["sid"]}},
        "user": {"ids": {"external": "user-789"}},
    }
    r = flow.provision(body)
    assert r == {
        "course": {"sid": first["course"]["sid"], "result": "Found Existing"},
        "exam": {"sid": first["exam"]["sid"], "result": "Found Existing"},
        "user": {"sid": first["user"]["sid"], "result": "Found Existing"},
    }


def test_matching_by_unknown_sid_is_404(flow: Flow) -> None:
    err = flow.provision({"course": {"ids": {"sid": "CU" + "f" * 32}}}, status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    assert err["status"] == 404


def test_configuration_is_replaced_as_a_whole(flow: Flow) -> None:
    first = flow.provision(pl.full())
    body = pl.full()
    body["exam"]["configuration"] = pl.configuration(duration=90, password="new-password")
    del body["exam"]["configuration"]["permittedItems"]
    r = flow.provision(body)
    assert r["configuration"] == {"sid": first["configuration"]["sid"], "result": "Updated"}
    assert r["exam"]["result"] == "Found Existing"
    exam = flow.call(
        "GET", f"{flow.v1}/courses/{first['course']['sid']}/exams/{first['exam']['sid']}"
    )
    cfg = exam["configuration"]
    assert cfg["sid"] == first["configuration"]["sid"]
    assert cfg["duration"] == 90
    assert cfg["password"] == "new-password"
    assert "permittedItems" not in cfg
    assert cfg["access"] == {"open": "2027-02-01T00:00:00Z", "close": "2027-12-31T23:59:59Z"}
    assert exam["limitedScope"] is True
    assert exam["type"] == "online"
    assert exam["title"] == "Professional Certification Exam"
    assert exam["ids"] == {"external": "certification-exam-456"}


def test_provision_reports_every_problem_with_its_path(flow: Flow) -> None:
    body = {
        "course": {"ids": {"external": "c", "api": "c"}},
        "exam": {
            "ids": {"api": "x"},
            "configuration": pl.configuration(duration=0, attempts="1"),
        },
        "user": pl.user(email="not-an-email", timeZone="Mars/Base", currencyCode="usd"),
        "enrollment": {"role": "teacher"},
        "signon": {"integrationSid": "XX12"},
    }
    err = flow.provision(body, status=400)
    assert err["code"] == "INVALIDINPUT" and err["status"] == 400
    assert set(_paths(err)) >= {
        "course.ids",
        "exam.ids.api",
        "exam.configuration.duration",
        "exam.configuration.attempts",
        "user.email",
        "user.timeZone",
        "user.currencyCode",
        "enrollment.role",
        "signon.integrationSid",
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            {"access": {"open": "2027-05-01T00:00:00Z", "close": "2027-04-01T00:00:00Z"}},
            "exam.configuration.access.close",
        ),
        (
            {"access": {"open": "2027-05-01T00:00:00+01:00", "close": "2027-06-01T00:00:00Z"}},
            "exam.configuration.access.open",
        ),
        (
            {"scheduling": {"open": "2027-07-01T00:00:00Z", "close": "2027-06-01T00:00:00Z"}},
            "exam.configuration.scheduling.open",
        ),
        ({"duration": 12.5}, "exam.configuration.duration"),
        ({"url": "ftp://x"}, "exam.configuration.url"),
        ({"proctorTypes": {}}, "exam.configuration.proctorTypes"),
        ({"proctorTypes": {"TS" + "0" * 32: {}}}, "exam.configuration.proctorTypes.TS" + "0" * 32),
        (
            {"proctorTypes": {pl.TS_LIVE: {"options": {"recordSmell": {}}}}},
            f"exam.configuration.proctorTypes.{pl.TS_LIVE}.options.recordSmell",
        ),
        ({"permittedItems": {"phone": {}}}, "exam.configuration.permittedItems.phone"),
        ({"password": ""}, "exam.configuration.password"),
        ({"colour": "red"}, "exam.configuration.colour"),
    ],
)
def test_configuration_validation(flow: Flow, change: dict[str, Any], path: str) -> None:
    body = pl.full()
    body["exam"]["configuration"].update(change)
    err = flow.provision(body, status=400)
    assert path in _paths(err)


def test_required_fields_when_creating(flow: Flow) -> None:
    err = flow.provision(
        {
            "course": {"ids": {"external": "new"}},
            "exam": {"ids": {"external": "new"}},
            "user": {"ids": {"api": "new"}},
        },
        status=400,
    )
    assert set(_paths(err)) == {
        "course.title",
        "course.code",
        "exam.title",
        "exam.configuration",
        "user.firstName",
        "user.lastName",
        "user.email",
    }
    missing = pl.full()
    del missing["exam"]["configuration"]["password"]
    assert "exam.configuration.password" in _paths(flow.provision(missing, status=400))
    err = flow.provision({"exam": pl.exam()}, status=400)
    assert _paths(err) == ["course"]


def test_provision_is_atomic(flow: Flow) -> None:
    bad = pl.full()
    bad["user"]["email"] = "nope"
    flow.provision(bad, status=400)
    # Nothing was created: the course is new again.
    r = flow.provision({"course": pl.course()})
    assert r["course"]["result"] == "Created"
    assert flow.call("GET", f"{flow.v1}/users", params={"externalId": "user-789"})["total"] == 0


def test_new_user_without_enrollment_is_enrolled_as_learner(flow: Flow) -> None:
    r = flow.provision({"course": pl.course(), "user": pl.user()})
    assert set(r) == {"course", "user"}
    listed = flow.call("GET", f"{flow.v1}/courses/{r['course']['sid']}/enrollments")
    assert [(e["userSid"], e["role"]) for e in listed["results"]] == [(r["user"]["sid"], "learner")]
    assert set(listed["results"][0]) == {"sid", "userSid", "courseSid", "role", "state"}


def test_enrollment_role_update(flow: Flow) -> None:
    r = flow.provision(pl.full())
    body = pl.full(enrollment={"role": "instructor"})
    again = flow.provision(body)
    assert again["enrollment"] == {"sid": r["enrollment"]["sid"], "result": "Updated"}


def test_signon_redirect_only_when_asked(flow: Flow) -> None:
    body = pl.full(signon={"integrationSid": "IIf5a8dc0813f749128504e251fad9e4a3"})
    r = flow.provision(body)
    assert set(r["signon"]) == {"redirect", "token"}
    assert r["signon"]["redirect"].startswith("https://")
    assert "signon" not in flow.provision(pl.full())


def test_user_defaults_and_profile(flow: Flow) -> None:
    body = {"course": pl.course(), "user": pl.user("u1")}
    del body["user"]["timeZone"]
    sid = flow.provision(body)["user"]["sid"]
    profile = flow.call("GET", f"{flow.v1}/users/{sid}/profile")
    settings = flow.call("GET", f"{flow.v1}/settings")
    assert profile["timeZone"] == settings["defaultTimezone"]
    assert profile["currencyCode"] == settings["defaultCurrencyCode"]
    assert profile["externalId"] == "u1"
    assert profile["apiId"] is None and profile["lmsId"] is None
    assert {"sid", "firstName", "lastName", "email"} <= set(profile)
    changed = {"course": pl.course(), "user": pl.user("u1", email="new@example.com")}
    assert flow.provision(changed)["user"] == {"sid": sid, "result": "Updated"}
    assert flow.call("GET", f"{flow.v1}/users/{sid}/profile")["email"] == "new@example.com"


def test_exam_ids_are_sid_or_external_only(flow: Flow) -> None:
    body = pl.full()
    body["exam"]["ids"] = {"lms": "x"}
    assert _paths(flow.provision(body, status=400)) == ["exam.ids.lms"]


# ---------------------------------------------------------------------------- scope §4 / §5
def test_unlimited_exam_gives_every_learner_a_session(flow: Flow) -> None:
    body = pl.full()
    body["exam"]["limitedScope"] = False
    r = flow.provision(body)
    cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
    assert flow.active(en, ex)["status"] == "Needs Proctor"
    later = flow.add_learner(cu, "late-user")
    assert flow.active(later, ex)["status"] == "Needs Proctor"
    teacher = flow.provision(
        {"course": {"ids": {"sid": cu}}, "user": pl.user("t"), "enrollment": {"role": "instructor"}}
    )["enrollment"]["sid"]
    assert flow.sessions(teacher, ex, includeActive="true")["total"] == 0


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


def test_assignment_is_idempotent_and_unassign_cancels(flow: Flow) -> None:
    cu, ex, en, es = flow.setup()
    assert flow.assign(cu, ex, add=[en]) == {"examSid": ex, "assigned": [en]}
    assert flow.active(en, ex)["sid"] == es
    assert flow.assign(cu, ex, remove=[en]) == {"examSid": ex, "assigned": []}
    s = flow.session(ex, es)
    assert (s["status"], s["statusReason"]) == ("Cancelled", "removed-by-limited-scope")
    assert flow.sessions(en, ex, includeActive="true")["total"] == 1
    assert flow.assign(cu, ex, remove=[en]) == {"examSid": ex, "assigned": []}


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
    assert _paths(err) == ["added[0]"]


def test_assignment_errors(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex = r["course"]["sid"], r["exam"]["sid"]
    other = flow.provision({"course": pl.course("other-course"), "user": pl.user("x")})
    stranger = flow.call("GET", f"{flow.v1}/courses/{other['course']['sid']}/enrollments")
    stranger_en = stranger["results"][0]["sid"]
    err = flow.assign(cu, ex, add=[stranger_en], status=400)
    assert _paths(err) == ["add[0].enrollmentSid"]
    err = flow.assign(cu, ex, add=["EN" + "e" * 32], status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    err = flow.assign(cu, ex, add=["EN-bad"], status=400)
    assert _paths(err) == ["add[0].enrollmentSid"]
    # The exam is not in that course.
    flow.assign(other["course"]["sid"], ex, add=[stranger_en], status=404)
    path = f"{flow.v1}/courses/{cu}/exams/{ex}/assignments"
    assert _paths(flow.call("PUT", path, 400, json={"add": "x"})) == ["add"]
    assert _paths(flow.call("PUT", path, 400, json={"plus": []})) == ["plus"]


# ---------------------------------------------------------------------------- sessions §6
def test_session_list_shape_and_details(flow: Flow) -> None:
    cu, ex, en, es = flow.setup()
    listed = flow.sessions(en, ex, includeActive="true")
    assert set(listed) == ENVELOPE_KEYS
    assert set(listed["results"][0]) == LIST_ITEM_KEYS
    s = flow.session(ex, es)
    assert set(s) == SESSION_KEYS
    assert (s["status"], s["examSid"], s["enrollmentSid"], s["courseSid"]) == (
        "Needs Proctor",
        ex,
        en,
        cu,
    )
    assert s["appointmentDate"] is None and s["duration"] == 120
    assert s["createdDate"] == "2027-01-15T12:00:00Z"


def test_schedule_twice_is_400_and_onboard_gives_fresh_urls(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    flow.call("GET", f"{flow.v1}/exams/{ex}/sessions/{es}/onboard", 400)
    s = flow.schedule(ex, es)
    assert set(s) == SESSION_KEYS
    assert s["status"] == "Scheduled"
    assert s["sessionType"] == "automated"
    assert s["proctorLocationSid"] == pl.PL
    assert s["appointmentDate"] == "2027-03-01T14:00:00Z"
    assert s["appointmentEndDate"] == "2027-03-01T16:00:00Z"
    assert s["externalAppointmentId"] == "acme-appt-0001"
    assert s["dateScheduled"] == "2027-01-15T12:00:00Z"
    assert s["proctorTypeSid"] in (pl.TS_LIVE, pl.TS_AUTO)
    err = flow.schedule(ex, es, status=400)
    assert err["code"] == "INVALIDINPUT"
    assert "already scheduled, use reschedule" in err["message"]
    assert flow.active(en, ex)["status"] == "Scheduled"
    u1 = flow.call("GET", f"{flow.v1}/exams/{ex}/sessions/{es}/onboard")
    u2 = flow.call("GET", f"{flow.v1}/exams/{ex}/sessions/{es}/onboard")
    assert set(u1) == {"url"}
    assert u1["url"].startswith("https://") and u2["url"].startswith("https://")
    assert u1["url"] != u2["url"]


@pytest.mark.parametrize(
    "at",
    [
        "2026-12-01T10:00:00Z",  # in the past (now is 2027-01-15)
        "2027-01-20T10:00:00Z",  # before access.open (2027-02-01)
        "2027-12-31T23:00:00Z",  # ends after access.close; also after scheduling.close
        "2027-12-30T12:00:00Z",  # after scheduling.close (2027-12-30T00:00Z)
        "2027-03-01T14:00:00",  # no Z
    ],
)
def test_schedule_outside_windows_is_400(flow: Flow, at: str) -> None:
    _, ex, _, es = flow.setup()
    err = flow.schedule(ex, es, status=400, appointmentDateTime=at)
    assert _paths(err) and set(_paths(err)) == {"appointmentDateTime"}
    assert flow.session(ex, es)["status"] == "Needs Proctor"


def test_schedule_window_edges_are_inclusive(flow: Flow) -> None:
    body = pl.full()
    del body["exam"]["configuration"]["scheduling"]
    _, ex, _, es = flow.setup(body)
    # Ends exactly at access.close (scheduling defaults to open until access.close).
    s = flow.schedule(ex, es, appointmentDateTime="2027-12-31T21:59:59Z")
    assert s["appointmentEndDate"] == "2027-12-31T23:59:59Z"


def test_schedule_body_validation_and_aliases(flow: Flow) -> None:
    _, ex, _, es = flow.setup()
    err = flow.session(ex, es, "POST", 400, json={"type": "telepathy", "amount": -1})
    assert set(_paths(err)) == {"type", "amount", "appointmentDateTime"}
    err = flow.schedule(
        ex, es, status=400, proctorTypeSubCategorySid=pl.TS_LIVE.replace("4b", "5b")
    )
    assert _paths(err) == ["proctorTypeSubCategorySid"]
    err = flow.schedule(ex, es, status=400, currency="usd")
    assert _paths(err) == ["currency"]
    err = flow.schedule(ex, es, status=400, proctorLocationSid="XX" + "1" * 32)
    assert _paths(err) == ["proctorLocationSid"]
    body = pl.schedule(proctorLocationSid="PT" + "a" * 32, proctorTypeSubCategorySid=pl.TS_AUTO)
    del body["currency"]
    body["currencyCode"] = "EUR"
    s = flow.session(ex, es, "POST", json=body)
    assert (s["proctorLocationSid"], s["proctorTypeSid"]) == ("PT" + "a" * 32, pl.TS_AUTO)


def test_reschedule(flow: Flow) -> None:
    _, ex, _, es = flow.setup()
    err = flow.session(ex, es, "PUT", 400, json={"appointmentDateTime": "2027-04-01T10:00:00Z"})
    assert "Scheduled" in err["message"]
    flow.schedule(ex, es)
    s = flow.session(
        ex, es, "PUT", json={"appointmentDateTime": "2027-04-01T10:00:00Z", "notes": "moved"}
    )
    assert (s["status"], s["appointmentDate"], s["notes"]) == (
        "Scheduled",
        "2027-04-01T10:00:00Z",
        "moved",
    )
    assert s["sid"] == es and s["sessionType"] == "automated"
    err = flow.session(
        ex, es, "PUT", 400, json={"appointmentDateTime": "2027-04-01T10:00:00Z", "type": "vtc"}
    )
    assert _paths(err) == ["type"]
    err = flow.session(ex, es, "PUT", 400, json={"appointmentDateTime": "2028-01-01T00:00:00Z"})
    assert set(_paths(err)) == {"appointmentDateTime"}
    assert _paths(flow.session(ex, es, "PUT", 400, json={})) == ["appointmentDateTime"]


def test_cancel_then_fresh_needs_proctor_session(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    flow.schedule(ex, es)
    err = flow.session(ex, es, "DELETE", 400, json={"reason": "no-show"})
    assert _paths(err) == ["cancellationMemo"]
    err = flow.session(ex, es, "DELETE", 400, json={"cancellationMemo": "x", "reason": "bored"})
    assert _paths(err) == ["reason"]
    assert _paths(flow.session(ex, es, "DELETE", 400)) == ["body"]
    s = flow.session(
        ex, es, "DELETE", json={"cancellationMemo": "student asked", "reason": "changed-time"}
    )
    assert (s["status"], s["statusReason"]) == ("Cancelled", "changed-time")
    fresh = flow.active(en, ex)
    assert fresh["status"] == "Needs Proctor" and fresh["sid"] != es
    assert [x["sid"] for x in flow.sessions(en, ex)["results"]] == [es]
    err = flow.session(ex, es, "DELETE", 400, json={"cancellationMemo": "again"})
    assert "Cancelled" in err["message"]
    flow.schedule(ex, es, status=400)
    flow.schedule(ex, fresh["sid"])


def test_session_list_filters_and_sorting(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    flow.session(ex, es, "DELETE", json={"cancellationMemo": "m"})
    second = flow.active(en, ex)["sid"]
    flow.session(ex, second, "DELETE", json={"cancellationMemo": "m"})
    third = flow.active(en, ex)["sid"]
    asc = flow.sessions(en, ex, includeActive="true", sortKeys="createdDate", sortOrder="ASC")
    assert [s["sid"] for s in asc["results"]] == [es, second, third]
    desc = flow.sessions(en, ex, includeActive="true", sortOrder="DESC")
    assert [s["sid"] for s in desc["results"]] == [third, second, es]
    only = flow.sessions(en, ex, includeActive="true", status="Needs Proctor")
    assert [s["sid"] for s in only["results"]] == [third]
    both = flow.c.get(
        f"{flow.v1}/enrollments/{en}/exams/{ex}/sessions",
        params=[("status", "Cancelled"), ("status", "Needs Proctor"), ("includeActive", "true")],
    ).json()
    assert both["total"] == 3
    assert _paths(flow.sessions(en, ex, 400, status="Lost")) == ["status[0]"]
    assert _paths(flow.sessions(en, ex, 400, sortOrder="UP")) == ["sortOrder"]
    assert _paths(flow.sessions(en, ex, 400, includeActive="maybe")) == ["includeActive"]


def test_session_path_errors(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    other_exam = "EX" + "1" * 32
    err = flow.session(other_exam, es, status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    flow.session(ex, "ES" + "2" * 32, status=404)
    err = flow.session(ex, "ES123", status=400)
    assert _paths(err) == ["sessionSid"]
    flow.sessions("EN" + "3" * 32, ex, 404)
    flow.sessions(en, "EXnope", 400)


# ---------------------------------------------------------------------------- report §6.6
def test_appointments_report_filters(flow: Flow) -> None:
    cu, ex, en, es = flow.setup()
    other = flow.add_learner(cu, "second")
    flow.assign(cu, ex, add=[other])
    es2 = flow.active(other, ex)["sid"]
    flow.schedule(ex, es, appointmentDateTime="2027-03-01T14:00:00Z")
    flow.schedule(ex, es2, appointmentDateTime="2027-04-01T14:00:00Z")
    report = f"{flow.v1}/reports/appointments"

    def sids(**params: Any) -> list[str]:
        got = flow.call("GET", report, params=params)
        assert set(got) == ENVELOPE_KEYS
        for row in got["results"]:
            assert set(row) == SESSION_KEYS
        return [s["sid"] for s in got["results"]]

    assert sids() == [es, es2]
    assert sids(examSid=ex, courseSid=cu) == [es, es2]
    assert sids(examSid="EX" + "9" * 32) == []
    user2 = flow.call("GET", f"{flow.v1}/users", params={"externalId": "second"})
    assert sids(learnerSid=user2["results"][0]["sid"]) == [es2]
    assert sids(appointmentAfter="2027-03-15T00:00:00Z") == [es2]
    assert sids(appointmentBefore="2027-03-15T00:00:00Z") == [es]
    assert sids(
        appointmentAfter="2027-03-01T14:00:00Z", appointmentBefore="2027-04-01T14:00:00Z"
    ) == [es]
    flow.session(ex, es, "DELETE", json={"cancellationMemo": "m"})
    fresh = flow.active(en, ex)["sid"]
    assert sids(status="Scheduled") == [es2]
    assert sids(status=["Cancelled", "Needs Proctor"]) == [es, fresh]
    assert sids(limit=1, offset=1) == [es2]
    err = flow.call("GET", report, 400, params={"appointmentAfter": "yesterday"})
    assert _paths(err) == ["appointmentAfter"]
    assert _paths(flow.call("GET", report, 400, params={"courseSid": "CU1"})) == ["courseSid"]


# ---------------------------------------------------------------------------- reads §7
def test_reads_of_course_exams_users_enrollments_settings(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex, us = r["course"]["sid"], r["exam"]["sid"], r["user"]["sid"]
    second = pl.full()
    second["exam"] = pl.exam("second-exam", limited=False, description="Part two")
    flow.provision(second)
    exams = flow.call("GET", f"{flow.v1}/courses/{cu}/exams")
    assert exams["total"] == 2
    first_exam = exams["results"][0]
    assert first_exam["sid"] == ex
    assert first_exam["configuration"]["sid"] == r["configuration"]["sid"]
    assert first_exam["configuration"]["password"] == "exam-secure-password"
    assert first_exam["configuration"]["proctorTypes"] == {
        pl.TS_LIVE: {},
        pl.TS_AUTO: {"options": {"recordScreen": {}}},
    }
    assert first_exam["configuration"]["attempts"] == 1
    assert exams["results"][1]["description"] == "Part two"
    assert exams["results"][1]["limitedScope"] is False
    one = flow.call("GET", f"{flow.v1}/courses/{cu}/exams/{ex}")
    assert one == first_exam
    for params in (
        {"externalId": "user-789"},
        {"email": "USER-789@example.com"},
        {"externalId": "user-789", "email": "user-789@example.com"},
    ):
        found = flow.call("GET", f"{flow.v1}/users", params=params)
        assert [u["sid"] for u in found["results"]] == [us], params
    assert flow.call("GET", f"{flow.v1}/users", params={"apiId": "user-789"})["total"] == 0
    api_user = flow.provision(
        {"course": {"ids": {"sid": cu}}, "user": pl.user(ids=None) | {"ids": {"api": "a1"}}}
    )
    lms_user = flow.provision(
        {"course": {"ids": {"sid": cu}}, "user": pl.user(ids=None) | {"ids": {"lms": "l1"}}}
    )
    assert (
        flow.call("GET", f"{flow.v1}/users", params={"apiId": "a1"})["results"][0]["sid"]
        == (api_user["user"]["sid"])
    )
    assert (
        flow.call("GET", f"{flow.v1}/users", params={"lmsId": "l1"})["results"][0]["sid"]
        == (lms_user["user"]["sid"])
    )
    enrollments = flow.call("GET", f"{flow.v1}/courses/{cu}/enrollments")
    assert enrollments["total"] == 3
    assert {e["state"] for e in enrollments["results"]} == {"active"}
    settings = flow.call("GET", f"{flow.v1}/settings")
    assert settings["defaultTimezone"] == "America/New_York"
    assert settings["defaultCurrencyCode"] == "USD"
    assert [t["sid"] for t in settings["proctorTypes"]][:2] == [pl.TS_LIVE, pl.TS_AUTO]
    assert len(settings["proctorTypes"]) == 6
    flow.call("GET", f"{flow.v1}/courses/{cu}/exams/EX" + "4" * 32, 404)
    flow.call("GET", f"{flow.v1}/users/US" + "4" * 32 + "/profile", 404)
    flow.call("GET", f"{flow.v1}/courses/CU" + "4" * 32, 404)


def test_paging_envelope(flow: Flow) -> None:
    cu = flow.provision({"course": pl.course()})["course"]["sid"]
    for i in range(7):
        flow.add_learner(cu, f"learner-{i}")
    path = f"{flow.v1}/courses/{cu}/enrollments"
    page = flow.call("GET", path, params={"limit": 3, "offset": 3})
    assert (page["total"], page["count"], page["offset"]) == (7, 3, 3)
    base = str(flow.c.base_url).rstrip("/") + path
    assert (
        page["first"] == f"{base}?limit=3&offset=0" or page["first"] == f"{base}?offset=0&limit=3"
    )
    assert httpx.URL(page["next"]).params["offset"] == "6"
    assert httpx.URL(page["prev"]).params["offset"] == "0"
    assert httpx.URL(page["last"]).params["offset"] == "6"
    # Following next until null visits everything exactly once.
    seen: list[str] = []
    url: str | None = path + "?limit=2"
    while url is not None:
        got = flow.call("GET", url)
        seen += [e["sid"] for e in got["results"]]
        url = got["next"]
    assert len(seen) == 7 and len(set(seen)) == 7
    default = flow.call("GET", path)
    assert default["count"] == 7 and default["next"] is None and default["prev"] is None
    beyond = flow.call("GET", path, params={"offset": 50})
    assert beyond["results"] == [] and beyond["next"] is None
    for bad in ({"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "ten"}):
        err = flow.call("GET", path, 400, params=bad)
        assert err["code"] == "INVALIDINPUT"
        assert _paths(err) == list(bad)
    assert flow.call("GET", path, params={"limit": 100})["count"] == 7


# ---------------------------------------------------------------------------- errors §1-§3
def test_error_shapes(flow: Flow, shared_sandbox: Any) -> None:
    ai = flow.ai
    bare = httpx.Client(base_url=shared_sandbox.url, timeout=10)
    with bare:
        r = bare.get(f"/v1/installs/{ai}/settings")
        assert r.status_code == 403
        assert r.json() == {
            "code": "AUTHENTICATIONFAILED",
            "message": r.json()["message"],
            "status": 403,
        }
        r = bare.get(f"/v1/installs/{ai}/settings", headers={"token": "wrong"})
        assert r.status_code == 403
    r = flow.c.get(f"/v2/installs/{ai}/provision")
    assert r.status_code == 405
    assert r.json()["code"] == "UNSUPPORTEDHTTPVERB" and r.json()["status"] == 405
    assert r.headers["allow"] == "POST"
    r = flow.c.delete(f"/v1/installs/{ai}/settings")
    assert r.status_code == 405
    r = flow.c.get("/v1/nothing/here")
    assert r.status_code == 400 and r.json()["code"] == "INVALIDURI"
    r = flow.c.get("/v1/installs/AI123/settings")
    assert r.status_code == 400
    assert r.json()["code"] == "INVALIDINPUT"
    assert _paths(r.json()) == ["installSid"]
    r = flow.c.post(
        f"/v2/installs/{ai}/provision",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and _paths(r.json()) == ["body"]
    r = flow.c.post(f"/v2/installs/{ai}/provision", json=[1, 2])
    assert r.status_code == 400 and _paths(r.json()) == ["body"]
    for r in (flow.c.get(f"/v1/installs/{ai}/settings"),):
        assert r.headers["content-type"].startswith("application/json")


def test_cancel_fields_may_come_as_query_parameters(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    s = flow.session(ex, es, "DELETE", params={"cancellationMemo": "m", "reason": "no-show"})
    assert (s["status"], s["statusReason"]) == ("Cancelled", "no-show")
    assert flow.active(en, ex)["sid"] != es
