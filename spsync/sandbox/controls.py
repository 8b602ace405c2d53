"""The simulator's run-time knobs and counters (``Controls``), and the ``/_sandbox/…``
endpoints that show and change them: request counts, the world, the clock, faults, latency
and rate limit, an install's settings, a session's status.

The controls are not part of the API: no faults, rate limit, TLS check or latency apply to
them, and their errors always have the contract's shape.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from spsync.sandbox.dialect import Dialect
from spsync.sandbox.errors import ApiFault, invalid
from spsync.sandbox.injection import ALL_FAULT_KINDS, FAULT_KINDS, FaultInjector, RateLimiter
from spsync.sandbox.persistence import Persister
from spsync.sandbox.responses import (
    AUTH_FAILED,
    client_gone,
    fault_response,
    internal_error,
    json_response,
    read_json,
)
from spsync.sandbox.timefmt import SettableClock, format_utc, parse_utc
from spsync.sandbox.world import World

SANDBOX_PREFIX = "/_sandbox/"
log = logging.getLogger("spsync.sandbox")


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


# ---------------------------------------------------------------------- the endpoints
def _sandbox_endpoint(
    fn: Callable[[Controls, Request, Any], Any], *, body: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctl: Controls = request.app.state.controls
        if not ctl.authorised(request):
            return fault_response(AUTH_FAILED)
        try:
            data = await read_json(request) if body else None
            result = fn(ctl, request, data)
        except ApiFault as fault:
            return fault_response(fault)
        except ClientDisconnect:
            return client_gone(request)
        except Exception:
            return internal_error(request, request.url.path)
        try:
            await ctl.persist()
        except ApiFault as fault:
            return fault_response(fault)
        try:
            return json_response(result)
        except Exception:
            return internal_error(request, request.url.path)

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
