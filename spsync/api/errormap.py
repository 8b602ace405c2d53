"""HTTP answers -> typed ``ApiError``s (contract §3), tolerant of what a real service sends.

The error body the contract settles on is
``{"code": "INVALIDINPUT", "message": "...", "status": 400, "details": [{"path", "message"}]}``.
Also handled: numeric or numeric-string codes (``5003``), an ``{"error": {...}}`` wrapper,
a missing or empty message, and bodies that are not JSON at all (an HTML page from a proxy,
a truncated body): the status and reason phrase then speak for themselves. Response bodies
are never copied into the error, only the API's own ``code``/``message``/``details``, with
every form of every secret scrubbed out of each (``secrets.scrub``) and their control
characters escaped (``sanitize.clean``, applied by ``ApiError`` itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from spsync.errors import (
    ApiError,
    AuthError,
    InvalidInputError,
    NoSuchRouteError,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
)
from spsync.sanitize import clean
from spsync.secrets import scrub

#: longest API message kept in an error (a misbehaving service could send megabytes)
MAX_MESSAGE = 600
MAX_DETAILS = 5

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_class(status: int) -> type[ApiError]:
    """The exception class for an HTTP status that is not a success."""
    if status == 400:
        return InvalidInputError
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    if status < 400:
        return ResponseError  # a redirect or informational answer where JSON was expected
    return ApiError


#: codes that say the endpoint, not an object, is missing
_ROUTE_CODES = frozenset({"INVALIDURI", "UNSUPPORTEDHTTPVERB"})


def server_json(body: bytes) -> Any:
    """``json.loads`` of a server's body; ``ValueError`` for anything that is not JSON,
    nesting too deep for the parser included (``[[[[…``: its ``RecursionError`` would
    otherwise end spsync with a traceback)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def route_missing(status: int, body: bytes) -> bool:
    """Whether a 404/405 says there is no such endpoint rather than no such object: a 405,
    a route code, or a body in the web framework's shape (``statusCode`` and ``error``,
    no API ``code``). A bare 404 (no body, or one not JSON) stays "not found"."""
    if status == 405:
        return True
    if status != 404:
        return False
    try:
        data: Any = server_json(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    if data.get("code") in _ROUTE_CODES:
        return True
    return "code" not in data and "statusCode" in data and "error" in data


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(text.split())  # one line: no control characters from the body
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` from an error body; ``(None, None)`` when it is not the API's JSON."""
    try:
        data: Any = server_json(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]
    if not isinstance(data, dict):
        return None, None
    raw_code = data.get("code")
    code: str | None = None
    if isinstance(raw_code, str) and raw_code.strip():
        code = raw_code.strip()  # clipped once scrubbed: a cut would hide part of a secret
    elif isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = str(raw_code)
    raw_message = data.get("message")
    message = raw_message.strip() if isinstance(raw_message, str) and raw_message.strip() else None
    details = data.get("details")
    if isinstance(details, list):
        parts = []
        for item in details[:MAX_DETAILS]:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                where = item.get("path")
                text = f"{where}: {item['message']}" if isinstance(where, str) else item["message"]
                if message is None or text not in message:  # the message often repeats one
                    parts.append(text)
        if len(details) > MAX_DETAILS:
            parts.append(f"and {len(details) - MAX_DETAILS} more")
        if parts:
            message = f"{message} ({'; '.join(parts)})" if message else "; ".join(parts)
    return code, message


def error_from_response(
    *,
    method: str,
    path: str,
    status: int,
    reason: str,
    content_type: str,
    body: bytes,
    secrets: Iterable[str] = (),
) -> ApiError:
    """The typed error for a non-2xx answer."""
    code, message = parse_error_body(body)
    reason = reason or _REASONS.get(status, "")
    if message is None:
        kind = content_type.split(";")[0].strip() or "unknown type"
        if not body:
            described = "empty body"
        elif code is None:
            described = f"non-JSON {kind} body of {len(body)} bytes"
        else:
            described = "no message"
        message = f"{reason} ({described})" if reason else described
    cls = NoSuchRouteError if route_missing(status, body) else error_class(status)
    secrets = list(secrets)
    if code is not None:
        code = _clip(scrub(code, secrets), 64)
    message = _clip(scrub(message, secrets))
    return cls(message, method=method, path=path, status=status, code=code)


#: the largest 2xx body studied for an error body (the API's are a few hundred bytes; a
#: list page is never one, and is not parsed twice)
_ERROR_BODY_MAX = 8192


def error_in_success(body: bytes) -> str | None:
    """What a 2xx body says when it is the API's error body (``{code, message, status}``
    with an error status, or those keys alone): an error, whatever the status line says,
    never an object whose fields all happen to be optional (the install's settings)."""
    if len(body) > _ERROR_BODY_MAX or b'"message"' not in body:
        return None
    try:
        data: Any = server_json(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or "code" not in data or "message" not in data:
        return None
    status = data.get("status")
    failing = isinstance(status, int) and not isinstance(status, bool) and status >= 400
    if not failing and not set(data) <= {"code", "message", "status", "details"}:
        return None
    code, message = parse_error_body(body)
    said = ": ".join(clean(scrub(x)) for x in (code, message) if x)
    return f"an error body on a success status ({said or 'no code or message'})"


def response_error(
    *, method: str, path: str, status: int, problem: ValidationError | str
) -> ResponseError:
    """A 2xx whose body is not what the contract promises (bad JSON, wrong shape, wrong SID).

    Pydantic's messages are used without the offending input values (they could hold data
    the user did not ask to see).
    """
    if isinstance(problem, ValidationError):
        errors = problem.errors(include_input=False, include_url=False)
        parts = []
        for err in errors[:3]:
            loc = clean(".".join(str(x) for x in err["loc"]))  # the server's keys: escaped
            parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        if len(errors) > 3:
            parts.append(f"and {len(errors) - 3} more")
        text = "unexpected response body: " + "; ".join(parts)
    else:
        text = problem
    return ResponseError(_clip(text), method=method, path=path, status=status)
