"""The one error type of the simulated API."""

from __future__ import annotations

from typing import Any

#: The codes the simulator answers with (api-contract §3), by HTTP status.
CODES: dict[int, str] = {
    400: "INVALIDINPUT",
    403: "AUTHENTICATIONFAILED",
    404: "RESOURCENOTFOUND",
    405: "UNSUPPORTEDHTTPVERB",
    429: "TOOMANYREQUESTS",
    500: "INTERNALERROR",
    503: "SERVICEUNAVAILABLE",
}


class ApiFault(Exception):
    """An error answer of the API: HTTP ``status``, API ``code``, ``message`` and ``details``.

    ``details`` is a list of ``{"path": "exam.configuration.duration", "message": "..."}``
    entries, one per problem found, or ``None`` when there is nothing to locate.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"code", "message", "status", "details"?}``."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            out["details"] = self.details
        return out


def invalid(message: str, path: str | None = None) -> ApiFault:
    """400 INVALIDINPUT, with one located detail when ``path`` is given."""
    details = [{"path": path, "message": message}] if path is not None else None
    return ApiFault(400, "INVALIDINPUT", message, details)


def not_found(message: str) -> ApiFault:
    """404 RESOURCENOTFOUND."""
    return ApiFault(404, "RESOURCENOTFOUND", message)


class Problems:
    """Collects every validation problem of a request, then fails once with all of them."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append({"path": path, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise 400 INVALIDINPUT listing every problem, if there is one."""
        if not self.items:
            return
        first = self.items[0]
        n = len(self.items)
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
        raise ApiFault(
            400, "INVALIDINPUT", f"{first['path']}: {first['message']}{more}", list(self.items)
        )
