"""The simulator's contract suite: every statement of the API contract, checked over real
HTTP against a real ``spsync sandbox serve`` process, as an independent client would see it.

Section numbers (§) refer to the API contract. Where the contract leaves a point open the
probe accepts each reading listed in docs/sandbox.md and says so next to the check; where
the simulator pins one reading (the integration guide's example bodies, the exact
``details`` paths of an error), the check says so too. One server serves the module (clock
fixed at ``NOW``); each test uses its own install. Helpers: ``support.sandbox_probe`` (the
server process, the ``Api`` client, shape checks) and ``support.sandbox_flow`` (``flow``:
calls that assert their status).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import support.sandbox_payloads as pl
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    COURSE_KEYS,
    ENROLLMENT_KEYS,
    ENVELOPE_KEYS,
    HEX32,
    NOW,
    SESSION_ITEM_KEYS,
    SESSION_KEYS,
    SESSION_TYPES,
    TEST_TLS_CERT,
    TEST_TLS_KEY,
    TOKEN,
    TS_AUTO,
    TS_AUTO_REVIEW,
    TS_IAP,
    TS_ITC,
    TS_LIVE,
    TS_VTC,
    Api,
    Served,
    assert_envelope,
    assert_error,
    config_body,
    course_body,
    exam_body,
    parse_date,
    schedule_body,
    serving,
    sid,
    user_body,
)

from spsync.sandbox.app import create_app
from spsync.sandbox.world import World

SERVE = [sys.executable, "-m", "spsync", "sandbox", "serve"]


@pytest.fixture(scope="module")
def srv() -> Iterator[Served]:
    """One plain server for the module; tests isolate themselves by install."""
    yield from serving()


@pytest.fixture
def api(srv: Served) -> Iterator[Api]:
    """A client bound to a fresh install."""
    client = srv.client()
    yield client
    client.close()


@pytest.fixture
def flow(api: Api) -> Flow:
    """The install of ``api`` through the step helper that asserts each call's status (the
    bodies are the integration guide's example, ``support.sandbox_payloads``)."""
    return Flow(api.http, api.install)


def _detail_paths(error: dict[str, Any]) -> list[str]:
    """The ``path`` of every detail of an error body (§3)."""
    return [d["path"] for d in error.get("details", [])]


# ---------------------------------------------------------------------------------------
# §1 transport and auth
# ---------------------------------------------------------------------------------------


def test_missing_token_is_403_authenticationfailed(srv: Served) -> None:
    c = srv.client(token=None)
    assert_error(c.get(f"{c.v1}/settings"), 403, "AUTHENTICATIONFAILED")
    assert_error(c.provision({"course": course_body()}), 403, "AUTHENTICATIONFAILED")


def test_wrong_token_is_403_and_authorization_header_is_not_the_token(srv: Served) -> None:
    c = srv.client(token="not-t")
    assert_error(c.get(f"{c.v1}/settings"), 403, "AUTHENTICATIONFAILED")
    bearer = srv.client(token=None)
    r = bearer.http.get(f"{bearer.v1}/settings", headers={"Authorization": TOKEN})
    assert_error(r, 403, "AUTHENTICATIONFAILED")


def test_wrong_token_creates_nothing(srv: Served) -> None:
    ext = "c-denied"
    bad = srv.client(token="nope")
    assert_error(bad.provision({"course": course_body(ext)}), 403, "AUTHENTICATIONFAILED")
    good = srv.client(bad.install)
    assert good.provision_ok({"course": course_body(ext)})["course"]["result"] == "Created"


def test_require_tls_answers_invalidprotocol_over_plain_http() -> None:
    for served in serving("--require-tls"):
        c = served.client()
        assert_error(c.get(f"{c.v1}/settings"), 400, "INVALIDPROTOCOL")
        assert_error(c.provision({"course": course_body()}), 400, "INVALIDPROTOCOL")


