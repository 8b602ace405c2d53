"""A hostile or broken server (or a proxy in the middle) against the API client and the
commands that print what it answers: bounds on waits, bodies, links and URLs."""

from __future__ import annotations

import asyncio

import pytest
from support.api import INSTALL, FakeTime, Rule, Tamper, asgi_client, new_world, sandbox_app

from spsync.api import wire
from spsync.api.client import R_SETTINGS
from spsync.doctor_probe import get_answer
from spsync.errors import ApiError


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
