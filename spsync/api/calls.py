"""The request choke point: every HTTP exchange of a ``Client`` goes through ``Caller``.

``Caller._call`` sends one API call until it succeeds or may not be retried:

- builds the URL from a route template and validated SIDs (a malformed SID never leaves),
- adds the ``token`` header (the only place the token is revealed),
- waits for a place in the adaptive window of calls in flight (``window.Window``: AIMD,
  at most ``max_in_flight``) and for the adaptive rate limiter,
- maps answers to typed ``ApiError``s and parses bodies into ``wire`` models,
- retries what is safe to retry, with full-jitter exponential backoff, and
- resolves writes whose outcome is unknown by reading before any retry.

Which failures are retried, and which are read back first, is decided by the pure
``retry_decision.decide`` (its module holds the table of rules by the call's safety); this
module gathers the facts, acts on the decision and does the waiting. ``Caller`` holds no
state of its own making: ``client.Client`` sets up the attributes declared below.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from spsync.api import h1, wire
from spsync.api.decoding import Decoder, TooLarge, Undecodable
from spsync.api.errormap import error_from_response, error_in_success, response_error
from spsync.api.h1 import H1Transport
from spsync.api.limiter import AdaptiveRateLimiter
from spsync.api.retry import RetryPolicy, parse_retry_after
from spsync.api.retry_decision import Decision, Failure, Reach, Safety, decide, out_of_time
from spsync.api.routes import PARAM_PREFIX, Query
from spsync.api.transport import DeadlineExceeded, Pools, transport_failure
from spsync.api.window import Gate, Window
from spsync.errors import ApiError, ResponseError, TransportError
from spsync.secrets import Secret

log = logging.getLogger("spsync.api")

M = TypeVar("M", bound=BaseModel)

# Bounds on what one answer or one list may cost (docs/api-client.md#bounds). A server
# that breaks one gets a one-line error naming the call, not our memory or our time.
#: largest response body read, counted after decompression
MAX_BODY_BYTES = 32 * 1024 * 1024
#: default overall deadline of one HTTP exchange, from sending to the body's last byte
#: (``SPSYNC_CALL_TIMEOUT``): a body trickling in a byte at a time never resets it
CALL_TIMEOUT = 120.0
#: a call still unanswered after this many seconds is reported once through ``on_notice``
SLOW_NOTICE_AFTER = 5.0


#: CallRecords a client keeps (``records``): the latest ``RECORDS_KEPT`` to twice as many
RECORDS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
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


class Unresolved(Exception):
    """An unknown outcome could not be settled by reading (the object is in another state)."""


def with_note(error: ApiError, note: str) -> ApiError:
    """A copy of ``error`` (same class and fields) with ``note`` added to its message."""
    return type(error)(
        f"{error.api_message} {note}",
        method=error.method,
        path=error.path,
        status=error.status,
        code=error.code,
    )


class Caller:
    """The choke point of a ``Client``: one API call, its attempts, their records.

    The attributes below are set by ``client.Client.__init__``."""

    base_url: str
    install: str
    _token: Secret | None
    retry: RetryPolicy
    limiter: AdaptiveRateLimiter
    on_call: Callable[[CallRecord], None] | None
    on_notice: Callable[[str], None] | None
    calls: collections.Counter[str]
    before_send: list[Callable[[], None]]
    records: list[CallRecord]
    window: Window
    _gate: Gate
    _budget: contextlib.AbstractAsyncContextManager[Any]
    _pools: Pools
    _timeout: float
    call_timeout: float
    max_body: int
    _headers: dict[str, str]
    _extensions: dict[str, Any]
    _base: httpx.URL
    _prefix: bytes
    _host: list[tuple[str, str]]

    def _target(self, path: str, query: Query) -> bytes:
        """The request target: the base URL's path, ``path``, and ``query`` encoded as
        httpx encodes it."""
        raw = path if not query else f"{path}?{httpx.QueryParams(list(query))}"
        return self._prefix + raw.encode("ascii")

    async def _exchange(
        self,
        http: httpx.AsyncBaseTransport,
        method: str,
        target: bytes,
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        """One request through ``http``: spsync's transport takes its bytes directly (no
        httpx request: its URL parse alone cost a tenth of a call's CPU); any other gets an
        httpx request."""
        if isinstance(http, H1Transport):
            fields = [*self._host, *headers.items()]
            payload = h1.encode(method, target, fields, content)
            return await http.exchange(method, payload, self._extensions["timeout"])
        request = httpx.Request(
            method,
            self._base.copy_with(raw_path=target),
            headers=headers,
            content=content,
            extensions=self._extensions,
        )
        response = await http.handle_async_request(request)
        response.request = request
        return response

    def _path(self, method: str, route: str, params: dict[str, str]) -> str:
        values = {"installSid": self.install, **params}
        for name, value in values.items():
            prefixes = PARAM_PREFIX[name]
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
        records = self.records
        records.append(record)
        if len(records) > 2 * RECORDS_KEPT:
            del records[:-RECORDS_KEPT]
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
                    target = self._target(path, query)
                    async with asyncio.timeout(self.call_timeout):
                        response = await self._exchange(http, method, target, headers, content)
                        try:
                            body = await self._read_body(response, method, path)
                        finally:
                            await response.aclose()
                except httpx.TransportError as exc:
                    return None, b"", exc, time.perf_counter() - started
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
        """The decoded body, refused past ``max_body`` bytes, raw or decoded (a compressed
        body is inflated a bounded piece at a time, so a small gzip bomb stops at the limit
        without ever being held larger: ``decoding``)."""
        status = response.status_code
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise self._too_large(method, path, status)
        if response.is_stream_consumed:
            # built in memory (a test's transport): httpx has read and decoded it already
            if len(response.content) > self.max_body:
                raise self._too_large(method, path, status)
            return response.content
        try:
            decoder = Decoder(response.headers.get("content-encoding", ""), self.max_body)
            raw = 0
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > self.max_body:
                    raise TooLarge
                decoder.feed(chunk)
            return decoder.body()
        except TooLarge:
            raise self._too_large(method, path, status) from None
        except Undecodable as exc:
            # a body its content-encoding does not describe (a broken or hostile gzip)
            raise ResponseError(
                f"response body could not be decoded ({exc})", method=method, path=path
            ) from None

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
        """The error to raise for ``exc``, and where the request may have got to
        (``transport.transport_failure``)."""
        return transport_failure(
            exc,
            method,
            path,
            base_url=self.base_url,
            timeout=self._timeout,
            call_timeout=self.call_timeout,
        )

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
        failure = None if any_body else error_in_success(body)
        if failure is not None:
            # a read answered 200 with the API's error body: an error, never an answer
            # whose fields are all unknown
            raise response_error(
                method=method, path=path, status=response.status_code, problem=failure
            )
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
        """Send one API call until it succeeds or may not be retried (``retry_decision``).

        ``resolve`` (unsafe writes): reads whether the write happened; returns the result if
        it did, ``None`` if it did not (so it may be sent again), or raises ``Unresolved``.
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
            # the call ends here (raising) unless the decision and the time left allow a retry
            wait = self._wait_before_retry(method, path, error, decision, failure, started)
            await policy.sleep(wait)

    def _wait_before_retry(
        self,
        method: str,
        path: str,
        error: ApiError,
        decision: Decision,
        failure: Failure,
        started: float,
    ) -> float:
        """The wait before the next attempt, told to ``on_notice`` and the log; raises
        ``error`` instead when the decision is final, no attempt is left, or the wait would
        end past the call's budget of time."""
        policy = self.retry
        attempt = failure.attempt
        if decision.step == "raise":
            raise error from None
        if decision.step == "give-up":
            raise with_note(error, f"(gave up after {attempt} attempts)") from None
        wait = policy.delay(attempt, failure.retry_after)
        if out_of_time(policy.clock() - started, wait, policy.max_elapsed):
            raise with_note(
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
        return wait

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
            raise with_note(error, "(the outcome is unknown; re-run plan to check)")
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
        except Unresolved as exc:
            raise with_note(
                error, f"(the outcome is unknown: {exc}; re-run plan to check)"
            ) from None
        except ApiError as exc:
            raise with_note(
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
