"""A hostile or broken server (or a proxy in the middle) against the API client and the
commands that print what it answers: bounds on waits, bodies, links and URLs."""

from __future__ import annotations

import asyncio

from support.api import FakeTime, Rule, Tamper, asgi_client, new_world, sandbox_app

from spsync.api import wire
from spsync.api.client import R_SETTINGS
from spsync.doctor_probe import get_answer


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
