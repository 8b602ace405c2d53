"""``spsync sandbox serve``: option checks, and a real server process end to end."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import support.sandbox_payloads as pl
from click.testing import CliRunner

from spsync.cli import main

AI = "AI" + "a1" * 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault-rate", "1.5"], "--fault-rate: must be a fraction from 0 to 1, got 1.5"),
        (["--latency-ms", "-1"], "--latency-ms: must be a number >= 0, got -1.0"),
        (["--rate-limit", "0"], "--rate-limit: must be a number of requests per second > 0"),
        (["--port", "70000"], "--port: must be from 0 to 65535, got 70000"),
        (["--now", "2027-01-01"], "--now: expected an ISO-8601 UTC date-time ending in Z"),
        (["--token", " "], "--token: must not be empty"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.key"], "--tls-cert: no such file"),
        (["--fault-rate", "lots"], "'lots' is not a valid float"),
    ],
)
def test_bad_options_exit_1_with_a_clear_message(args: list[str], message: str) -> None:
    r = CliRunner().invoke(main, ["sandbox", "serve", *args])
    assert r.exit_code == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_unreadable_world_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text("[]")
    r = CliRunner().invoke(main, ["sandbox", "serve", "--data", str(bad)])
    assert r.exit_code == 1
    assert "--data:" in r.stderr and "not a readable sandbox world" in r.stderr


def test_serve_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "world.json"
    cmd = [
        sys.executable,
        "-m",
        "spsync",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--token",
        "t",
        "--now",
        "2027-01-15T12:00:00Z",
        "--data",
        str(data),
        "--seed",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    popen = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    with popen as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("spsync sandbox listening on http://127.0.0.1:"), line
            url = line.rsplit(" ", 1)[1].strip()
            with httpx.Client(base_url=url, timeout=10) as c:
                assert c.get(f"/v1/installs/{AI}/settings").status_code == 403
                r = c.post(
                    f"/v2/installs/{AI}/provision",
                    headers={"token": "t"},
                    json=pl.provision(course=pl.course("c", title="T", code="C")),
                )
                assert r.status_code == 200
                clock = c.get("/_sandbox/clock", headers={"token": "t"}).json()
                assert clock == {"now": "2027-01-15T12:00:00Z", "fixed": True}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            assert proc.stderr.read() == "spsync sandbox stopped\n"
        finally:
            if proc.poll() is None:
                proc.kill()
    saved = json.loads(data.read_text())
    assert saved["installs"][0]["courses"][0]["title"] == "T"


@contextlib.contextmanager
def _serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``spsync sandbox serve --port 0 ARGS`` in a subprocess, once it listens: the process
    and its URL (killed at the end if still running)."""
    cmd = [sys.executable, "-m", "spsync", "sandbox", "serve", "--port", "0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    popen = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a Ctrl-C reaches the server even where the test runner ignores SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    with popen as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("spsync sandbox listening on http://127.0.0.1:"), line
            yield proc, line.rsplit(" ", 1)[1].strip()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_ctrl_c_stops_the_server_with_exit_0_and_global_options_come_after_serve() -> None:
    # documented in docs/exit-codes.md as the one exception to 130
    with _serving("-v", "--no-color", "--sandbox", "--state-dir", "x") as (proc, _url):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == "spsync sandbox stopped\n"


def test_a_stop_during_a_held_answer_prints_no_traceback() -> None:
    # an answer held by --latency-ms outlives the graceful shutdown and is cancelled: the
    # server says so in one line, not with the cancelled request's traceback
    with _serving("--latency-ms", "30000") as (proc, url):
        held = threading.Thread(target=_get_ignoring_errors, args=(f"{url}/v1/check",))
        held.start()
        time.sleep(1.0)  # the request is in, held by the latency
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        held.join(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "Traceback" not in err and "CancelledError" not in err, err
        assert err.endswith("spsync sandbox stopped\n"), err


def _get_ignoring_errors(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, headers={"token": "t"}, timeout=40)


def test_ctrl_c_ends_the_wait_for_a_sandbox_in_use_at_once(tmp_path: Path) -> None:
    # the wait runs inside asyncio, whose SIGINT handler only cancels the main task: a
    # blocking wait lost the press until SPSYNC_SANDBOX_LOCK_WAIT had passed
    shutil.copytree(Path(__file__).parents[1] / "manifests" / "acme", tmp_path / "m" / "acme")
    sandbox = tmp_path / ".spsync" / "sandbox"
    sandbox.mkdir(parents=True)
    env = {**os.environ, "SPSYNC_SANDBOX_LOCK_WAIT": "60", "NO_COLOR": "1"}
    for name in ("CERT", "SAFETY", "ORIENTATION"):
        env[f"SPSYNC_ACME_{name}_PASSWORD"] = "pw-" + name.lower()
    with open(sandbox / "world.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 1\n")
        held.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "spsync", "--sandbox", "plan", "m/acme"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            assert first == (
                "the sandbox .spsync/sandbox is in use by pid 1; waiting for it to finish "
                "(up to 60s)\n"
            )
            time.sleep(0.3)  # waiting
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            waited = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "\ninterrupted\n")
    assert waited < 10, waited
