"""§4 provision, continued: exams and their configuration (defaults, the constants of §8,
replacement as a whole), updates, users' defaults, settings and enrollments. Part of the
simulator's contract suite (see conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    ENROLLMENT_KEYS,
    TS_AUTO,
    TS_AUTO_REVIEW,
    TS_IAP,
    TS_ITC,
    TS_LIVE,
    TS_VTC,
    Api,
    config_body,
    course_body,
    detail_paths,
    exam_body,
    schedule_body,
    user_body,
)

# ---------------------------------------------------------------------------------------
# §4 provision: exams, their configuration, users and enrollments
# ---------------------------------------------------------------------------------------


ALL_TS = [TS_LIVE, TS_AUTO, TS_AUTO_REVIEW, TS_VTC, TS_ITC, TS_IAP]
ALL_OPTIONS = [
    "recordScreen",
    "recordWebcam",
    "recordAudio",
    "forceFullScreen",
    "onlyOneScreen",
    "disableNewTabs",
    "closeOpenTabs",
    "disablePrinting",
    "disableClipboard",
    "disableRightClick",
    "verifyId",
    "roomScan",
]
ALL_ITEMS = [
    "bathroomBreak",
    "calculator",
    "dictionary",
    "earplugs",
    "formulaSheet",
    "notes",
    "textbook",
    "websites",
]


def test_every_constant_of_section_8_is_accepted_and_read_back(api: Api) -> None:
    course = api.course()
    exam = exam_body(
        proctorTypes={ts: {"options": {o: {} for o in ALL_OPTIONS}} for ts in ALL_TS},
        permittedItems={item: {"notes": f"{item} ok"} for item in ALL_ITEMS},
    )
    exam["type"] = "written"
    exam["description"] = "all of it"
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    got = api.get(f"{api.v1}/courses/{course}/exams/{out['exam']['sid']}").json()
    assert (got["type"], got["description"]) == ("written", "all of it")
    assert got["configuration"]["proctorTypes"] == exam["configuration"]["proctorTypes"]
    assert got["configuration"]["permittedItems"] == exam["configuration"]["permittedItems"]
    enabled = json.dumps(api.settings())
    assert all(ts in enabled for ts in ALL_TS)


def test_exam_listed_in_course(api: Api) -> None:
    course = api.course()
    a = api.exam(course)["exam"]["sid"]
    b = api.exam(course)["exam"]["sid"]
    api.exam(api.course())
    listed = api.collect(f"{api.v1}/courses/{course}/exams")
    assert sorted(e["sid"] for e in listed) == sorted([a, b])
    for e in listed:
        assert {"sid", "title", "type", "limitedScope", "ids", "configuration"} <= set(e)


def test_update_reports_updated_and_stores_values(api: Api) -> None:
    body = {"course": course_body("c-upd"), "exam": exam_body("x-upd"), "user": user_body()}
    first = api.provision_ok(body)
    body["course"]["title"] = "Renamed"
    body["exam"]["title"] = "Renamed exam"
    body["exam"]["description"] = "now described"
    body["user"]["firstName"] = "Janet"
    out = api.provision_ok(body)
    assert out["course"] == {"sid": first["course"]["sid"], "result": "Updated"}
    assert out["exam"] == {"sid": first["exam"]["sid"], "result": "Updated"}
    assert out["user"] == {"sid": first["user"]["sid"], "result": "Updated"}
    assert out["configuration"]["result"] == "Found Existing"
    course = api.get(f"{api.v1}/courses/{first['course']['sid']}").json()
    assert course["title"] == "Renamed"
    exam = api.get(f"{api.v1}/courses/{first['course']['sid']}/exams/{first['exam']['sid']}")
    assert exam.json()["title"] == "Renamed exam"
    assert exam.json()["description"] == "now described"
    profile = api.get(f"{api.v1}/users/{first['user']['sid']}/profile").json()
    assert profile["firstName"] == "Janet"


def test_configuration_replaced_as_a_whole(api: Api) -> None:
    course = api.course()
    exam = exam_body(
        attempts=3,
        notes={"student": "s", "proctor": "p"},
        permittedItems={"notes": {"notes": "one page"}},
        scheduling={"open": "2026-06-10T00:00:00Z", "close": "2026-11-30T00:00:00Z"},
        proctorTypes={TS_LIVE: {}, TS_AUTO: {"options": {"recordWebcam": {}}}},
    )
    first = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    exam["configuration"] = config_body(duration=90)
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    assert out["configuration"]["result"] == "Updated"
    assert out["exam"]["result"] == "Found Existing"
    got = api.get(f"{api.v1}/courses/{course}/exams/{first['exam']['sid']}").json()
    c = got["configuration"]
    assert c["duration"] == 90
    assert c["attempts"] == 1  # back to the default: nothing of the old one survives
    assert c["proctorTypes"] == {TS_LIVE: {}}
    assert not c.get("permittedItems")
    notes = c.get("notes") or {}
    assert not notes.get("student") and not notes.get("proctor")
    assert "scheduling" not in c  # the old window is gone with the old configuration
    # ... and so is its effect: after the old scheduling.close is fine now.
    en = api.learner(course)["enrollment"]["sid"]
    api.assign(course, first["exam"]["sid"], add=[en])
    es = api.only_active(en, first["exam"]["sid"])
    r = api.schedule(first["exam"]["sid"], es, schedule_body("2026-12-15T10:00:00Z"))
    assert r.status_code == 200, r.text
    # The same configuration again is not a change.
    again = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    assert again["configuration"]["result"] == "Found Existing"


def test_user_defaults_from_install_settings(api: Api) -> None:
    settings = api.settings()
    assert {"defaultTimezone", "defaultCurrencyCode"} <= set(settings)
    course = api.course()
    plain = api.learner(course)["user"]["sid"]
    profile = api.get(f"{api.v1}/users/{plain}/profile").json()
    assert profile["timeZone"] == settings["defaultTimezone"]
    assert profile["currencyCode"] == settings["defaultCurrencyCode"]
    own = api.learner(course, timeZone="America/Chicago", currencyCode="EUR")["user"]["sid"]
    profile = api.get(f"{api.v1}/users/{own}/profile").json()
    assert profile["timeZone"] == "America/Chicago"
    assert profile["currencyCode"] == "EUR"


def test_settings_fields(api: Api) -> None:
    s = api.settings()
    assert isinstance(s["defaultTimezone"], str) and "/" in s["defaultTimezone"]
    assert isinstance(s["defaultCurrencyCode"], str) and len(s["defaultCurrencyCode"]) == 3
    blob = json.dumps(s)
    assert TS_LIVE in blob and TS_AUTO in blob  # the enabled proctor types are listed


def test_enrollment_role_default_and_list_shape(api: Api) -> None:
    course = api.course()
    out = api.provision_ok(
        {"course": {"ids": {"sid": course}}, "user": user_body(), "enrollment": {}}
    )
    inst = api.learner(course, role="instructor")
    listed = api.collect(f"{api.v1}/courses/{course}/enrollments")
    by_sid = {e["sid"]: e for e in listed}
    assert set(by_sid) == {out["enrollment"]["sid"], inst["enrollment"]["sid"]}
    for e in listed:
        assert set(e) == ENROLLMENT_KEYS
        assert e["courseSid"] == course
        assert isinstance(e["state"], str) and e["state"]
    assert by_sid[out["enrollment"]["sid"]]["role"] == "learner"
    assert by_sid[out["enrollment"]["sid"]]["userSid"] == out["user"]["sid"]
    assert by_sid[inst["enrollment"]["sid"]]["role"] == "instructor"


def test_new_user_without_enrollment_object_is_enrolled_as_learner(api: Api) -> None:
    # The guide: "If omitted and a new user is being created, they will be enrolled as a
    # learner by default."
    course = api.course()
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "user": user_body()})
    listed = api.collect(f"{api.v1}/courses/{course}/enrollments")
    assert set(out) == {"course", "user"}  # no enrollment key: none was sent
    assert [(e["userSid"], e["role"]) for e in listed] == [(out["user"]["sid"], "learner")]


def test_enrollment_role_change_is_updated(api: Api) -> None:
    course = api.course()
    body = {"course": {"ids": {"sid": course}}, "user": user_body(), "enrollment": {}}
    first = api.provision_ok(body)
    body["enrollment"] = {"role": "instructor"}
    out = api.provision_ok(body)
    assert out["enrollment"] == {"sid": first["enrollment"]["sid"], "result": "Updated"}


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
    assert set(detail_paths(err)) >= {
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
    assert path in detail_paths(err)


def test_required_fields_when_creating(flow: Flow) -> None:
    err = flow.provision(
        {
            "course": {"ids": {"external": "new"}},
            "exam": {"ids": {"external": "new"}},
            "user": {"ids": {"api": "new"}},
        },
        status=400,
    )
    assert set(detail_paths(err)) == {
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
    assert "exam.configuration.password" in detail_paths(flow.provision(missing, status=400))
    err = flow.provision({"exam": pl.exam()}, status=400)
    assert detail_paths(err) == ["course"]


def test_provision_is_atomic(flow: Flow) -> None:
    bad = pl.full()
    bad["user"]["email"] = "nope"
    flow.provision(bad, status=400)
    # Nothing was created: the course is new again.
    r = flow.provision({"course": pl.course()})
    assert r["course"]["result"] == "Created"
    assert flow.call("GET", f"{flow.v1}/users", params={"externalId": "user-789"})["total"] == 0


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
    assert detail_paths(flow.provision(body, status=400)) == ["exam.ids.lms"]
