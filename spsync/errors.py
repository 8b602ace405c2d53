"""The error tree of spsync.

Every error a user can cause or meet is an ``SpsyncError``; the CLI prints its message
(never a traceback) and exits with its ``exit_code``. Anything else reaching the CLI is a
bug: it is reported as an internal error, with the traceback only under ``-v``.

::

    SpsyncError
    ├── UsageError              bad command-line input
    ├── ManifestError           one or more manifest problems (carries every Problem)
    ├── StateError              unreadable state, mismatched install/api_url
    │   └── LockError           state locked by another process
    ├── PlanError               unsafe plan refused, stale or corrupt plan file, unknown target
    ├── ApplyError              apply stopped before finishing (summary in the message)
    └── ApiError                an API call failed (method, path, status, code, message)
        ├── TransportError      connection failed / timed out after retries
        ├── AuthError           403 AUTHENTICATIONFAILED
        ├── NotFoundError       404 RESOURCENOTFOUND
        ├── InvalidInputError   400 INVALIDINPUT (and other 400s)
        ├── RateLimitedError    429 after retries
        ├── ServerError         5xx after retries
        └── ResponseError       the response could not be understood (bad JSON, wrong shape)
"""

from __future__ import annotations

from dataclasses import dataclass

from spsync.sanitize import clean
from spsync.secrets import scrub


class SpsyncError(Exception):
    """Root of every error spsync reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(SpsyncError):
    """Bad command-line input (unknown tenant, unknown target address, ...)."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located manifest problem: ``file:line:col: where: message``.

    ``line`` and ``col`` are 1-based; ``where`` is an address (``exam.cert-456``) or a
    dotted path into the file (``exams.cert-456.configuration.duration``). A problem with a
    whole file or directory (missing, unreadable) has ``line`` 0 and prints as ``file: …``.
    """

    file: str
    line: int
    col: int
    where: str
    message: str

    def __str__(self) -> str:
        # every part may hold text of the manifests (a file name, a key, a quoted value):
        # one line each, so that no value can start a line of its own (a CI annotation)
        file, where, message = clean(self.file), clean(self.where), clean(self.message)
        prefix = f"{file}:{self.line}:{self.col}" if self.line else file
        return f"{prefix}: {where}: {message}" if where else f"{prefix}: {message}"


class ManifestError(SpsyncError):
    """The manifests have problems; ``problems`` holds all of them, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        n = len(self.problems)
        lines = [str(p) for p in self.problems]
        lines.append(f"{n} problem{'s' if n != 1 else ''} found")
        super().__init__("\n".join(lines))


class StateError(SpsyncError):
    """The state file cannot be used (corrupt, wrong version, another install)."""


class LockError(StateError):
    """The tenant's state is locked by someone else."""


class PlanError(SpsyncError):
    """A plan cannot be made, saved or applied (unsafe, stale, corrupt, bad target)."""


class ApplyError(SpsyncError):
    """Apply stopped before it finished; the message summarises done / failed / not started."""


class ApiError(SpsyncError):
    """An API call failed. Never carries request or response bodies (they may hold secrets).

    The message and code may come from the server: both are scrubbed of every known secret
    and made one safe line here, whoever builds the error.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        message = clean(scrub(message))
        code = None if code is None else clean(scrub(code))
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = message
        where = f"{method} {path}".strip()
        head = " ".join(x for x in (str(status) if status else "", code or "") if x)
        text = ": ".join(x for x in (where, head, message) if x)
        super().__init__(text)


class TransportError(ApiError):
    """The request could not be completed (connection refused, dropped, timed out)."""


class AuthError(ApiError):
    """403 AUTHENTICATIONFAILED: the token is missing, wrong or expired."""


class NotFoundError(ApiError):
    """404 RESOURCENOTFOUND: the object asked for does not exist."""


class NoSuchRouteError(ApiError):
    """The service has no such endpoint (or not for this method): a 404 in the web
    framework's own shape (``{"statusCode": 404, "error": "Not Found", ...}``, no API
    ``code``), a 404 ``INVALIDURI`` or a 405. Never read as "the object is gone": it says
    the install speaks another form of the API (see docs/api-dialects.md)."""


class InvalidInputError(ApiError):
    """400: the API rejected the request (INVALIDINPUT, INVALIDPROTOCOL, ...)."""


class RateLimitedError(ApiError):
    """429 still returned after every retry."""


class ServerError(ApiError):
    """5xx still returned after every retry."""


class ResponseError(ApiError):
    """The response could not be understood (not JSON, wrong shape, wrong SID prefix)."""
