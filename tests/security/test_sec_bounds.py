"""Everything read from the API is bounded (issue 14, point 4), and what comes back is
checked for being what was asked for (point 5, lookups by external id).

The client talks to the hostile server over real HTTP on loopback; each breach must end in
one ``ApiError`` line naming the call, after a bounded number of requests.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.hostile import INSTALL, TOKEN, Hostile, Reply, Request, json_reply

from spsync.api.client import (
    MAX_BODY_BYTES,
    MAX_LIST_PAGES,
    MAX_PAGES_WITHOUT_TOTAL,
    PAGE_LIMIT,
    PAGE_SLACK,
    Client,
)
from spsync.api.retry import RetryPolicy
from spsync.errors import ApiError, ResponseError, TransportError
from spsync.secrets import Secret

USERS = "/v1/installs/{installSid}/users"


def _user(n: int, external: str | None = None) -> dict[str, Any]:
    return {
        "sid": f"US{n:032x}",
        "firstName": "A",
        "lastName": "B",
        "externalId": external or f"user-{n}",
    }


def _list_users(srv: Hostile, **options: Any) -> Any:
    async def main() -> Any:
        retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
        async with Client(srv.url, INSTALL, Secret(TOKEN), retry=retry, **options) as api:
            return await api.list_users()

    return asyncio.run(main())


def _offset(request: Request) -> int:
    query = request.target.split("?", 1)[1] if "?" in request.target else ""
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    return int(params.get("offset", "0"))


@pytest.mark.parametrize(
    ("total", "problem"),
    [
        (
            2_000_000,
            "the list announces 2000000 items, more than the 1000000 spsync reads from one list",
        ),
        (
            500_000,
            f"the list announces 500000 items in pages of 1: more than {MAX_LIST_PAGES} pages",
        ),
    ],
)
def test_a_huge_total_in_tiny_pages_is_refused_before_paging(total: int, problem: str) -> None:
    def answer(request: Request) -> Reply:
        off = _offset(request)
        return json_reply(
            {"results": [_user(off)], "total": total, "next": f"/x?offset={off + 1}&limit=1"}
        )

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert str(e.value) == f"GET {USERS}: {problem} (refused; see docs/api-client.md#bounds)"
    assert len(srv.requests) == 1


def test_a_total_past_the_cap_is_refused() -> None:
    def answer(request: Request) -> Reply:
        return json_reply({"results": [], "total": 10**12, "next": None})

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert "the list announces 1000000000000 items, more than the 1000000" in str(e.value)


def test_a_gzip_bomb_is_stopped_at_the_limit_as_it_expands() -> None:
    bomb = gzip.compress(b'{"results": [' + b" " * (MAX_BODY_BYTES + 1_000_000), 9)
    assert len(bomb) < MAX_BODY_BYTES // 100

    def answer(request: Request) -> Reply:
        return Reply(200, bomb, {"content-type": "application/json", "content-encoding": "gzip"})

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert str(e.value) == (
        f"GET /v1/installs/{INSTALL}/users: 200: response body larger than {MAX_BODY_BYTES} "
        "bytes (the limit): not read"
    )
    assert len(srv.requests) == 1  # not worth a retry


def test_a_body_its_encoding_does_not_describe_is_a_response_error() -> None:
    def answer(request: Request) -> Reply:
        return Reply(200, b"not gzip at all", {"content-encoding": "gzip"})

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert str(e.value) == (
        f"GET /v1/installs/{INSTALL}/users: response body could not be decoded (not the gzip "
        "its Content-Encoding says)"
    )


def test_a_page_with_more_items_than_asked_is_refused() -> None:
    page = {"results": [{"sid": f"US{i:032x}"} for i in range(1_000_000)], "total": 1_000_000}
    body = json.dumps(page).encode()
    assert len(body) > MAX_BODY_BYTES  # the body limit stops it first at this size

    small = json.dumps({"results": [_user(i) for i in range(PAGE_LIMIT + 1)], "total": 101})

    def answer(request: Request) -> Reply:
        return Reply(200, small.encode())

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert str(e.value) == (
        f"GET {USERS}: a page of {PAGE_LIMIT + 1} items, more than the {PAGE_LIMIT} asked for "
        "(refused; see docs/api-client.md#bounds)"
    )

    with Hostile(lambda r: Reply(200, body)) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    assert "response body larger than" in str(e.value)


@pytest.mark.parametrize("total", [1, None])
def test_endless_next_links_end_in_a_bounded_error(total: int | None) -> None:
    def answer(request: Request) -> Reply:
        n = len(srv.requests)
        return json_reply({"results": [_user(n)], "total": total, "next": f"/x?cursor=c{n}"})

    with Hostile(answer) as srv, pytest.raises(ResponseError) as e:
        _list_users(srv)
    most = 1 + PAGE_SLACK if total else MAX_PAGES_WITHOUT_TOTAL
    assert str(e.value) == (
        f"GET {USERS}: paging did not end after {most} pages (refused; see "
        "docs/api-client.md#bounds)"
    )
    assert len(srv.requests) == most


def test_a_slow_loris_body_meets_the_call_deadline() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b" "
            await asyncio.sleep(0.05)

    def answer(request: Request) -> Reply:
        return Reply(200, trickle())

    with Hostile(answer) as srv, pytest.raises(TransportError) as e:
        _list_users(srv, call_timeout=0.5)
    assert str(e.value) == (
        f"GET /v1/installs/{INSTALL}/users: no complete answer within the call deadline of "
        "0.5s (SPSYNC_CALL_TIMEOUT) (gave up after 2 attempts)"
    )
    assert len(srv.requests) == 2


def test_pages_are_fetched_by_a_fixed_pool_not_one_coroutine_each() -> None:
    total, step = 3_000, 10
    loops: list[asyncio.AbstractEventLoop] = []
    seen_tasks: list[int] = []

    def answer(request: Request) -> Reply:
        if loops:
            seen_tasks.append(len(asyncio.all_tasks(loops[0])))
        off = _offset(request)
        items = [_user(i) for i in range(off, min(off + step, total))]
        nxt = f"/x?offset={off + step}&limit={step}" if off + step < total else None
        return json_reply({"results": items, "total": total, "next": nxt})

    async def main(url: str) -> int:
        loops.append(asyncio.get_running_loop())
        async with Client(url, INSTALL, Secret(TOKEN), max_in_flight=4) as api:
            return len(await api.list_users())

    with Hostile(answer) as srv:
        assert asyncio.run(main(srv.url)) == total
    assert len(srv.requests) == total // step
    # a handful: the main task, 4 workers and what the connections use; never one task
    # per page (there are 300)
    assert max(seen_tasks) <= 12


def test_a_lookup_by_external_id_ignores_users_without_that_id() -> None:
    def answer(request: Request) -> Reply:
        # a proxy dropped the query string: every lookup gets the whole list's first page
        return json_reply({"results": [_user(1, "someone-else")], "total": 1, "next": None})

    async def main(url: str) -> tuple[Any, Any]:
        async with Client(url, INSTALL, Secret(TOKEN)) as api:
            return await api.find_users(external_id="user-1"), await api.users_by_external_id(
                ["user-1"]
            )

    with Hostile(answer) as srv:
        found, by_id = asyncio.run(main(srv.url))
    assert (found, by_id) == ([], {})


def test_an_onboarding_url_must_be_https_on_the_service_domain() -> None:
    from spsync.api.client import onboarding_url_ok

    host = "api.smarterproctoring.com"
    assert onboarding_url_ok("https://onboarding.smarterproctoring.com/launch/x?t=1", host)
    assert onboarding_url_ok("https://onboarding.smarterproctoring.com/x", "127.0.0.1")
    for bad in (
        "http://onboarding.smarterproctoring.com/x",
        "javascript:alert(1)",
        "https://smarterproctoring.com.attacker.example/x",
        "https://onboarding.smarterproctoring.com/x\x1b]8;;https://evil\x07",
        "https://onboarding.smarterproctoring.com/\u202ex",
        "https://user@onboarding.smarterproctoring.com/x",
    ):
        assert not onboarding_url_ok(bad, host), bad

    sid = "ES" + "1" * 32
    exam = "EX" + "2" * 32

    def answer(request: Request) -> Reply:
        return json_reply({"url": "https://onboarding.smarterproctoring.com/\x1b[2Jx"})

    async def main(url: str) -> str:
        async with Client(url, INSTALL, Secret(TOKEN)) as api:
            return await api.onboard_url(exam, sid)

    with Hostile(answer) as srv, pytest.raises(ApiError) as e:
        asyncio.run(main(srv.url))
    assert str(e.value) == (
        "GET /v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}/onboard: the "
        "onboarding URL is not an https:// URL on the service's domain "
        "(smarterproctoring.com) or holds control characters: refused, not shown"
    )
