"""``spsync doctor``'s GETs: one read of each kind spsync uses, and nothing else.

The client is made read-only at its choke point (``read_only``): a request other than a
GET without a body is refused before it is built, so no code path of doctor can write.
The probes run one at a time, in ``doctor.PROBES`` order, each through
``Client.get_raw`` (the answer as it came, errors included); assignment routes and
``onboard`` (each call mints a single-use URL) are never called. Judging the answers is
``spsync.doctor``'s job; here each answer is only parsed, and checked against the models
spsync's reader uses, so that "spsync cannot read this" is what the client itself would say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from spsync.api import wire
from spsync.api.client import (
    PAGE_LIMIT,
    R_APPOINTMENTS,
    R_COURSE,
    R_ENROLLMENT_SESSIONS,
    R_ENROLLMENTS,
    R_EXAM,
    R_EXAMS,
    R_SESSION,
    R_SETTINGS,
    R_USER,
    R_USERS,
    Client,
)
from spsync.api.errormap import (
    error_from_response,
    error_in_success,
    response_error,
    server_json,
)
from spsync.api.retry import parse_retry_after
from spsync.doctor import LIMIT_OVER, PROBES, Answer, sids_from_answer
from spsync.errors import ApiError, SpsyncError

#: a path no SmarterProctoring route serves (its error body tells hapi's 404 from the API's)
R_NO_ROUTE = "/v1/installs/{installSid}/spsync-doctor-no-such-route"
#: a well-formed course SID that no install holds
UNKNOWN_COURSE = "CU" + "0" * 32

#: 429 answers waited out per probe before its answer is taken as it is
MAX_THROTTLED = 5
#: the longest ``Retry-After`` doctor waits out (seconds); a 429 asking for more is the
#: probe's answer, as it came (a server asking for days would otherwise stall doctor)
MAX_RETRY_AFTER = 30.0

#: headers kept from each answer: its type, and anything about rate limits
_HEADER_WORDS = ("ratelimit", "rate-limit")


class WriteRefused(SpsyncError):
    """doctor's client was asked to send something other than a GET: a bug, refused."""


def read_only(client: Client) -> Client:
    """``client``, refusing every request but a GET without a body at its choke point
    (``Client._send``, which every call passes), before anything is built or sent."""
    send = client._send

    async def get_only(
        method: str, route: str, path: str, query: list[tuple[str, str]], content: bytes | None
    ) -> Any:
        if method != "GET" or content is not None:
            raise WriteRefused(f"doctor sends only GETs: {method} {path} refused")
        return await send(method, route, path, query, content)

    client._send = get_only  # type: ignore[method-assign]
    return client


def _kept_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    kept = [
        (name.lower(), value)
        for name, value in headers.items()
        if name.lower() in ("content-type", "retry-after")
        or any(w in name.lower() for w in _HEADER_WORDS)
    ]
    return tuple(sorted(kept))


def _unreadable(model: type[BaseModel] | None, body: bytes, is_json: bool, path: str) -> str | None:
    """Why spsync's reader would refuse this 2xx body, or ``None``."""
    if model is None:
        return None
    if not is_json:
        return "the body is not JSON"
    failure = error_in_success(body)
    if failure is not None:
        return failure
    try:
        model.model_validate_json(body)
    except ValidationError as exc:
        text = response_error(method="GET", path=path, status=200, problem=exc).api_message
        return text.removeprefix("unexpected response body: ")
    return None


async def get_answer(
    client: Client,
    probe: str,
    route: str,
    params: dict[str, str],
    query: list[tuple[str, str]],
    model: type[BaseModel] | None,
) -> Answer:
    """One probe's GET and what came back (never raises for an API's answer)."""
    path = route.format(installSid=client.install, **params)
    base: dict[str, Any] = {"probe": probe, "route": route, "path": path, "query": tuple(query)}
    throttled = 0
    seen_limits: tuple[tuple[str, str], ...] = ()
    while True:
        try:
            status, headers, body = await client.get_raw(route, params, query)
        except ApiError as exc:  # no answer, or one too large to read (then it has a status)
            unread = exc.api_message if exc.status is not None else None
            return Answer(
                **base,
                status=exc.status,
                error=exc.api_message,
                unreadable=unread,
                throttled=throttled,
            )
        if status != 429 or throttled >= MAX_THROTTLED:
            break
        wait = parse_retry_after(headers.get("retry-after")) or 1.0
        if wait > MAX_RETRY_AFTER:
            break
        # a rate limit is an answer too (its headers are reported), not a reason to give up:
        # the client's limiter waits out Retry-After, then the same GET is asked again
        throttled += 1
        seen_limits = _kept_headers(headers)
        client.limiter.on_throttled(wait)
    try:
        parsed, is_json = server_json(body), True
    except (ValueError, UnicodeDecodeError):
        parsed, is_json = None, False
    error = None
    if not 200 <= status < 300:
        e = error_from_response(
            method="GET",
            path=path,
            status=status,
            reason="",
            content_type=headers.get("content-type", ""),
            body=body,
        )
        error = f"{status} {e.code}: {e.api_message}" if e.code else f"{status}: {e.api_message}"
    unreadable = _unreadable(model, body, is_json, path) if 200 <= status < 300 else None
    kept = _kept_headers(headers)
    if throttled:
        kept = tuple(sorted(set(kept) | set(seen_limits)))
    return Answer(
        **base,
        status=status,
        body=parsed,
        is_json=is_json,
        headers=kept,
        throttled=throttled,
        error=error,
        unreadable=unreadable,
    )


