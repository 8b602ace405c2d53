"""A hostile or broken server (or a proxy in the middle) against the API client and the
commands that print what it answers: bounds on waits, bodies, links and URLs."""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.api import INSTALL, FakeTime, Rule, Tamper, asgi_client, new_world, sandbox_app
from support.hostile import INSTALL as HOSTILE_INSTALL
from support.hostile import TOKEN as HOSTILE_TOKEN
from support.hostile import Hostile, Reply, Request, json_reply
from support.reliability import PASSWORDS, Rewrite, Workspace, tampered
from support.reliability import TOKEN as REL_TOKEN

from spsync.api import wire
from spsync.api.client import R_SETTINGS, Client, onboarding_url_ok
from spsync.api.retry import RetryPolicy
from spsync.doctor_probe import get_answer
from spsync.errors import ApiError
from spsync.secrets import Secret


def test_doctor_takes_a_429_asking_for_days_as_the_answer_without_waiting() -> None:
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=429, headers={"Retry-After": "99999999"}),
    )
    fake = FakeTime()

    async def go() -> tuple[int | None, int, float]:
        async with asgi_client(app, fake) as api:
            answer = await get_answer(api, "settings", R_SETTINGS, {}, [], wire.Settings)
            await api.settings()  # nothing left paused
            return answer.status, answer.throttled, fake.now

    assert asyncio.run(go()) == (429, 0, 0.0)


def deep(depth: int) -> bytes:
    """An error body nested deeper than Python's JSON parser follows (``RecursionError``)."""
    return b'{"code": "X", "message": "m", "d": ' + b"[" * depth + b"]" * depth + b"}"


DEEP = deep(5000)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (400, DEEP, "400: Bad Request (non-JSON application/json body of 10036 bytes)"),
        (404, DEEP, "404: Not Found (non-JSON application/json body of 10036 bytes)"),
        # small enough to be studied as an error body on a success status
        (200, deep(4000), "200: unexpected response body: Invalid JSON: recursion limit "
                          "exceeded at line 1 column 236"),
    ],
)  # fmt: skip
def test_a_body_nested_too_deep_is_a_located_error_not_a_traceback(
    status: int, body: bytes, said: str
) -> None:
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=status, body=body,
             content_type="application/json"),
    )  # fmt: skip

    async def go() -> ApiError:
        async with asgi_client(app, FakeTime()) as api:
            with pytest.raises(ApiError) as info:
                await api.settings()
            return info.value

    assert str(asyncio.run(go())) == f"GET /v1/installs/{INSTALL}/settings: {said}"


def test_doctor_reads_a_body_nested_too_deep_as_not_json() -> None:
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=400, body=DEEP,
             content_type="application/json"),
    )  # fmt: skip

    async def go() -> tuple[int | None, bool, str | None]:
        async with asgi_client(app, FakeTime()) as api:
            answer = await get_answer(api, "settings", R_SETTINGS, {}, [], wire.Settings)
            return answer.status, answer.is_json, answer.error

    assert asyncio.run(go()) == (
        400,
        False,
        "400: Bad Request (non-JSON application/json body of 10036 bytes)",
    )


SETTINGS = b'{"defaultTimezone": "America/Chicago"}'


def _settings_answered(body: bytes, encoding: str, **kw: Any) -> wire.Settings | ApiError:
    world = new_world()
    app = Tamper(
        sandbox_app(world),
        Rule("GET", "/settings$", "before", status=200, body=body,
             content_type="application/json", headers={"Content-Encoding": encoding}),
    )  # fmt: skip

    async def go() -> wire.Settings | ApiError:
        async with asgi_client(app, FakeTime(), **kw) as api:
            try:
                return await api.settings()
            except ApiError as exc:
                return exc

    return asyncio.run(go())


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(SETTINGS), "gzip"),
        (gzip.compress(SETTINGS), "x-gzip"),
        (zlib.compress(SETTINGS), "deflate"),
        (_raw_deflate(SETTINGS), "deflate"),  # the wrapper left out, as some servers do
        (gzip.compress(SETTINGS), "identity, gzip"),
        (SETTINGS, "identity"),
        (SETTINGS, "utf-8"),  # a name that is no coding: the body is taken as it is
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity-gzip", "identity", "unknown"],
)
def test_the_codings_asked_for_are_decoded(body: bytes, encoding: str) -> None:
    got = _settings_answered(body, encoding)
    assert isinstance(got, wire.Settings)
    assert got.defaultTimezone == "America/Chicago"