def test_https_with_require_tls_serves_the_api(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_TLS_CERT)
    key.write_text(TEST_TLS_KEY)
    served = Served("--require-tls", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert served.url.startswith("https://127.0.0.1:")
        c = served.client(verify=ssl.create_default_context(cafile=str(cert)))
        f = c.setup()
        assert c.get(f"{c.v1}/courses/{f.course}").status_code == 200
        # The envelope's links keep the scheme: following them stays on HTTPS.
        page = c.get(f"{c.v1}/courses/{f.course}/enrollments").json()
        assert page["first"].startswith("https://")
        assert c.http.get(page["first"]).status_code == 200
    finally:
        assert served.stop() == 0


def test_dates_are_iso_utc_with_z(api: Api) -> None:
    f = api.setup()
    course = api.get(f"{api.v1}/courses/{f.course}").json()
    for key in ("createdDate", "editDate"):
        parse_date(course[key])
    s = api.session(f.exam, api.only_active(f.enrollment, f.exam))
    parse_date(s["createdDate"])
    parse_date(s["editDate"])


# ---------------------------------------------------------------------------------------
# §2 identifiers, §3 errors
# ---------------------------------------------------------------------------------------

MALFORMED = [
    lambda p: p + HEX32[:31],  # too short
    lambda p: p + HEX32 + "0",  # too long
    lambda p: p + HEX32.upper(),  # upper-case hex
    lambda p: p + "g" * 32,  # not hex
    lambda p: "ZZ" + HEX32,  # wrong prefix
    lambda p: p.lower() + HEX32,  # lower-case prefix
]


def _paths(install: str, cu: str, ex: str, en: str, es: str, us: str) -> list[tuple[str, str]]:
    v1 = f"/v1/installs/{install}"
    return [
        ("POST", f"/v2/installs/{install}/provision"),
        ("PUT", f"{v1}/courses/{cu}/exams/{ex}/assignments"),
        ("PUT", f"{v1}/exams/{ex}/assignment"),
        ("GET", f"{v1}/enrollments/{en}/exams/{ex}/sessions"),
        ("GET", f"{v1}/exams/{ex}/sessions/{es}"),
        ("POST", f"{v1}/exams/{ex}/sessions/{es}"),
        ("PUT", f"{v1}/exams/{ex}/sessions/{es}"),
        ("DELETE", f"{v1}/exams/{ex}/sessions/{es}"),
        ("GET", f"{v1}/exams/{ex}/sessions/{es}/onboard"),
        ("GET", f"{v1}/reports/appointments"),
        ("GET", f"{v1}/courses/{cu}"),
        ("GET", f"{v1}/courses/{cu}/exams"),
        ("GET", f"{v1}/courses/{cu}/exams/{ex}"),
        ("GET", f"{v1}/courses/{cu}/enrollments"),
        ("GET", f"{v1}/users"),
        ("GET", f"{v1}/users/{us}/profile"),
        ("GET", f"{v1}/settings"),
    ]


def _body_for(method: str, path: str) -> Any:
    if path.endswith("/provision"):
        return {"course": course_body()}
    if path.endswith("/assignments"):
        return {"add": []}
    if path.endswith("/assignment"):
        return {"added": []}
    if method == "POST":
        return schedule_body()
    if method == "PUT":
        return {"appointmentDateTime": "2026-07-02T14:00:00Z"}
    if method == "DELETE":
        return {"cancellationMemo": "probe", "reason": "other-reason"}
    return None


def test_malformed_sid_in_any_path_position_is_400_invalidinput(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    good = {
        "AI": api.install,
        "CU": f.course,
        "EX": f.exam,
        "EN": f.enrollment,
        "ES": es,
        "US": f.user,
    }
    checked = 0
    for prefix in good:
        for bad in MALFORMED:
            args = {k.lower(): (bad(prefix) if k == prefix else v) for k, v in good.items()}
            for (method, path), (_, good_path) in zip(
                _paths(args["ai"], args["cu"], args["ex"], args["en"], args["es"], args["us"]),
                _paths(*good.values()),
                strict=True,
            ):
                if path == good_path:
                    continue  # this path does not hold the mangled parameter
                r = api.send(method, path, _body_for(method, path))
                assert_error(r, 400, "INVALIDINPUT")
                checked += 1
    assert checked > 100


def test_well_formed_unknown_sid_in_any_path_position_is_404(api: Api) -> None:
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    good = [api.install, f.course, f.exam, f.enrollment, es, f.user]
    for i, prefix in enumerate(["CU", "EX", "EN", "ES", "US"], start=1):
        args = list(good)
        args[i] = sid(prefix)
        for (method, path), (_, good_path) in zip(_paths(*args), _paths(*good), strict=True):
            if path == good_path:
                continue
            r = api.send(method, path, _body_for(method, path))
            assert_error(r, 404, "RESOURCENOTFOUND")


def test_session_of_another_exam_is_not_found(api: Api) -> None:
    f = api.setup()
    other = api.exam(f.course)["exam"]["sid"]
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.get(api.session_path(other, es)), 404, "RESOURCENOTFOUND")
    assert_error(api.onboard(other, es), 404, "RESOURCENOTFOUND")


def test_exam_of_another_course_is_not_found(api: Api) -> None:
    f = api.setup()
    other_course = api.course()
    r = api.get(f"{api.v1}/courses/{other_course}/exams/{f.exam}")
    assert_error(r, 404, "RESOURCENOTFOUND")


def test_data_of_one_install_is_invisible_from_another(srv: Served, api: Api) -> None:
    f = api.setup()
    other = srv.client()
    assert_error(other.get(f"{other.v1}/courses/{f.course}"), 404, "RESOURCENOTFOUND")
    other.close()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/provision"),
        ("DELETE", "/provision"),
        ("PATCH", "/session"),
        ("POST", "/settings"),
        ("DELETE", "/course"),
        ("POST", "/users"),
        ("PUT", "/onboard"),
        ("POST", "/report"),
        ("GET", "/assignments"),
        ("POST", "/sessions"),
    ],
)
def test_unsupported_verb_is_405(api: Api, method: str, suffix: str) -> None:
    cu, ex, es, en = sid("CU"), sid("EX"), sid("ES"), sid("EN")
    path = {
        "/provision": f"/v2/installs/{api.install}/provision",
        "/session": f"{api.v1}/exams/{ex}/sessions/{es}",
        "/settings": f"{api.v1}/settings",
        "/course": f"{api.v1}/courses/{cu}",
        "/users": f"{api.v1}/users",
        "/onboard": f"{api.v1}/exams/{ex}/sessions/{es}/onboard",
        "/report": f"{api.v1}/reports/appointments",
        "/assignments": f"{api.v1}/courses/{cu}/exams/{ex}/assignments",
        "/sessions": f"{api.v1}/enrollments/{en}/exams/{ex}/sessions",
    }[suffix]
    assert_error(api.send(method, path, {}), 405, "UNSUPPORTEDHTTPVERB")