def _stops(answer: Answer) -> str | None:
    """Why nothing more is worth asking after ``answer`` (no answer, token refused)."""
    if answer.status is None and answer.skipped is None:
        return "the API did not answer an earlier call"
    if answer.status in (401, 403):
        return "the token was refused"
    if answer.probe == "settings" and answer.status == 404:
        return "the install was not found"
    return None


class _Run:
    """The probes of one install, in order, with the SIDs known so far."""

    def __init__(self, client: Client, sids: Mapping[str, tuple[str, str]]) -> None:
        self.client = client
        self.sids = dict(sids)
        self.answers: list[Answer] = []
        self.stopped: str | None = None

    async def get(
        self,
        probe: str,
        route: str,
        needs: tuple[str, ...],
        query: list[tuple[str, str]],
        model: type[BaseModel] | None,
        params: dict[str, str] | None = None,
    ) -> None:
        missing = [k for k in needs if k not in self.sids]
        if self.stopped or missing:
            why = self.stopped or (
                f"no {' or '.join(missing)} SID (none in the tenant's state, none in the "
                "answers before)"
            )
            self.answers.append(Answer(probe, route, query=tuple(query), skipped=why))
            return
        given = {f"{k}Sid": self.sids[k][0] for k in needs} | (params or {})
        answer = await get_answer(self.client, probe, route, given, query, model)
        self.answers.append(answer)
        self.stopped = _stops(answer)
        known = {k: sid for k, (sid, _src) in self.sids.items()}
        for kind, sid in sids_from_answer(answer, known).items():
            self.sids.setdefault(kind, (sid, f"first item of the {PROBES[probe].split(',')[0]}"))


def _page(limit: int = PAGE_LIMIT) -> list[tuple[str, str]]:
    return [("offset", "0"), ("limit", str(limit))]


async def probe_install(
    client: Client, sids: Mapping[str, tuple[str, str]]
) -> tuple[list[Answer], dict[str, tuple[str, str]]]:
    """Every probe's answer, in ``PROBES`` order, and the SIDs read (kind -> (SID, source)).

    ``sids``: those the tenant's state gives; what is missing is taken from the first
    item of the lists read before (a probe nothing gives a SID for is skipped, and says so).
    """
    run = _Run(client, sids)
    await run.get("settings", R_SETTINGS, (), [], wire.Settings)
    await run.get("users", R_USERS, (), _page(), wire.Page[wire.User])
    await run.get("users-paging", R_USERS, (), _page(1), wire.Page[wire.User])
    await run.get("user", R_USER, ("user",), [], wire.User)
    by_exam = [("examSid", run.sids["exam"][0])] if "exam" in run.sids else []
    report = wire.Page[wire.Session]
    await run.get("report", R_APPOINTMENTS, (), by_exam + _page(), report)
    one = [("status", wire.SCHEDULED)]
    await run.get("report-status-one", R_APPOINTMENTS, (), one + _page(1), report)
    two = [*one, ("status", wire.NEEDS_PROCTOR)]
    await run.get("report-status-repeated", R_APPOINTMENTS, (), two + _page(1), report)
    await run.get("report-limit-over", R_APPOINTMENTS, (), _page(LIMIT_OVER), None)
    await run.get("course", R_COURSE, ("course",), [], wire.Course)
    await run.get("exams", R_EXAMS, ("course",), _page(), wire.Page[wire.Exam])
    await run.get("exam", R_EXAM, ("course", "exam"), [], wire.Exam)
    await run.get("enrollments", R_ENROLLMENTS, ("course",), _page(), wire.Page[wire.Enrollment])
    active = [("includeActive", "true"), *_page()]
    await run.get("sessions", R_ENROLLMENT_SESSIONS, ("enrollment", "exam"), active, report)
    await run.get("session", R_SESSION, ("exam", "session"), [], wire.Session)
    await run.get("unknown-sid", R_COURSE, (), [], None, {"courseSid": UNKNOWN_COURSE})
    await run.get("unknown-route", R_NO_ROUTE, (), [], None)
    return run.answers, run.sids
