"""A hostile SmarterProctoring API on loopback, and what the security tests share.

``Hostile`` is a raw HTTP/1.1 server (asyncio, in a thread) whose every answer is chosen by
a function of the request: it can echo the token, trickle a body, send a gzip bomb or page
forever. It is bounded: it stops by itself after ``lifetime`` seconds, and on leaving its
``with`` block. ``spsync`` runs as a real subprocess against it, and every test then looks
for every form of every secret in everything spsync printed or wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spsync.secrets import forms

INSTALL = "AI" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
TOKEN = "tok-SECRET-abc123"
OTHER_TOKEN = "tok-OTHER-zyx987"
PASSWORD = "pw-SECRET-final-42"
OTHER_PASSWORD = "pw-OTHER-exam-77"


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | AsyncIterator[bytes] = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


def json_reply(doc: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(doc).encode())


class Hostile:
    """``with Hostile(answer) as srv:`` serves ``answer(request)`` on ``srv.url``; every
    request is kept in ``srv.requests``."""

    def __init__(self, answer: Callable[[Request], Reply], *, lifetime: float = 120.0) -> None:
        self.answer = answer
        self.lifetime = lifetime
        self.requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Hostile:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.lifetime)
        server.close()
        # every connection still open is ended and its socket closed before the loop goes
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(size) if size else b""
                request = Request(method, target, headers, body)
                self.requests.append(request)
                await self._write(writer, self.answer(request))
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        head = [f"HTTP/1.1 {reply.status} X"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if isinstance(reply.body, bytes):
            head.append(f"content-length: {len(reply.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
            await writer.drain()
            return
        head.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        async for chunk in reply.body:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


# --- a configuration repository --------------------------------------------------------

TENANT_YAML = """\
tenant: t1
install: {install}
api:
  url: {url}
  token: {token}
"""

MAIN_YAML = """\
courses:
  main:
    ids: {{external: course-1}}
    title: Main course
    code: MAIN-1
exams:
  final:
    course: main
    ids: {{external: exam-1}}
    title: Final exam
    configuration:
      url: https://exams.example.com/final
      access: {{open: "2027-01-01T00:00:00Z", close: "2027-12-31T23:59:59Z"}}
      duration: 120
      password: {password}
      proctorTypes: {{TS63dda27a6ba54c218449b934b7bb1ba8: {{}}}}
users:
  jane:
    ids: {{external: user-1}}
    firstName: Jane
    lastName: Smith
    email: jane@example.com
enrollments:
  - {{user: jane, course: main, role: learner}}
"""

OTHER_TENANT = """\
tenant: t2
install: {install}
api:
  token: {{env: SPSYNC_T2_TOKEN}}
"""


def repo(
    root: Path,
    *,
    url: str = "http://127.0.0.1:9",
    token: str = "{env: SPSYNC_T1_TOKEN}",
    password: str = "{env: SPSYNC_T1_PASSWORD}",
) -> Path:
    """A configuration repository (``.git``, ``manifests/t1``, ``manifests/t2``) under
    ``root``; returns ``root``."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    t1 = root / "manifests" / "t1"
    t1.mkdir(parents=True, exist_ok=True)
    (t1 / "tenant.yaml").write_text(TENANT_YAML.format(install=INSTALL, url=url, token=token))
    (t1 / "main.yaml").write_text(MAIN_YAML.format(password=password))
    t2 = root / "manifests" / "t2"
    t2.mkdir(exist_ok=True)
    (t2 / "tenant.yaml").write_text(OTHER_TENANT.format(install=INSTALL))
    return root


def environment(**extra: str) -> dict[str, str]:
    """What a CI job holds: both tenants' tokens and passwords."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPSYNC_")}
    env.update(
        SPSYNC_T1_TOKEN=TOKEN,
        SPSYNC_T1_PASSWORD=PASSWORD,
        SPSYNC_T2_TOKEN=OTHER_TOKEN,
        SPSYNC_T2_PASSWORD=OTHER_PASSWORD,
        SPSYNC_CALL_TIMEOUT="20",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def spsync(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``spsync ARGS`` in ``root`` (a bounded subprocess)."""
    done = subprocess.run(
        [sys.executable, "-m", "spsync", *args],
        cwd=root,
        env=env if env is not None else environment(),
        capture_output=True,
        timeout=240,
        check=False,
    )
    return Result(
        done.returncode,
        done.stdout.decode("utf-8", "backslashreplace"),
        done.stderr.decode("utf-8", "backslashreplace"),
    )


SECRETS = (TOKEN, OTHER_TOKEN, PASSWORD, OTHER_PASSWORD)


def every_form(secret: str) -> set[str]:
    """The secret as any output could show it, and the secret with a trailing newline in
    the same forms (``b'tok\\n'``)."""
    return forms(secret) | {f for f in forms(secret + "\n") if len(f) > len(secret)}


def leaks(root: Path, result: Result, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Where any form of any secret appears: stdout, stderr, or any file under ``root``
    other than the manifests' own secret files."""
    places = {"stdout": result.stdout, "stderr": result.stderr}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "secrets" not in path.parts:
            places[str(path.relative_to(root))] = path.read_bytes().decode("utf-8", "replace")
    found = []
    for where, text in places.items():
        for secret in secrets:
            if any(form in text for form in every_form(secret)):
                found.append(f"{where}: {secret}")
    return found


@contextlib.contextmanager
def serving(answer: Callable[[Request], Reply]) -> Iterator[Hostile]:
    with Hostile(answer) as srv:
        yield srv
