"""Connections: spsync's transport opens one per request in flight and reuses them; with
httpx's stack (a proxy, or SPSYNC_HTTP_STACK=httpx) requests in flight are spread over HTTP
clients of at most POOL_SIZE (2) connections each."""

from __future__ import annotations

import asyncio

import pytest
from support.sandbox_flow import SANDBOX_TOKEN

from spsync.api.client import POOL_SIZE, Client, run
from spsync.api.h1 import H1Transport
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret

INSTALL = "AI" + "ab" * 16


async def _settings_at_once(url: str, in_flight: int, calls: int) -> tuple[int, int, list[int]]:
    """(HTTP clients made, most requests in flight on one, connections each client opened)."""
    # the window starts at the ceiling: this is about pools, not about finding the pace
    token = Secret(SANDBOX_TOKEN)
    async with Client(
        url, INSTALL, token, max_in_flight=in_flight, start_in_flight=in_flight, http_stack="httpx"
    ) as api:
        pools = api._pools
        most = 0
        take = pools.take

        def counting_take() -> object:
            nonlocal most
            http = take()
            most = max(most, max(pools._busy))
            return http

        pools.take = counting_take  # type: ignore[method-assign]
        await asyncio.gather(*(api.settings() for _ in range(calls)))
        opened = [len(h._transport._pool.connections) for h in pools._clients]  # type: ignore[attr-defined]
        assert sum(api.calls.values()) == calls
        return len(pools._clients), most, opened


@pytest.mark.parametrize(("in_flight", "clients"), [(1, 1), (2, 1), (3, 2), (8, 4), (20, 10)])
def test_clients_are_added_two_requests_in_flight_at_a_time(in_flight: int, clients: int) -> None:
    assert POOL_SIZE == 2
    with ThreadedServer(token=SANDBOX_TOKEN, latency_ms=30) as srv:
        made, most, opened = run(_settings_at_once(srv.url, in_flight, 3 * in_flight))
    assert made == clients
    assert most == min(in_flight, POOL_SIZE)
    assert all(1 <= n <= POOL_SIZE for n in opened)
    assert sum(opened) <= in_flight


async def _connections_at_once(url: str, in_flight: int, calls: int) -> tuple[int, int]:
    """(connections spsync's transport opened, connections open at the end)."""
    token = Secret(SANDBOX_TOKEN)
    used: set[int] = set()
    async with Client(
        url, INSTALL, token, max_in_flight=in_flight, start_in_flight=in_flight
    ) as api:
        direct = api._pools.direct
        assert isinstance(direct, H1Transport)
        connect = direct._connection

        async def counting(timeout: float | None) -> object:
            conn = await connect(timeout)
            used.add(id(conn))
            return conn

        direct._connection = counting  # type: ignore[method-assign,assignment]
        await asyncio.gather(*(api.settings() for _ in range(calls)))
        assert sum(api.calls.values()) == calls
        return len(used), len(direct._all)


@pytest.mark.parametrize("in_flight", [1, 3, 8, 20])
def test_spsyncs_transport_opens_a_connection_per_request_in_flight_and_reuses_it(
    in_flight: int,
) -> None:
    with ThreadedServer(token=SANDBOX_TOKEN, latency_ms=30) as srv:
        opened, kept = run(_connections_at_once(srv.url, in_flight, 3 * in_flight))
    assert opened == kept == in_flight
