"""The simulator over HTTP: a Starlette ASGI app serving a ``World``.

Request pipeline (API paths; ``/_sandbox/…`` skips the first three steps)::

    count (method + route template) → TLS check → rate limit → injected fault?
      → route (400 INVALIDURI / 405; the vendor dialect: hapi's 404) → token (403)
      → path SIDs, query, JSON body (400)
      → World operation (400 / 404 / result) → persist if changed (500 if it cannot be)
      → latency → answer

An injected fault either happens *before* the request has any effect, or *after* it (the
world changed and was saved, but the answer is replaced by a 5xx, lost with the
connection, or never comes): the case that makes clients double-book if they retry
blindly.

This module holds the pipeline (up to routing) and ``create_app``; the rest lives beside it:
``routes`` (the API's operations and the endpoint that runs them), ``controls`` (the run-time
knobs and the ``/_sandbox/…`` endpoints), ``injection`` (whether a request gets a fault) and
``faults`` (playing it out), ``responses`` (the answers they share).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from spsync.sandbox.controls import SANDBOX_PREFIX, SANDBOX_ROUTES, Controls
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.errors import ApiFault
from spsync.sandbox.faults import DroppedConnection, inject
from spsync.sandbox.injection import Fault
from spsync.sandbox.persistence import load_world
from spsync.sandbox.responses import not_allowed_handler, not_found_handler
from spsync.sandbox.routes import api_endpoint
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.vendor import hapi_not_found, route_table
from spsync.sandbox.world import World

#: ``DroppedConnection`` is what a client under ``httpx.ASGITransport`` catches.
__all__ = ["DroppedConnection", "SandboxApp", "create_app"]


class SandboxApp(Starlette):
    """Starlette app with the simulator's request pipeline in front of routing."""

    controls: Controls
    api_routes: list[Route]

    @property
    def world(self) -> World:
        return self.controls.world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SANDBOX_PREFIX):
            await super().__call__(scope, receive, send)
            return
        ctl = self.controls
        method = scope["method"]
        route, child, template, allowed = self._match(scope)
        ctl.count(f"{method} {template}" if template else f"{method} (unknown path)")
        fault: Fault | None = None
        early: Response | None = None
        if ctl.require_tls and scope.get("scheme") != "https":
            early = ctl.fault(ApiFault(400, "INVALIDPROTOCOL", "requests must be made over HTTPS"))
        elif ctl.limiter is not None and (wait := ctl.limiter.take()):
            early = ctl.fault(
                ApiFault(429, "TOOMANYREQUESTS", f"rate limit exceeded; retry in {wait} s"),
                {"Retry-After": str(wait)},
            )
        elif ctl.dialect.is_vendor and (template is None or allowed is not None):
            early = hapi_not_found()
        elif template is None:
            # Not 404 RESOURCENOTFOUND: a client with a wrong path must not conclude that an
            # entity is gone (a planner would recreate it). The contract's 400 INVALIDURI
            # says what happened.
            early = ctl.fault(ApiFault(400, "INVALIDURI", f"no such endpoint: {scope['path']}"))
        elif allowed is not None:
            early = ctl.fault(
                ApiFault(
                    405,
                    "UNSUPPORTEDHTTPVERB",
                    f"{method} is not supported on {template}; use {', '.join(allowed)}",
                ),
                {"Allow": ", ".join(allowed)},
            )
        else:
            fault = ctl.faults.draw()
        if early is not None:
            if ctl.latency:
                await asyncio.sleep(ctl.latency)
            ctl.count_status(early.status_code)
            await early(scope, receive, send)
            return
        if fault is not None and fault.phase == "before":
            await inject(ctl, fault, scope, receive, send)
            return
        if fault is not None:
            # Let the request take effect (and be persisted), then lose the answer.
            async def swallow(message: Message) -> None:
                return None

            await self._dispatch(route, child, scope, receive, swallow)
            await inject(ctl, fault, scope, receive, send)
            return

        started = False

        async def delayed_send(message: Message) -> None:
            nonlocal started
            if not started and message["type"] == "http.response.start":
                started = True
                ctl.count_status(message["status"])
                if ctl.latency:
                    await asyncio.sleep(ctl.latency)
            await send(message)

        await self._dispatch(route, child, scope, receive, delayed_send)

    def _match(self, scope: Scope) -> tuple[Route | None, Scope, str | None, list[str] | None]:
        """``(route, its child scope, template, allowed methods if the method is wrong)``."""
        partial: Route | None = None
        for route in self.api_routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child, route.path, None
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is not None:
            return None, {}, partial.path, sorted(partial.methods or ())
        return None, {}, None, None

    async def _dispatch(
        self, route: Route | None, child: Scope, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the matched route directly (the router would only match it again)."""
        assert route is not None
        scope["app"] = self
        scope.update(child)
        await route.handle(scope, receive, send)


def create_app(
    world: World | None = None,
    *,
    tokens: set[str] | None = None,
    latency_ms: float = 0,
    fault_rate: float = 0.0,
    rate_limit: float | None = None,
    require_tls: bool = False,
    data_path: Path | None = None,
    seed: int | None = None,
    fault_kinds: tuple[str, ...] | None = None,
    dialect: Dialect | None = None,
) -> SandboxApp:
    """The simulator as an ASGI app.

    ``tokens``: accepted API tokens (``None``: any non-empty token). ``latency_ms``: delay
    added to every answer. ``fault_rate``: share of API requests that fail, before or after
    their effect; ``fault_kinds``: how, from ``ALL_FAULT_KINDS`` (default ``FAULT_KINDS``:
    500, 503, dropped connection). ``rate_limit``: requests per second above which the
    answer is 429 with ``Retry-After``. ``require_tls``: plain-HTTP requests get 400
    INVALIDPROTOCOL. ``data_path``: the world is loaded from this file if it exists (when no
    ``world`` is given) and saved to it, atomically, before answering any request that
    changed it. ``seed``: makes injected faults (and a new world's SIDs) reproducible.
    ``dialect``: the API spoken (default ``Dialect.contract()``; see ``dialect.py``).
    """
    if world is None:
        world = (
            load_world(data_path, clock=SettableClock(), seed=seed)
            if data_path is not None
            else World(clock=SettableClock(), seed=seed)
        )
    api_routes = [
        Route(template, api_endpoint(template, ops), methods=list(ops))
        for template, ops in route_table(dialect or Dialect.contract()).items()
    ]
    app = SandboxApp(
        routes=[*api_routes, *SANDBOX_ROUTES],
        exception_handlers={404: not_found_handler, 405: not_allowed_handler},
    )
    app.api_routes = api_routes
    app.controls = Controls(
        world,
        tokens=tokens,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        rate_limit=rate_limit,
        require_tls=require_tls,
        data_path=data_path,
        seed=seed,
        fault_kinds=fault_kinds,
        dialect=dialect,
    )
    app.state.controls = app.controls
    app.state.world = world
    return app
