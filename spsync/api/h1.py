"""A small HTTP/1.1 transport for the one host a ``Client`` talks to, on asyncio itself.

Why not httpx's own transport: at the call rates an apply reaches, the general-purpose
stack under it (httpcore's pool, h11's state machine, anyio's streams) was the largest
share of spsync's CPU per call. Its pool checks every idle connection with two system
calls at each request's start and end; here a connection learns that the server closed it
from the event loop (``connection_lost``), for free. This transport does only what spsync
needs, for one origin: keep-alive connections (as many as requests in flight, reused most
recent first), requests whose body is already bytes, and answers framed by
``Content-Length``, ``chunked`` or the connection's end.

It plugs in under httpx (``httpx.AsyncBaseTransport``): the request and the answer stay
httpx objects, so decoding (gzip), the call loop's bounds and the error handling above are
the same. Failures are httpx's exception classes, chained to their cause, so
``transport.transport_failure`` tells them apart as before (``ConnectError``: not sent;
``RemoteProtocolError``/``ReadError``/``ReadTimeout``: maybe sent).

What it refuses from a server, as ``RemoteProtocolError``: a head over ``MAX_HEAD`` bytes
or ``MAX_HEADERS`` lines, a malformed status or header line (obsolete line folding
included), a ``Content-Length`` that is not one decimal number, a chunk size that is not
hex or whose line is over ``MAX_LINE``, and a body cut short. What it refuses to send, as
``LocalProtocolError``: a header whose name or value holds CR, LF or NUL (a token read
from a file with a stray newline would otherwise split the request).

Proxies are not its business: ``transport.Pools`` keeps httpx's transport when the
environment names a proxy for the API's URL.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

#: the most bytes of status line and headers read from one answer
MAX_HEAD = 64 * 1024
#: the most header lines in one answer (or chunked trailer)
MAX_HEADERS = 256
#: the longest chunk-size line
MAX_LINE = 4 * 1024
#: bytes read from the socket before the protocol asks the loop to stop reading
HIGH_WATER = 256 * 1024

_NO_BODY = frozenset({204, 304})


class _Conn(asyncio.Protocol):
    """One connection: bytes received wait in ``buffer`` until the answer's reader takes
    them; ``closed`` once the server (or we) ended it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.closed = False
        #: the loop has closed the socket (``connection_lost``)
        self.lost = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.closed = True
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # used by the transport
    def usable(self) -> bool:
        """Idle and still open: no byte arrived since the last answer ended (an unasked
        byte means the connection is out of step) and the server has not closed it."""
        transport = self.transport
        return (
            not self.closed
            and not self.eof
            and not self.buffer
            and transport is not None
            and not transport.is_closing()
        )

    async def more(self, timeout: float | None) -> None:
        """Wait until more bytes (or the end) arrive; ``ReadTimeout`` past ``timeout``."""
        if self.eof:
            raise self._dropped("connection closed before a complete answer")
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        try:
            if timeout is None:
                await waiter
            else:
                async with asyncio.timeout(timeout):
                    await waiter
        except TimeoutError:
            raise httpx.ReadTimeout("no bytes within the read timeout") from None
        finally:
            self._waiter = None

    def _dropped(self, text: str) -> httpx.TransportError:
        if self.error is not None:
            error: httpx.TransportError = httpx.ReadError(text)
            error.__cause__ = self.error
            return error
        return httpx.RemoteProtocolError(text)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once: nothing is left to send on an idle connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Answer:
    """Reads one answer's head and body off a connection."""

    def __init__(self, conn: _Conn, read_timeout: float | None) -> None:
        self.conn = conn
        self.timeout = read_timeout
        #: the answer came as HTTP/1.0: its connection is not kept
        self.http10 = False

    async def head(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Status, reason and headers of the next final (non-1xx) answer."""
        while True:
            block = await self._until(b"\r\n\r\n", MAX_HEAD, "answer head")
            status, reason, headers, old = parse_head(block)
            if status >= 200 or status == 101:
                self.http10 = old
                return status, reason, headers
            # an informational answer (100 Continue, 103 Early Hints): the real one follows

    async def _until(self, mark: bytes, limit: int, what: str) -> bytes:
        """The bytes up to ``mark`` (which is consumed), at most ``limit`` of them."""
        conn = self.conn
        start = 0
        while True:
            found = conn.buffer.find(mark, start)
            if found >= 0:
                data = bytes(conn.buffer[:found])
                del conn.buffer[: found + len(mark)]
                return data
            if len(conn.buffer) > limit:
                raise httpx.RemoteProtocolError(f"{what} longer than {limit} bytes")
            start = max(0, len(conn.buffer) - len(mark) + 1)
            if conn.eof:
                if what == "answer head" and not conn.buffer:
                    raise conn._dropped("server disconnected without sending an answer")
                raise conn._dropped(f"connection closed in the middle of the {what}")
            await conn.more(self.timeout)

    async def exactly(self, size: int) -> AsyncIterator[bytes]:
        """``size`` bytes, as they arrive."""
        conn = self.conn
        left = size
        while left > 0:
            if not conn.buffer:
                if conn.eof:
                    raise conn._dropped(f"body cut short: {left} of {size} bytes missing")
                await conn.more(self.timeout)
                continue
            take = min(left, len(conn.buffer))
            data = bytes(conn.buffer[:take])
            del conn.buffer[:take]
            left -= take
            yield data

    async def chunked(self) -> AsyncIterator[bytes]:
        """A ``chunked`` body's data; its trailer is read and dropped."""
        while True:
            line = await self._until(b"\r\n", MAX_LINE, "chunk size line")
            size = parse_chunk_size(line)
            if size == 0:
                break
            async for data in self.exactly(size):
                yield data
            if await self._until(b"\r\n", 2, "chunk end") != b"":
                raise httpx.RemoteProtocolError("chunk data longer than its size")
        for _ in range(MAX_HEADERS):  # the trailer: header lines up to an empty one
            if await self._until(b"\r\n", MAX_LINE, "chunked trailer") == b"":
                return
        raise httpx.RemoteProtocolError(f"chunked trailer of more than {MAX_HEADERS} lines")

    async def to_close(self) -> AsyncIterator[bytes]:
        """A body that ends with the connection."""
        conn = self.conn
        while True:
            if conn.buffer:
                data = bytes(conn.buffer)
                conn.buffer.clear()
                yield data
                continue
            if conn.eof:
                if conn.error is not None:
                    raise conn._dropped("connection failed in the middle of the body")
                return
            await conn.more(self.timeout)


def parse_head(block: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    """Status code, reason phrase and header fields of an answer head (without its final
    blank line), and whether it is HTTP/1.0; ``RemoteProtocolError`` for anything
    malformed."""
    lines = block.split(b"\r\n")
    if len(lines) > MAX_HEADERS + 1:
        raise httpx.RemoteProtocolError(f"answer of more than {MAX_HEADERS} header lines")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError("malformed status line")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if (
            not colon
            or not name
            or b" " in name
            or b"\t" in name
            or b"\n" in line
            or b"\r" in line
            or b"\x00" in line
        ):
            raise httpx.RemoteProtocolError("malformed header line")
        headers.append((name, value.strip(b" \t")))
    return int(code), reason, headers, version == b"HTTP/1.0"


def parse_chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (extensions after ``;`` ignored)."""
    text = line.partition(b";")[0].strip(b" \t")
    if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
        raise httpx.RemoteProtocolError("malformed chunk size")
    return int(text, 16)


def framing(
    method: bytes, status: int, headers: list[tuple[bytes, bytes]], keep: bool = True
) -> tuple[str, int, bool]:
    """How the answer's body is delimited (``none``, ``length``, ``chunked``, ``close``),
    its length when known, and whether the connection may be used again afterwards
    (RFC 9112 §6.3 and §9.3)."""
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif lower == b"transfer-encoding":
            codings.extend(v.strip().lower() for v in value.split(b","))
        elif lower == b"connection" and b"close" in value.lower():
            keep = False
    if method == b"HEAD" or status in _NO_BODY or 100 <= status < 200:
        return "none", 0, keep
    if codings:
        if codings[-1] == b"chunked":
            return "chunked", 0, keep
        return "close", 0, False
    if lengths:
        if len(lengths) != 1:
            raise httpx.RemoteProtocolError("conflicting Content-Length values")
        (text,) = lengths
        if not text.isdigit() or len(text) > 18:
            raise httpx.RemoteProtocolError("malformed Content-Length")
        return "length", int(text), keep
    return "close", 0, False


class _Body(httpx.AsyncByteStream):
    """An answer's body as it arrives; closing it gives the connection back when the body
    was read to its end and the connection may be reused, and closes it otherwise."""

    def __init__(
        self, owner: H1Transport, answer: _Answer, kind: str, length: int, keep: bool
    ) -> None:
        self._owner = owner
        self._answer = answer
        self._kind = kind
        self._length = length
        self._keep = keep
        self._done = kind == "none" or (kind == "length" and length == 0)
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        if self._kind == "length":
            parts = self._answer.exactly(self._length)
        elif self._kind == "chunked":
            parts = self._answer.chunked()
        else:
            parts = self._answer.to_close()
        async for data in parts:
            yield data
        self._done = True

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._answer.conn
        if self._done and self._keep:  # ``framing`` never keeps a body ended by a close
            self._owner.release(conn)
        else:
            self._owner.drop(conn)


class H1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to one origin (``url``'s scheme, host and port), TLS when it is ``https``.

    Connections are opened as requests need them and kept while the server keeps them;
    the idle ones wait in a list, the most recently used first."""

    def __init__(self, url: httpx.URL, ssl_context: ssl.SSLContext | None) -> None:
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = ssl_context if url.scheme == "https" else None
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()

    def release(self, conn: _Conn) -> None:
        """Give an idle connection back for the next request."""
        if conn.usable():
            self._idle.append(conn)
        else:
            self.drop(conn)

    def drop(self, conn: _Conn) -> None:
        """Close a connection that will not be used again."""
        conn.close()
        self._all.discard(conn)

    async def _connection(self, timeout: float | None) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            self.drop(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Conn,
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("no connection within the connect timeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError("cannot connect") from exc
        self._all.add(conn)
        return conn

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        return await self.exchange(request.method, encode_request(request), timeouts)

    async def exchange(
        self, method: str, payload: bytes, timeouts: dict[str, Any]
    ) -> httpx.Response:
        """Send ``payload`` (a whole request: ``encode``) and read the answer's head; its
        body is the response's stream. ``timeouts``: httpx's ``connect`` and ``read``
        (seconds, or ``None``)."""
        conn = await self._connection(timeouts.get("connect"))
        transport = conn.transport
        assert transport is not None
        try:
            transport.write(payload)
            answer = _Answer(conn, timeouts.get("read"))
            status, reason, headers = await answer.head()
            kind, length, keep = framing(
                method.encode("ascii"), status, headers, keep=not answer.http10
            )
        except BaseException:
            self.drop(conn)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, answer, kind, length, keep),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        """Drop every connection, and give the loop the turns it takes to close their
        sockets (after ``asyncio.run`` ends, nothing would)."""
        conns = list(self._all)
        self._all.clear()
        self._idle.clear()
        for conn in conns:
            conn.abort()
        for _ in range(8):
            if all(conn.lost for conn in conns):
                break
            await asyncio.sleep(0)


def encode_request(request: httpx.Request) -> bytes:
    """An httpx request as bytes on the wire (``encode``)."""
    fields = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]
    return encode(request.method, request.url.raw_path, fields, request.content, length=False)


def encode(
    method: str,
    target: bytes,
    fields: list[tuple[str, str]],
    content: bytes | None,
    *,
    length: bool = True,
) -> bytes:
    """The request line, header fields and body as bytes on the wire; with ``length``, a
    ``Content-Length`` field is added for ``content``. ``LocalProtocolError`` for a field
    or target that would break the framing."""
    path = target.decode("ascii", "replace")
    lines = [method, " ", path, " HTTP/1.1\r\n"]
    for name, value in fields:
        lines += (name, ": ", value, "\r\n")
    ends = 2 + len(fields)
    if length and content is not None:
        lines.append(f"Content-Length: {len(content)}\r\n")
        ends += 1
    lines.append("\r\n")
    head = "".join(lines)
    # each line ends in the one CRLF added above; any other CR or LF, or a NUL, in a name, a
    # value or the target would let it say something the caller did not write
    if head.count("\r") != ends or head.count("\n") != ends or "\x00" in head:
        raise httpx.LocalProtocolError("a request header or target holds CR, LF or NUL")
    if " " in path or not target.isascii():
        raise httpx.LocalProtocolError("a request target holds a space or a non-ASCII byte")
    try:
        data = head.encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError(
            "a request header holds a character outside Latin-1"
        ) from None
    return data + content if content else data
