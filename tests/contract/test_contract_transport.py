"""§1 transport and auth, §2 identifiers and §3 errors: tokens, TLS, dates, SIDs in every path
position, installs kept apart, verbs, unknown paths, error bodies. Part of the simulator's
contract suite (see conftest.py).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.sandbox_flow import Flow
from support.sandbox_probe import (
    HEX32,
    TEST_TLS_CERT,
    TEST_TLS_KEY,
    TOKEN,
    Api,
    Served,
    assert_error,
    course_body,
    detail_paths,
    parse_date,
    schedule_body,
    serving,
    sid,
)

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
    assert detail_paths(r.json()) == ["installSid"]
    r = flow.c.post(
        f"/v2/installs/{ai}/provision",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and detail_paths(r.json()) == ["body"]
    r = flow.c.post(f"/v2/installs/{ai}/provision", json=[1, 2])
    assert r.status_code == 400 and detail_paths(r.json()) == ["body"]
    for r in (flow.c.get(f"/v1/installs/{ai}/settings"),):
        assert r.headers["content-type"].startswith("application/json")