def test_a_gzip_bomb_is_never_held_larger_than_the_limit() -> None:
    # 64 MiB of zeros in 64 KiB, arriving as one piece: decoded whole, it took 64 MiB
    bomb = gzip.compress(b"\0" * (64 << 20), 9)
    tracemalloc.start()
    try:
        got = _settings_answered(bomb, "gzip", max_body=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(got, ApiError)
    assert str(got) == (
        f"GET /v1/installs/{INSTALL}/settings: 200: response body larger than 1048576 bytes "
        "(the limit): not read"
    )
    assert peak < 8 << 20


def test_stacked_codings_are_refused_unread() -> None:
    # 500 bytes that were 200 MiB once both layers are undone
    bomb = gzip.compress(gzip.compress(b"\0" * (200 << 20), 9), 9)
    assert len(bomb) < 1000
    got = _settings_answered(bomb, "gzip, gzip")
    assert isinstance(got, ApiError)
    assert str(got) == (
        f"GET /v1/installs/{INSTALL}/settings: response body could not be decoded "
        "(gzip, gzip: more than one content coding)"
    )


# --- paging: what a next link may make the client do ------------------------------------

USERS = f"/v1/installs/{HOSTILE_INSTALL}/users"


def _users_page(n: int, nxt: str | None, total: int | None = None) -> Reply:
    user = {"sid": f"US{n:032x}", "firstName": "A", "lastName": "B", "externalId": f"u-{n}"}
    return json_reply({"results": [user], "total": total, "next": nxt})


def _list_users_of(
    links: list[str | None], total: int | None = None
) -> tuple[list[str] | str, list[Request]]:
    """The external ids listed (or the error's text) when page ``n`` (one user each, the
    list announcing ``total``) links to ``links[n]``, and every request the server got."""
    seen: list[Request] = []

    def answer(request: Request) -> Reply:
        seen.append(request)
        n = len(seen) - 1
        return _users_page(n, links[n] if n < len(links) else None, total)

    async def main(url: str) -> list[str]:
        retry = RetryPolicy(max_attempts=1)
        async with Client(url, HOSTILE_INSTALL, Secret(HOSTILE_TOKEN), retry=retry) as api:
            return [u.externalId or "" for u in await api.list_users()]

    with Hostile(answer) as srv:
        try:
            got: list[str] | str = asyncio.run(main(srv.url))
        except ApiError as exc:
            got = str(exc)
    return got, seen


@pytest.mark.parametrize("link", ["/x?offset=1\x00", "/x?offset=1&pad=" + "a" * 70_000])
def test_a_next_link_that_is_no_url_is_a_located_error(link: str) -> None:
    got, seen = _list_users_of([link])
    assert got == "GET /v1/installs/{installSid}/users: a next link that is not a URL (refused)"
    assert [r.target for r in seen] == [f"{USERS}?offset=0&limit=100"]


def test_a_next_link_to_another_host_gives_only_its_query_to_our_own() -> None:
    # another host, scheme and port, userinfo, the token in it: only its parameters are
    # used, and they go to the API's own host and route, with the token header as ever
    got, seen = _list_users_of(
        [
            f"http://{HOSTILE_TOKEN}@evil.example:8443/steal?offset=1&limit=100",
            "https://evil.example/v1/x?offset=2&limit=100",
        ]
    )
    assert got == ["u-0", "u-1", "u-2"]
    assert [r.target for r in seen] == [f"{USERS}?offset={n}&limit=100" for n in range(3)]
    assert {r.headers["host"].split(":")[0] for r in seen} == {"127.0.0.1"}


@pytest.mark.parametrize(
    "links",
    [
        ["/x?offset=1", "/x?offset=1"],  # the same link again
        ["/x?offset=1", "/x?offset=2", "/x?offset=1"],  # a cycle of two
        ["/x?offset=5&limit=100", "/x?limit=100&offset=5"],  # the same, reordered
    ],
)
def test_next_links_that_come_back_end_in_an_error(links: list[str | None]) -> None:
    got, seen = _list_users_of(links)
    assert got == (
        "GET /v1/installs/{installSid}/users: paging does not advance (a next link seen before)"
    )
    assert len(seen) == len(links)


def test_next_links_going_backwards_end_within_the_bound() -> None:
    # each link new (offsets going down, then negative), the total small: the list ends
    # PAGE_SLACK pages past what its total announced
    got, seen = _list_users_of([f"/x?offset={-n}&limit=100" for n in range(1, 100)], total=1)
    assert got == (
        "GET /v1/installs/{installSid}/users: paging did not end after 11 pages (refused; "
        "see docs/api-client.md#bounds)"
    )
    assert len(seen) == 11


# --- the onboarding URL `spsync onboard` prints ------------------------------------------

API_HOST = "api.smarterproctoring.com"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)//onboarding.smarterproctoring.com",
        "data:text/html,<script>alert(1)</script>smarterproctoring.com",
        "https://smarterproctoring.com@evil.example/x",
        "https://smarterproctoring.com:pw@evil.example/x",
        "https://evil.example/.smarterproctoring.com",
        "https://evil.example#.smarterproctoring.com",
        "https://evil.example?.smarterproctoring.com",
        "https://smarterproctoring.com.evil.example/x",
        # a browser reads a backslash as a slash: this opens evil.example
        "https://evil.example\\.smarterproctoring.com/x",
        # a browser decodes %-escapes in the host
        "https://evil.example%2f.smarterproctoring.com/x",
        "https://evil.example%2e.smarterproctoring.com/x",
        # look-alikes: a Greek omicron, and an IDN label the codec refuses to decode
        "https://smarterproct\u03bfring.com/x",
        "https://xn--smarterproctring-abc.com/x",
        "https://onboarding.smarterproct\u03bfring.com/x",
        "https://[::1]/x",
        "https://203.0.113.7/x",
    ],
)
def test_an_onboarding_url_off_the_service_domain_is_refused(url: str) -> None:
    assert onboarding_url_ok(url, API_HOST) is False


