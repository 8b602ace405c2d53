"""An operation that waits for what another one reads for it lends its place: a wave's
schedules waiting on their exam's report do not hold up the next wave's provisions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.apply import (
    EXAMS,
    INSTALL,
    TOKEN,
    all_new,
    load,
    sessions_of,
    sessions_yaml,
    users_yaml,
    world,
    write_tenant,
)

from spsync.api import wire
from spsync.api.client import Client
from spsync.apply import Executor, execute_tenant
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret
from spsync.store import StateStore


class Gated:
    """The client, but its first report read waits until a provision starts after it was
    asked for: with the places of the run all held by schedules waiting on that read, none
    would, and the read fails after ``patience`` seconds."""

    def __init__(self, client: Client, patience: float = 10.0) -> None:
        self._client = client
        self.patience = patience
        self.provisions = 0
        self.reads = 0
        self.started_while_reading = -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def provision(self, body: wire.ProvisionRequest) -> wire.ProvisionResponse:
        self.provisions += 1
        return await self._client.provision(body)

    async def each_exam_session(
        self, exam_sid: str, take: Callable[[list[wire.SessionRow]], object], **query: Any
    ) -> None:
        self.reads += 1
        if self.reads == 1:
            before = self.provisions
            loop = asyncio.get_running_loop()
            give_up = loop.time() + self.patience
            while self.provisions == before:
                if loop.time() > give_up:
                    raise AssertionError("no operation started while the report was read")
                await asyncio.sleep(0.005)
            self.started_while_reading = self.provisions - before
        await self._client.each_exam_session(exam_sid, take, **query)


#: both exams limited in scope: each one's assignments are a wave (its students' provisions,
#: its assignment call, its schedules)
TWO_WAVES = EXAMS.replace("    limitedScope: false\n", "")


def _apply(
    tmp_path: Path,
    url: str,
    sessions: list[tuple[str, str, str]],
    wrap: Callable[[Client], Gated],
    **kw: Any,
) -> Any:
    """A first apply of one student per session (``TWO_WAVES``'s exams) through the client
    ``wrap`` makes; its result."""
    files = {
        "exams.yaml": TWO_WAVES,
        "users.yaml": users_yaml(len(sessions)),
        "sessions.yaml": sessions_yaml(sessions),
    }
    desired = load(write_tenant(tmp_path, url, files))
    store = StateStore(tmp_path / "state")

    async def go() -> Any:
        async with Client(url, INSTALL, Secret(TOKEN)) as client:
            return await execute_tenant(
                all_new(desired),
                desired,
                store.load(desired.tenant),
                wrap(client),  # type: ignore[arg-type]
                store,
                applied_of=lambda a: {},
                **kw,
            )

    return asyncio.run(go())


def test_waiting_schedules_lend_their_places_to_the_next_wave(tmp_path: Path) -> None:
    n = 130
    with ThreadedServer(token=TOKEN, seed=5, latency_ms=2) as srv:
        sessions = [
            ("final" if i <= n // 2 else "quiz", f"u{i:04d}", f"2028-03-01T{8 + i % 10:02d}:00:00Z")
            for i in range(1, n + 1)
        ]
        gated: list[Gated] = []

        def wrap(client: Client) -> Gated:
            gated.append(Gated(client))
            return gated[0]

        result = _apply(tmp_path, srv.url, sessions, wrap, parallelism=4)
        live = sessions_of(world(srv.url))
    assert result.ok, [o for o in result.outcomes if o.status != "done"][:3]
    assert gated[0].started_while_reading >= 1
    scheduled = [s for s in live if s["status"] == "Scheduled"]
    assert len(scheduled) == n
    assert len({s["enrollmentSid"] for s in scheduled}) == n  # none booked twice


def test_places_lent_are_bounded_while_a_report_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One exam, many schedules waiting for its report: at most ``MAX_LENT`` of them are
    started beyond the run's places, however many are ready."""
    monkeypatch.setattr("spsync.apply.MAX_LENT", 3)
    n = 40
    with ThreadedServer(token=TOKEN, seed=5, latency_ms=2) as srv:
        sessions = [("final", f"u{i:04d}", "2028-03-01T09:00:00Z") for i in range(1, n + 1)]
        executors: list[Executor] = []
        most: list[int] = [0]

        class Slow(Gated):
            async def each_exam_session(self, exam_sid: str, take: Any, **query: Any) -> None:
                for _ in range(20):  # a long read: every ready schedule could start meanwhile
                    most[0] = max(most[0], len(executors[0]._tasks))
                    await asyncio.sleep(0.01)
                await self._client.each_exam_session(exam_sid, take, **query)

        result = _apply(
            tmp_path, srv.url, sessions, Slow, parallelism=2, on_executor=executors.append
        )
        live = sessions_of(world(srv.url))
    assert result.ok, [o for o in result.outcomes if o.status != "done"][:3]
    assert 2 < most[0] <= 2 + 3
    assert len([s for s in live if s["status"] == "Scheduled"]) == n
