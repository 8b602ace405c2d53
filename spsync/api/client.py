"""The SmarterProctoring API client: one request choke point, retries, rate limiting, paging.

Every HTTP exchange goes through ``Client._call``, which

- builds the URL from a route template and validated SIDs (a malformed SID never leaves),
- adds the ``token`` header (the only place the token is revealed),
- waits for a place in the adaptive window of calls in flight (``window.Window``: AIMD,
  at most ``max_in_flight``) and for the adaptive rate limiter,
- maps answers to typed ``ApiError``s and parses bodies into ``wire`` models,
- retries what is safe to retry, with full-jitter exponential backoff, and
- resolves writes whose outcome is unknown by reading before any retry.

Which failures are retried, and which are read back first, is decided by the pure
``retry_decision.decide`` (its module holds the table of rules by the call's safety).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import importlib.util
import ipaddress
import logging
import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

import spsync
from spsync.api import assignments, wire
from spsync.api.errormap import error_from_response, response_error
from spsync.api.limiter import AdaptiveRateLimiter
from spsync.api.retry import RetryPolicy, parse_retry_after
from spsync.api.retry_decision import (
    Decision,
    Failure,
    Reach,
    Safety,
    decide,
    out_of_time,
)
from spsync.api.window import CEILING, START, Gate, Window
from spsync.errors import (
    ApiError,
    InvalidInputError,
    NoSuchRouteError,
    NotFoundError,
    ResponseError,
    TransportError,
    UsageError,
)
from spsync.sanitize import is_clean
from spsync.secrets import Secret

log = logging.getLogger("spsync.api")

T = TypeVar("T")
A = TypeVar("A")
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=wire.Response)

#: page size asked for (the contract's maximum); a page with more items is refused
PAGE_LIMIT = 100
#: page sizes tried, in turn, when the service refuses a page of ``PAGE_LIMIT``
SMALLER_PAGES = (50, 25, 10, 5)

# Bounds on what one answer or one list may cost (docs/api-client.md#bounds). A server
# that breaks one gets a one-line error naming the call, not our memory or our time.
#: largest response body read, counted after decompression
MAX_BODY_BYTES = 32 * 1024 * 1024
#: most items read from one list (the largest tenants have tens of thousands)
MAX_LIST_ITEMS = 1_000_000
#: most pages read from one list
MAX_LIST_PAGES = 20_000
#: most pages read from a list that announces no ``total`` (the contract always gives one)
MAX_PAGES_WITHOUT_TOTAL = 1_000
#: pages read past those ``total`` announced (items added while reading) before paging is
#: taken for endless
PAGE_SLACK = 10
#: default overall deadline of one HTTP exchange, from sending to the body's last byte
#: (``SPSYNC_CALL_TIMEOUT``): a body trickling in a byte at a time never resets it
CALL_TIMEOUT = 120.0
#: a call still unanswered after this many seconds is reported once through ``on_notice``
SLOW_NOTICE_AFTER = 5.0

# Route templates (also the keys of ``Client.calls`` and ``CallRecord.route``).
R_PROVISION = "/v2/installs/{installSid}/provision"
R_ASSIGNMENTS = "/v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/assignments"
R_SESSION = "/v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"
R_ONBOARD = R_SESSION + "/onboard"
R_ENROLLMENT_SESSIONS = (
    "/v1/installs/{installSid}/enrollments/{enrollmentSid}/exams/{examSid}/sessions"
)
R_COURSE = "/v1/installs/{installSid}/courses/{courseSid}"
R_EXAMS = R_COURSE + "/exams"
R_EXAM = R_EXAMS + "/{examSid}"
R_ENROLLMENTS = R_COURSE + "/enrollments"
R_USERS = "/v1/installs/{installSid}/users"
R_USER = R_USERS + "/{userSid}/profile"
R_APPOINTMENTS = "/v1/installs/{installSid}/reports/appointments"
R_SETTINGS = "/v1/installs/{installSid}/settings"

#: path parameter -> accepted SID prefixes
_PARAM_PREFIX = {
    "installSid": ("AI",),
    "courseSid": ("CU",),
    "examSid": ("EX",),
    "sessionSid": ("ES",),
    "enrollmentSid": ("EN",),
    "userSid": ("US",),
}

Query = list[tuple[str, str]]


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as given to ``on_call`` (audit log, progress).

    ``route`` is the template (``/v1/installs/{installSid}/…``), ``path`` the concrete path
    without query string. ``status`` is ``None`` when no answer came; ``error`` is the API's
    error code (or ``HTTP <status>`` without one) or the transport failure's name. Never a
    body, never the token.
    """

    method: str
    route: str
    path: str
    status: int | None
    duration_s: float
    attempt: int
    error: str | None = None


class _Unresolved(Exception):
    """An unknown outcome could not be settled by reading (the object is in another state)."""


class DeadlineExceeded(Exception):
    """One HTTP exchange did not complete within the call deadline."""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> httpx.URL:
    """The parsed base URL; plain HTTP is refused except for loopback hosts (contract §1)."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise UsageError(f"invalid API URL {base_url!r}: {exc}") from None
    if url.scheme == "https" and url.host:
        return url
    if url.scheme == "http" and url.host:
        if _is_loopback(url.host):
            return url
        raise UsageError(
            f"refusing plain-HTTP API URL {base_url}: the SmarterProctoring API is HTTPS only; "
            "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost), "
            "e.g. a local simulator"
        )
    raise UsageError(f"invalid API URL {base_url!r}: expected https://HOST[/PREFIX]")


def _ssl_verify(verify: str | bool | ssl.SSLContext | os.PathLike[str]) -> bool | ssl.SSLContext:
    """A CA bundle path becomes an SSL context (httpx deprecates paths); ``True`` keeps
    httpx's defaults, which honour ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    path = Path(verify)
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use CA bundle {path}: {exc}") from None


#: connections per HTTP client: each request costs its pool a check of every idle connection
#: (see _Pools), so small pools are cheaper; 2 measured 30% less CPU per call than 8
POOL_SIZE = 2