def test_unknown_path_is_400_invaliduri(api: Api) -> None:
    # §3 lists INVALIDURI among the 400 codes. Not 404 RESOURCENOTFOUND: that would tell a
    # client with a wrong path that an entity is gone (docs/sandbox.md).
    paths = ["/v1/nothing", f"{api.v1}/widgets", "/", f"/v3/installs/{api.install}/x"]
    paths += [f"{api.v1}/settings/", f"{api.v1}/courses/{sid('CU')}/exams/{sid('EX')}/x"]
    for path in paths:
        assert_error(api.get(path), 400, "INVALIDURI")
    assert_error(api.send("POST", "/v2/installs/provision", {}), 400, "INVALIDURI")


def test_error_shapes(flow: Flow, srv: Served) -> None:
    ai = flow.ai
    bare = httpx.Client(base_url=srv.url, timeout=10)
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
    assert _detail_paths(r.json()) == ["installSid"]
    r = flow.c.post(
        f"/v2/installs/{ai}/provision",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and _detail_paths(r.json()) == ["body"]
    r = flow.c.post(f"/v2/installs/{ai}/provision", json=[1, 2])
    assert r.status_code == 400 and _detail_paths(r.json()) == ["body"]
    for r in (flow.c.get(f"/v1/installs/{ai}/settings"),):
        assert r.headers["content-type"].startswith("application/json")


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
    assert set(_detail_paths(err)) >= {
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
    assert path in _detail_paths(err)


def test_required_fields_when_creating(flow: Flow) -> None:
    err = flow.provision(
        {
            "course": {"ids": {"external": "new"}},
            "exam": {"ids": {"external": "new"}},
            "user": {"ids": {"api": "new"}},
        },
        status=400,
    )
    assert set(_detail_paths(err)) == {
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
    assert "exam.configuration.password" in _detail_paths(flow.provision(missing, status=400))
    err = flow.provision({"exam": pl.exam()}, status=400)
    assert _detail_paths(err) == ["course"]


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
    assert _detail_paths(flow.provision(body, status=400)) == ["exam.ids.lms"]


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
    assert _detail_paths(err) == ["added[0]"]


def test_assignment_errors(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex = r["course"]["sid"], r["exam"]["sid"]
    other = flow.provision({"course": pl.course("other-course"), "user": pl.user("x")})
    stranger = flow.call("GET", f"{flow.v1}/courses/{other['course']['sid']}/enrollments")
    stranger_en = stranger["results"][0]["sid"]
    err = flow.assign(cu, ex, add=[stranger_en], status=400)
    assert _detail_paths(err) == ["add[0].enrollmentSid"]
    err = flow.assign(cu, ex, add=["EN" + "e" * 32], status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    err = flow.assign(cu, ex, add=["EN-bad"], status=400)
    assert _detail_paths(err) == ["add[0].enrollmentSid"]
    # The exam is not in that course.
    flow.assign(other["course"]["sid"], ex, add=[stranger_en], status=404)
    path = f"{flow.v1}/courses/{cu}/exams/{ex}/assignments"
    assert _detail_paths(flow.call("PUT", path, 400, json={"add": "x"})) == ["add"]
    assert _detail_paths(flow.call("PUT", path, 400, json={"plus": []})) == ["plus"]


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
    assert _detail_paths(err) and set(_detail_paths(err)) == {"appointmentDateTime"}
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
    assert set(_detail_paths(err)) == {"type", "amount", "appointmentDateTime"}
    err = flow.schedule(
        ex, es, status=400, proctorTypeSubCategorySid=pl.TS_LIVE.replace("4b", "5b")
    )
    assert _detail_paths(err) == ["proctorTypeSubCategorySid"]
    err = flow.schedule(ex, es, status=400, currency="usd")
    assert _detail_paths(err) == ["currency"]
    err = flow.schedule(ex, es, status=400, proctorLocationSid="XX" + "1" * 32)
    assert _detail_paths(err) == ["proctorLocationSid"]
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
    assert _detail_paths(err) == ["type"]
    err = flow.session(ex, es, "PUT", 400, json={"appointmentDateTime": "2028-01-01T00:00:00Z"})
    assert set(_detail_paths(err)) == {"appointmentDateTime"}
    assert _detail_paths(flow.session(ex, es, "PUT", 400, json={})) == ["appointmentDateTime"]


def test_cancel_then_fresh_needs_proctor_session(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    flow.schedule(ex, es)
    err = flow.session(ex, es, "DELETE", 400, json={"reason": "no-show"})
    assert _detail_paths(err) == ["cancellationMemo"]
    err = flow.session(ex, es, "DELETE", 400, json={"cancellationMemo": "x", "reason": "bored"})
    assert _detail_paths(err) == ["reason"]
    assert _detail_paths(flow.session(ex, es, "DELETE", 400)) == ["body"]
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
    assert _detail_paths(flow.sessions(en, ex, 400, status="Lost")) == ["status[0]"]
    assert _detail_paths(flow.sessions(en, ex, 400, sortOrder="UP")) == ["sortOrder"]
    assert _detail_paths(flow.sessions(en, ex, 400, includeActive="maybe")) == ["includeActive"]


def test_session_path_errors(flow: Flow) -> None:
    _, ex, en, es = flow.setup()
    other_exam = "EX" + "1" * 32
    err = flow.session(other_exam, es, status=404)
    assert err["code"] == "RESOURCENOTFOUND"
    flow.session(ex, "ES" + "2" * 32, status=404)
    err = flow.session(ex, "ES123", status=400)
    assert _detail_paths(err) == ["sessionSid"]
    flow.sessions("EN" + "3" * 32, ex, 404)
    flow.sessions(en, "EXnope", 400)


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
    assert _detail_paths(err) == ["appointmentAfter"]
    err = flow.call("GET", report, 400, params={"courseSid": "CU1"})
    assert _detail_paths(err) == ["courseSid"]


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
        assert _detail_paths(err) == list(bad)
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


# ---------------------------------------------------------------------------------------
# serve options: rate limit, faults, latency, persistence, signals
# ---------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after() -> None:
    for served in serving("--rate-limit", "5"):
        c = served.client()
        answers = [c.get(f"{c.v1}/settings") for _ in range(40)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        assert {r.status_code for r in answers} <= {200, 429}
        for r in limited:
            assert int(r.headers["Retry-After"]) >= 0
            assert_error(r, 429)
        c.close()


def test_fault_rate_injects_5xx_and_drops() -> None:
    for served in serving("--fault-rate", "0.5", "--seed", "3"):
        c = served.client()
        statuses: list[int | str] = []
        for _ in range(60):
            try:
                r = c.get(f"{c.v1}/settings")
            except httpx.TransportError:
                statuses.append("dropped")
                continue
            statuses.append(r.status_code)
            if r.status_code >= 500:
                assert r.status_code in (500, 502, 503, 504), r.status_code
                if r.headers.get("content-type", "").startswith("application/json"):
                    assert_error(r, r.status_code)
        assert 200 in statuses
        assert any(s != 200 for s in statuses), statuses
        assert set(statuses) <= {200, 500, 502, 503, 504, "dropped"}
        c.close()


def test_fault_kinds_502_and_504_are_gateway_pages() -> None:
    # The contract's 502/504 come from what stands in front of the service: not its JSON.
    for served in serving("--fault-rate", "1", "--fault-kinds", "502,504", "--seed", "2"):
        c = served.client()
        statuses = []
        for _ in range(8):
            r = c.get(f"{c.v1}/settings")
            statuses.append(r.status_code)
            assert r.headers["content-type"].startswith("text/html"), r.headers
            assert str(r.status_code) in r.text
        assert set(statuses) == {502, 504}


def test_fault_kind_timeout_leaves_the_client_waiting() -> None:
    # Seed 15 at rate 0.5 faults the second request of three (seeded decisions are in
    # arrival order).
    served = Served("--fault-rate", "0.5", "--fault-kinds", "timeout", "--seed", "15")
    try:
        c = served.client(timeout=httpx.Timeout(10, read=1.0))
        outcomes: list[int | str] = []
        for _ in range(3):
            try:
                outcomes.append(c.get(f"{c.v1}/settings").status_code)
            except httpx.ReadTimeout:
                outcomes.append("timeout")
        assert outcomes == [200, "timeout", 200]
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.stderr)


def test_unknown_fault_kind_is_a_usage_error() -> None:
    r = subprocess.run(
        [*SERVE, "--fault-kinds", "500,teapot"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "--fault-kinds: unknown fault kind teapot" in r.stderr
    assert "Traceback" not in r.stderr


def test_latency_delays_answers() -> None:
    for served in serving("--latency-ms", "400"):
        c = served.client(timeout=httpx.Timeout(10, read=0.05))
        with pytest.raises(httpx.ReadTimeout):
            c.get(f"{c.v1}/settings")
        c.close()


def test_data_file_survives_a_restart_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "world.json"
    first = Served("--data", str(data))
    try:
        c = first.client()
        f = c.setup()
        es = c.only_active(f.enrollment, f.exam)
        c.schedule(f.exam, es, schedule_body("2026-07-01T14:00:00Z"))
        c.close()
    finally:
        code = first.stop()
    assert code == 0  # SIGTERM: a clean stop
    assert "".join(first.stderr).strip().splitlines()[-1] == "spsync sandbox stopped"
    assert "Traceback" not in "".join(first.stderr)
    assert data.exists()
    second = Served("--data", str(data))
    try:
        c2 = second.client(c.install)
        assert c2.get(f"{c2.v1}/courses/{f.course}").status_code == 200
        s = c2.session(f.exam, es)
        assert (s["status"], s["appointmentDate"]) == ("Scheduled", "2026-07-01T14:00:00Z")
        out = c2.provision_ok({"course": {"ids": {"sid": f.course}}})
        assert out["course"]["result"] == "Found Existing"
        c2.close()
    finally:
        assert second.stop() == 0


def test_an_unwritable_data_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    r = subprocess.run(
        [*SERVE, "--port", "0", "--data", str(blocker / "world.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert f"--data: cannot write {blocker / 'world.json'}" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_failed_save_is_an_error_shaped_500(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    served = Served("--data", str(folder / "world.json"))
    try:
        c = served.client()
        assert c.provision({"course": course_body()}).status_code == 200
        # The disk goes away under the server (a file where its directory was).
        shutil.rmtree(folder)
        folder.write_text("x")
        r = c.provision({"course": course_body()})
        err = assert_error(r, 500, "INTERNALERROR")
        assert "could not be saved" in err["message"]
        assert c.get(f"{c.v1}/settings").status_code == 200  # reads still work
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.stderr)
    assert "could not be saved" in "".join(served.stderr)


def test_secrets_do_not_leak_into_server_output(srv: Served) -> None:
    c = srv.client()
    c.setup()
    out = "".join(srv.stdout + srv.stderr)
    assert "pw-secret-1" not in out
    c.close()


# ---------------------------------------------------------------------------------------
# found by the fuzz: each was a 500 before it was fixed
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["schedule", "reschedule"])
def test_appointment_at_the_end_of_time_is_400_not_500(api: Api, verb: str) -> None:
    f = api.setup(access={"open": "2026-01-01T00:00:00Z", "close": "9999-12-31T23:59:59Z"})
    es = api.only_active(f.enrollment, f.exam)
    late = {"appointmentDateTime": "9999-12-31T23:59:59Z"}
    if verb == "reschedule":
        assert api.schedule(f.exam, es, schedule_body()).status_code == 200
        r = api.reschedule(f.exam, es, late)
    else:
        r = api.schedule(f.exam, es, schedule_body(late["appointmentDateTime"]))
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "appointmentDateTime"
    assert "access window" in err["message"]


@pytest.mark.parametrize("field", ["duration", "attempts"])
@pytest.mark.parametrize("value", [2**31, 10**30, 10**400], ids=["2^31", "1e30", "1e400"])
def test_integers_beyond_int32_are_400(api: Api, field: str, value: int) -> None:
    exam = exam_body()
    exam["configuration"][field] = value
    r = api.provision({"course": course_body(), "exam": exam})
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == f"exam.configuration.{field}"


def test_largest_int32_duration_is_kept_and_never_fits(api: Api) -> None:
    f = api.setup(duration=2**31 - 1)
    es = api.only_active(f.enrollment, f.exam)
    assert api.session(f.exam, es)["duration"] == 2**31 - 1
    assert_error(api.schedule(f.exam, es, schedule_body()), 400, "INVALIDINPUT")


def _raw(api: Api, method: str, path: str, text: str) -> httpx.Response:
    return api.http.request(
        method, path, content=text.encode(), headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_tokens_are_400(api: Api, token: str) -> None:
    # Python's JSON reader takes these; RFC 8259 does not, and stored they broke every read.
    course = api.course()
    exam = exam_body(proctorTypes={TS_LIVE: {"options": {"recordScreen": {"level": 0}}}})
    text = json.dumps({"course": {"ids": {"sid": course}}, "exam": exam})
    text = text.replace('"level": 0', f'"level": {token}')
    err = assert_error(_raw(api, "POST", f"/v2/installs/{api.install}/provision", text), 400)
    assert err["code"] == "INVALIDINPUT" and err["details"][0]["path"] == "body"
    assert api.collect(f"{api.v1}/courses/{course}/exams") == []
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    body = json.dumps(schedule_body()).replace('"amount": 0', f'"amount": {token}')
    assert_error(_raw(api, "POST", api.session_path(f.exam, es), body), 400, "INVALIDINPUT")


@pytest.mark.parametrize(
    "text",
    [
        '{"course": {"ids": {"external": "x"}, "title": "T\\ud800", "code": "C"}}',
        '{"course": {"ids": {"external": "\\udfff"}, "title": "T", "code": "C"}}',
        '{"course": {"ids": {"external": "x"}, "title": "T", "code": "C", "\\ud800": 1}}',
    ],
)
def test_lone_surrogates_are_400(api: Api, text: str) -> None:
    # Escaped lone surrogates parse, but no UTF-8 answer can carry them back.
    r = _raw(api, "POST", f"/v2/installs/{api.install}/provision", text)
    err = assert_error(r, 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "body"


def test_a_valid_surrogate_pair_is_fine(api: Api) -> None:
    text = '{"course": {"ids": {"external": "x"}, "title": "Music \\ud834\\udd1e", "code": "C"}}'
    r = _raw(api, "POST", f"/v2/installs/{api.install}/provision", text)
    assert r.status_code == 200, r.text
    course = api.get(f"{api.v1}/courses/{r.json()['course']['sid']}").json()
    assert course["title"] == "Music \U0001d11e"


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_bodies_are_400(api: Api, depth: int) -> None:
    course = api.course()
    inner = "{}"
    text = '{"a": ' * depth + inner + "}" * depth
    body = json.dumps(
        {
            "course": {"ids": {"sid": course}},
            "exam": exam_body(proctorTypes={TS_LIVE: {"options": {"recordScreen": "HOLE"}}}),
        }
    ).replace('"HOLE"', text)
    for path, content in [
        (f"/v2/installs/{api.install}/provision", body),
        (f"/v2/installs/{api.install}/provision", "[" * depth + "]" * depth),
    ]:
        err = assert_error(_raw(api, "POST", path, content), 400, "INVALIDINPUT")
        assert err["details"][0]["path"] == "body"
    assert api.collect(f"{api.v1}/courses/{course}/exams") == []


def test_nesting_a_client_would_send_is_fine(api: Api) -> None:
    course = api.course()
    opts = {"recordScreen": {"a": {"b": {"c": {"d": {}}}}}}
    out = api.exam(course, proctorTypes={TS_LIVE: {"options": opts}})
    got = api.get(f"{api.v1}/courses/{course}/exams/{out['exam']['sid']}").json()
    assert got["configuration"]["proctorTypes"][TS_LIVE]["options"] == opts


class _UnrenderableWorld(World):
    """A world whose answers cannot be rendered as JSON, or whose reads fail: stands in for
    any bug the checks above have not found yet."""

    def get_settings(self, install_sid: str) -> dict[str, Any]:
        return {"installSid": install_sid, "ratio": float("nan")}

    def to_json(self) -> dict[str, Any]:
        raise RuntimeError("broken on purpose")


def test_a_simulator_bug_is_still_an_error_shaped_500() -> None:
    app = create_app(_UnrenderableWorld(), tokens={TOKEN})

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers={"token": TOKEN}
        ) as client:
            return [
                await client.get(f"/v1/installs/{sid('AI')}/settings"),
                await client.get("/_sandbox/world"),
            ]

    for r in asyncio.run(go()):
        assert_error(r, 500, "INTERNALERROR")


@pytest.mark.parametrize("value", ["1_0", "+5", " 5", "１２", "5.0", "0x10", "9" * 5000])
def test_paging_numbers_are_plain_decimal_digits(api: Api, value: str) -> None:
    # int() also reads "1_0", "+5", " 5" and full-width digits; a URL parameter should not.
    err = assert_error(api.report(limit=value), 400, "INVALIDINPUT")
    assert err["details"][0]["path"] == "limit"
    assert len(err["message"]) < 200
    assert_error(api.report(offset=value), 400, "INVALIDINPUT")


def test_paging_numbers_accept_leading_zeros_and_big_offsets(api: Api) -> None:
    assert api.report(limit="007").json()["results"] == []
    page = api.report(offset="123456789012345678901234567890").json()
    assert (page["count"], page["next"]) == (0, None)


def test_a_trailing_newline_never_passes_a_format_check(api: Api) -> None:
    # A regular expression ending in `$` also matches before a final newline.
    f = api.setup()
    es = api.only_active(f.enrollment, f.exam)
    assert_error(api.get(f"{api.v1}/courses/{f.course}%0A"), 400, "INVALIDINPUT")
    assert_error(api.get(f"/v1/installs/{api.install}%0A/settings"), 400, "INVALIDINPUT")
    assert_error(api.report(courseSid=f.course + "\n"), 400, "INVALIDINPUT")
    assert_error(api.report(appointmentAfter="2026-07-01T00:00:00Z\n"), 400, "INVALIDINPUT")
    assert_error(api.report(limit="5\n"), 400, "INVALIDINPUT")
    for user in (
        user_body(currencyCode="USD\n"),
        user_body(email="nl@example.com\n"),
        {"ids": {"sid": f.user + "\n"}},
    ):
        r = api.provision({"course": {"ids": {"sid": f.course}}, "user": user})
        assert_error(r, 400, "INVALIDINPUT")
    exam = exam_body(url="https://exam.example/x\n")
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    exam = exam_body(proctorTypes={TS_LIVE + "\n": {}})
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    exam = exam_body(access={"open": "2026-01-01T00:00:00Z\n", "close": "2026-12-31T00:00:00Z"})
    assert_error(api.provision({"course": course_body(), "exam": exam}), 400, "INVALIDINPUT")
    for over in (
        {"appointmentDateTime": "2026-07-01T14:00:00Z\n"},
        {"proctorLocationSid": "PL" + HEX32 + "\n"},
        {"currency": "USD\n"},
        {"proctorTypeSubCategorySid": TS_LIVE + "\n"},
    ):
        assert_error(api.schedule(f.exam, es, schedule_body(**over)), 400, "INVALIDINPUT")
    r = api.assignments(f.course, f.exam, {"add": [{"enrollmentSid": f.enrollment + "\n"}]})
    assert_error(r, 400, "INVALIDINPUT")


def test_fault_kinds_under_the_asgi_transport_and_the_config_control() -> None:
    app = create_app(World(), tokens={TOKEN}, fault_rate=1.0, fault_kinds=("timeout",), seed=1)
    settings = f"/v1/installs/{sid('AI')}/settings"

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers={"token": TOKEN}
        ) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(settings)
            r = await client.get("/_sandbox/config")
            assert (r.json()["faultKinds"], r.json()["faultRate"]) == (["timeout"], 1.0)
            r = await client.put("/_sandbox/config", json={"faultKinds": ["502", "nope"]})
            err = assert_error(r, 400, "INVALIDINPUT")
            assert err["details"][0]["path"] == "faultKinds"
            r = await client.put("/_sandbox/config", json={"faultKinds": ["504"]})
            assert r.json()["faultKinds"] == ["504"]
            r = await client.get(settings)
            assert (r.status_code, r.headers["content-type"][:9]) == (504, "text/html")
            await client.put("/_sandbox/config", json={"faultRate": 0})
            assert (await client.get(settings)).status_code == 200

    asyncio.run(go())
