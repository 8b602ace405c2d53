"""The adaptive limiter against the simulator's rate limit, over real HTTP.

Measured through the limiter's own rate and the count of 429 answers, not the wall clock.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from support.api import http_client, new_world, served

from spsync.api import Client, calls

SERVER_RATE = 50.0
CALLS = 150
IN_FLIGHT = 8


def test_429_slows_the_client_to_the_servers_rate() -> None:
    world = new_world()
    with served(world, rate_limit=SERVER_RATE) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, max_in_flight=IN_FLIGHT) as api:
                settings = await asyncio.gather(*(api.settings() for _ in range(CALLS)))
                assert len(settings) == CALLS
                return api

        api = asyncio.run(go())
    statuses = [r.status for r in api.records]
    throttled = statuses.count(429)
    assert statuses.count(200) == CALLS
    assert set(statuses) == {200, 429}
    limiter = api.limiter
    # it started unlimited, met the limit, and took a rate near the server's from then on
    assert limiter.decreases >= 1
    assert not math.isinf(limiter.rate)
    assert SERVER_RATE / 5 < limiter.rate < SERVER_RATE * 3
    assert limiter.waited > 0
    # without slowing down, every call past the server's burst would have been refused at
    # least once (CALLS - SERVER_RATE = 100); adapting keeps it to about one round in flight
    assert throttled <= 2 * IN_FLIGHT


def test_an_initial_rate_is_kept_when_the_server_does_not_object() -> None:
    world = new_world()
    with served(world, rate_limit=1000) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, rate=40.0) as api:
                await asyncio.gather(*(api.settings() for _ in range(20)))
                return api

        api = asyncio.run(go())
    assert [r.status for r in api.records] == [200] * 20
    assert api.limiter.throttled == 0
    # 20 successes at ~40/s add 20 * (1/40): additive increase, no jump
    assert 40.0 < api.limiter.rate < 41.0


def test_a_client_keeps_only_its_latest_call_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long apply makes hundreds of thousands of calls: the client keeps the latest
    ``RECORDS_KEPT`` to twice as many of their records, in order, not every one."""
    monkeypatch.setattr(calls, "RECORDS_KEPT", 5)
    world = new_world()
    seen: list[object] = []
    with served(world) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, on_call=seen.append) as api:
                for _ in range(23):
                    await api.settings()
                return api

        api = asyncio.run(go())
    assert len(seen) == 23  # every call still reaches the hooks (the audit log)
    assert api.records == seen[-len(api.records) :]
    assert 5 <= len(api.records) <= 10
    assert not hasattr(api.records[0], "__dict__")  # slotted: no dict per record