class _Pools:
    """As many HTTP clients of ``size`` connections as the requests in flight need.

    One client whose pool holds N connections costs more per request as N grows: at every
    request's start and end its pool checks each idle connection (two system calls each:
    is the socket readable, who is its peer), and it offers one idle connection to several
    requests that start together, all but one of which go round again. At 32 connections
    that was most of an apply's CPU, and 32 calls in flight were slower than 8; pools of 2
    cost 30% less CPU per call than pools of 8 (``POOL_SIZE``). So a request goes to the
    first client with fewer than ``size`` in flight, and another client is made only when
    every one is full: never more connections than requests in flight at once.

    ``take`` hands out the client's transport (the one its URL maps to: a proxy from the
    environment included), which requests are sent through directly: the client's own
    ``send`` (auth, redirects, cookies, event hooks) costs a fifth of a call's CPU and
    spsync uses none of it.
    """

    def __init__(self, make: Callable[[], httpx.AsyncClient], size: int, url: httpx.URL) -> None:
        self._make = make
        self._size = size
        self._url = url
        self._clients: list[httpx.AsyncClient] = []
        self._transports: list[httpx.AsyncBaseTransport] = []
        self._busy: list[int] = []
        self._add()  # now: a bad TLS setting fails here

    def _add(self) -> int:
        http = self._make()
        self._clients.append(http)
        self._transports.append(_transport_of(http, self._url))
        self._busy.append(0)
        return len(self._clients) - 1

    def take(self) -> httpx.AsyncBaseTransport:
        i = next((i for i, busy in enumerate(self._busy) if busy < self._size), None)
        if i is None:
            i = self._add()
        self._busy[i] += 1
        return self._transports[i]

    def give_back(self, transport: httpx.AsyncBaseTransport) -> None:
        self._busy[self._transports.index(transport)] -= 1

    async def aclose(self) -> None:
        for http in self._clients:
            await http.aclose()


