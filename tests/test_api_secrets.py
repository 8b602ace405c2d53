"""The API token (and the exam password) never show: not in logs at DEBUG (httpx and httpcore
included), not in exception text, not in the repr of the client or its call records."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
import support.sandbox_payloads as pl
from support.api import (
    PASSWORD,
    TOKEN,
    FakeTime,
    Rule,
    Tamper,
    asgi_client,
    configuration,
    fast_policy,
    http_client,
    new_world,
    sandbox_app,
    schedule_request,
    seed_course,
    served,
)

from spsync.api import Client, wire
from spsync.errors import ApiError
from spsync.secrets import MASK, Secret


def _provision() -> wire.ProvisionRequest:
    conf = configuration(url="https://exams.example.com/s", password=Secret(PASSWORD, "env:PW"))
    body = pl.provision(
        course=pl.course("s-1", title="S", code="S1"),
        exam=pl.exam("s-exam", title="Exam", type=None, configuration=conf),
    )
    return wire.ProvisionRequest.model_validate(body)


def _all_text(api: Client, errors: list[BaseException]) -> str:
    parts = [repr(api), str(api.records), repr(api.records), repr(api.retry), repr(api.limiter)]
    for err in errors:
        parts += [str(err), repr(err), "".join(traceback.format_exception(err))]
        parts += [repr(getattr(err, k, "")) for k in ("method", "path", "code", "api_message")]
    return "\n".join(parts)


@pytest.mark.parametrize("stack", ["spsync", "httpx"])
def test_token_never_shows_over_real_http(caplog: pytest.LogCaptureFixture, stack: str) -> None:
    """A busy run over real HTTP, with faults, timeouts and refusals, logged at DEBUG, on
    spsync's own HTTP transport and on httpx's (whose stack logs each request)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "spsync.api"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    world = new_world()
    seeded = seed_course(world, 4)
    slow = Rule("GET", "/settings$", "slow-after", delay=0.6)
    errors: list[BaseException] = []
    with served(world, slow, fault_rate=0.3, seed=4) as (srv, _front):

        async def go() -> Client:
            async with http_client(srv, FakeTime(), timeout=0.2, http_stack=stack) as api:
                await api.settings()  # one timeout, then an answer
                await api.provision(_provision())
                for en in seeded.enrollments:
                    await api.schedule_session(
                        seeded.exam, seeded.sessions[en], schedule_request(), enrollment_sid=en
                    )
                    await api.list_enrollment_sessions(en, seeded.exam)
                try:  # a 400 with the API's message
                    await api.schedule_session(
                        seeded.exam,
                        seeded.sessions[seeded.enrollments[0]],
                        schedule_request(at="2020-01-01T00:00:00Z"),
                        enrollment_sid=seeded.enrollments[0],
                    )
                except ApiError as exc:
                    errors.append(exc)
                return api

        api = asyncio.run(go())
        fake = FakeTime()
        wrong = Client(
            srv.url, api.install, Secret("not-" + TOKEN), retry=fast_policy(fake), http_stack=stack
        )

        async def refused() -> None:
            async with wrong:
                try:
                    await wrong.settings()
                except ApiError as exc:
                    errors.append(exc)

        asyncio.run(refused())
    assert [type(e).__name__ for e in errors] == ["InvalidInputError", "AuthError"]
    assert {r.error for r in api.records} >= {None, "ReadTimeout"}
    assert len({r.error for r in api.records}) >= 3  # faults were met along the way
    # httpx's stack logs every request at DEBUG; spsync's own transport logs nothing
    assert any(r.name.startswith("httpcore") for r in caplog.records) == (stack == "httpx")
    assert any(r.name == "spsync.api" for r in caplog.records)
    text = caplog.text + _all_text(api, errors) + _all_text(wrong, [])
    assert TOKEN not in text
    assert PASSWORD not in text


def test_secrets_echoed_by_the_server_are_scrubbed_from_errors() -> None:
    """A misbehaving service that repeats the token or the password in its error message."""
    body = (
        b'{"code": "INVALIDINPUT", "message": "token ' + TOKEN.encode() + b' rejected", '
        b'"details": [{"path": "exam.configuration.password", "message": "' + PASSWORD.encode()
        + b' is too weak"}]}'
    )  # fmt: skip
    app = Tamper(
        sandbox_app(new_world()),
        Rule("POST", "/provision$", "before", status=400, body=body,
             content_type="application/json"),
    )  # fmt: skip

    async def go() -> ApiError:
        async with asgi_client(app, FakeTime()) as api:
            with pytest.raises(ApiError) as info:
                await api.provision(_provision())
            return info.value

    err = asyncio.run(go())
    assert err.api_message == (
        f"token {MASK} rejected (exam.configuration.password: {MASK} is too weak)"
    )
    assert TOKEN not in str(err) and PASSWORD not in str(err)


def test_transport_errors_do_not_carry_the_request() -> None:
    """Mapped errors are raised without the httpx exception (which holds the request and so
    the token header) as their visible cause."""
    app = Tamper(sandbox_app(new_world()), Rule("GET", "/settings$", "drop-after", times=99))

    async def go() -> ApiError:
        async with asgi_client(app, FakeTime()) as api:
            with pytest.raises(ApiError) as info:
                await api.settings()
            return info.value

    err = asyncio.run(go())
    assert err.__cause__ is None and err.__suppress_context__
    assert TOKEN not in "".join(traceback.format_exception(err))
