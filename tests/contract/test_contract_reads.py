"""§6.6 the appointments report and §7 reads and the list envelope, and bodies that are not what
the contract asks for. Part of the simulator's contract suite (see conftest.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    COURSE_KEYS,
    ENVELOPE_KEYS,
    HEX32,
    SESSION_KEYS,
    Api,
    assert_envelope,
    assert_error,
    detail_paths,
    schedule_body,
    user_body,
)

# ---------------------------------------------------------------------------------------
# §6.6 appointments report, §7 envelope
# ---------------------------------------------------------------------------------------


def test_report_default_and_max_limit_and_next_links(api: Api) -> None:
    course = api.course()
    exam = api.exam(course, limited=False)["exam"]["sid"]
    for _ in range(60):
        api.learner(course)
    first = api.report().json()
    assert_envelope(first)
    assert (first["total"], first["count"], first["offset"]) == (60, 50, 0)
    assert first["prev"] is None and first["next"] is not None
    for s in first["results"]:
        assert set(s) == SESSION_KEYS
        assert (s["examSid"], s["status"]) == (exam, "Needs Proctor")
    second = api.http.get(first["next"]).json()
    assert (second["total"], second["count"], second["offset"]) == (60, 10, 50)
    assert second["next"] is None and second["prev"] is not None
    sids = [s["sid"] for s in first["results"] + second["results"]]
    assert len(set(sids)) == 60
    assert api.report(limit=100).json()["count"] == 60
    big = api.report(limit=101)
    if big.status_code == 200:  # Choice: clamp to 100, or refuse.
        assert big.json()["count"] <= 100
    else:
        assert_error(big, 400, "INVALIDINPUT")
    beyond = api.report(offset=500).json()
    assert (beyond["count"], beyond["next"]) == (0, None)
    last = api.http.get(first["last"]).json()
    assert [s["sid"] for s in last["results"]] == [s["sid"] for s in second["results"]]
    assert api.http.get(first["first"]).json()["results"] == first["results"]


def test_report_filters(api: Api) -> None:
    c1 = api.course()
    e1 = api.exam(c1, limited=False)["exam"]["sid"]
    e2 = api.exam(c1, limited=False)["exam"]["sid"]
    c2 = api.course()
    e3 = api.exam(c2, limited=False)["exam"]["sid"]
    u1 = api.learner(c1)
    u2 = api.learner(c1)
    u3 = api.learner(c2)
    en1, en2, en3 = (u["enrollment"]["sid"] for u in (u1, u2, u3))
    s11 = api.only_active(en1, e1)
    s21 = api.only_active(en2, e1)
    api.only_active(en1, e2)
    s33 = api.only_active(en3, e3)
    api.schedule(e1, s11, schedule_body("2026-07-01T10:00:00Z"))
    api.schedule(e1, s21, schedule_body("2026-08-01T10:00:00Z"))
    api.schedule(e3, s33, schedule_body("2026-09-01T10:00:00Z"))

    def sids(**params: Any) -> set[str]:
        return {s["sid"] for s in api.collect(f"{api.v1}/reports/appointments", **params)}

    assert len(sids()) == 5  # e1 x2, e2 x2, e3 x1
    assert sids(courseSid=c2) == {s33}
    assert len(sids(courseSid=c1)) == 4
    assert sids(examSid=e1) == {s11, s21}
    assert sids(status="Scheduled") == {s11, s21, s33}
    assert len(sids(status=["Scheduled", "Needs Proctor"])) == 5
    assert len(sids(status="Needs Proctor")) == 2
    assert sids(learnerSid=u3["user"]["sid"]) == {s33}
    assert len(sids(learnerSid=u1["user"]["sid"])) == 2
    assert sids(appointmentAfter="2026-07-15T00:00:00Z") == {s21, s33}
    assert sids(appointmentBefore="2026-07-15T00:00:00Z") == {s11}
    assert sids(
        appointmentAfter="2026-07-15T00:00:00Z", appointmentBefore="2026-08-15T00:00:00Z"
    ) == {s21}
    assert sids(examSid=e1, status="Scheduled", learnerSid=u2["user"]["sid"]) == {s21}
    paged = api.collect(f"{api.v1}/reports/appointments", status="Scheduled", limit=1)
    assert {s["sid"] for s in paged} == {s11, s21, s33}  # filters survive in next links


@pytest.mark.parametrize(
    "params",
    [
        {"courseSid": "CU1"},
        {"examSid": "EXnope"},
        {"learnerSid": "US" + HEX32.upper()},
        {"appointmentAfter": "tomorrow"},
        {"appointmentBefore": "2026-07-01"},
        {"limit": "ten"},
        {"offset": "-3"},
        {"limit": "0"},
    ],
)
def test_report_bad_query_is_400(api: Api, params: dict[str, str]) -> None:
    assert_error(api.report(**params), 400, "INVALIDINPUT")


def test_course_read_shape(api: Api) -> None:
    out = api.provision_ok(
        {"course": {"ids": {"lms": "lms-9"}, "title": "Biology", "code": "BIO-1"}}
    )
    c = api.get(f"{api.v1}/courses/{out['course']['sid']}").json()
    assert set(c) == COURSE_KEYS
    assert (c["sid"], c["title"], c["code"]) == (out["course"]["sid"], "Biology", "BIO-1")
    assert c["ids"] == {"lms": "lms-9"}


@pytest.mark.parametrize("kind", ["externalId", "apiId", "lmsId", "email"])
def test_user_lookup_by_each_key(api: Api, kind: str) -> None:
    course = api.course()
    id_kind = {"externalId": "external", "apiId": "api", "lmsId": "lms", "email": "external"}
    value = f"look-{kind}"
    user = user_body(email=f"{value}@example.org")
    user["ids"] = {id_kind[kind]: value}
    api.provision_ok({"course": {"ids": {"sid": course}}, "user": user})
    api.learner(course)  # another user that must not match
    query = value if kind != "email" else f"{value}@example.org"
    found = api.collect(f"{api.v1}/users", **{kind: query})
    assert len(found) == 1, found
    u = found[0]
    assert {
        "sid",
        "firstName",
        "lastName",
        "email",
        "timeZone",
        "currencyCode",
        "externalId",
        "apiId",
        "lmsId",
    } <= set(u)
    assert u["email"] == f"{value}@example.org"
    if kind != "email":
        assert u[kind] == value
    profile = api.get(f"{api.v1}/users/{u['sid']}/profile").json()
    assert profile == u
    assert api.collect(f"{api.v1}/users", **{kind: "nobody@nowhere.example"}) == []


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
    assert detail_paths(err) == ["appointmentAfter"]
    err = flow.call("GET", report, 400, params={"courseSid": "CU1"})
    assert detail_paths(err) == ["courseSid"]


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
        assert detail_paths(err) == list(bad)
    assert flow.call("GET", path, params={"limit": 100})["count"] == 7


# ---------------------------------------------------------------------------------------
# bodies that are not what the contract asks for
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b"null", b"42", b'"text"', b"\xff\xfe\x00bad", b'{"course": '],
)
def test_malformed_bodies_are_400(api: Api, content: bytes) -> None:
    headers = {"content-type": "application/json"}
    r = api.http.post(f"/v2/installs/{api.install}/provision", content=content, headers=headers)
    assert_error(r, 400, "INVALIDINPUT")
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    for method in ("POST", "PUT", "DELETE"):
        r = api.http.request(method, api.session_path(f.exam, es), content=content, headers=headers)
        assert_error(r, 400, "INVALIDINPUT")
    path = f"{api.v1}/courses/{f.course}/exams/{f.exam}/assignments"
    assert_error(api.http.put(path, content=content, headers=headers), 400, "INVALIDINPUT")
