"""A thin helper over an httpx client for simulator tests: one install, the common steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

import support.sandbox_payloads as pl

ACTIVE = ("Needs Proctor", "Scheduled")

#: The simulated "now" of the sandbox fixtures (tests/conftest.py): before the sample
#: exams' windows.
SANDBOX_NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
SANDBOX_TOKEN = "test-token"
SANDBOX_INSTALL = "AI" + "0123456789abcdef" * 2


class Flow:
    """The API of one install, asserting the expected status of each call."""

    def __init__(self, client: httpx.Client, install: str) -> None:
        self.c = client
        self.ai = install
        self.v1 = f"/v1/installs/{install}"

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.c.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def provision(self, body: Any, status: int = 200) -> dict[str, Any]:
        return self.call("POST", f"/v2/installs/{self.ai}/provision", status, json=body)

    def assign(self, course: str, exam: str, add=(), remove=(), status: int = 200) -> Any:
        body: dict[str, Any] = {}
        if add:
            body["add"] = [{"enrollmentSid": e} for e in add]
        if remove:
            body["remove"] = [{"enrollmentSid": e} for e in remove]
        path = f"{self.v1}/courses/{course}/exams/{exam}/assignments"
        return self.call("PUT", path, status, json=body)

    def sessions(self, en: str, ex: str, expect: int = 200, **params: Any) -> Any:
        path = f"{self.v1}/enrollments/{en}/exams/{ex}/sessions"
        return self.call("GET", path, expect, params=params)

    def active(self, en: str, ex: str) -> dict[str, Any]:
        rows = [
            s
            for s in self.sessions(en, ex, includeActive="true")["results"]
            if s["status"] in ACTIVE
        ]
        assert len(rows) == 1, rows
        return rows[0]

    def session(self, ex: str, es: str, method: str = "GET", status: int = 200, **kw: Any) -> Any:
        return self.call(method, f"{self.v1}/exams/{ex}/sessions/{es}", status, **kw)

    def schedule(self, ex: str, es: str, status: int = 200, **over: Any) -> Any:
        return self.session(ex, es, "POST", status, json=pl.schedule(**over))

    def setup(self, body: dict[str, Any] | None = None) -> tuple[str, str, str, str]:
        """Provision (default: the full example), assign: (course, exam, enrollment, session)."""
        r = self.provision(body or pl.full())
        cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
        self.assign(cu, ex, add=[en])
        return cu, ex, en, self.active(en, ex)["sid"]

    def add_learner(self, course: str, ext: str) -> str:
        """Provision a user enrolled as learner in ``course``; returns the enrollment SID."""
        body = pl.in_course(course, user=pl.user(ext), enrollment={})
        return self.provision(body)["enrollment"]["sid"]
