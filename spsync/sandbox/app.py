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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from spsync.sandbox.dialect import Dialect
from spsync.sandbox.errors import ApiFault, invalid
from spsync.sandbox.injection import (
    ALL_FAULT_KINDS,
    FAULT_KINDS,
    Fault,
    FaultInjector,
    RateLimiter,
)
from spsync.sandbox.jsonbody import parse_body
from spsync.sandbox.persistence import Persister, load_world
from spsync.sandbox.routes import Call, Op
from spsync.sandbox.timefmt import SettableClock, format_utc, parse_utc
from spsync.sandbox.vendor import hapi_not_found, route_table
from spsync.sandbox.world import Page, World

SANDBOX_PREFIX = "/_sandbox/"
log = logging.getLogger("spsync.sandbox")


# ====================================================================== responses
def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def fault_response(
    fault: ApiFault, headers: dict[str, str] | None = None, *, bare: bool = False
) -> Response:
    """The error answer; ``bare`` leaves out ``details`` (the vendor dialect's shape)."""
    body = fault.body()
    if bare:
        body.pop("details", None)
    return _json(body, fault.status, headers)


def envelope(page: Page, url: URL) -> dict[str, Any]:
    """The list envelope of api-contract §7; links are absolute URLs keeping the query."""

    def link(offset: int) -> str:
        return str(url.include_query_params(offset=offset, limit=page.limit))

    last = max(0, (page.total - 1) // page.limit * page.limit) if page.total else 0
    nxt = page.offset + page.limit
    return {
        "total": page.total,
        "count": len(page.items),
        "offset": page.offset,
        "first": link(0),
        "next": link(nxt) if nxt < page.total else None,
        "prev": link(max(0, page.offset - page.limit)) if page.offset > 0 else None,
        "last": link(last),
        "results": page.items,
    }


# ====================================================================== the app
class Controls:
    """The simulator's run-time knobs and counters, shared by every request."""

    def __init__(
        self,
        world: World,
        *,
        tokens: set[str] | None,
        latency_ms: float,
        fault_rate: float,
        rate_limit: float | None,
        require_tls: bool,
        data_path: Path | None,
        seed: int | None,
        fault_kinds: tuple[str, ...] | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        if latency_ms < 0:
            raise ValueError("latency must be >= 0")
        self.world = world
        self.tokens = None if tokens is None else frozenset(tokens)
        self.latency = latency_ms / 1000.0
        self.faults = FaultInjector(fault_rate, seed=seed, kinds=fault_kinds or FAULT_KINDS)
        self.limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self.require_tls = require_tls
        self.dialect = dialect or Dialect.contract()
        self.persister = Persister(world, data_path) if data_path is not None else None
        self.counts: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.total = 0

    def fault(self, fault: ApiFault, headers: dict[str, str] | None = None) -> Response:
        """An API error answer in the dialect's shape."""
        return fault_response(fault, headers, bare=self.dialect.is_vendor)

    def authorised(self, request: Request) -> bool:
        token = request.headers.get("token")
        if not token:
            return False
        return self.tokens is None or token in self.tokens

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1

    def count_status(self, status: int) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1

    async def persist(self) -> None:
        """Make every change so far durable before answering (embedded mode may be killed).

        A failed save (disk full, directory gone) is ``ApiFault`` 500: the change is made in
        memory but the client must not be told it is safe.
        """
        p = self.persister
        if p is not None and p.saved_version < self.world.version:
            try:
                await asyncio.to_thread(p.save)
            except OSError as e:
                reason = e.strerror or str(e)
                log.error("sandbox: the world could not be saved to %s: %s", p.path, reason)
                raise ApiFault(
                    500,
                    "INTERNALERROR",
                    f"the change was made but could not be saved (sandbox): {reason}",
                ) from None


_AUTH_FAILED = ApiFault(403, "AUTHENTICATIONFAILED", "missing or unknown API token (header: token)")


async def _read_json(request: Request) -> Any:
    return parse_body(await request.body())


def _internal_error(request: Request, where: str) -> Response:
    """A bug in the simulator: answer like the service would, and say so in the log."""
    log.exception("sandbox: %s %s failed", request.method, where)
    return fault_response(ApiFault(500, "INTERNALERROR", "internal error (sandbox)"))


def _client_gone(request: Request) -> Response:
    """The client closed its connection before its body ended (a killed run): nothing was
    done, and nobody is left to answer. Not a fault of the simulator."""
    log.info(
        "sandbox: %s %s: the client closed the connection before its body ended",
        request.method,
        request.url.path,
    )
    return Response(status_code=400)


def _api_endpoint(template: str, ops: dict[str, Op]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctl: Controls = request.app.state.controls
        if not ctl.authorised(request):
            return ctl.fault(_AUTH_FAILED)
        op = ops["GET" if request.method == "HEAD" else request.method]
        try:
            body = await _read_json(request) if op.body else None
            params = dict(request.path_params)
            call = Call(ctl.world, params, request.query_params, body, ctl.dialect)
            result = op.fn(call)
        except ApiFault as fault:
            return ctl.fault(fault)
        except ClientDisconnect:
            return _client_gone(request)
        except Exception:
            return _internal_error(request, template)
        try:
            if op.mutating:
                await ctl.persist()
        except ApiFault as fault:
            return ctl.fault(fault)
        try:
            # Rendered here, not by Starlette after we return, so that an answer that cannot
            # be rendered is still an error in the API's shape.
            if isinstance(result, Response):
                return result
            if isinstance(result, Page):
                return _json(envelope(result, request.url))
            return _json(result)
        except Exception:
            return _internal_error(request, template)

    endpoint.__name__ = f"api {template}"
    return endpoint


# ---------------------------------------------------------------------- /_sandbox controls
def _sandbox_endpoint(
    fn: Callable[[Controls, Request, Any], Any], *, body: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctl: Controls = request.app.state.controls
        if not ctl.authorised(request):
            return fault_response(_AUTH_FAILED)
        try:
            data = await _read_json(request) if body else None
            result = fn(ctl, request, data)
        except ApiFault as fault:
            return fault_response(fault)
        except ClientDisconnect:
            return _client_gone(request)
        except Exception:
            return _internal_error(request, request.url.path)
        try:
            await ctl.persist()
        except ApiFault as fault:
            return fault_response(fault)
        try:
            return _json(result)
        except Exception:
            return _internal_error(request, request.url.path)

    return endpoint


def _requests_view(ctl: Controls) -> dict[str, Any]:
    return {
        "total": ctl.total,
        "counts": dict(sorted(ctl.counts.items())),
        "statuses": dict(sorted(ctl.statuses.items())),
        "faultsInjected": ctl.faults.injected,
    }


def _get_requests(ctl: Controls, _r: Request, _b: Any) -> dict[str, Any]:
    return _requests_view(ctl)


def _reset_requests(ctl: Controls, _r: Request, _b: Any) -> dict[str, Any]:
    ctl.counts.clear()
    ctl.statuses.clear()
    ctl.total = 0
    return _requests_view(ctl)


def _get_world(ctl: Controls, _r: Request, _b: Any) -> dict[str, Any]:
    return ctl.world.to_json()


def _clock_view(ctl: Controls) -> dict[str, Any]:
    clock = ctl.world.clock
    fixed = isinstance(clock, SettableClock) and clock.fixed is not None
    return {"now": format_utc(ctl.world.clock()), "fixed": fixed}


def _get_clock(ctl: Controls, _r: Request, _b: Any) -> dict[str, Any]:
    return _clock_view(ctl)


def _put_clock(ctl: Controls, _r: Request, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) != {"now"}:
        raise invalid('body must be {"now": "…Z"} or {"now": null}', "body")
    now: datetime | None = None
    if body["now"] is not None:
        now = parse_utc(body["now"])
        if now is None:
            raise invalid("must be an ISO-8601 UTC date-time ending in Z, or null", "now")
    clock = ctl.world.clock
    if not isinstance(clock, SettableClock):
        raise invalid("this world's clock cannot be set", "now")
    clock.set(now)
    return _clock_view(ctl)


def _config_view(ctl: Controls) -> dict[str, Any]:
    view = {
        "faultRate": ctl.faults.rate,
        "faultKinds": list(ctl.faults.kinds),
        "latencyMs": ctl.latency * 1000.0,
        "rateLimit": ctl.limiter.rate if ctl.limiter else None,
        "requireTls": ctl.require_tls,
    }
    if ctl.dialect.is_vendor:
        # Only then: the contract dialect's view stays as it always was.
        view["dialect"] = ctl.dialect.view()
    return view


def _get_config(ctl: Controls, _r: Request, _b: Any) -> dict[str, Any]:
    return _config_view(ctl)


def _put_config(ctl: Controls, _r: Request, body: Any) -> dict[str, Any]:
    """Change fault rate and kinds, latency or rate limit while running (soak and client
    tests)."""
    allowed = {"faultRate", "faultKinds", "latencyMs", "rateLimit"}
    if not isinstance(body, dict) or not set(body) <= allowed:
        raise invalid(f"body must be an object with some of {sorted(allowed)}", "body")
    rate = body.get("faultRate", ctl.faults.rate)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise invalid("must be a number from 0 to 1", "faultRate")
    latency = body.get("latencyMs", ctl.latency * 1000.0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise invalid("must be a number >= 0", "latencyMs")
    limit = body.get("rateLimit", ctl.limiter.rate if ctl.limiter else None)
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0
    ):
        raise invalid("must be a number > 0, or null", "rateLimit")
    kinds = body.get("faultKinds", list(ctl.faults.kinds))
    if not isinstance(kinds, list) or not kinds or not all(k in ALL_FAULT_KINDS for k in kinds):
        raise invalid(f"must be a non-empty list of {', '.join(ALL_FAULT_KINDS)}", "faultKinds")
    ctl.faults.rate = float(rate)
    ctl.faults.kinds = tuple(dict.fromkeys(kinds))
    ctl.latency = float(latency) / 1000.0
    if "rateLimit" in body:
        ctl.limiter = RateLimiter(float(limit)) if limit is not None else None
    return _config_view(ctl)


def _put_settings(ctl: Controls, request: Request, body: Any) -> dict[str, Any]:
    allowed = {"defaultTimezone", "defaultCurrencyCode", "proctorTypes"}
    if not isinstance(body, dict) or not set(body) <= allowed:
        raise invalid(f"body must be an object with some of {sorted(allowed)}", "body")
    types = body.get("proctorTypes")
    if types is not None and (
        not isinstance(types, list) or not all(isinstance(t, str) for t in types)
    ):
        raise invalid("must be a list of proctor type SIDs", "proctorTypes")
    return ctl.world.set_settings(
        request.path_params["installSid"],
        default_timezone=body.get("defaultTimezone"),
        default_currency=body.get("defaultCurrencyCode"),
        enabled_proctor_types=types,
    )


def _post_session_status(ctl: Controls, request: Request, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) != {"status"} or not isinstance(body["status"], str):
        raise invalid('body must be {"status": "Onboarding" | "In Progress" | "Closed"}', "body")
    p = request.path_params
    return ctl.world.set_session_status(p["installSid"], p["sessionSid"], body["status"])


_S = "/_sandbox"
SANDBOX_ROUTES: list[Route] = [
    Route(_S + "/requests", _sandbox_endpoint(_get_requests), methods=["GET"]),
    Route(_S + "/requests", _sandbox_endpoint(_reset_requests), methods=["DELETE"]),
    Route(_S + "/world", _sandbox_endpoint(_get_world), methods=["GET"]),
    Route(_S + "/clock", _sandbox_endpoint(_get_clock), methods=["GET"]),
    Route(_S + "/clock", _sandbox_endpoint(_put_clock, body=True), methods=["PUT"]),
    Route(_S + "/config", _sandbox_endpoint(_get_config), methods=["GET"]),
    Route(_S + "/config", _sandbox_endpoint(_put_config, body=True), methods=["PUT"]),
    Route(
        _S + "/installs/{installSid}/settings",
        _sandbox_endpoint(_put_settings, body=True),
        methods=["PUT"],
    ),
    Route(
        _S + "/installs/{installSid}/sessions/{sessionSid}/status",
        _sandbox_endpoint(_post_session_status, body=True),
        methods=["POST"],
    ),
]


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised out of the app to simulate a connection dropped without an answer.

    Under uvicorn the connection is closed instead; under ``httpx.ASGITransport`` this
    exception reaches the client, which sees what a real dropped connection gives it: an
    ``httpx.RemoteProtocolError`` (a ``TransportError``).
    """


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
            await self._inject(fault, scope, receive, send)
            return
        if fault is not None:
            # Let the request take effect (and be persisted), then lose the answer.
            async def swallow(message: Message) -> None:
                return None

            await self._dispatch(route, child, scope, receive, swallow)
            await self._inject(fault, scope, receive, send)
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

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        ctl = self.controls
        if ctl.latency:
            await asyncio.sleep(ctl.latency)
        if fault.kind == "drop":
            ctl.count_status(0)
            await _drop(send)
            return
        if fault.kind == "timeout":
            ctl.count_status(0)
            await _stall(receive, send)
            return
        status = int(fault.kind)
        if status in (502, 504):
            # What a load balancer in front of the service answers: HTML, not the API's JSON.
            ctl.count_status(status)
            await _gateway_page(status)(scope, receive, send)
            return
        api_fault = ApiFault(
            status,
            "INTERNALERROR" if status == 500 else "SERVICEUNAVAILABLE",
            "injected fault (sandbox)",
        )
        headers = {"Retry-After": "1"} if status == 503 else None
        ctl.count_status(status)
        await ctl.fault(api_fault, headers)(scope, receive, send)


#: How long an injected ``timeout`` fault holds a request unanswered (unless the client
#: gives up first) before dropping the connection.
STALL_SECONDS = 60.0


class InjectedTimeout(httpx.ReadTimeout):
    """Raised out of the app to simulate an answer that never comes, under
    ``httpx.ASGITransport`` (which has no clock of its own): the client sees what its own
    read timeout gives it, an ``httpx.ReadTimeout``."""


def _gateway_page(status: int) -> Response:
    title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    return Response(page, status_code=status, media_type="text/html")


async def _stall(receive: Receive, send: Send) -> None:
    """Answer nothing: wait until the client gives up (or ``STALL_SECONDS``), then drop."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise InjectedTimeout("Timed out waiting for the answer (injected by the sandbox).")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STALL_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    await _drop(send)


async def _drop(send: Send) -> None:
    """Close the connection without an answer (uvicorn), or raise a transport error."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        # Let the server notice the disconnect before the app returns, so it neither
        # answers 500 nor logs "returned without starting response".
        for _ in range(3):
            await asyncio.sleep(0)
        return
    raise DroppedConnection("Server disconnected without sending a response.")


async def _not_found(request: Request, exc: Exception) -> Response:
    return fault_response(
        ApiFault(404, "RESOURCENOTFOUND", f"no such endpoint: {request.url.path}")
    )


async def _not_allowed(request: Request, exc: Exception) -> Response:
    headers = getattr(exc, "headers", None) or {}
    return fault_response(
        ApiFault(405, "UNSUPPORTEDHTTPVERB", f"{request.method} is not supported here"),
        dict(headers),
    )


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
        Route(template, _api_endpoint(template, ops), methods=list(ops))
        for template, ops in route_table(dialect or Dialect.contract()).items()
    ]
    app = SandboxApp(
        routes=[*api_routes, *SANDBOX_ROUTES],
        exception_handlers={404: _not_found, 405: _not_allowed},
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
