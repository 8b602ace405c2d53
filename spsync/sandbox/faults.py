"""Injected faults as a client meets them: a 5xx in the API's shape, a load balancer's HTML
page (502/504), a connection dropped without an answer, or an answer that never comes.

``injection`` decides whether and which fault a request gets; this module plays it out,
under uvicorn (closing the connection) or ``httpx.ASGITransport`` (raising the transport
error the client would see).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from spsync.sandbox.errors import ApiFault
from spsync.sandbox.injection import Fault

if TYPE_CHECKING:
    from spsync.sandbox.controls import Controls


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised out of the app to simulate a connection dropped without an answer.

    Under uvicorn the connection is closed instead; under ``httpx.ASGITransport`` this
    exception reaches the client, which sees what a real dropped connection gives it: an
    ``httpx.RemoteProtocolError`` (a ``TransportError``).
    """


async def inject(ctl: Controls, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with ``fault`` instead of the request's own answer (counted, after the latency)."""
    if ctl.latency:
        await asyncio.sleep(ctl.latency)
    if fault.kind == "drop":
        ctl.count_status(0)
        await drop(send)
        return
    if fault.kind == "timeout":
        ctl.count_status(0)
        await stall(receive, send)
        return
    status = int(fault.kind)
    if status in (502, 504):
        # What a load balancer in front of the service answers: HTML, not the API's JSON.
        ctl.count_status(status)
        await gateway_page(status)(scope, receive, send)
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


def gateway_page(status: int) -> Response:
    title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    return Response(page, status_code=status, media_type="text/html")


async def stall(receive: Receive, send: Send) -> None:
    """Answer nothing: wait until the client gives up (or ``STALL_SECONDS``), then drop."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise InjectedTimeout("Timed out waiting for the answer (injected by the sandbox).")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STALL_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    await drop(send)


async def drop(send: Send) -> None:
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
