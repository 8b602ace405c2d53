"""The simulator's HTTP answers: JSON, API errors (in the dialect's shape), the list
envelope, and what a request gets when the simulator itself fails or the client left.

Shared by the API's endpoints (``routes``), the ``/_sandbox`` controls (``controls``) and the
request pipeline (``app``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spsync.sandbox.errors import ApiFault
from spsync.sandbox.jsonbody import parse_body
from spsync.sandbox.paging import Page

log = logging.getLogger("spsync.sandbox")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (rendered at once, so that a body that cannot be rendered raises here)."""
    return JSONResponse(body, status_code=status, headers=headers)


def fault_response(
    fault: ApiFault, headers: dict[str, str] | None = None, *, bare: bool = False
) -> Response:
    """The error answer; ``bare`` leaves out ``details`` (the vendor dialect's shape)."""
    body = fault.body()
    if bare:
        body.pop("details", None)
    return json_response(body, fault.status, headers)


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


AUTH_FAILED = ApiFault(403, "AUTHENTICATIONFAILED", "missing or unknown API token (header: token)")


async def read_json(request: Request) -> Any:
    """The request's body as strict JSON (``ApiFault`` 400 if it is not; see ``jsonbody``)."""
    return parse_body(await request.body())


def internal_error(request: Request, where: str) -> Response:
    """A bug in the simulator: answer like the service would, and say so in the log."""
    log.exception("sandbox: %s %s failed", request.method, where)
    return fault_response(ApiFault(500, "INTERNALERROR", "internal error (sandbox)"))


def client_gone(request: Request) -> Response:
    """The client closed its connection before its body ended (a killed run): nothing was
    done, and nobody is left to answer. Not a fault of the simulator."""
    log.info(
        "sandbox: %s %s: the client closed the connection before its body ended",
        request.method,
        request.url.path,
    )
    return Response(status_code=400)


async def not_found_handler(request: Request, exc: Exception) -> Response:
    """Starlette's 404 (a ``/_sandbox`` path it does not know) in the API's error shape."""
    return fault_response(
        ApiFault(404, "RESOURCENOTFOUND", f"no such endpoint: {request.url.path}")
    )


async def not_allowed_handler(request: Request, exc: Exception) -> Response:
    """Starlette's 405 (a ``/_sandbox`` path with a wrong method) in the API's error shape."""
    headers = getattr(exc, "headers", None) or {}
    return fault_response(
        ApiFault(405, "UNSUPPORTEDHTTPVERB", f"{request.method} is not supported here"),
        dict(headers),
    )
