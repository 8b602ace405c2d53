"""§6 sessions: details and lists, schedule (the guide's request, time rules, body checks),
reschedule, cancel, onboarding, ordering, paging and concurrent calls. Part of the
simulator's contract suite (see conftest.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    HEX32,
    NOW,
    SESSION_ITEM_KEYS,
    SESSION_KEYS,
    SESSION_TYPES,
    TS_AUTO,
    TS_IAP,
    TS_LIVE,
    TS_VTC,
    Api,
    Served,
    assert_envelope,
    assert_error,
    course_body,
    detail_paths,
    parse_date,
    schedule_body,
    user_body,
)

# ---------------------------------------------------------------------------------------
# §6 sessions
# ---------------------------------------------------------------------------------------


def test_session_details_shape_and_values(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    s = api.session(f.exam, es)
    assert set(s) == SESSION_KEYS
    assert s["sid"] == es
    assert (s["installSid"], s["examSid"], s["enrollmentSid"]) == (
        api.install,
        f.exam,
        f.enrollment,
    )
    assert (s["userSid"], s["courseSid"]) == (f.user, f.course)
    assert s["status"] == "Needs Proctor"
    assert s["appointmentDate"] is None and s["appointmentEndDate"] is None
    assert s["duration"] == 120
    assert s["dateScheduled"] is None
    assert s["createdDate"] == s["editDate"] == NOW


def test_session_list_items_and_include_active(api: Api) -> None:
    f = api.setup()
    r = api.sessions(f.enrollment, f.exam)
    assert r.status_code == 200
    page = assert_envelope(r.json())
    assert (page["total"], page["results"]) == (0, [])  # without includeActive: past only
    r = api.sessions(f.enrollment, f.exam, includeActive="false")
    assert r.json()["total"] == 0
    r = api.sessions(f.enrollment, f.exam, includeActive="true")
    page = assert_envelope(r.json())
    assert page["total"] == 1
    item = page["results"][0]
    assert set(item) == SESSION_ITEM_KEYS
    assert item["status"] == "Needs Proctor"


def test_schedule_guide_request_verbatim(api: Api) -> None:
    f = api.setup(duration=120)
    es = api.only_active(f.enrollment, f.exam)
    body = {
        "type": "automated",
        "proctorLocationSid": "PT" + HEX32,
        "appointmentDateTime": "2026-06-15T14:00:00Z",
        "amount": 0,
        "currencyCode": "USD",
        "externalAppointmentId": "your-system-id",
    }
    r = api.schedule(f.exam, es, body)
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(s) == SESSION_KEYS
    assert s["sid"] == es
    assert s["status"] == "Scheduled"
    assert s["sessionType"] == "automated"
    assert s["proctorLocationSid"][2:] == HEX32
    assert s["proctorLocationSid"][:2] in ("PL", "PT")
    assert s["appointmentDate"] == "2026-06-15T14:00:00Z"
    assert s["appointmentEndDate"] == "2026-06-15T16:00:00Z"
    assert s["duration"] == 120
    assert s["externalAppointmentId"] == "your-system-id"
    assert parse_date(s["dateScheduled"]) == parse_date(NOW)
    assert api.session(f.exam, es) == s
    item = api.sessions(f.enrollment, f.exam, includeActive="true").json()["results"][0]
    assert item == {k: s[k] for k in SESSION_ITEM_KEYS}


def test_schedule_with_currency_and_pl_location(api: Api) -> None:
    f = api.setup(duration=45)
    es = api.only_active(f.enrollment, f.exam)
    r = api.schedule(f.exam, es, schedule_body("2026-07-01T10:30:00Z", notes="desk 4"))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["proctorLocationSid"] == "PL" + HEX32
    assert s["appointmentEndDate"] == "2026-07-01T11:15:00Z"
    assert s["notes"] == "desk 4"


def test_every_session_type_is_accepted(api: Api) -> None:
    course = api.course()
    exam = api.exam(course, limited=False, proctorTypes={TS_LIVE: {}, TS_IAP: {}})["exam"]
    for kind in SESSION_TYPES:
        en = api.learner(course)["enrollment"]["sid"]
        es = api.only_active(en, exam["sid"])
        r = api.schedule(exam["sid"], es, schedule_body(type=kind))
        assert r.status_code == 200, (kind, r.text)
        assert r.json()["sessionType"] == kind


def test_schedule_twice_is_400(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert api.schedule(f.exam, es, schedule_body()).status_code == 200
    err = assert_error(api.schedule(f.exam, es, schedule_body()), 400, "INVALIDINPUT")
    assert "reschedule" in err["message"].lower()


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("2026-05-31T23:00:00Z", "in the past"),
        ("2026-06-01T00:00:00Z", "not in the future"),
        ("2026-06-09T00:00:00Z", "before scheduling.open"),
        ("2026-10-01T00:00:00Z", "after scheduling.close"),
        ("2026-09-30T23:00:00Z", "ends after access.close"),
    ],
)
def test_schedule_time_rules(api: Api, when: str, why: str) -> None:
    f = api.setup(
        access={"open": "2026-01-01T00:00:00Z", "close": "2026-10-01T00:00:00Z"},
        scheduling={"open": "2026-06-10T00:00:00Z", "close": "2026-09-30T23:59:00Z"},
        duration=120,
    )
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.schedule(f.exam, es, schedule_body(when)), 400, "INVALIDINPUT")
    assert api.session(f.exam, es)["status"] == "Needs Proctor", why
    # The last slot that ends exactly at access.close is fine.
    r = api.schedule(f.exam, es, schedule_body("2026-09-30T22:00:00Z"))
    assert r.status_code == 200, r.text


def test_schedule_before_access_open_is_400(api: Api) -> None:
    f = api.setup(access={"open": "2026-08-01T00:00:00Z", "close": "2026-12-31T00:00:00Z"})
    es = api.only_active(f.enrollment, f.exam)
    assert_error(
        api.schedule(f.exam, es, schedule_body("2026-07-15T00:00:00Z")), 400, "INVALIDINPUT"
    )
    assert api.schedule(f.exam, es, schedule_body("2026-08-01T00:00:00Z")).status_code == 200


def test_default_scheduling_window_runs_to_access_close(api: Api) -> None:
    f = api.setup(
        access={"open": "2026-01-01T00:00:00Z", "close": "2026-08-01T00:00:00Z"}, duration=60
    )
    es = api.only_active(f.enrollment, f.exam)
    assert_error(
        api.schedule(f.exam, es, schedule_body("2026-07-31T23:01:00Z")), 400, "INVALIDINPUT"
    )
    r = api.schedule(f.exam, es, schedule_body("2026-07-31T23:00:00Z"))
    assert r.status_code == 200, r.text
    assert r.json()["appointmentEndDate"] == "2026-08-01T00:00:00Z"


@pytest.mark.parametrize(
    "over",
    [
        {"type": "robot"},
        {"type": None},
        {"amount": -1},
        {"amount": "free"},
        {"currency": "US"},
        {"currency": "DOLLARS"},
        {"currencyCode": 12},
        {"proctorLocationSid": "XX" + HEX32},
        {"proctorLocationSid": "CU" + HEX32},
        {"proctorLocationSid": "PL123"},
        {"appointmentDateTime": "2026-07-01 14:00"},
        {"appointmentDateTime": "2026-07-01T14:00:00+02:00"},
        {"appointmentDateTime": None},
        {"appointmentDateTime": 1782912000},
        {"externalAppointmentId": 5},
        {"notes": ["a"]},
        {"proctorTypeSubCategorySid": TS_VTC},
        {"proctorTypeSubCategorySid": "TS123"},
    ],
)
def test_schedule_bad_fields_are_400(api: Api, over: dict[str, Any]) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.schedule(f.exam, es, schedule_body(**over)), 400, "INVALIDINPUT")
    assert api.session(f.exam, es)["status"] == "Needs Proctor"


def test_schedule_without_appointment_time_is_400(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    body = schedule_body()
    del body["appointmentDateTime"]
    assert_error(api.schedule(f.exam, es, body), 400, "INVALIDINPUT")


def test_proctor_type_sub_category_of_the_exam_is_accepted(api: Api) -> None:
    f = api.setup(proctorTypes={TS_LIVE: {}, TS_AUTO: {}})
    es = api.only_active(f.enrollment, f.exam)
    r = api.schedule(f.exam, es, schedule_body(proctorTypeSubCategorySid=TS_AUTO))
    assert r.status_code == 200, r.text
    assert r.json()["proctorTypeSid"] == TS_AUTO


def test_reschedule_moves_a_scheduled_session(api: Api) -> None:
    f = api.setup(duration=30)
    es = api.only_active(f.enrollment, f.exam)
    scheduled = api.schedule(f.exam, es, schedule_body("2026-07-01T14:00:00Z")).json()
    r = api.reschedule(f.exam, es, {"appointmentDateTime": "2026-07-02T09:00:00Z", "notes": "n"})
    assert r.status_code == 200, r.text
    s = api.session(f.exam, es)
    assert s["status"] == "Scheduled"
    assert s["appointmentDate"] == "2026-07-02T09:00:00Z"
    assert s["appointmentEndDate"] == "2026-07-02T09:30:00Z"
    assert s["notes"] == "n"
    assert s["sessionType"] == scheduled["sessionType"]
    assert s["proctorLocationSid"] == scheduled["proctorLocationSid"]
    assert api.only_active(f.enrollment, f.exam) == es


@pytest.mark.parametrize(
    "body",
    [
        {"appointmentDateTime": "2026-05-01T00:00:00Z"},
        {"appointmentDateTime": "2027-02-01T00:00:00Z"},
        {"appointmentDateTime": "2026-12-31T23:00:00Z"},
        {"appointmentDateTime": "soon"},
        {},
        {"appointmentDateTime": "2026-07-03T09:00:00Z", "type": "proctoru"},
        {"appointmentDateTime": "2026-07-03T09:00:00Z", "proctorLocationSid": "PL" + "1" * 32},
    ],
)
def test_reschedule_rules(api: Api, body: dict[str, Any]) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    before = api.schedule(f.exam, es, schedule_body("2026-07-01T14:00:00Z")).json()
    assert_error(api.reschedule(f.exam, es, body), 400, "INVALIDINPUT")
    after = api.session(f.exam, es)
    assert after["appointmentDate"] == before["appointmentDate"]
    assert after["sessionType"] == before["sessionType"]
    assert after["proctorLocationSid"] == before["proctorLocationSid"]


def test_reschedule_unscheduled_is_400(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    r = api.reschedule(f.exam, es, {"appointmentDateTime": "2026-07-02T09:00:00Z"})
    assert_error(r, 400, "INVALIDINPUT")


def test_cancel_requires_memo_and_known_reason(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    api.schedule(f.exam, es, schedule_body())
    for body in (
        {},
        {"reason": "no-show"},
        {"cancellationMemo": ""},
        {"cancellationMemo": 5},
        {"cancellationMemo": "x", "reason": "bored"},
    ):
        assert_error(api.cancel(f.exam, es, body), 400, "INVALIDINPUT")
    assert_error(api.send("DELETE", api.session_path(f.exam, es)), 400, "INVALIDINPUT")
    assert api.session(f.exam, es)["status"] == "Scheduled"


@pytest.mark.parametrize("reason", ["no-show", "changed-time", "technical-issue", "other-reason"])
def test_cancel_scheduled_gives_a_new_needs_proctor_session(api: Api, reason: str) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    api.schedule(f.exam, es, schedule_body())
    r = api.cancel(f.exam, es, {"cancellationMemo": "learner asked", "reason": reason})
    assert 200 <= r.status_code < 300, r.text
    s = api.session(f.exam, es)
    assert (s["status"], s["statusReason"]) == ("Cancelled", reason)
    assert r.json()["sid"] == es  # the answer is the cancelled session (docs/sandbox.md)
    fresh = api.only_active(f.enrollment, f.exam)
    assert fresh != es
    assert api.session(f.exam, fresh)["status"] == "Needs Proctor"
    past = api.sessions(f.enrollment, f.exam).json()["results"]
    assert [(p["sid"], p["status"]) for p in past] == [(es, "Cancelled")]
    # A cancelled session cannot be cancelled, scheduled or rescheduled again.
    assert_error(api.cancel(f.exam, es, {"cancellationMemo": "again"}), 400, "INVALIDINPUT")
    assert_error(api.schedule(f.exam, es, schedule_body()), 400, "INVALIDINPUT")
    r = api.reschedule(f.exam, es, {"appointmentDateTime": "2026-07-02T09:00:00Z"})
    assert_error(r, 400, "INVALIDINPUT")


def test_cancel_without_reason_is_accepted(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    api.schedule(f.exam, es, schedule_body())
    r = api.cancel(f.exam, es, {"cancellationMemo": "memo only"})
    assert 200 <= r.status_code < 300, r.text
    assert api.session(f.exam, es)["status"] == "Cancelled"


def test_cancel_needs_proctor_session(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    r = api.cancel(f.exam, es, {"cancellationMemo": "not needed", "reason": "other-reason"})
    assert 200 <= r.status_code < 300, r.text
    assert api.session(f.exam, es)["status"] == "Cancelled"


def test_cancel_in_unlimited_scope_gives_a_new_session(api: Api) -> None:
    f = api.setup(limited=False)
    es = api.only_active(f.enrollment, f.exam)
    api.schedule(f.exam, es, schedule_body())
    api.cancel(f.exam, es, {"cancellationMemo": "m", "reason": "no-show"})
    assert api.only_active(f.enrollment, f.exam) != es


def test_onboarding_only_for_scheduled_and_fresh_each_time(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.onboard(f.exam, es), 400, "INVALIDINPUT")
    api.schedule(f.exam, es, schedule_body())
    urls = []
    for _ in range(3):
        r = api.onboard(f.exam, es)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"url"}
        assert r.json()["url"].startswith("https://")
        urls.append(r.json()["url"])
    assert len(set(urls)) == 3
    api.cancel(f.exam, es, {"cancellationMemo": "m"})
    assert_error(api.onboard(f.exam, es), 400, "INVALIDINPUT")


def _sessions_in_order(api: Api, count: int) -> tuple[Any, list[str]]:
    """One learner with ``count`` cancelled sessions plus an active one, in creation order."""
    f = api.setup()
    made = []
    for _ in range(count):
        es = api.only_active(f.enrollment, f.exam)
        made.append(es)
        api.schedule(f.exam, es, schedule_body())
        api.cancel(f.exam, es, {"cancellationMemo": "again", "reason": "changed-time"})
    made.append(api.only_active(f.enrollment, f.exam))
    return f, made


def test_session_list_sort_order_and_status_filter(api: Api) -> None:
    f, made = _sessions_in_order(api, 3)
    asc = api.sessions(f.enrollment, f.exam, includeActive="true", sortKeys="createdDate")
    desc = api.sessions(
        f.enrollment, f.exam, includeActive="true", sortKeys="createdDate", sortOrder="DESC"
    )
    explicit = api.sessions(f.enrollment, f.exam, includeActive="true", sortOrder="ASC")
    asc_sids = [s["sid"] for s in asc.json()["results"]]
    assert asc_sids == made
    assert [s["sid"] for s in explicit.json()["results"]] == made
    assert [s["sid"] for s in desc.json()["results"]] == made[::-1]
    dates = [parse_date(s["createdDate"]) for s in asc.json()["results"]]
    assert dates == sorted(dates)

    cancelled = api.sessions(f.enrollment, f.exam, includeActive="true", status="Cancelled")
    assert [s["sid"] for s in cancelled.json()["results"]] == made[:-1]
    needs = api.sessions(f.enrollment, f.exam, includeActive="true", status="Needs Proctor")
    assert [s["sid"] for s in needs.json()["results"]] == made[-1:]
    both = api.sessions(
        f.enrollment, f.exam, includeActive="true", status=["Cancelled", "Needs Proctor"]
    )
    assert [s["sid"] for s in both.json()["results"]] == made
    # Without includeActive the active one never shows, whatever the status filter says.
    hidden = api.sessions(f.enrollment, f.exam, status="Needs Proctor")
    assert hidden.json()["results"] == []


def test_session_list_paging(api: Api) -> None:
    f, made = _sessions_in_order(api, 3)
    path = f"{api.v1}/enrollments/{f.enrollment}/exams/{f.exam}/sessions"
    got = api.collect(path, includeActive="true", limit=1)
    assert [s["sid"] for s in got] == made
    page = api.sessions(f.enrollment, f.exam, includeActive="true", limit=2, offset=1).json()
    assert (page["total"], page["count"], page["offset"]) == (4, 2, 1)
    assert [s["sid"] for s in page["results"]] == made[1:3]
    assert page["prev"] is not None and page["next"] is not None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "-1"},
        {"offset": "-1"},
        {"offset": "x"},
        {"includeActive": "maybe"},
        {"sortOrder": "UP"},
        {"sortKeys": "title"},
    ],
)
def test_session_list_bad_query_is_400(api: Api, params: dict[str, str]) -> None:
    f = api.setup()
    assert_error(api.sessions(f.enrollment, f.exam, **params), 400, "INVALIDINPUT")


def test_sessions_of_an_enrollment_outside_the_exam_course(api: Api) -> None:
    f = api.setup()
    other = api.learner(api.course())["enrollment"]["sid"]
    r = api.sessions(other, f.exam, includeActive="true")
    # Choice (docs/sandbox.md): an empty list or 404; never another course's sessions.
    if r.status_code == 200:
        assert r.json()["results"] == []
    else:
        assert_error(r, 404, "RESOURCENOTFOUND")


def _together(n: int, call: Any) -> list[httpx.Response]:
    """``call(i)`` from ``n`` threads released at once."""
    gate = threading.Barrier(n)

    def run(i: int) -> httpx.Response:
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_schedules_of_one_session_book_it_once(srv: Served, api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    clients = [srv.client(api.install) for _ in range(8)]
    answers = _together(
        8, lambda i: clients[i].schedule(f.exam, es, schedule_body(externalAppointmentId=f"a{i}"))
    )
    assert sorted(r.status_code for r in answers) == [200] + [400] * 7
    winner = next(r.json() for r in answers if r.status_code == 200)
    assert api.session(f.exam, es)["externalAppointmentId"] == winner["externalAppointmentId"]
    assert len(api.active(f.enrollment, f.exam)) == 1


def test_concurrent_provisions_of_one_course_create_it_once(srv: Served, api: Api) -> None:
    clients = [srv.client(api.install) for _ in range(8)]
    body = {"course": course_body("c-race"), "user": user_body("u-race"), "enrollment": {}}
    answers = _together(8, lambda i: clients[i].provision(body))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    results = sorted(r.json()["course"]["result"] for r in answers)
    assert results == ["Created"] + ["Found Existing"] * 7
    assert len({r.json()["course"]["sid"] for r in answers}) == 1
    assert len({r.json()["enrollment"]["sid"] for r in answers}) == 1


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
    assert s["dateScheduled"] == NOW
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
        "2026-05-01T10:00:00Z",  # in the past (now is 2026-06-01)
        "2027-01-20T10:00:00Z",  # before access.open (2027-02-01)
        "2027-12-31T23:00:00Z",  # ends after access.close; also after scheduling.close
        "2027-12-30T12:00:00Z",  # after scheduling.close (2027-12-30T00:00Z)
        "2027-03-01T14:00:00",  # no Z
    ],
)
def test_schedule_outside_windows_is_400(flow: Flow, at: str) -> None:
    _, ex, _, es = flow.setup()
    err = flow.schedule(ex, es, status=400, appointmentDateTime=at)
    assert detail_paths(err) and set(detail_paths(err)) == {"appointmentDateTime"}
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
    assert set(detail_paths(err)) == {"type", "amount", "appointmentDateTime"}
    err = flow.schedule(
        ex, es, status=400, proctorTypeSubCategorySid=pl.TS_LIVE.replace("4b", "5b")
    )
    assert detail_paths(err) == ["proctorTypeSubCategorySid"]
    err = flow.schedule(ex, es, status=400, currency="usd")
    assert detail_paths(err) == ["currency"]
    err = flow.schedule(ex, es, status=400, proctorLocationSid="XX" + "1" * 32)
    assert detail_paths(err) == ["proctorLocationSid"]
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
    assert detail_paths(err) == ["type"]
    err = flow.session(ex, es, "PUT", 400, json={"appointmentDateTime": "2028-01-01T00:00:00Z"})
    assert set(detail_paths(err)) == {"appointmentDateTime"}
    assert detail_paths(flow.session(ex, es, "PUT", 400, json={})) == ["appointmentDateTime"]


def test_cancel_then_fresh_needs_proctor_session(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    flow.schedule(ex, es)
    err = flow.session(ex, es, "DELETE", 400, json={"reason": "no-show"})
    assert detail_paths(err) == ["cancellationMemo"]
    err = flow.session(ex, es, "DELETE", 400, json={"cancellationMemo": "x", "reason": "bored"})
    assert detail_paths(err) == ["reason"]
    assert detail_paths(flow.session(ex, es, "DELETE", 400)) == ["body"]
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


def test_cancel_fields_may_come_as_query_parameters(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    s = flow.session(ex, es, "DELETE", params={"cancellationMemo": "m", "reason": "no-show"})
    assert (s["status"], s["statusReason"]) == ("Cancelled", "no-show")
    assert flow.active(en, ex)["sid"] != es


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
    assert detail_paths(flow.sessions(en, ex, 400, status="Lost")) == ["status[0]"]
    assert detail_paths(flow.sessions(en, ex, 400, sortOrder="UP")) == ["sortOrder"]
    assert detail_paths(flow.sessions(en, ex, 400, includeActive="maybe")) == ["includeActive"]


def test_session_path_errors(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    other_exam = "EX" + "1" * 32
    err = flow.session(other_exam, es, status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    flow.session(ex, "ES" + "2" * 32, status=404)
    err = flow.session(ex, "ES123", status=400)
    assert detail_paths(err) == ["sessionSid"]
    flow.sessions("EN" + "3" * 32, ex, 404)
    flow.sessions(en, "EXnope", 400)
