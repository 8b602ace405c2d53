"""The SmarterProctoring API client: ``Client``, built of one module per job.

=============  ========================================================================
module         job
=============  ========================================================================
``transport``  base URL check, TLS, connection pools, transport failures in words
``routes``     the route templates and the SID each path parameter takes
``calls``      the request choke point (``Caller._call``): one call, its attempts,
               records, the window and the rate limiter; retries as ``retry_decision``
               decides
``paging``     paged lists within bounds (``Pager``)
``reads``      the typed reads (``Reader``)
``writes``     the confirmed writes: provision, assignments, sessions (``Writer``)
``client``     ``Client`` itself (options checked, TLS and pools set up, closing), and
               ``run`` / ``gather_all`` for the callers
=============  ========================================================================

Each class extends the one below it (``Client`` < ``Writer`` < ``Reader`` < ``Pager`` <
``Caller``) and uses only what is below it. The names callers import (routes, bounds,
``CallRecord``...) stay importable from here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

import httpx

from spsync.api import assignments, wire
from spsync.api.calls import CALL_TIMEOUT, MAX_BODY_BYTES, SLOW_NOTICE_AFTER, CallRecord
from spsync.api.h1 import H1Transport
from spsync.api.limiter import AdaptiveRateLimiter
from spsync.api.paging import (
    MAX_LIST_ITEMS,
    MAX_LIST_PAGES,
    MAX_PAGES_WITHOUT_TOTAL,
    PAGE_LIMIT,
    PAGE_SLACK,
    SMALLER_PAGES,
)
from spsync.api.reads import ONBOARDING_DOMAIN, onboarding_url_ok
from spsync.api.retry import RetryPolicy
from spsync.api.routes import (
    R_APPOINTMENTS,
    R_ASSIGNMENTS,
    R_COURSE,
    R_ENROLLMENT_SESSIONS,
    R_ENROLLMENTS,
    R_EXAM,
    R_EXAMS,
    R_ONBOARD,
    R_PROVISION,
    R_SESSION,
    R_SETTINGS,
    R_USER,
    R_USERS,
)
from spsync.api.transport import (
    HTTP_STACKS,
    POOL_SIZE,
    Pools,
    check_base_url,
    make_http,
    ssl_verify,
)
from spsync.api.window import CEILING, START, Gate, Window
from spsync.api.writes import Writer
from spsync.errors import UsageError
from spsync.secrets import Secret

__all__ = [
    "CALL_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_LIST_ITEMS",
    "MAX_LIST_PAGES",
    "MAX_PAGES_WITHOUT_TOTAL",
    "ONBOARDING_DOMAIN",
    "PAGE_LIMIT",
    "PAGE_SLACK",
    "POOL_SIZE",
    "R_APPOINTMENTS",
    "R_ASSIGNMENTS",
    "R_COURSE",
    "R_ENROLLMENTS",
    "R_ENROLLMENT_SESSIONS",
    "R_EXAM",
    "R_EXAMS",
    "R_ONBOARD",
    "R_PROVISION",
    "R_SESSION",
    "R_SETTINGS",
    "R_USER",
    "R_USERS",
    "SLOW_NOTICE_AFTER",
    "SMALLER_PAGES",
    "CallRecord",
    "Client",
    "RetryPolicy",
    "check_base_url",
    "gather_all",
    "onboarding_url_ok",
    "run",
]

T = TypeVar("T")


class Client(Writer):
    """Async client of one SmarterProctoring install.

    ``token`` is ``None`` only against a simulator that does not check it. ``verify``: ``True``
    (system/``SSL_CERT_FILE`` CAs), ``False``, a CA bundle path or an ``ssl.SSLContext``.
    ``transport`` replaces the network (tests: ``httpx.ASGITransport``); ``rate`` caps the
    initial request rate (``None``: unlimited until the server first answers 429).
    ``max_in_flight`` is the ceiling of the window of calls in flight, which starts at
    ``start_in_flight`` and adapts (``spsync.api.window``); reads and writes share it.
    ``budget``: a limit on calls in flight shared with other clients (an
    ``asyncio.Semaphore`` held by every tenant of one run), on top of the window.
    ``http_stack``: ``spsync`` sends through spsync's own HTTP/1.1 transport (``h1``)
    unless the environment names a proxy; ``httpx`` through httpx's (``SPSYNC_HTTP_STACK``).
    Use as ``async with Client(...) as api:``.
    """

    def __init__(
        self,
        base_url: str,
        install: str,
        token: Secret | None,
        *,
        max_in_flight: int = CEILING,
        start_in_flight: int = START,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: str | bool | ssl.SSLContext = True,
        on_call: Callable[[CallRecord], None] | None = None,
        rate: float | None = None,
        call_timeout: float = CALL_TIMEOUT,
        max_body: int = MAX_BODY_BYTES,
        assignment_form: str = "auto",
        budget: contextlib.AbstractAsyncContextManager[Any] | None = None,
        http_stack: str = "spsync",
    ) -> None:
        url = check_base_url(base_url)
        if assignment_form not in assignments.SETTINGS:
            raise UsageError(
                f"unknown assignment form {assignment_form!r}: expected one of "
                + ", ".join(assignments.SETTINGS)
            )
        if not wire.is_sid(install, "AI"):
            raise UsageError(f"malformed install SID {install!r}: expected AI + 32 lowercase hex")
        if token is not None and not isinstance(token, Secret):
            raise TypeError("token must be a Secret")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if not call_timeout > 0:
            raise UsageError(
                f"the call timeout must be a positive number of seconds, got {call_timeout}"
            )
        self.base_url = str(url).rstrip("/")
        self.install = install
        self._token = token
        self.retry = retry or RetryPolicy()
        # the window makes the main cut on a 429; the limiter keeps a rate cap just under
        # what got through, and the pause a Retry-After asks for
        # no pause longer than one call's budget of time: the call that met such a
        # Retry-After gives up (its wait would end past its budget), and the others are
        # not held for what a server asked beyond it (``Retry-After: 99999999``)
        self.limiter = AdaptiveRateLimiter(
            rate,
            decrease=0.9,
            max_pause=self.retry.max_elapsed,
            clock=self.retry.clock,
            sleep=self.retry.sleep,
        )
        self.on_call = on_call
        #: told, in words, of a call that waits long or is retried (the CLI prints it on
        #: stderr, so a slow API is never silence)
        self.on_notice: Callable[[str], None] | None = None
        self.calls: collections.Counter[str] = collections.Counter()
        #: called before each request is sent: apply writes what it recorded since the last
        #: request (journal, audit log) here, so nothing answered is unrecorded when the next
        #: request leaves, and records are written in batches, not one by one
        self.before_send: list[Callable[[], None]] = []
        #: the latest CallRecords of this client, in order: no bodies, and at most twice
        #: ``RECORDS_KEPT`` (a first apply of 100,000 students makes 200,000 calls; the
        #: audit log has them all)
        self.records: list[CallRecord] = []
        #: the adaptive window of calls in flight (``window.peak``: the largest reached)
        self.window = Window(ceiling=max_in_flight, start=start_in_flight)
        self._gate = Gate(self.window, time.perf_counter)
        # taken once in the window, so that a client never holds a shared place while it
        # waits for one of its own
        self._budget = budget if budget is not None else contextlib.nullcontext()
        self._workers = max_in_flight
        self._timeout = timeout
        self.call_timeout = call_timeout
        self.max_body = max_body
        #: the page size asked for (smaller once the service refused ``PAGE_LIMIT``)
        self.page_limit = PAGE_LIMIT
        #: ``api.dialect.assignments``: a form, or ``auto``; ``found_form``: the form the
        #: service answered to in this run (``auto`` tries no other once one worked)
        self.assignment_form = assignment_form
        self.found_form: str | None = None
        if http_stack not in HTTP_STACKS:
            raise UsageError(
                f"unknown HTTP stack {http_stack!r}: expected one of " + ", ".join(HTTP_STACKS)
            )
        try:
            verify_with = ssl_verify(verify)
            if isinstance(verify_with, bool) and transport is None:
                # one context (CA bundle loaded once, SSL_CERT_FILE/DIR honoured) for all pools
                verify_with = httpx.create_ssl_context(verify=verify_with, trust_env=True)
            tls = verify_with if isinstance(verify_with, ssl.SSLContext) else None
            size = max_in_flight if transport is not None else min(max_in_flight, POOL_SIZE)
            direct = None
            if transport is None and http_stack == "spsync":
                direct = functools.partial(H1Transport, url, tls)
            self._pools = Pools(
                lambda: make_http(self.base_url, transport, verify_with, size, timeout),
                size,
                url,
                direct,
            )
        except (OSError, ssl.SSLError) as exc:  # e.g. SSL_CERT_FILE names a missing file
            raise UsageError(
                f"cannot set up TLS: {exc}; check SSL_CERT_FILE / SSL_CERT_DIR"
            ) from None
        # what each request carries and where it goes, built once: the client's default
        # headers (ours, with httpx's accept-encoding and keep-alive), its timeouts, and
        # the base URL a path is appended to (one URL parse per request instead of three)
        self._headers = dict(self._pools._clients[0].headers.multi_items())
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._base = url
        self._prefix = url.raw_path.rstrip(b"/")
        #: the Host field spsync's transport sends (httpx's request adds its own)
        self._host = [("Host", url.netloc.decode("ascii"))]

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, install={self.install!r}, token={self._token!r})"
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._pools.aclose()


async def gather_all(*coros: Awaitable[T]) -> list[T]:
    """Run ``coros`` concurrently; the first failure is raised once all have finished (so no
    request is left running unobserved, and no connection is left open)."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion from synchronous code (the CLI)."""
    # The result goes out through a box, not as the main task's result: when asyncio.run
    # restores the SIGINT handler it formats its own handler, which holds the main task, and
    # the task's repr includes a full repr of its result (a whole plan: seconds of CPU and a
    # copy's worth of memory on a large tenant).
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