def _transport_of(http: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
    """The transport ``http`` sends requests for ``url`` through (its proxy mount, if the
    environment names one). Every request of a ``Client`` goes to one base URL."""
    pick = getattr(http, "_transport_for_url", None)
    if pick is None:  # pragma: no cover - every httpx this package allows has it
        return _ClientTransport(http)
    transport: httpx.AsyncBaseTransport = pick(url)
    return transport


class _ClientTransport(httpx.AsyncBaseTransport):  # pragma: no cover - see _transport_of
    """A client used as a transport (its full ``send``), where it cannot be bypassed."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._http.send(request, stream=True)


def _tls_failure(exc: BaseException) -> str | None:
    """A description when ``exc`` was caused by TLS verification/handshake failing."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS certificate verification failed"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate verification failed"
    if "WRONG_VERSION_NUMBER" in text or "SSL" in text:
        return "TLS handshake failed"
    return None


#: the domain onboarding links are on, whatever the API host
ONBOARDING_DOMAIN = "smarterproctoring.com"


def _onboarding_domains(api_host: str) -> list[str]:
    domains = [ONBOARDING_DOMAIN]
    labels = api_host.lower().rstrip(".").split(".")
    if not _is_loopback(api_host) and len(labels) >= 2:
        own = ".".join(labels[-2:])  # another allowed API host: its own domain
        if own not in domains:
            domains.append(own)
    return domains


def onboarding_url_ok(url: str, api_host: str) -> bool:
    """Whether ``url`` may be printed as an onboarding link: ``https://``, no control or
    bidi character, on the service's domain (or the API host's own, for another install)."""
    if not is_clean(url) or " " in url:
        return False
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    host = (parsed.host or "").lower()
    if parsed.scheme != "https" or parsed.userinfo:
        return False
    return any(host == d or host.endswith("." + d) for d in _onboarding_domains(api_host))


def _os_reason(exc: BaseException) -> str:
    """The system's words for an OS error under ``exc`` (``Connection refused``), if any:
    fixed text that cannot carry anything of the request."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    return ""


def _record_missing_sniffio() -> None:
    """Make httpcore's repeated ``import sniffio`` fail at once when sniffio is absent.

    httpcore tries ``import sniffio`` about seven times per request (to tell asyncio from
    trio); anyio 4 no longer installs it, and a failed import is not remembered, so every
    attempt searched all of ``sys.path`` again: a fifth of the CPU a request costs here.
    ``sys.modules[name] = None`` is the import system's own record of a module known to be
    absent (``import`` then raises ``ModuleNotFoundError`` at once), so behaviour is the same.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _merge_query(base: Query, override: Query) -> Query:
    keys = {k for k, _ in override}
    return [(k, v) for k, v in base if k not in keys] + list(override)


def _next_query(next_url: str) -> Query:
    return list(httpx.URL(next_url).params.multi_items())


def _more_unlinked(first: wire.Page[Any], step: int, limit: int) -> bool:
    """Whether a list whose first page has no ``next`` link still has more: its ``total``
    says so, or it announces none and the page is full."""
    if first.total is not None:
        return first.total > step
    return step >= limit


def _dedupe(items: Iterable[R]) -> list[R]:
    """Drop repeats by SID (offset paging over a changing list can repeat an item)."""
    seen: set[str] = set()
    out: list[R] = []
    for item in items:
        sid = getattr(item, "sid", None)
        if isinstance(sid, str):
            if sid in seen:
                continue
            seen.add(sid)
        out.append(item)
    return out


def _with_note(error: ApiError, note: str) -> ApiError:
    """A copy of ``error`` (same class and fields) with ``note`` added to its message."""
    return type(error)(
        f"{error.api_message} {note}",
        method=error.method,
        path=error.path,
        status=error.status,
        code=error.code,
    )


class Client:
    """Async client of one SmarterProctoring install.

    ``token`` is ``None`` only against a simulator that does not check it. ``verify``: ``True``
    (system/``SSL_CERT_FILE`` CAs), ``False``, a CA bundle path or an ``ssl.SSLContext``.
    ``transport`` replaces the network (tests: ``httpx.ASGITransport``); ``rate`` caps the
    initial request rate (``None``: unlimited until the server first answers 429).
    ``max_in_flight`` is the ceiling of the window of calls in flight, which starts at
    ``start_in_flight`` and adapts (``spsync.api.window``); reads and writes share it.
    ``budget``: a limit on calls in flight shared with other clients (an
    ``asyncio.Semaphore`` held by every tenant of one run), on top of the window.
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
        _record_missing_sniffio()
        self.base_url = str(url).rstrip("/")
        self.install = install
        self._token = token
        self.retry = retry or RetryPolicy()
        # the window makes the main cut on a 429; the limiter keeps a rate cap just under
        # what got through, and the pause a Retry-After asks for
        self.limiter = AdaptiveRateLimiter(
            rate, decrease=0.9, clock=self.retry.clock, sleep=self.retry.sleep
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
        #: every CallRecord of this client, in order (cheap: no bodies)
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
        try:
            verify_with = _ssl_verify(verify)
            if verify_with is True and transport is None and max_in_flight > POOL_SIZE:
                # one context (CA bundle loaded once, SSL_CERT_FILE/DIR honoured) for all pools
                verify_with = httpx.create_ssl_context(verify=True, trust_env=True)
            size = max_in_flight if transport is not None else min(max_in_flight, POOL_SIZE)
            self._pools = _Pools(
                lambda: self._make_http(transport, verify_with, size, timeout), size, url
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

    def _make_http(
        self,
        transport: httpx.AsyncBaseTransport | None,
        verify: bool | ssl.SSLContext,
        connections: int,
        timeout: float,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            http1=True,
            http2=False,
            follow_redirects=False,
            headers={"user-agent": f"spsync/{spsync.__version__}", "accept": "application/json"},
        )

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

    # --- the choke point -----------------------------------------------------------------

    def _url(self, path: str, query: Query) -> httpx.URL:
        """The base URL with ``path`` appended and ``query`` encoded as httpx encodes it."""
        raw = path if not query else f"{path}?{httpx.QueryParams(list(query))}"
        return self._base.copy_with(raw_path=self._prefix + raw.encode("ascii"))

    def _path(self, method: str, route: str, params: dict[str, str]) -> str:
        values = {"installSid": self.install, **params}
        for name, value in values.items():
            prefixes = _PARAM_PREFIX[name]
            if not wire.is_sid(value, *prefixes):
                raise ApiError(
                    f"malformed {name} {value!r}: expected {'/'.join(prefixes)} + 32 lowercase "
                    "hex (not sent)",
                    method=method,
                    path=route,
                )
        return route.format(**values)

    def _secrets(self, extra: Sequence[str] = ()) -> list[str]:
        found = list(extra)
        if self._token is not None:
            found.append(self._token.reveal())
        return found

    def _record(self, record: CallRecord) -> None:
        self.records.append(record)
        level = logging.DEBUG if record.error is None else logging.INFO
        log.log(
            level,
            "%s %s -> %s%s in %.3fs (attempt %d)",
            record.method,
            record.path,
            record.status if record.status is not None else "no answer",
            f" {record.error}" if record.error else "",
            record.duration_s,
            record.attempt,
        )
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:  # a broken hook must not turn a done write into a failure
                log.warning("on_call hook failed for %s %s", record.method, record.path)

    async def _send(
        self, method: str, route: str, path: str, query: Query, content: bytes | None
    ) -> tuple[httpx.Response | None, bytes, httpx.TransportError | DeadlineExceeded | None, float]:
        """One exchange: the answer and its body (read whole, at most ``max_body`` bytes
        once decompressed, within ``call_timeout`` from sending to the last byte), or the
        failure. A body over the limit raises ``ResponseError`` (not worth a retry)."""
        await self._gate.enter()
        sent = time.perf_counter()
        answered = throttled = False
        try:
            # the rate limiter is passed with a place in hand: callers queued for a place
            # have not started yet, so a pause or a lower rate still holds them back. Its
            # wait counts in the call's latency as the window sees it: a window wider than
            # the rate allows only queues calls here, and the rising latency shrinks it.
            # The budget shared with other tenants' clients is taken after the window.
            async with self._budget:
                await self.limiter.acquire()
                self.calls[f"{method} {route}"] += 1
                headers = dict(self._headers)
                if content is not None:
                    headers["content-type"] = "application/json"
                if self._token is not None:
                    headers["token"] = self._token.reveal()
                for flush in self.before_send:
                    flush()
                started = time.perf_counter()
                http = self._pools.take()
                slow = self._notice_later(
                    SLOW_NOTICE_AFTER,
                    f"{method} {path}: no answer after {SLOW_NOTICE_AFTER:g}s; "
                    f"waiting up to {self._timeout:g}s",
                )
                try:
                    request = httpx.Request(
                        method,
                        self._url(path, query),
                        headers=headers,
                        content=content,
                        extensions=self._extensions,
                    )
                    async with asyncio.timeout(self.call_timeout):
                        response = await http.handle_async_request(request)
                        response.request = request
                        try:
                            body = await self._read_body(response, method, path)
                        finally:
                            await response.aclose()
                except httpx.TransportError as exc:
                    return None, b"", exc, time.perf_counter() - started
                except httpx.DecodingError:
                    # a body its content-encoding does not describe (a broken or hostile gzip)
                    raise ResponseError(
                        "response body could not be decoded (DecodingError)",
                        method=method,
                        path=path,
                    ) from None
                except TimeoutError:
                    return None, b"", DeadlineExceeded(), time.perf_counter() - started
                finally:
                    self._pools.give_back(http)
                    if slow is not None:
                        slow.cancel()
                # 429 and 503 say the server is overrun; other 5xx say nothing of the window
                throttled = response.status_code in (429, 503)
                answered = response.status_code < 500
                return response, body, None, time.perf_counter() - started
        finally:
            self._gate.leave(sent, answered=answered, throttled=throttled)

    async def _read_body(self, response: httpx.Response, method: str, path: str) -> bytes:
        """The decoded body, refused past ``max_body`` bytes (a compressed body is counted
        as it expands, so a small gzip bomb stops at the limit too)."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise self._too_large(method, path, response.status_code)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large(method, path, response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, path: str, status: int) -> ResponseError:
        return ResponseError(
            f"response body larger than {self.max_body} bytes (the limit): not read",
            method=method,
            path=path,
            status=status,
        )

    def _notice_later(self, delay: float, text: str) -> asyncio.TimerHandle | None:
        """Tell ``on_notice`` ``text`` after ``delay`` seconds, unless cancelled first."""
        if self.on_notice is None:
            return None
        return asyncio.get_running_loop().call_later(delay, self._notice, text)

    def _notice(self, text: str) -> None:
        if self.on_notice is not None:
            try:
                self.on_notice(text)
            except Exception:  # a broken hook must not break a call
                log.warning("on_notice hook failed")

    def _transport_error(
        self, method: str, path: str, exc: httpx.TransportError | DeadlineExceeded
    ) -> tuple[TransportError, Reach]:
        """The error to raise, and whether the request may have reached the server:
        ``unsent`` (safe to repeat), ``sent`` (outcome unknown) or ``fatal`` (do not retry).

        The HTTP stack's own text is never shown: it can quote a header value (the token)
        or a piece of the request. Only the failure's class name, and the system's
        description of an underlying OS error, are."""
        if isinstance(exc, DeadlineExceeded):
            text = (
                f"no complete answer within the call deadline of {self.call_timeout:g}s "
                "(SPSYNC_CALL_TIMEOUT)"
            )
            return TransportError(text, method=method, path=path), "sent"
        name = type(exc).__name__
        tls = _tls_failure(exc)
        if tls is not None and isinstance(exc, httpx.ConnectError):
            text = (
                f"{tls} ({name}); if the server uses a private CA, point SSL_CERT_FILE (or the "
                "client's verify option) at its CA bundle"
            )
            return TransportError(text, method=method, path=path), "fatal"
        if isinstance(exc, httpx.TimeoutException):
            what = f"timed out after {self._timeout:g}s ({name})"
        elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            what = f"connection dropped before a complete answer ({name})"
        elif isinstance(exc, httpx.ConnectError):
            what = f"cannot connect to {self.base_url} ({name})"
        else:
            what = f"transport failure ({name})"
        detail = _os_reason(exc)
        if detail:
            what = f"{what}: {detail}"
        error = TransportError(what, method=method, path=path)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return error, "unsent"
        if isinstance(exc, httpx.ProxyError):
            return error, "unsent"
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            return error, "sent"
        return error, "fatal"  # LocalProtocolError, UnsupportedProtocol: a bug, not luck

    def _parse(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        body: bytes,
        model: type[M],
        empty_ok: bool,
        any_body: bool = False,
    ) -> M | None:
        if empty_ok and not body.strip():
            return None
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            if any_body:
                # a write's answer that is not the object (``OK``, a JSON string): the
                # caller reads the object back to learn whether the write did what it asked
                return None
            raise response_error(
                method=method, path=path, status=response.status_code, problem=exc
            ) from None

    async def _call(
        self,
        method: str,
        route: str,
        params: dict[str, str],
        model: type[M],
        *,
        safety: Safety,
        query: Query | None = None,
        body: wire.Request | None = None,
        resolve: Callable[[], Awaitable[M | None]] | None = None,
        empty_ok: bool = False,
        any_body: bool = False,
    ) -> M | None:
        """Send one API call until it succeeds or may not be retried; see the module table.

        ``resolve`` (unsafe writes): reads whether the write happened; returns the result if
        it did, ``None`` if it did not (so it may be sent again), or raises ``_Unresolved``.
        ``empty_ok``: an empty 2xx body gives ``None`` instead of a ``ResponseError``.
        ``any_body``: so does any 2xx body that is not ``model`` (the vendor documents
        write answers as "a string"): the caller then reads the result back.
        """
        path = self._path(method, route, params)
        query = list(query or [])
        content, revealed = (None, []) if body is None else wire.request_json(body)
        secrets = self._secrets(revealed)
        policy = self.retry
        started = policy.clock()
        attempt = 0
        maybe_applied = False  # an earlier attempt of an unsafe write may have taken effect
        while True:
            attempt += 1
            response, body, exc, duration = await self._send(method, route, path, query, content)
            if exc is not None:
                error, reach = self._transport_error(method, path, exc)
                self._record(
                    CallRecord(method, route, path, None, duration, attempt, type(exc).__name__)
                )
                failure = Failure(
                    safety, attempt, policy.max_attempts, reach=reach, maybe_applied=maybe_applied
                )
            else:
                assert response is not None
                status = response.status_code
                if 200 <= status < 300:
                    self._record(CallRecord(method, route, path, status, duration, attempt))
                    self.limiter.on_success()
                    return self._parse(method, path, response, body, model, empty_ok, any_body)
                error = self._answer_error(method, path, response, body, secrets)
                self._record(
                    CallRecord(
                        method, route, path, status, duration, attempt,
                        error.code or f"HTTP {status}",
                    )
                )  # fmt: skip
                failure = Failure(
                    safety,
                    attempt,
                    policy.max_attempts,
                    status=status,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    maybe_applied=maybe_applied,
                )
            decision = decide(failure)
            self._tell_limiter(decision, failure.retry_after)
            if decision.step == "check":
                maybe_applied = True
                outcome = await self._check(method, path, resolve, error)
                if outcome is not None:
                    return outcome
                decision = decide(dataclasses.replace(failure, checked=True))
            if decision.step == "raise":
                raise error from None
            if decision.step == "give-up":
                raise _with_note(error, f"(gave up after {attempt} attempts)") from None
            wait = policy.delay(attempt, failure.retry_after)
            if out_of_time(policy.clock() - started, wait, policy.max_elapsed):
                raise _with_note(
                    error, f"(gave up after {attempt} attempts: retry budget exhausted)"
                ) from None
            self._notice(
                f"{error}; retrying in {wait:.1f}s (attempt {attempt + 1} of {policy.max_attempts})"
            )
            log.info(
                "%s %s: %s; retrying in %.2fs (attempt %d of %d)",
                method,
                path,
                error.code or error.status or "transport failure",
                wait,
                attempt + 1,
                policy.max_attempts,
            )
            await policy.sleep(wait)

    def _answer_error(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        body: bytes,
        secrets: list[str],
    ) -> ApiError:
        """The typed error of an answer that is not a success."""
        return error_from_response(
            method=method,
            path=path,
            status=response.status_code,
            reason=response.reason_phrase,
            content_type=response.headers.get("content-type", ""),
            body=body,
            secrets=secrets,
        )

    def _tell_limiter(self, decision: Decision, retry_after: float | None) -> None:
        """What the rate limiter learns from a failed attempt (``retry_decision``)."""
        if decision.signal == "throttled":
            self.limiter.on_throttled(retry_after)
        elif decision.signal == "answered":
            self.limiter.on_success()
        if decision.pause is not None:
            self.limiter.pause(decision.pause)

    async def _check(
        self,
        method: str,
        path: str,
        resolve: Callable[[], Awaitable[M | None]] | None,
        error: ApiError,
    ) -> M | None:
        """Read whether a write whose outcome is unknown took effect: its result if it did,
        ``None`` if it did not (it may be sent again); raises when it cannot be told."""
        if resolve is None:
            raise _with_note(error, "(the outcome is unknown; re-run plan to check)")
        outcome = await self._resolve(resolve, error)
        if outcome is not None:
            log.info("%s %s: outcome checked by reading: it took effect", method, path)
            return outcome
        log.info("%s %s: outcome checked by reading: it did not take effect", method, path)
        return None

    async def _resolve(
        self, resolve: Callable[[], Awaitable[M | None]], error: ApiError
    ) -> M | None:
        try:
            return await resolve()
        except _Unresolved as exc:
            raise _with_note(
                error, f"(the outcome is unknown: {exc}; re-run plan to check)"
            ) from None
        except ApiError as exc:
            raise _with_note(
                error,
                f"(the outcome is unknown and reading it failed: {exc}; re-run plan to check)",
            ) from None

    async def _one(
        self,
        method: str,
        route: str,
        params: dict[str, str],
        model: type[M],
        **kw: Any,
    ) -> M:
        result = await self._call(method, route, params, model, **kw)
        assert result is not None  # empty_ok not set: an empty body raised ResponseError
        return result

    # --- paging ---------------------------------------------------------------------------

    async def _paged(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Sequence[tuple[str, str]] = (),
    ) -> list[R]:
        """Every item of a paged list: ~total/100 calls.

        After the first page gives ``total``, the remaining pages are read concurrently
        (bounded by ``max_in_flight``); then ``next`` is followed from the last page to the
        end, so items added meanwhile are not missed. Items are de-duplicated by SID.
        """
        first = await self._page(route, params, item, list(query), 0)
        return await self._rest(route, params, item, list(query), first)

    async def _page(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Query,
        offset: int,
        limit: int | None = None,
    ) -> wire.Page[R]:
        """One page. Without ``limit``, the run's page size: ``PAGE_LIMIT``, made smaller
        for good when the service refuses it (its largest page is not documented)."""
        while True:
            size = limit or self.page_limit
            q = _merge_query(query, [("offset", str(offset)), ("limit", str(size))])
            try:
                return await self._list_page(route, params, item, q)
            except InvalidInputError as exc:
                smaller = [n for n in SMALLER_PAGES if n < size]
                # only a refusal that names the page size (as validation messages do)
                if limit is not None or not smaller or "limit" not in exc.api_message.lower():
                    raise
                if self.page_limit == size:
                    self._notice(f"the service refused pages of {size}; asking for {smaller[0]}")
                    self.page_limit = smaller[0]

    async def _list_page(
        self, route: str, params: dict[str, str], item: type[R], query: Query
    ) -> wire.Page[R]:
        # a generic model parametrised at run time, which a static checker cannot follow
        page_model: type[wire.Page[R]] = wire.Page[item]  # type: ignore[valid-type]
        page = await self._one("GET", route, params, page_model, safety="read", query=query)
        if len(page.results) > PAGE_LIMIT:
            raise self._bound(
                route, f"a page of {len(page.results)} items, more than the {PAGE_LIMIT} asked for"
            )
        if page.total is not None and page.total > MAX_LIST_ITEMS:
            raise self._bound(
                route,
                f"the list announces {page.total} items, more than the "
                f"{MAX_LIST_ITEMS} spsync reads from one list",
            )
        return page

    def _bound(self, route: str, what: str) -> ResponseError:
        """A list past one of the bounds: named by its route, refused whole."""
        return ResponseError(
            f"{what} (refused; see docs/api-client.md#bounds)", method="GET", path=route
        )

    async def _rest(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Query,
        first: wire.Page[R],
    ) -> list[R]:
        items: list[R] = list(first.results)
        cursor = first.next
        step = len(first.results)
        pages_read = 1
        # how many pages the list may take: what ``total`` announces and a little more (items
        # added while reading), or the overall cap when it announces nothing
        most = MAX_PAGES_WITHOUT_TOTAL
        if first.total is not None and step > 0:
            most = min(MAX_LIST_PAGES, -(-first.total // step) + PAGE_SLACK)
        if cursor and first.total is not None and step > 0:
            nxt = dict(_next_query(cursor))
            if nxt.get("offset") == str(step):  # plain offset paging: pages are predictable
                offsets = range(step, first.total, step)
                if len(offsets) + 1 > MAX_LIST_PAGES:
                    raise self._bound(
                        route,
                        f"the list announces {first.total} items in pages "
                        f"of {step}: more than {MAX_LIST_PAGES} pages",
                    )
                pages = await self._pooled(
                    lambda off: self._page(route, params, item, query, off, step), offsets
                )
                for page in pages:
                    items.extend(page.results)
                pages_read += len(pages)
                cursor = pages[-1].next if pages else first.next
        seen: set[tuple[tuple[str, str], ...]] = set()
        while cursor:
            if pages_read >= most:
                raise self._bound(route, f"paging did not end after {pages_read} pages")
            q = _merge_query(query, _next_query(cursor))
            key = tuple(sorted(q))
            if key in seen:
                raise ResponseError(
                    "paging does not advance (a next link seen before)", method="GET", path=route
                )
            seen.add(key)
            page = await self._list_page(route, params, item, q)
            pages_read += 1
            items.extend(page.results)
            if len(items) > MAX_LIST_ITEMS:
                raise self._bound(route, f"more than {MAX_LIST_ITEMS} items in one list")
            cursor = page.next
        if first.next is None and step > 0 and _more_unlinked(first, step, self.page_limit):
            # no links, yet the first page was full (or the total says there is more): the
            # vendor's advice is to raise the offset by the limit until a page comes back short
            offset = step
            while True:
                if pages_read >= most:
                    raise self._bound(route, f"paging did not end after {pages_read} pages")
                page = await self._page(route, params, item, query, offset, step)
                pages_read += 1
                items.extend(page.results)
                if len(items) > MAX_LIST_ITEMS:
                    raise self._bound(route, f"more than {MAX_LIST_ITEMS} items in one list")
                if len(page.results) < step:
                    break
                offset += step
        return _dedupe(items)

    async def _pooled(self, fetch: Callable[[A], Awaitable[T]], args: Iterable[A]) -> list[T]:
        """``fetch(arg)`` for every arg, in order, by ``max_in_flight`` workers: as many
        coroutines as workers, however many pages there are. The first failure stops the
        workers taking more and is raised once they are done."""
        todo = list(enumerate(args))
        results: list[Any] = [None] * len(todo)
        queue = iter(todo)
        failed: list[BaseException] = []

        async def worker() -> None:
            for i, arg in queue:
                if failed:
                    return
                try:
                    results[i] = await fetch(arg)
                except BaseException as exc:
                    failed.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(min(self._workers, len(todo)))))
        if failed:
            raise failed[0]
        return results

    # --- writes ---------------------------------------------------------------------------

    async def provision(self, body: wire.ProvisionRequest) -> wire.ProvisionResponse:
        """Create or match course/exam/user/enrollment. Safe to repeat: matched by ids, so a
        retry after a lost answer reports ``Found Existing`` where the first said ``Created``."""
        return await self._one(
            "POST", R_PROVISION, {}, wire.ProvisionResponse, safety="idempotent", body=body
        )

    async def update_assignments(
        self,
        course_sid: str,
        exam_sid: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> wire.AssignmentList | None:
        """Assign/unassign enrollments (idempotent), in the tenant's assignment form
        (``spsync.api.assignments``). Returns once the change is confirmed: by the answer
        when it lists the exam's assignments (returned), else by reading each enrollment's
        sessions back (``None``). ``ResponseError`` when the read-back shows the service did
        not do it.

        With ``auto``, a removal the guide form ignored (it documents only ``add``) is sent
        again in the forms that document one, when the service serves them."""
        forms = assignments.candidates(self.assignment_form, self.found_form)
        form, answer = await self._send_assignments(forms, course_sid, exam_sid, add, remove)
        if (
            answer is not None
            and answer.examSid == exam_sid
            and assignments.confirmed_by_answer(answer, add, remove)
        ):
            return answer
        not_added, not_removed = await self._read_back(exam_sid, add, remove)
        if not_removed and form not in assignments.REMOVES and self.assignment_form == "auto":
            others = [f for f in assignments.AUTO_ORDER if f in assignments.REMOVES]
            with contextlib.suppress(NoSuchRouteError, NotFoundError):
                await self._send_assignments(others, course_sid, exam_sid, (), not_removed)
                _, not_removed = await self._read_back(exam_sid, (), not_removed)
        if not_added or not_removed:
            raise self._not_confirmed(form, not_added, not_removed)
        return None

    async def _send_assignments(
        self,
        forms: Sequence[str],
        course_sid: str,
        exam_sid: str,
        add: Sequence[str],
        remove: Sequence[str],
    ) -> tuple[str, wire.AssignmentList | None]:
        """Send the change in the first of ``forms`` whose endpoint exists: ``(form, the
        answer when it is the assignment list)``; remembers the form for the run."""
        first_error: ApiError | None = None
        for form in forms:
            route, params, body = assignments.request(form, course_sid, exam_sid, add, remove)
            try:
                answer = await self._call(
                    "PUT", route, params, wire.AssignmentList, safety="idempotent", body=body,
                    empty_ok=True, any_body=True,
                )  # fmt: skip
            except (NoSuchRouteError, NotFoundError) as exc:
                if len(forms) == 1:
                    raise
                # while the form is not known, a missing endpoint means: try the next form
                first_error = first_error or exc
                continue
            self.found_form = form
            return form, answer
        assert first_error is not None
        raise _with_note(
            first_error,
            f"(tried the {', '.join(forms)} assignment forms, each answered "
            f"{first_error.status}: the install serves none of them, or the exam or an "
            "enrollment does not exist; set api.dialect.assignments in tenant.yaml, see "
            "docs/api-dialects.md)",
        ) from None

    async def _read_back(
        self, exam_sid: str, add: Sequence[str], remove: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """``(not assigned, still assigned)`` among ``add``/``remove``, read from each
        enrollment's sessions of the exam: an assigned one has an active session."""

        async def active(enrollment_sid: str) -> bool:
            listed = await self.list_enrollment_sessions(enrollment_sid, exam_sid)
            return any(x.status in wire.ACTIVE_STATUSES for x in listed)

        wanted = [(e, True) for e in add] + [(e, False) for e in remove]
        seen = await self._pooled(lambda pair: active(pair[0]), wanted)
        wrong = [(e, want) for (e, want), got in zip(wanted, seen, strict=True) if want != got]
        return [e for e, want in wrong if want], [e for e, want in wrong if not want]

    def _not_confirmed(
        self, form: str, not_added: Sequence[str], not_removed: Sequence[str]
    ) -> ResponseError:
        parts = []
        if not_added:
            parts.append(f"{len(not_added)} not assigned ({', '.join(not_added[:3])})")
        if not_removed:
            parts.append(f"{len(not_removed)} still assigned ({', '.join(not_removed[:3])})")
        hint = ""
        if not_removed and form not in assignments.REMOVES:
            hint = (
                f"; the {form} form documents no removal: set api.dialect.assignments to "
                "exam or newest if the install serves one (docs/api-dialects.md)"
            )
        return ResponseError(
            "the service accepted the assignment change, but reading it back shows "
            f"{' and '.join(parts)}{hint}",
            method="PUT",
            path=assignments.ROUTES[form],
        )

    async def schedule_session(
        self, exam_sid: str, session_sid: str, req: wire.ScheduleRequest, *, enrollment_sid: str
    ) -> wire.Session:
        """Schedule a ``Needs Proctor`` session. Never books twice: when an attempt's outcome
        is unknown, the enrollment's sessions are read before anything is sent again."""
        want_time = wire.normalise_time(req.appointmentDateTime)

        async def outcome() -> wire.Session | None:
            sessions = await self.list_enrollment_sessions(enrollment_sid, exam_sid)
            found = next((s for s in sessions if s.sid == session_sid), None)
            if found is None:
                raise _Unresolved(f"session {session_sid} is not among the enrollment's sessions")
            if found.status == wire.NEEDS_PROCTOR:
                return None
            if req.externalAppointmentId is not None and (
                "externalAppointmentId" not in found.model_fields_set
            ):
                # list items the vendor documents carry no external id: the details do
                found = await self.get_session(exam_sid, session_sid)
            if _booked_as(found, want_time, req.externalAppointmentId):
                try:
                    return await self.get_session(exam_sid, session_sid)
                except ApiError:
                    return found  # it is scheduled; the list item is enough to say so
            raise _Unresolved(
                f"session {session_sid} is {found.status} for {found.appointmentDate}, "
                "not as requested"
            )

        params = {"examSid": exam_sid, "sessionSid": session_sid}
        result = await self._call(
            "POST", R_SESSION, params, wire.Session, safety="unsafe", body=req,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        # the answer is not the session: read it back, and it must be booked as asked
        current = await self.get_session(exam_sid, session_sid)
        if not _booked_as(current, want_time, req.externalAppointmentId):
            raise ResponseError(
                f"the service accepted the booking of session {session_sid}, but reading it "
                f"back shows it {current.status} for {current.appointmentDate}",
                method="POST",
                path=R_SESSION,
            )
        return current

    async def reschedule_session(
        self, exam_sid: str, session_sid: str, appointment: str, *, notes: str | None = None
    ) -> wire.Session:
        """Move a ``Scheduled`` session; an unknown outcome is settled by reading the session."""
        body = wire.RescheduleRequest(appointmentDateTime=appointment, notes=notes)
        want_time = wire.normalise_time(appointment)
        params = {"examSid": exam_sid, "sessionSid": session_sid}

        async def outcome() -> wire.Session | None:
            current = await self.get_session(exam_sid, session_sid)
            if current.status == wire.SCHEDULED:
                return current if current.appointmentDate == want_time else None
            raise _Unresolved(f"session {session_sid} is {current.status}")

        result = await self._call(
            "PUT", R_SESSION, params, wire.Session, safety="unsafe", body=body,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        current = await self.get_session(exam_sid, session_sid)
        if current.status != wire.SCHEDULED or current.appointmentDate != want_time:
            raise ResponseError(
                f"the service accepted the move of session {session_sid}, but reading it back "
                f"shows it {current.status} for {current.appointmentDate}",
                method="PUT",
                path=R_SESSION,
            )
        return current

    async def cancel_session(
        self, exam_sid: str, session_sid: str, *, memo: str, reason: str = "other-reason"
    ) -> wire.Session:
        """Cancel a session; an unknown outcome is settled by reading its status."""
        body = wire.CancelRequest.model_validate({"cancellationMemo": memo, "reason": reason})
        params = {"examSid": exam_sid, "sessionSid": session_sid}

        async def outcome() -> wire.Session | None:
            current = await self.get_session(exam_sid, session_sid)
            if _unbooked(current):
                return current
            if current.status == wire.SCHEDULED:
                return None
            raise _Unresolved(f"session {session_sid} is {current.status}")

        result = await self._call(
            "DELETE", R_SESSION, params, wire.Session, safety="unsafe", body=body,
            resolve=outcome, empty_ok=True, any_body=True,
        )  # fmt: skip
        if result is not None and result.sid == session_sid:
            return result
        current = await self.get_session(exam_sid, session_sid)
        if not _unbooked(current):
            raise ResponseError(
                f"the service accepted the cancellation of session {session_sid}, but reading "
                f"it back shows it {current.status}",
                method="DELETE",
                path=R_SESSION,
            )
        return current

    async def onboard_url(self, exam_sid: str, session_sid: str) -> str:
        """A fresh, single-use onboarding URL of a ``Scheduled`` session (never store it)."""
        got = await self._one(
            "GET",
            R_ONBOARD,
            {"examSid": exam_sid, "sessionSid": session_sid},
            wire.OnboardUrl,
            safety="read",
        )
        if not onboarding_url_ok(got.url, httpx.URL(self.base_url).host):
            raise ResponseError(
                "the onboarding URL is not an https:// URL on the service's domain "
                f"({', '.join(_onboarding_domains(httpx.URL(self.base_url).host))}) or holds "
                "control characters: refused, not shown",
                method="GET",
                path=R_ONBOARD,
            )
        return got.url

    # --- reads ----------------------------------------------------------------------------

    async def list_enrollment_sessions(
        self, enrollment_sid: str, exam_sid: str, *, include_active: bool = True
    ) -> list[wire.Session]:
        """An enrollment's sessions of one exam (with the active one unless told otherwise)."""
        query = [("includeActive", "true" if include_active else "false")]
        return await self._paged(
            R_ENROLLMENT_SESSIONS,
            {"enrollmentSid": enrollment_sid, "examSid": exam_sid},
            wire.Session,
            query,
        )

    async def get_session(self, exam_sid: str, session_sid: str) -> wire.Session:
        return await self._one(
            "GET",
            R_SESSION,
            {"examSid": exam_sid, "sessionSid": session_sid},
            wire.Session,
            safety="read",
        )

    async def get_course(self, course_sid: str) -> wire.Course:
        return await self._one(
            "GET", R_COURSE, {"courseSid": course_sid}, wire.Course, safety="read"
        )

    async def get_exam(self, course_sid: str, exam_sid: str) -> wire.Exam:
        return await self._one(
            "GET",
            R_EXAM,
            {"courseSid": course_sid, "examSid": exam_sid},
            wire.Exam,
            safety="read",
        )

    async def list_exams(self, course_sid: str) -> list[wire.Exam]:
        return await self._paged(R_EXAMS, {"courseSid": course_sid}, wire.Exam)

    async def get_user(self, user_sid: str) -> wire.User:
        return await self._one("GET", R_USER, {"userSid": user_sid}, wire.User, safety="read")

    async def find_users(
        self,
        *,
        external_id: str | None = None,
        api_id: str | None = None,
        lms_id: str | None = None,
        email: str | None = None,
    ) -> list[wire.User]:
        """Users matching every given filter (with none: every user).

        What comes back is checked against the filters: a user that does not carry the id
        asked for (a proxy or a server that ignored the query) is dropped, never taken for
        the one that was meant."""
        query = [
            (k, v)
            for k, v in (
                ("externalId", external_id),
                ("apiId", api_id),
                ("lmsId", lms_id),
                ("email", email),
            )
            if v is not None
        ]
        users = await self._paged(R_USERS, {}, wire.User, query)
        wanted = {"externalId": external_id, "apiId": api_id, "lmsId": lms_id}
        out = []
        for user in users:
            if any(v is not None and getattr(user, k) != v for k, v in wanted.items()):
                continue
            if email is not None and (user.email or "").lower() != email.lower():
                continue
            out.append(user)
        return out

    async def list_users(self) -> list[wire.User]:
        """Every user of the install (paged)."""
        return await self._paged(R_USERS, {}, wire.User)

    async def users_by_external_id(self, external_ids: Iterable[str]) -> dict[str, wire.User]:
        """Users for many external ids, at the lower of the two costs: one filtered lookup per
        id, or reading the whole user list (~total/100 calls). Ids not found are absent."""
        wanted = sorted(set(external_ids))
        if not wanted:
            return {}
        first = await self._page(R_USERS, {}, wire.User, [], 0)
        pages_left = 0
        if first.next:
            step = max(1, len(first.results))
            total = first.total if first.total is not None else 10**9
            pages_left = -(-max(0, total - step) // step)
        if pages_left <= len(wanted):
            users = await self._rest(R_USERS, {}, wire.User, [], first)
        else:
            found = await self._pooled(lambda x: self.find_users(external_id=x), wanted)
            users = [u for group in found for u in group]
        out: dict[str, wire.User] = {}
        want = set(wanted)
        for user in users:
            if user.externalId in want and user.externalId not in out:
                out[user.externalId] = user
        return out

    async def list_enrollments(self, course_sid: str) -> list[wire.Enrollment]:
        """Every enrollment of a course (paged)."""
        return await self._paged(R_ENROLLMENTS, {"courseSid": course_sid}, wire.Enrollment)

    async def appointments(
        self,
        *,
        exam_sid: str | None = None,
        course_sid: str | None = None,
        status: Sequence[str] = (),
        learner_sid: str | None = None,
        appointment_after: str | None = None,
        appointment_before: str | None = None,
    ) -> list[wire.Session]:
        """The appointments report: sessions across the install, e.g. all of one exam in
        ~total/100 calls. Filters are combined; ``status`` is repeatable."""
        for name, value, prefix in (
            ("examSid", exam_sid, "EX"),
            ("courseSid", course_sid, "CU"),
            ("learnerSid", learner_sid, "US"),
        ):
            if value is not None and not wire.is_sid(value, prefix):
                raise ApiError(
                    f"malformed {name} {value!r}: expected {prefix} + 32 lowercase hex (not sent)",
                    method="GET",
                    path=R_APPOINTMENTS,
                )
        query: Query = [
            (k, v)
            for k, v in (
                ("examSid", exam_sid),
                ("courseSid", course_sid),
                ("learnerSid", learner_sid),
                ("appointmentAfter", appointment_after),
                ("appointmentBefore", appointment_before),
            )
            if v is not None
        ]
        query += [("status", s) for s in status]
        return await self._paged(R_APPOINTMENTS, {}, wire.Session, query)

    async def exam_sessions(self, exam_sid: str) -> list[wire.Session]:
        """Every session of one exam, through the appointments report."""
        return await self.appointments(exam_sid=exam_sid)

    async def settings(self) -> wire.Settings:
        return await self._one("GET", R_SETTINGS, {}, wire.Settings, safety="read")

    async def get_raw(
        self, route: str, params: dict[str, str], query: Sequence[tuple[str, str]] = ()
    ) -> tuple[int, httpx.Headers, bytes]:
        """One GET of ``route``, answered as it came: status, headers and body, whatever
        the status (``spsync doctor`` studies error answers too). Sent once, never
        retried; a transport failure raises ``TransportError``."""
        path = self._path("GET", route, params)
        response, body, exc, duration = await self._send("GET", route, path, list(query), None)
        if exc is not None:
            error, _reach = self._transport_error("GET", path, exc)
            self._record(CallRecord("GET", route, path, None, duration, 1, type(exc).__name__))
            raise error from None
        assert response is not None
        status = response.status_code
        failed = None if 200 <= status < 300 else f"HTTP {status}"
        self._record(CallRecord("GET", route, path, status, duration, 1, failed))
        return status, response.headers, body


def _booked_as(s: wire.Session, when: str | None, external_id: str | None) -> bool:
    """Whether ``s`` is booked for ``when`` (and, when given and shown, under
    ``external_id``: an answer that does not show the external id says nothing against)."""
    return (
        s.status in (wire.SCHEDULED, "Pending Approval")
        and s.appointmentDate == when
        and (
            external_id is None
            or "externalAppointmentId" not in s.model_fields_set
            or s.externalAppointmentId == external_id
        )
    )


def _unbooked(s: wire.Session) -> bool:
    """A session a cancel has done with: cancelled, or (where the service reopens the same
    session after a cancel) waiting for a proctor again."""
    return s.status in (wire.CANCELLED, wire.NEEDS_PROCTOR)


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
