"""The HTTP stack under the client: base URL, TLS, connection pools, transport failures.

What the request loop (``calls``) sends through, set up once per ``Client``:
``check_base_url`` (HTTPS only, plain HTTP for loopback hosts), ``ssl_verify`` (a CA bundle
path becomes an SSL context), ``make_http`` (one httpx client), ``Pools`` (as many clients
of ``POOL_SIZE`` connections as the requests in flight need), and ``transport_failure``
(an httpx failure in words that cannot quote the request, and whether it may have reached
the server).

Importing this module records, once, that ``sniffio`` is absent when it is (see
``record_missing_sniffio``).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

import spsync
from spsync.api.retry_decision import Reach
from spsync.errors import TransportError, UsageError


def record_missing_sniffio() -> None:
    """Make httpcore's repeated ``import sniffio`` fail at once when sniffio is absent.

    httpcore tries ``import sniffio`` about seven times per request (to tell asyncio from
    trio); anyio 4 no longer installs it, and a failed import is not remembered, so every
    attempt searched all of ``sys.path`` again: a fifth of the CPU a request costs here.
    ``sys.modules[name] = None`` is the import system's own record of a module known to be
    absent (``import`` then raises ``ModuleNotFoundError`` at once), so behaviour is the same.
    An installed sniffio is left alone. Run once, when this module is first imported (below):
    the set of installed packages does not change while spsync runs.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


record_missing_sniffio()


class DeadlineExceeded(Exception):
    """One HTTP exchange did not complete within the call deadline."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
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
        if is_loopback(url.host):
            return url
        raise UsageError(
            f"refusing plain-HTTP API URL {base_url}: the SmarterProctoring API is HTTPS only; "
            "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost), "
            "e.g. a local simulator"
        )
    raise UsageError(f"invalid API URL {base_url!r}: expected https://HOST[/PREFIX]")


def ssl_verify(verify: str | bool | ssl.SSLContext | os.PathLike[str]) -> bool | ssl.SSLContext:
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


#: what a ``Client`` sends through: spsync's own HTTP/1.1 transport (``h1``, the default)
#: or httpx's (``SPSYNC_HTTP_STACK=httpx``: the way back should a server need it)
HTTP_STACKS = ("spsync", "httpx")

#: connections per HTTP client: each request costs its pool a check of every idle connection
#: (see Pools), so small pools are cheaper; 2 measured 30% less CPU per call than 8
POOL_SIZE = 2


class Pools:
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

    ``direct`` (spsync's own HTTP/1.1 transport, ``h1.H1Transport``) replaces all of that
    when the first client would send straight to the URL (no proxy in the environment):
    one transport then serves every request, its connections as many as are in flight.
    """

    def __init__(
        self,
        make: Callable[[], httpx.AsyncClient],
        size: int,
        url: httpx.URL,
        direct: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._make = make
        self._size = size
        self._url = url
        self._clients: list[httpx.AsyncClient] = []
        self._transports: list[httpx.AsyncBaseTransport] = []
        self._busy: list[int] = []
        self._add()  # now: a bad TLS setting fails here
        #: the one transport every request goes through, when there is one
        self.direct: httpx.AsyncBaseTransport | None = None
        if direct is not None and self._transports[0] is self._clients[0]._transport:
            self.direct = direct()

    def _add(self) -> int:
        http = self._make()
        self._clients.append(http)
        self._transports.append(_transport_of(http, self._url))
        self._busy.append(0)
        return len(self._clients) - 1

    def take(self) -> httpx.AsyncBaseTransport:
        if self.direct is not None:
            return self.direct
        i = next((i for i, busy in enumerate(self._busy) if busy < self._size), None)
        if i is None:
            i = self._add()
        self._busy[i] += 1
        return self._transports[i]

    def give_back(self, transport: httpx.AsyncBaseTransport) -> None:
        if transport is not self.direct:
            self._busy[self._transports.index(transport)] -= 1

    async def aclose(self) -> None:
        if self.direct is not None:
            await self.direct.aclose()
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


def tls_failure(exc: BaseException) -> str | None:
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


def os_reason(exc: BaseException) -> str:
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


def make_http(
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
    verify: bool | ssl.SSLContext,
    connections: int,
    timeout: float,
) -> httpx.AsyncClient:
    """One httpx client of ``connections`` connections to ``base_url``: HTTP/1.1, no
    redirects followed, spsync's user agent, JSON accepted."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        verify=verify,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        http1=True,
        http2=False,
        follow_redirects=False,
        headers={"user-agent": f"spsync/{spsync.__version__}", "accept": "application/json"},
    )


def transport_failure(
    exc: httpx.TransportError | DeadlineExceeded,
    method: str,
    path: str,
    *,
    base_url: str,
    timeout: float,
    call_timeout: float,
) -> tuple[TransportError, Reach]:
    """The error to raise, and whether the request may have reached the server:
    ``unsent`` (safe to repeat), ``sent`` (outcome unknown) or ``fatal`` (do not retry).

    The HTTP stack's own text is never shown: it can quote a header value (the token)
    or a piece of the request. Only the failure's class name, and the system's
    description of an underlying OS error, are."""
    if isinstance(exc, DeadlineExceeded):
        text = (
            f"no complete answer within the call deadline of {call_timeout:g}s "
            "(SPSYNC_CALL_TIMEOUT)"
        )
        return TransportError(text, method=method, path=path), "sent"
    name = type(exc).__name__
    tls = tls_failure(exc)
    if tls is not None and isinstance(exc, httpx.ConnectError):
        text = (
            f"{tls} ({name}); if the server uses a private CA, point SSL_CERT_FILE (or the "
            "client's verify option) at its CA bundle"
        )
        return TransportError(text, method=method, path=path), "fatal"
    if isinstance(exc, httpx.TimeoutException):
        what = f"timed out after {timeout:g}s ({name})"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        what = f"connection dropped before a complete answer ({name})"
    elif isinstance(exc, httpx.ConnectError):
        what = f"cannot connect to {base_url} ({name})"
    else:
        what = f"transport failure ({name})"
    detail = os_reason(exc)
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
