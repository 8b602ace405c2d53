"""spsync's own HTTP/1.1 transport (``spsync.api.h1``) against a raw server that sends
exactly the bytes each test scripts: framing, connection reuse, and what it refuses."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import httpx
import pytest

from spsync.api import h1
from spsync.api.h1 import H1Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (by its Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def _run(handler: Handler, client: Callable[[H1Transport, str], Awaitable[object]]) -> object:
    """Serve ``handler`` on a free loopback port and run ``client`` against it."""

    async def go() -> object:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        transport = H1Transport(httpx.URL(url), None)
        try:
            return await client(transport, url)
        finally:
            await transport.aclose()
            await asyncio.sleep(0.02)  # the handlers see the end and close their side
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


async def _get(
    transport: H1Transport,
    url: str,
    path: str = "/x",
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """One request straight through ``transport``, as the client's call loop sends it."""
    request = httpx.Request(method, url + path, content=content, headers=headers)
    response = await transport.handle_async_request(request)
    return response, await response.aread()


def _scripted(*answers: bytes, seen: list[bytes] | None = None, close: bool = False) -> Handler:
    """A connection handler that answers each request with the next of ``answers``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in answers:
                request = await _read_request(reader)
                if seen is not None:
                    seen.append(request)
                writer.write(answer)
                await writer.drain()
            if not close:
                await reader.read()  # until the client closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


def test_a_request_goes_out_as_written_and_its_answer_comes_back() -> None:
    seen: list[bytes] = []

    async def client(t: H1Transport, url: str) -> object:
        response, body = await _get(
            t, url, "/v1/a?b=c%20d", method="POST", content=b'{"k":1}', headers={"token": "T"}
        )
        return response.status_code, response.reason_phrase, response.headers["content-type"], body

    got = _run(_scripted(OK, seen=seen), client)
    assert got == (200, "OK", "application/json", b"{}")
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/a?b=c%20d HTTP/1.1"
    assert b"token: T" in lines and b"Content-Length: 7" in lines
    assert body == b'{"k":1}'


def test_one_connection_serves_requests_one_after_another() -> None:
    connections: list[int] = []
    inner = _scripted(OK, OK, OK)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await inner(reader, writer)

    async def client(t: H1Transport, url: str) -> object:
        return [(await _get(t, url))[1] for _ in range(3)]

    assert _run(handle, client) == [b"{}"] * 3
    assert len(connections) == 1


def test_concurrent_requests_open_a_connection_each() -> None:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await _read_request(reader)
        await asyncio.sleep(0.05)
        writer.write(OK)
        await writer.drain()
        await reader.read()
        writer.close()

    async def client(t: H1Transport, url: str) -> object:
        found = await asyncio.gather(*(_get(t, url) for _ in range(5)))
        return [body for _, body in found]

    assert _run(handle, client) == [b"{}"] * 5
    assert len(connections) == 5


def test_chunked_and_gzip_bodies_are_read_whole() -> None:
    packed = gzip.compress(b'{"name": "chunked"}')
    half = len(packed) // 2
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + f"{half:x};ext=1\r\n".encode()
        + packed[:half]
        + b"\r\n"
        + f"{len(packed) - half:X}\r\n".encode()
        + packed[half:]
        + b"\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )

    async def client(t: H1Transport, url: str) -> object:
        first = (await _get(t, url))[1]
        second = (await _get(t, url))[1]  # the same connection, after the trailer
        return first, second

    assert _run(_scripted(answer, OK), client) == (b'{"name": "chunked"}', b"{}")


def test_a_body_that_ends_with_the_connection_is_read_to_its_end() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 300_000

    async def client(t: H1Transport, url: str) -> object:
        body = (await _get(t, url))[1]
        return len(body), len(t._all), len(t._idle)

    assert _run(_scripted(answer, close=True), client) == (300_000, 0, 0)


def test_informational_answers_are_skipped_and_http10_is_not_kept() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok"

    async def client(t: H1Transport, url: str) -> object:
        response, body = await _get(t, url)
        return response.status_code, body, len(t._idle)

    assert _run(_scripted(answer), client) == (201, b"ok", 0)


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await _read_request(reader)
        writer.write(OK)
        await writer.drain()
        writer.close()  # keep-alive promised, but closed at once (an idle timeout)

    async def client(t: H1Transport, url: str) -> object:
        first = (await _get(t, url))[1]
        await asyncio.sleep(0.05)  # the close arrives
        second = (await _get(t, url))[1]
        return first, second

    assert _run(handle, client) == (b"{}", b"{}")
    assert len(connections) == 2


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (b"", httpx.RemoteProtocolError, "without sending an answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", httpx.RemoteProtocolError, "middle of the answer head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.RemoteProtocolError,
         "body cut short"),
        (b"HTTP/1.1 20 OK\r\n\r\n", httpx.RemoteProtocolError, "malformed status line"),
        (b"SPDY/9 200 OK\r\n\r\n", httpx.RemoteProtocolError, "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", httpx.RemoteProtocolError,
         "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", httpx.RemoteProtocolError,
         "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", httpx.RemoteProtocolError,
         "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok", httpx.RemoteProtocolError,
         "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError,
         "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n",
         httpx.RemoteProtocolError, "chunk data longer than its size"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (h1.MAX_HEAD + 10), httpx.RemoteProtocolError,
         "answer head longer than"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * (h1.MAX_HEADERS + 1) + b"\r\n",
         httpx.RemoteProtocolError, "header lines"),
    ],
)  # fmt: skip
def test_a_malformed_or_cut_answer_is_a_protocol_error(
    answer: bytes, error: type[Exception], words: str
) -> None:
    async def client(t: H1Transport, url: str) -> object:
        with pytest.raises(error) as info:
            await _get(t, url)
        return str(info.value), len(t._idle)

    text, idle = _run(_scripted(answer, close=True), client)  # type: ignore[misc]
    assert words in text
    assert idle == 0  # a connection that failed is never reused


@pytest.mark.parametrize(
    "headers", [{"token": "abc\r\nX-Evil: 1"}, {"token": "abc\ndef"}, {"token": "a\x00b"}]
)
def test_a_header_that_would_split_the_request_is_never_sent(headers: dict[str, str]) -> None:
    seen: list[bytes] = []

    async def client(t: H1Transport, url: str) -> object:
        with pytest.raises(httpx.LocalProtocolError):
            await t.handle_async_request(httpx.Request("GET", url + "/x", headers=headers))
        return len(t._all)

    assert _run(_scripted(OK, seen=seen), client) == 0
    assert seen == []


def test_no_bytes_within_the_read_timeout_is_a_read_timeout() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()  # never answers; ends when the client gives up and closes
        writer.close()

    async def client(t: H1Transport, url: str) -> object:
        request = httpx.Request("GET", url + "/x", extensions={"timeout": {"read": 0.05}})
        with pytest.raises(httpx.ReadTimeout):
            await t.handle_async_request(request)
        return len(t._all)

    assert _run(handle, client) == 0


def test_a_refused_connection_is_a_connect_error_with_its_cause() -> None:
    async def go() -> BaseException:
        server = await asyncio.start_server(_scripted(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        transport = H1Transport(httpx.URL(f"http://127.0.0.1:{port}"), None)
        try:
            await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/x"))
        except httpx.ConnectError as exc:
            return exc
        raise AssertionError("connected to a closed port")

    exc = asyncio.run(go())
    assert isinstance(exc.__cause__, ConnectionRefusedError)


def test_parse_helpers_read_what_the_rfc_allows() -> None:
    status, reason, headers, old = h1.parse_head(b"HTTP/1.1 404 Not Found\r\nA:  spaced \t\r\nB:")
    assert (status, reason, headers, old) == (
        404,
        b"Not Found",
        [(b"A", b"spaced"), (b"B", b"")],
        False,
    )
    assert h1.parse_chunk_size(b"1aF ; name=value") == 0x1AF
    assert h1.framing(b"GET", 204, [(b"Content-Length", b"5")]) == ("none", 0, True)
    assert h1.framing(b"HEAD", 200, [(b"Content-Length", b"5")]) == ("none", 0, True)
    assert h1.framing(b"GET", 200, [(b"Transfer-Encoding", b"gzip, chunked")]) == (
        "chunked",
        0,
        True,
    )
    assert h1.framing(b"GET", 200, [(b"Transfer-Encoding", b"gzip")]) == ("close", 0, False)
    assert h1.framing(b"GET", 200, [(b"Connection", b"Close")]) == ("close", 0, False)
    assert h1.framing(b"GET", 200, [(b"Content-Length", b"7"), (b"Connection", b"close")]) == (
        "length",
        7,
        False,
    )


def test_encode_writes_the_request_spsync_sends_and_refuses_what_would_split_it() -> None:
    fields = [("Host", "api.example:8443"), ("token", "T")]
    assert h1.encode("PUT", b"/v1/a?x=1", fields, b"{}") == (
        b"PUT /v1/a?x=1 HTTP/1.1\r\nHost: api.example:8443\r\ntoken: T\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert h1.encode("GET", b"/v1/a", [], None) == b"GET /v1/a HTTP/1.1\r\n\r\n"
    for bad in ("a\r\nX: 1", "a\nb", "a\rb", "a\x00b"):
        with pytest.raises(httpx.LocalProtocolError):
            h1.encode("GET", b"/v1/a", [("token", bad)], None)
    with pytest.raises(httpx.LocalProtocolError):
        h1.encode("GET", b"/v1/a", [("token", "caf\u00e9\u20ac")], None)
    for target in (b"/a b", b"/a\r\nX: 1", "/caf\u00e9".encode()):
        with pytest.raises(httpx.LocalProtocolError):
            h1.encode("GET", target, [], None)
