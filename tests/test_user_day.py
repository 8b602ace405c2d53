"""Rough edges of a user's day, each reproduced: Ctrl-C at apply's question and while a plan
waits on the API, a slow or retried call told on stderr, the embedded sandbox's lock, state
found from the configuration repository, sandbox plans kept off the real API, and hints
that work as printed."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from spsync.cli import main
from spsync.sandbox.server import ThreadedServer

REPO = Path(__file__).resolve().parents[1]
TOKEN = "day-token"
ENV = {
    "SPSYNC_ACME_TOKEN": TOKEN,
    "ACME_CERT_PASSWORD": "cert-pw",
    "ACME_SAFETY_PASSWORD": "safety-pw",
    "ACME_ORIENTATION_PASSWORD": "orientation-pw",
    "NO_COLOR": "1",
}


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})}, catch_exceptions=False)


def acme_at(root: Path, url: str) -> Path:
    """The bundled acme tenant under ``root/manifests/acme``, pointed at ``url``."""
    dest = root / "manifests" / "acme"
    shutil.copytree(REPO / "manifests" / "acme", dest)
    text = (dest / "tenant.yaml").read_text()
    (dest / "tenant.yaml").write_text(text.replace("https://api.smarterproctoring.com", url))
    return dest


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(token=TOKEN, seed=5) as srv:
        yield srv


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An API that accepts connections and never answers (the kernel completes them)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def spawn(args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "spsync", *args],
        cwd=cwd,
        env={**os.environ, **ENV},
        **kw,  # type: ignore[arg-type]
    )


def read_until(fd: int, wanted: bytes, seen: bytes = b"", timeout: float = 60) -> bytes:
    """Read ``fd`` until ``wanted`` appears (or the deadline, or its end)."""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_one_ctrl_c_at_the_question_exits_130(tmp_path: Path, server: ThreadedServer) -> None:
    acme = acme_at(tmp_path, server.url)
    primary, secondary = pty.openpty()
    proc = spawn(
        ["apply", str(acme)], tmp_path, stdin=secondary, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    seen = read_until(primary, b"Enter a value:")
    assert b"Enter a value:" in seen, seen.decode(errors="replace")
    proc.send_signal(signal.SIGINT)  # once
    assert proc.wait(timeout=30) == 130
    seen = read_until(primary, b"interrupted", seen, timeout=5)
    os.close(primary)
    assert seen.decode().rstrip().endswith("interrupted")
    assert not (tmp_path / "state" / "acme.json").exists()


def test_a_plan_waiting_on_the_api_says_so_and_ctrl_c_exits_130(
    tmp_path: Path, silent_url: str
) -> None:
    acme = acme_at(tmp_path, silent_url)
    proc = spawn(["plan", str(acme)], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = read_until(proc.stderr.fileno(), b"waiting up to 30s\n")
    text = seen.decode()
    assert "acme: GET /v1/installs/AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6/users" in text, text
    assert ": no answer after 5s; waiting up to 30s\n" in text
    proc.send_signal(signal.SIGINT)
    _out, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert (text + rest.decode()).rstrip().endswith("interrupted")


def test_a_retried_call_is_told_on_stderr(tmp_path: Path, server: ThreadedServer) -> None:
    acme = acme_at(tmp_path, server.url)
    os.chdir(tmp_path)
    config = {"faultRate": 1.0, "faultKinds": ["503"]}
    httpx.put(server.url + "/_sandbox/config", json=config, headers={"token": TOKEN})
    r = cli("plan", str(acme))
    assert r.exit_code == 1
    notices = [line for line in r.stderr.splitlines() if "; retrying in " in line]
    assert notices, r.stderr
    assert notices[0].startswith("acme: GET /v1/installs/AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6/")
    assert notices[0].endswith("(attempt 2 of 6)")
    assert "503" in notices[0]