@pytest.mark.parametrize(
    "url",
    [
        "https://onboarding.smarterproctoring.com/launch/x?t=1",
        "https://SMARTERPROCTORING.COM/launch/x",
        "https://onboarding.smarterproctoring.com:443/launch/x",
    ],
)
def test_an_onboarding_url_on_the_service_domain_is_shown(url: str) -> None:
    assert onboarding_url_ok(url, API_HOST) is True


@pytest.mark.parametrize(
    "url",
    ["https://xn--smarterproctring-abc.com/x", "https://evil.example\\.smarterproctoring.com/"],
)
def test_the_client_refuses_such_an_onboarding_url_in_one_line(url: str) -> None:
    def answer(request: Request) -> Reply:
        return json_reply({"url": url})

    async def main(base: str) -> str:
        async with Client(base, HOSTILE_INSTALL, Secret(HOSTILE_TOKEN)) as api:
            return await api.onboard_url("EX" + "2" * 32, "ES" + "1" * 32)

    with Hostile(answer) as srv, pytest.raises(ApiError) as e:
        asyncio.run(main(srv.url))
    assert str(e.value) == (
        "GET /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}/onboard: the "
        "onboarding URL is not an https:// URL on the service's domain "
        "(smarterproctoring.com) or holds control characters: refused, not shown"
    )


@pytest.mark.parametrize(
    ("body", "total"),
    [
        (b'{"results": [], "total": 3, "next": null}', 3),
        # the items given, then taken back by a key given twice (read last-wins)
        (b'{"results": [{"sid": "US' + b"1" * 32 + b'"}], "results": [], "total": 1}', 1),
    ],
)
def test_an_empty_only_page_of_a_list_announcing_items_is_refused(body: bytes, total: int) -> None:
    async def main(url: str) -> list[wire.User]:
        retry = RetryPolicy(max_attempts=1)
        async with Client(url, HOSTILE_INSTALL, Secret(HOSTILE_TOKEN), retry=retry) as api:
            return await api.list_users()

    with Hostile(lambda r: Reply(200, body)) as srv, pytest.raises(ApiError) as e:
        asyncio.run(main(srv.url))
    assert str(e.value) == (
        f"GET /v1/installs/{{installSid}}/users: the list announces {total} items but its only "
        "page holds none"
    )


