"""The AIMD window of calls in flight (``spsync.api.window``): table tests without I/O,
the gate's queueing, and one apply over the simulator's rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.apply import (
    EXAMS,
    INSTALL,
    TOKEN,
    all_new,
    load,
    sessions_yaml,
    users_yaml,
    write_tenant,
)
from support.apply import world as world_json
from support.apply_checker import world_mismatches

from spsync.api.client import Client
from spsync.api.window import CEILING, START, Gate, Window
from spsync.apply import execute_tenant
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret
from spsync.store import StateStore


def round_trip(w: Window, t: float, latency: float, *, busy: int | None = None) -> float:
    """One round trip: as many calls as the window allows, all sent at ``t`` and answered
    ``latency`` later with ``busy`` in flight (default: the window full). Returns the end."""
    limit = w.limit
    for _ in range(limit):
        w.on_answer(t, t + latency, limit if busy is None else busy)
    return t + latency


def trickle(w: Window, t: float, per_second: float, latency: float) -> float:
    """One round trip of a client that can send only ``per_second`` calls a second (its
    CPU is the bottleneck): the window is full, the throughput does not follow it."""
    limit = w.limit
    for i in range(limit):
        sent = t + i / per_second
        w.on_answer(sent, sent + latency, limit)
    return t + limit / per_second + latency


def test_defaults_start_at_eight_under_a_ceiling_of_sixty_four() -> None:
    w = Window()
    assert (START, CEILING) == (8, 64)
    assert (w.limit, w.peak, w.slow_start) == (8, 8, True)
    assert Window(ceiling=3).limit == 3  # the start never exceeds the ceiling
    assert Window(ceiling=1, start=8).limit == 1
    with pytest.raises(ValueError):
        Window(ceiling=0)


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [(0, 8), (1, 16), (2, 32), (3, 64), (4, 64), (6, 64)],
)
def test_slow_start_doubles_every_full_round_trip_up_to_the_ceiling(
    rounds: int, expected: int
) -> None:
    w = Window()
    t = 0.0
    for _ in range(rounds):
        t = round_trip(w, t, 0.1)
    assert w.limit == expected
    assert w.peak == expected
    assert w.cuts_throttled == w.cuts_latency == 0


@pytest.mark.parametrize(("busy", "grows"), [(8, True), (7, False), (3, False), (1, False)])
def test_the_window_grows_only_when_it_was_the_limit(busy: int, grows: bool) -> None:
    w = Window()
    round_trip(w, 0.0, 0.1, busy=busy)
    assert w.limit == (16 if grows else 8)


@pytest.mark.parametrize(
    ("size", "decrease", "after"),
    [(64, 0.7, 44), (32, 0.7, 22), (10, 0.5, 5), (2, 0.5, 1), (1, 0.5, 1)],
)
def test_a_429_cuts_the_window_multiplicatively_never_below_one(
    size: int, decrease: float, after: int
) -> None:
    w = Window(start=size, decrease=decrease)
    w.on_throttled(sent=1.0, now=1.1)
    assert (w.limit, w.cuts_throttled, w.slow_start) == (after, 1, False)
    assert w.peak == size


def test_one_burst_of_refusals_is_one_cut() -> None:
    w = Window(start=40)
    w.on_throttled(sent=1.0, now=1.1)  # cut at 1.1: 40 -> 28
    for sent in (1.0, 1.02, 1.05, 1.09):  # sent before the cut: the same burst
        w.on_throttled(sent=sent, now=1.15)
    assert (w.limit, w.cuts_throttled) == (28, 1)
    w.on_throttled(sent=1.2, now=1.3)  # sent after the cut: a new signal
    assert (w.limit, w.cuts_throttled) == (19, 2)


def test_after_a_cut_it_grows_by_one_per_round_trip_then_probes_slowly() -> None:
    w = Window(start=20)
    w.on_throttled(sent=0.0, now=0.1)  # 20 -> 14, congestion met at 20
    assert w.limit == 14
    t = 0.2
    sizes = []
    for _ in range(10):
        t = round_trip(w, t, 0.1)
        sizes.append(w.limit)
    # +1 per round trip up to the size at which congestion was met, then +1 per 4
    assert sizes == [15, 16, 17, 18, 19, 20, 20, 20, 20, 21]


def test_two_round_trips_of_rising_latency_cut_the_window() -> None:
    w = Window(start=16, latency_rise=2.0)
    t = round_trip(w, 0.0, 0.1)  # baseline 0.1 s; slow start: 16 -> 32
    assert w.limit == 32
    t = round_trip(w, t, 0.19)  # under twice the baseline: still growing
    assert w.limit == 64
    t = round_trip(w, t, 0.25)  # past twice the baseline once: a pause? held, not cut
    assert (w.limit, w.cuts_latency, w.slow_start) == (64, 0, True)
    t = round_trip(w, t, 0.1)  # back to normal: the slow one is forgotten
    t = round_trip(w, t, 0.25)
    assert (w.limit, w.cuts_latency) == (64, 0)
    t = round_trip(w, t, 0.3)  # twice in a row: queued somewhere
    assert (w.limit, w.cuts_latency, w.slow_start) == (44, 1, False)
    assert w.baseline == pytest.approx(0.1)


def test_slow_start_stops_when_more_in_flight_brings_no_more_throughput() -> None:
    w = Window(ceiling=256)
    t = 0.0
    sizes = []
    for _ in range(6):
        t = trickle(w, t, per_second=500.0, latency=0.002)
        sizes.append(w.limit)
    # 8 -> 16 -> 32: the rate went up a lot; then three round trips that did not raise it
    # by a quarter end slow start where it stands
    assert sizes[:2] == [16, 32]
    assert not w.slow_start
    assert w.limit < 256
    assert w.cuts_throttled == w.cuts_latency == 0


def test_a_ceiling_of_one_is_a_fixed_single_call() -> None:
    w = Window(ceiling=1)
    t = 0.0
    for _ in range(5):
        t = round_trip(w, t, 0.01)
    w.on_throttled(sent=t, now=t + 0.01)
    assert (w.limit, w.peak) == (1, 1)


def test_describe_says_how_far_it_went() -> None:
    w = Window()
    t = round_trip(w, 0.0, 0.1)
    w.on_throttled(sent=t, now=t + 0.1)
    assert w.describe() == (
        "up to 16 calls in flight (ceiling 64, 11 at the end; cut 1 times on 429/503, 0 on latency)"
    )


def test_the_gate_admits_first_come_first_served_within_the_window() -> None:
    async def go() -> list[str]:
        w = Window(start=2, ceiling=2)
        gate = Gate(w, lambda: 0.0)
        order: list[str] = []

        async def call(name: str, hold: asyncio.Event) -> None:
            await gate.enter()
            order.append(f"in {name}")
            await hold.wait()
            gate.leave(0.0, answered=True)

        holds = {n: asyncio.Event() for n in "abcd"}
        tasks = [asyncio.create_task(call(n, holds[n])) for n in "abcd"]
        await asyncio.sleep(0)
        assert gate.in_flight == 2 and order == ["in a", "in b"]
        holds["b"].set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert order == ["in a", "in b", "in c"]
        tasks[3].cancel()  # a waiter that gives up leaves no place taken
        await asyncio.sleep(0)
        for h in holds.values():
            h.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert gate.in_flight == 0
        return order

    assert asyncio.run(go()) == ["in a", "in b", "in c"]


def test_an_apply_over_a_rate_limit_shrinks_the_window_and_converges(tmp_path: Path) -> None:
    """40 students against a simulator that takes 15 calls a second: the window meets
    429s and is cut, and every change is done once: one session booked per student."""
    n = 40
    with ThreadedServer(token=TOKEN, seed=5, latency_ms=20, rate_limit=15.0) as srv:
        files = {
            "exams.yaml": EXAMS,
            "users.yaml": users_yaml(n),
            "sessions.yaml": sessions_yaml(
                [
                    ("final", f"u{i:04d}", f"2028-03-{1 + i % 27:02d}T14:00:00Z")
                    for i in range(1, n + 1)
                ]
            ),
        }
        desired = load(write_tenant(tmp_path, srv.url, files))
        store = StateStore(tmp_path / "state")
        changes = all_new(desired)

        async def go() -> tuple[object, Client]:
            async with Client(srv.url, INSTALL, Secret(TOKEN)) as client:
                state = store.load(desired.tenant)
                result = await execute_tenant(
                    changes, desired, state, client, store, applied_of=lambda a: {"at": a}
                )
                return result, client

        result, client = asyncio.run(go())
        live = world_json(srv.url)
    assert result.ok, result.failures  # type: ignore[attr-defined]
    assert world_mismatches(live, desired) == []
    statuses = [r.status for r in client.records]
    assert statuses.count(429) >= 1
    w = client.window
    assert result.window is w  # type: ignore[attr-defined]
    assert w.cuts_throttled >= 1
    assert w.limit < w.peak
    assert not w.slow_start
    assert sorted(store.load(desired.tenant).resources) == sorted(c.address for c in changes)
