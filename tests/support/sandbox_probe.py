"""Support for the contract probe of ``spsync sandbox serve``: a real server process, an
HTTP client bound to one install, payload builders and the contract's shape checks.

Everything here is written from the API contract alone (docs/api-contract.md in the shared
docs, §-numbers below refer to it): the probe treats the simulator as a black box reached
over HTTP, exactly as an independent client would.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

import support.sandbox_payloads as pl

TOKEN = "t"
NOW = "2026-06-01T00:00:00Z"

# §8 proctor types.
TS_LIVE = "TS4b894875d26194988853e490dfb9bc41"
TS_AUTO = "TS63dda27a6ba54c218449b934b7bb1ba8"
TS_AUTO_REVIEW = "TS9531c6b112f145018dae3cd2a9f60c4c"
TS_VTC = "TS6d6011935f4646848ea4f7a29b4f61a5"
TS_ITC = "TSbff39e6956b84f6399ecaac991d9a529"
TS_IAP = "TSc93c23e553ba4e2f9758e3f0649b667b"

HEX32 = "0123456789abcdef" * 2

ERROR_KEYS = {"code", "message", "status"}
ENVELOPE_KEYS = {"total", "count", "offset", "first", "next", "prev", "last", "results"}
SESSION_KEYS = {
    "sid",
    "installSid",
    "examSid",
    "enrollmentSid",
    "userSid",
    "courseSid",
    "status",
    "statusReason",
    "sessionType",
    "proctorLocationSid",
    "proctorTypeSid",
    "appointmentDate",
    "appointmentEndDate",
    "duration",
    "externalAppointmentId",
    "notes",
    "createdDate",
    "editDate",
    "dateScheduled",
}
SESSION_ITEM_KEYS = {
    "sid",
    "status",
    "sessionType",
    "appointmentDate",
    "externalAppointmentId",
    "createdDate",
    "editDate",
}
ENROLLMENT_KEYS = {"sid", "userSid", "courseSid", "role", "state"}
COURSE_KEYS = {"sid", "title", "code", "ids", "createdDate", "editDate"}
SESSION_TYPES = [
    "automated",
    "b-virtual",
    "ad-hoc",
    "instructor-as-proctor",
    "messaging",
    "register-blast",
    "vtc",
    "proctoru",
    "examity",
    "smarter-scheduling",
]
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
URL_LINE = re.compile(r"(https?://[^\s]+)")


#: A self-signed certificate for 127.0.0.1 and localhost (valid until 2126) and its key,
#: made for these tests only: they serve HTTPS on loopback and nothing else trusts them.
TEST_TLS_CERT = """-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUS5CNwn0/NXUhp+ZGOLs9hCAnN24wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNjE2NDAwNVoYDzIxMjYxMTAy
MTY0MDA1WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR1aHTaW/b76HHIeE5KFWt0aYaSumKcXWrBVly3HyZoYKOIr7dVzOUT
ebc/18GbMRe/JtMyZWnhagBAA3go+Gt1o28wbTAdBgNVHQ4EFgQUoY00aE9QrFgV
fr6Bv8cwpKiQ4GswHwYDVR0jBBgwFoAUoY00aE9QrFgVfr6Bv8cwpKiQ4GswDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAIZRJy76NB8UP8uZCjx51Cg/tbmlph3O73dQ2wWTE306AiBI
miq8d6CwrxqXcxZvOFm+H05AZT+qL6OOlmHN9lOrLg==
-----END CERTIFICATE-----
"""
TEST_TLS_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMhLM3PWMaybdqT3A
jd0Vztgzw5S7lcqTQjPBP5t6OlOhRANCAAR1aHTaW/b76HHIeE5KFWt0aYaSumKc
XWrBVly3HyZoYKOIr7dVzOUTebc/18GbMRe/JtMyZWnhagBAA3go+Gt1
-----END PRIVATE KEY-----
"""


def sid(prefix: str) -> str:
    """A fresh, well-formed SID that nothing in the simulator holds."""
    return prefix + uuid.uuid4().hex


def parse_date(text: str) -> datetime:
    """Parse one of the contract's ISO-8601 UTC date-times (``…Z``)."""
    assert DATE_RE.match(text), f"not an ISO-8601 UTC date-time ending in Z: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One ``spsync sandbox serve`` process, started as a user would start it."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "spsync",
            "sandbox",
            "serve",
            "--port",
            str(self.port),
            "--token",
            TOKEN,
            "--now",
            NOW,
            *extra,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.clients: list[Api] = []
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        lines: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout, lines)),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr, None)),
        ]
        for t in self._threads:
            t.daemon = True
            t.start()
        self.url = self._wait_for_url(lines)

    @staticmethod
    def _drain(stream: Any, sink: list[str], lines: queue.Queue[str | None] | None) -> None:
        for line in stream:
            sink.append(line)
            if lines is not None:
                lines.put(line)
        if lines is not None:
            lines.put(None)

    def _wait_for_url(self, lines: queue.Queue[str | None]) -> str:
        while True:
            try:
                line = lines.get(timeout=20)
            except queue.Empty as exc:
                self.stop()
                raise AssertionError("no URL line from sandbox serve within 20 s") from exc
            if line is None:
                self.stop()
                raise AssertionError(f"sandbox serve exited early: {''.join(self.stderr)}")
            found = URL_LINE.search(line)
            if found:
                url = found.group(1).rstrip("/")
                assert url.endswith(f":{self.port}"), line
                return url

    def client(self, install: str | None = None, **kwargs: Any) -> Api:
        """An API client for a fresh install (or ``install``); closed by ``stop``."""
        client = Api(self.url, install or sid("AI"), **kwargs)
        self.clients.append(client)
        return client

    def stop(self) -> int:
        """SIGTERM, then the exit status (killing it if it will not go)."""
        for client in self.clients:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("sandbox serve ignored SIGTERM for 15 s") from None
        for t in self._threads:
            t.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode


def serving(*extra: str) -> Iterator[Served]:
    """Fixture body: a server for the duration, stopped cleanly afterwards."""
    served = Served(*extra)
    try:
        yield served
    finally:
        served.stop()


class Api:
    """An httpx client for one install with the contract's paths spelled out."""

    def __init__(self, base: str, install: str, token: str | None = TOKEN, **kw: Any) -> None:
        headers = {"token": token} if token is not None else {}
        self.http = httpx.Client(
            base_url=base,
            headers=headers,
            timeout=kw.pop("timeout", 10),
            verify=kw.pop("verify", True),
        )
        self.install = install
        self.v1 = f"/v1/installs/{install}"

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    # -- raw verbs -------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET ``path`` with query ``params`` (lists repeat the key)."""
        return self.http.get(path, params=params or None)

    def send(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        """Any verb with an optional JSON body."""
        if body is None:
            return self.http.request(method, path, **kw)
        return self.http.request(method, path, json=body, **kw)

    # -- §4 provision ------------------------------------------------------------------------
    def provision(self, body: Any) -> httpx.Response:
        """POST the provision call."""
        return self.send("POST", f"/v2/installs/{self.install}/provision", body)

    def provision_ok(self, body: Any) -> dict[str, Any]:
        """Provision, asserting 200; the response body."""
        r = self.provision(body)
        assert r.status_code == 200, r.text
        return r.json()

    def course(self, ext: str | None = None, **fields: Any) -> str:
        """Create a course; its SID."""
        return self.provision_ok({"course": {**course_body(ext), **fields}})["course"]["sid"]

    def exam(self, course: str, *, limited: bool = True, **config: Any) -> dict[str, Any]:
        """Create an exam in ``course``; the provision response."""
        return self.provision_ok(pl.in_course(course, exam=exam_body(limited=limited, **config)))

    def learner(self, course: str, role: str = "learner", **user: Any) -> dict[str, Any]:
        """Create a user enrolled in ``course``; the provision response."""
        return self.provision_ok(
            pl.in_course(course, user=user_body(**user), enrollment={"role": role})
        )

    def setup(self, *, limited: bool = True, **config: Any) -> Flow:
        """A course, an exam and one learner; assigned when the exam is limited."""
        out = self.provision_ok(
            pl.provision(
                course=course_body(),
                exam=exam_body(limited=limited, **config),
                user=user_body(),
                enrollment={"role": "learner"},
            )
        )
        flow = Flow(
            course=out["course"]["sid"],
            exam=out["exam"]["sid"],
            user=out["user"]["sid"],
            enrollment=out["enrollment"]["sid"],
        )
        if limited:
            self.assign(flow.course, flow.exam, add=[flow.enrollment])
        return flow

    # -- §5 ----------------------------------------------------------------------------------
    def assignments(self, course: str, exam: str, body: Any) -> httpx.Response:
        """PUT the course-scoped assignment form."""
        return self.send("PUT", f"{self.v1}/courses/{course}/exams/{exam}/assignments", body)

    def assign(
        self, course: str, exam: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Course-scoped assignment, asserting 200; the response body."""
        body: dict[str, Any] = {}
        if add:
            body["add"] = [{"enrollmentSid": e} for e in add]
        if remove:
            body["remove"] = [{"enrollmentSid": e} for e in remove]
        r = self.assignments(course, exam, body)
        assert r.status_code == 200, r.text
        return r.json()

    # -- §6 ----------------------------------------------------------------------------------
    def sessions(self, enrollment: str, exam: str, **params: Any) -> httpx.Response:
        """GET the enrollment's session list for ``exam``."""
        return self.get(f"{self.v1}/enrollments/{enrollment}/exams/{exam}/sessions", **params)

    def active(self, enrollment: str, exam: str) -> list[dict[str, Any]]:
        """The enrollment's active sessions (status Needs Proctor or Scheduled)."""
        r = self.sessions(enrollment, exam, includeActive="true", limit=100)
        assert r.status_code == 200, r.text
        return [s for s in r.json()["results"] if s["status"] in {"Needs Proctor", "Scheduled"}]

    def only_active(self, enrollment: str, exam: str) -> str:
        """The SID of the enrollment's one active session."""
        found = self.active(enrollment, exam)
        assert len(found) == 1, found
        return found[0]["sid"]

    def session_path(self, exam: str, session: str) -> str:
        """Path of one session."""
        return f"{self.v1}/exams/{exam}/sessions/{session}"

    def session(self, exam: str, session: str) -> dict[str, Any]:
        """GET a session's details, asserting 200."""
        r = self.get(self.session_path(exam, session))
        assert r.status_code == 200, r.text
        return r.json()

    def schedule(self, exam: str, session: str, body: Any) -> httpx.Response:
        """POST the schedule call."""
        return self.send("POST", self.session_path(exam, session), body)

    def reschedule(self, exam: str, session: str, body: Any) -> httpx.Response:
        """PUT the reschedule call."""
        return self.send("PUT", self.session_path(exam, session), body)

    def cancel(self, exam: str, session: str, body: Any) -> httpx.Response:
        """DELETE (cancel) with a JSON body."""
        return self.send("DELETE", self.session_path(exam, session), body)

    def onboard(self, exam: str, session: str) -> httpx.Response:
        """GET the onboarding URL."""
        return self.get(self.session_path(exam, session) + "/onboard")

    def report(self, **params: Any) -> httpx.Response:
        """GET the appointments report."""
        return self.get(f"{self.v1}/reports/appointments", **params)

    def settings(self) -> dict[str, Any]:
        """GET install settings, asserting 200."""
        r = self.get(f"{self.v1}/settings")
        assert r.status_code == 200, r.text
        return r.json()

    def collect(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``next`` until it is null."""
        r = self.get(path, **params)
        items: list[dict[str, Any]] = []
        for _ in range(1000):
            assert r.status_code == 200, r.text
            page = assert_envelope(r.json())
            items.extend(page["results"])
            if page["next"] is None:
                return items
            r = self.http.get(page["next"])
        raise AssertionError("paging did not end")


class Flow:
    """The SIDs of a provisioned course / exam / learner enrollment."""

    def __init__(self, course: str, exam: str, user: str, enrollment: str) -> None:
        self.course, self.exam, self.user, self.enrollment = course, exam, user, enrollment


def course_body(ext: str | None = None) -> dict[str, Any]:
    """A creatable course."""
    ext = ext or f"c-{uuid.uuid4().hex[:8]}"
    return pl.course(ext, title=f"Course {ext}", code=ext.upper())


def config_body(**over: Any) -> dict[str, Any]:
    """A creatable exam configuration: access all of 2026, 120 minutes, live proctoring."""
    small = {
        "url": "https://exam.example/e/1",
        "access": {"open": "2026-01-01T00:00:00Z", "close": "2026-12-31T23:59:59Z"},
        "password": "pw-secret-1",
        "proctorTypes": {TS_LIVE: {}},
    }
    return pl.configuration(minimal=True, **(small | over))


def exam_body(ext: str | None = None, *, limited: bool = True, **config: Any) -> dict[str, Any]:
    """A creatable exam."""
    ext = ext or f"x-{uuid.uuid4().hex[:8]}"
    conf = config_body(**config)
    return pl.exam(ext, limited=limited, title=f"Exam {ext}", type=None, configuration=conf)


def user_body(ext: str | None = None, **over: Any) -> dict[str, Any]:
    """A creatable user."""
    ext = ext or f"u-{uuid.uuid4().hex[:8]}"
    return pl.user(ext, **({"timeZone": None} | over))


def schedule_body(when: str = "2026-07-01T14:00:00Z", **over: Any) -> dict[str, Any]:
    """The guide's schedule request, at ``when``."""
    body: dict[str, Any] = {
        "type": "automated",
        "proctorLocationSid": "PL" + HEX32,
        "appointmentDateTime": when,
        "amount": 0,
        "currency": "USD",
        "externalAppointmentId": f"appt-{uuid.uuid4().hex[:8]}",
    }
    body.update(over)
    return body


def detail_paths(error: dict[str, Any]) -> list[str]:
    """The ``path`` of every detail of an error body (§3)."""
    return [d["path"] for d in error.get("details", [])]


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``r`` is an error with ``status`` in the §3 body shape (and ``code`` if given)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict), body
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"details"}, body
    assert body["status"] == status, body
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    if "details" in body:
        assert isinstance(body["details"], list), body
        for d in body["details"]:
            assert set(d) == {"path", "message"}, d
            assert isinstance(d["path"], str) and isinstance(d["message"], str), d
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_envelope(body: Any) -> dict[str, Any]:
    """``body`` is the §7 list envelope."""
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, body
    for key in ("total", "count", "offset"):
        assert isinstance(body[key], int) and not isinstance(body[key], bool), body
    assert body["count"] == len(body["results"]), body
    for key in ("first", "last"):
        assert isinstance(body[key], str) and body[key], body
    for key in ("next", "prev"):
        assert body[key] is None or (isinstance(body[key], str) and body[key]), body
    return body