def test_a_next_link_cannot_change_what_the_list_asked_for() -> None:
    # page 1 holds a cancelled session and links to page 2 without the active one
    # (includeActive=false): read so, the list lost the session under way, and plan would
    # book another
    enrollment, exam = "EN" + "1" * 32, "EX" + "2" * 32

    def session(n: int, status: str) -> dict[str, Any]:
        return {"sid": f"ES{n:032x}", "examSid": exam, "enrollmentSid": enrollment,
                "status": status}  # fmt: skip

    seen: list[str] = []

    def answer(request: Request) -> Reply:
        seen.append(request.target)
        if "includeActive=false" in request.target:
            return json_reply({"results": [], "total": 2, "next": None})
        if len(seen) == 1:
            nxt = "/x?cursor=p2&includeActive=false"
            return json_reply({"results": [session(1, "Cancelled")], "total": 2, "next": nxt})
        return json_reply({"results": [session(2, "Scheduled")], "total": 2, "next": None})

    async def main(url: str) -> list[str]:
        retry = RetryPolicy(max_attempts=1)
        async with Client(url, HOSTILE_INSTALL, Secret(HOSTILE_TOKEN), retry=retry) as api:
            return [s.status for s in await api.list_enrollment_sessions(enrollment, exam)]

    with Hostile(answer) as srv:
        assert asyncio.run(main(srv.url)) == ["Cancelled", "Scheduled"]
    path = f"/v1/installs/{HOSTILE_INSTALL}/enrollments/{enrollment}/exams/{exam}/sessions"
    assert seen == [
        f"{path}?includeActive=true&offset=0&limit=100",
        f"{path}?cursor=p2&includeActive=true",
    ]


# --- export: what a server echoes is not committed ------------------------------------------


@pytest.mark.parametrize("echoed", ["token", "password"])
def test_export_refuses_manifests_holding_a_secret_the_server_echoed(
    tmp_path: Path, echoed: str
) -> None:
    # the course's title comes back holding the API token (or an exam's live password):
    # written, it would be committed with the manifests
    secret = REL_TOKEN if echoed == "token" else PASSWORDS[0]

    def edit(body: bytes) -> bytes:
        course = json.loads(body)
        course["title"] = f"Course {secret}"
        return json.dumps(course).encode()

    with tampered() as (srv, front):
        ws = Workspace(tmp_path, srv.url, learners=1)
        assert ws.run_here("apply", str(ws.tenant_dir()), "--auto-approve").code == 0
        state_before = ws.state_path().read_bytes()
        front.add(Rewrite("GET", r"/courses/CU[0-9a-f]{32}$", edit, times=99))
        r = ws.run_here("export", "exported", "--tenant", "rel", "--force")
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "error: exported/rel/courses.yaml:5: what the API answered holds the API token or an "
        "exam password; nothing written (the line is not shown)\n"
    )
    assert not (tmp_path / "exported").exists()
    assert ws.state_path().read_bytes() == state_before


def test_import_records_nothing_a_server_echoed_a_secret_into(tmp_path: Path) -> None:
    def edit(body: bytes) -> bytes:
        course = json.loads(body)
        course["title"] = f"Course {REL_TOKEN}"
        return json.dumps(course).encode()

    with tampered() as (srv, front):
        ws = Workspace(tmp_path, srv.url, learners=1)
        assert ws.run_here("apply", str(ws.tenant_dir()), "--auto-approve").code == 0
        sid = json.loads(ws.state_path().read_text())["resources"]["course.main"]["sid"]
        assert ws.run_here("state", "rm", str(ws.tenant_dir()), "course.main").code == 0
        state_before = ws.state_path().read_bytes()
        front.add(Rewrite("GET", r"/courses/CU[0-9a-f]{32}$", edit, times=99))
        r = ws.run_here("import", str(ws.tenant_dir()), "course.main", sid)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        f"error: course.main ({sid}): what the API answered holds the API token or a "
        "password; nothing recorded\n"
    )
    assert ws.state_path().read_bytes() == state_before


@pytest.mark.parametrize(
    ("api_host", "url", "shown"),
    [
        ("sp.example.edu", "https://onboard.example.edu/x", True),
        ("sp.univ.ac.uk", "https://onboard.univ.ac.uk/x", True),
        # the API host's own domain is never a country's shared second level
        ("sp.univ.ac.uk", "https://evil.ac.uk/x", False),
        ("api.proctor.com.au", "https://evil.com.au/x", False),
        ("sp.co.uk", "https://evil.co.uk/x", False),
    ],
)
def test_the_api_hosts_own_domain_is_not_a_shared_second_level(
    api_host: str, url: str, shown: bool
) -> None:
    assert onboarding_url_ok(url, api_host) is shown
