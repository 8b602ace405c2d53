"""§4 provision: the answer's keys, signon, matching by each id kind, required fields,
atomicity, and the values it refuses (with the exact ``details`` paths). Part of the
simulator's contract suite (see conftest.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.sandbox_probe import (
    COURSE_KEYS,
    TS_LIVE,
    Api,
    assert_error,
    course_body,
    exam_body,
    sid,
    user_body,
)

# ---------------------------------------------------------------------------------------
# §4 provision
# ---------------------------------------------------------------------------------------


def test_provision_keys_only_for_entities_present(api: Api) -> None:
    out = api.provision_ok({"course": course_body()})
    assert set(out) == {"course"}
    assert set(out["course"]) == {"sid", "result"}
    assert out["course"]["sid"].startswith("CU") and len(out["course"]["sid"]) == 34
    assert out["course"]["result"] == "Created"

    full = api.provision_ok(
        {
            "course": course_body(),
            "exam": exam_body(),
            "user": user_body(),
            "enrollment": {"role": "learner"},
        }
    )
    assert set(full) == {"course", "exam", "configuration", "user", "enrollment"}
    for key, prefix in [
        ("course", "CU"),
        ("exam", "EX"),
        ("configuration", "EC"),
        ("user", "US"),
        ("enrollment", "EN"),
    ]:
        assert set(full[key]) == {"sid", "result"}, full[key]
        assert full[key]["result"] == "Created"
        assert full[key]["sid"].startswith(prefix)
        # §2: the prefix and 32 lower-case hex digits
        assert re.fullmatch(prefix + "[0-9a-f]{32}", full[key]["sid"]), full[key]


def test_provision_signon_only_when_asked(api: Api) -> None:
    body = {
        "course": course_body(),
        "user": user_body(),
        "enrollment": {},
        "signon": {"integrationSid": sid("II")},
    }
    out = api.provision_ok(body)
    assert set(out["signon"]) == {"redirect", "token"}
    assert out["signon"]["redirect"].startswith("https://")
    assert isinstance(out["signon"]["token"], str) and out["signon"]["token"]
    body.pop("signon")
    assert "signon" not in api.provision_ok(body)


def test_provision_signon_with_malformed_integration_sid_is_400(api: Api) -> None:
    body = {"course": course_body(), "user": user_body(), "signon": {"integrationSid": "II12"}}
    assert_error(api.provision(body), 400, "INVALIDINPUT")
    body["signon"] = {"integrationSid": sid("CU")}
    assert_error(api.provision(body), 400, "INVALIDINPUT")


def test_provision_repeat_is_found_existing(api: Api) -> None:
    body = {
        "course": course_body(),
        "exam": exam_body(),
        "user": user_body(),
        "enrollment": {"role": "learner"},
    }
    first = api.provision_ok(body)
    again = api.provision_ok(body)
    for key in ("course", "exam", "configuration", "user", "enrollment"):
        assert again[key] == {"sid": first[key]["sid"], "result": "Found Existing"}, key


def test_provision_ids_only_is_found_existing_and_untouched(api: Api) -> None:
    first = api.provision_ok(
        {
            "course": course_body("c-ids"),
            "exam": exam_body("x-ids"),
            "user": user_body("u-ids"),
            "enrollment": {"role": "instructor"},
        }
    )
    out = api.provision_ok(
        {
            "course": {"ids": {"external": "c-ids"}},
            "exam": {"ids": {"external": "x-ids"}},
            "user": {"ids": {"external": "u-ids"}},
        }
    )
    assert out["course"] == {"sid": first["course"]["sid"], "result": "Found Existing"}
    assert out["exam"] == {"sid": first["exam"]["sid"], "result": "Found Existing"}
    assert out["user"] == {"sid": first["user"]["sid"], "result": "Found Existing"}
    # Choice (docs/sandbox.md): an exam given by ids only reports no configuration, or
    # reports it untouched.
    if "configuration" in out:
        assert out["configuration"]["result"] == "Found Existing"
    course = api.get(f"{api.v1}/courses/{first['course']['sid']}").json()
    assert course["title"] == "Course c-ids" and course["code"] == "C-IDS"
    enrolls = api.collect(f"{api.v1}/courses/{first['course']['sid']}/enrollments")
    assert [e["role"] for e in enrolls] == ["instructor"]


@pytest.mark.parametrize("kind", ["sid", "api", "external", "lms"])
def test_course_matched_by_every_id_kind(api: Api, kind: str) -> None:
    create_ids = {"api": "c-1"} if kind == "sid" else {kind: "c-1"}
    created = api.provision_ok({"course": {"ids": create_ids, "title": "A", "code": "A1"}})
    sid_ = created["course"]["sid"]
    match_ids = {"sid": sid_} if kind == "sid" else {kind: "c-1"}
    out = api.provision_ok({"course": {"ids": match_ids}})
    assert out["course"] == {"sid": sid_, "result": "Found Existing"}
    course = api.get(f"{api.v1}/courses/{sid_}").json()
    assert set(course) == COURSE_KEYS
    assert course["ids"] == create_ids


@pytest.mark.parametrize("kind", ["sid", "api", "external", "lms"])
def test_user_matched_by_every_id_kind(api: Api, kind: str) -> None:
    course = api.course()
    create_ids = {"api": "u-1"} if kind == "sid" else {kind: "u-1"}
    created = api.provision_ok(
        {"course": {"ids": {"sid": course}}, "user": {**user_body(), "ids": create_ids}}
    )
    sid_ = created["user"]["sid"]
    assert created["user"]["result"] == "Created"
    match_ids = {"sid": sid_} if kind == "sid" else {kind: "u-1"}
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "user": {"ids": match_ids}})
    assert out["user"] == {"sid": sid_, "result": "Found Existing"}


@pytest.mark.parametrize("kind", ["sid", "external"])
def test_exam_matched_by_sid_or_external(api: Api, kind: str) -> None:
    course = api.course()
    first = api.exam(course)
    body = api.get(f"{api.v1}/courses/{course}/exams/{first['exam']['sid']}").json()
    ext = body["ids"]["external"]
    ids = {"sid": first["exam"]["sid"]} if kind == "sid" else {"external": ext}
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": {"ids": ids}})
    assert out["exam"] == {"sid": first["exam"]["sid"], "result": "Found Existing"}


@pytest.mark.parametrize("kind", ["api", "lms"])
def test_exam_ids_api_or_lms_is_400(api: Api, kind: str) -> None:
    course = api.course()
    exam = exam_body()
    exam["ids"] = {kind: "x-1"}
    r = api.provision({"course": {"ids": {"sid": course}}, "exam": exam})
    assert_error(r, 400, "INVALIDINPUT")
    assert api.collect(f"{api.v1}/courses/{course}/exams") == []


@pytest.mark.parametrize(
    "ids",
    [{}, {"external": ""}, {"external": 5}, {"foo": "x"}, "x", None, ["external"]],
)
def test_bad_ids_are_400(api: Api, ids: Any) -> None:
    assert_error(
        api.provision({"course": {"ids": ids, "title": "T", "code": "C"}}), 400, "INVALIDINPUT"
    )
    assert_error(api.provision({"course": {"title": "T", "code": "C"}}), 400, "INVALIDINPUT")


def test_same_external_id_for_different_entity_kinds_does_not_collide(api: Api) -> None:
    out = api.provision_ok(
        {
            "course": course_body("same"),
            "exam": exam_body("same"),
            "user": user_body("same"),
        }
    )
    assert {out[k]["result"] for k in ("course", "exam", "user")} == {"Created"}


@pytest.mark.parametrize("entity", ["course", "exam", "user"])
def test_matching_by_sid_that_does_not_exist_is_404(api: Api, entity: str) -> None:
    course = api.course()
    body: dict[str, Any] = {"course": {"ids": {"sid": course}}}
    prefix = {"course": "CU", "exam": "EX", "user": "US"}[entity]
    if entity == "course":
        body["course"] = {"ids": {"sid": sid(prefix)}, "title": "T", "code": "C"}
    elif entity == "exam":
        body["exam"] = {**exam_body(), "ids": {"sid": sid(prefix)}}
    else:
        body["user"] = {**user_body(), "ids": {"sid": sid(prefix)}}
    assert_error(api.provision(body), 404, "RESOURCENOTFOUND")


def test_matching_by_malformed_sid_is_400(api: Api) -> None:
    body = {"course": {"ids": {"sid": "CU123"}, "title": "T", "code": "C"}}
    assert_error(api.provision(body), 400, "INVALIDINPUT")
    body = {"course": {"ids": {"sid": sid("EX")}, "title": "T", "code": "C"}}
    assert_error(api.provision(body), 400, "INVALIDINPUT")


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("course", "title"),
        ("course", "code"),
        ("exam", "title"),
        ("exam", "configuration"),
        ("configuration", "url"),
        ("configuration", "access"),
        ("configuration", "duration"),
        ("configuration", "password"),
        ("configuration", "proctorTypes"),
        ("user", "firstName"),
        ("user", "lastName"),
        ("user", "email"),
    ],
)
def test_required_on_create_and_atomic(api: Api, where: str, field: str) -> None:
    body = {
        "course": course_body("c-atomic"),
        "exam": exam_body("x-atomic"),
        "user": user_body("u-atomic"),
        "enrollment": {},
    }
    target = body["exam"]["configuration"] if where == "configuration" else body[where]
    del target[field]
    err = assert_error(api.provision(body), 400, "INVALIDINPUT")
    if "details" in err:
        assert any(field in d["path"] for d in err["details"]), err
    # Atomic: nothing of it exists now, so a complete call creates all of it.
    full = {
        "course": course_body("c-atomic"),
        "exam": exam_body("x-atomic"),
        "user": user_body("u-atomic"),
        "enrollment": {},
    }
    out = api.provision_ok(full)
    assert {out[k]["result"] for k in out} == {"Created"}, out


@pytest.mark.parametrize("key", ["open", "close"])
def test_access_open_and_close_required_on_create(api: Api, key: str) -> None:
    exam = exam_body()
    del exam["configuration"]["access"][key]
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")


def test_atomic_when_a_referenced_sid_is_unknown(api: Api) -> None:
    body = {
        "course": course_body("c-atomic-404"),
        "exam": exam_body(),
        "user": {"ids": {"sid": sid("US")}},
    }
    assert_error(api.provision(body), 404, "RESOURCENOTFOUND")
    out = api.provision_ok({"course": course_body("c-atomic-404")})
    assert out["course"]["result"] == "Created"


def test_atomic_bad_user_field_creates_no_course(api: Api) -> None:
    body = {"course": course_body("c-bad-user"), "user": user_body(email="not-an-email")}
    assert_error(api.provision(body), 400, "INVALIDINPUT")
    assert api.provision_ok({"course": course_body("c-bad-user")})["course"]["result"] == (
        "Created"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("duration", 0),
        ("duration", -5),
        ("duration", 1.5),
        ("duration", "60"),
        ("duration", True),
        ("attempts", 0),
        ("attempts", "2"),
        ("url", "not a url"),
        ("url", 7),
        ("password", ""),
        ("access", {"open": "2026-01-01", "close": "2026-12-31T23:59:59Z"}),
        ("access", {"open": "2026-12-31T00:00:00Z", "close": "2026-01-01T00:00:00Z"}),
        ("scheduling", {"open": "yesterday"}),
        ("proctorTypes", {}),
        ("proctorTypes", {"TSnothex": {}}),
        ("proctorTypes", {TS_LIVE: {"options": {"teleport": {}}}}),
        ("proctorTypes", {TS_LIVE: []}),
        ("permittedItems", {"laptop": {}}),
        ("permittedItems", {"calculator": {"notes": 5}}),
        ("notes", {"student": 5}),
        ("notes", "text"),
    ],
)
def test_bad_configuration_values_are_400(api: Api, path: str, value: Any) -> None:
    exam = exam_body()
    exam["configuration"][path] = value
    r = api.provision({"course": course_body(), "exam": exam})
    err = assert_error(r, 400, "INVALIDINPUT")
    # §3: details locate the problem, e.g. "exam.configuration.duration".
    assert err["details"][0]["path"].startswith(f"exam.configuration.{path}"), err


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("exam", "type", "oral"),
        ("exam", "limitedScope", "yes"),
        ("exam", "title", ""),
        ("course", "title", ""),
        ("course", "code", 12),
        ("user", "email", "not-an-email"),
        ("user", "email", "a@"),
        ("user", "timeZone", "Mars/Olympus"),
        ("user", "currencyCode", "US"),
        ("user", "currencyCode", "EURO"),
        ("user", "firstName", ""),
        ("enrollment", "role", "observer"),
    ],
)
def test_bad_entity_fields_are_400(api: Api, where: str, field: str, value: Any) -> None:
    body = {
        "course": course_body(),
        "exam": exam_body(),
        "user": user_body(),
        "enrollment": {},
    }
    body[where][field] = value
    assert_error(api.provision(body), 400, "INVALIDINPUT")


def test_unknown_top_level_or_enrollment_without_user_is_400(api: Api) -> None:
    assert_error(
        api.provision({"course": course_body(), "enrollment": {"role": "learner"}}),
        400,
        "INVALIDINPUT",
    )
    assert_error(api.provision({"exam": exam_body()}), 400, "INVALIDINPUT")
    assert_error(api.provision({}), 400, "INVALIDINPUT")


def test_exam_defaults(api: Api) -> None:
    course = api.course()
    exam = exam_body()
    del exam["limitedScope"]
    cfg = exam["configuration"]
    cfg["notes"] = {"student": "Bring ID", "proctor": "Check ID"}
    cfg["permittedItems"] = {"calculator": {"notes": "basic only"}}
    cfg["proctorTypes"] = {TS_LIVE: {"options": {"recordScreen": {}, "verifyId": {}}}}
    out = api.provision_ok({"course": {"ids": {"sid": course}}, "exam": exam})
    got = api.get(f"{api.v1}/courses/{course}/exams/{out['exam']['sid']}").json()
    assert {"sid", "title", "description", "type", "limitedScope", "ids", "configuration"} <= (
        set(got)
    )
    assert got["sid"] == out["exam"]["sid"]
    assert got["type"] == "online"
    assert got["limitedScope"] is False
    assert got["ids"] == exam["ids"]
    c = got["configuration"]
    assert c["sid"] == out["configuration"]["sid"]
    assert c["attempts"] == 1
    assert c["duration"] == 120
    assert c["url"] == cfg["url"]
    assert c["access"] == cfg["access"]
    # Choice (docs/sandbox.md): the read shows `scheduling` only when it was sent; the
    # default window (open until access.close) is applied when scheduling, see
    # test_default_scheduling_window_runs_to_access_close.
    assert "scheduling" not in c or c["scheduling"] == {"close": cfg["access"]["close"]}
    assert c["proctorTypes"] == cfg["proctorTypes"]
    assert c["notes"] == cfg["notes"]
    assert c["permittedItems"] == cfg["permittedItems"]
