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
    "SPSYNC_ACME_CERT_PASSWORD": "cert-pw",
    "SPSYNC_ACME_SAFETY_PASSWORD": "safety-pw",
    "SPSYNC_ACME_ORIENTATION_PASSWORD": "orientation-pw",
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


def spawn(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, **kw: object
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "spsync", *args],
        cwd=cwd,
        env={**os.environ, **ENV, **(env or {})},
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
    assert proc.wait(timeout=120) == 130
    seen = read_until(primary, b"interrupted", seen, timeout=5)
    os.close(primary)
    assert seen.decode().rstrip().endswith("interrupted")
    assert not (tmp_path / "state" / "acme.json").exists()


@pytest.mark.parametrize(("typed", "echo"), [(b"\x04", b""), (b"no\n", b"no")])
def test_an_answer_other_than_yes_cancels_on_a_line_of_its_own(
    tmp_path: Path, server: ThreadedServer, typed: bytes, echo: bytes
) -> None:
    # Ctrl-D types no line break: the message must not end up after the question
    acme = acme_at(tmp_path, server.url)
    primary, secondary = pty.openpty()
    proc = spawn(
        ["apply", str(acme)], tmp_path, stdin=secondary, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    seen = read_until(primary, b"Enter a value: ")
    assert seen.endswith(b"Enter a value: "), seen.decode(errors="replace")
    os.write(primary, typed)
    assert proc.wait(timeout=120) == 1
    seen = read_until(primary, b"cancelled\r\n", seen, timeout=5)
    os.close(primary)
    assert seen.endswith(b"  Enter a value: " + echo + b"\r\nerror: apply cancelled\r\n"), seen
    assert not (tmp_path / "state" / "acme.json").exists()


@pytest.mark.parametrize("extra", [[], ["--out", "plan.json"]])
def test_a_reader_that_stops_reading_ends_the_plan_with_a_message(
    tmp_path: Path, extra: list[str]
) -> None:
    # `spsync plan manifests | head -1`: the plan of globex is far larger than a pipe holds.
    # It exited 1 without a word, and with --out saved nothing, also without a word
    from support.docs import example_env

    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    env = {**example_env(), "SPSYNC_SANDBOX_NOW": "2027-06-01T00:00:00Z"}
    proc = spawn(
        ["--sandbox", "plan", "manifests", *extra],
        tmp_path,
        env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as head -1 does
    assert proc.wait(timeout=120) == 1
    assert first == b"Tenant acme (install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6, state serial 0)\n"
    with proc.stderr:
        said = proc.stderr.read().decode()
    assert said == (
        "error: standard output was closed before all of it was written (its reader, such "
        "as `| head`, stopped reading); the command stopped there\n"
    )
    assert not (tmp_path / "plan.json").exists()


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


def test_a_retried_call_is_told_on_stderr(
    tmp_path: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = acme_at(tmp_path, server.url)
    monkeypatch.chdir(tmp_path)
    config = {"faultRate": 1.0, "faultKinds": ["503"]}
    httpx.put(server.url + "/_sandbox/config", json=config, headers={"token": TOKEN})
    r = cli("plan", str(acme))
    assert r.exit_code == 1
    notices = [line for line in r.stderr.splitlines() if "; retrying in " in line]
    assert notices, r.stderr
    assert notices[0].startswith("acme: GET /v1/installs/AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6/")
    assert notices[0].endswith("(attempt 2 of 6)")
    assert "503" in notices[0]


# --- the embedded sandbox's lock ---------------------------------------------------------------


def two_tenants(root: Path) -> Path:
    """acme and a copy of it as tenant beta (another install), under ``root/manifests``."""
    manifests = root / "manifests"
    shutil.copytree(REPO / "manifests" / "acme", manifests / "acme")
    shutil.copytree(REPO / "manifests" / "acme", manifests / "beta")
    # beta reads its own secrets: a tenant reads only variables under its own prefix
    for path in (manifests / "beta").glob("*.yaml"):
        path.write_text(path.read_text().replace("SPSYNC_ACME_", "SPSYNC_BETA_"))
    tenant = manifests / "beta" / "tenant.yaml"
    text = tenant.read_text().replace("tenant: acme", "tenant: beta")
    tenant.write_text(text.replace("AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "AI" + "be" * 16))
    return manifests


SANDBOX_ENV = {
    "SPSYNC_SANDBOX_NOW": "2027-06-01T00:00:00Z",
    **{k.replace("SPSYNC_ACME_", "SPSYNC_BETA_"): v for k, v in ENV.items() if "ACME" in k},
}


def test_two_sandbox_applies_at_once_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = two_tenants(tmp_path)
    procs = [
        spawn(
            ["--sandbox", "apply", str(manifests / t), "--auto-approve"],
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=SANDBOX_ENV,
        )
        for t in ("acme", "beta")
    ]
    for p in procs:
        _out, errs = p.communicate(timeout=120)
        assert p.returncode == 0, errs.decode()
    monkeypatch.chdir(tmp_path)
    r = cli("--sandbox", "plan", "manifests", "--detailed-exitcode", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output
    assert "No changes. acme matches its manifests" in r.output
    assert "No changes. beta matches its manifests" in r.output


def test_a_second_sandbox_process_waits_then_goes_on(tmp_path: Path) -> None:
    from spsync.sandbox.embedded import hold, release

    manifests = two_tenants(tmp_path)
    sandbox = tmp_path / ".spsync" / "sandbox"
    sandbox.mkdir(parents=True)
    hold(sandbox)  # this process uses the sandbox
    try:
        proc = spawn(
            ["--sandbox", "apply", str(manifests / "acme"), "--auto-approve"],
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=SANDBOX_ENV,
        )
        assert proc.stderr is not None
        seen = read_until(proc.stderr.fileno(), b"(up to 600s)\n").decode()
        assert seen == (
            f"the sandbox .spsync/sandbox is in use by pid {os.getpid()}; waiting for it to "
            "finish (up to 600s)\n"
        )
    finally:
        release(sandbox)
    _out, _err = proc.communicate(timeout=120)
    assert proc.returncode == 0, _err.decode()


def test_a_second_sandbox_process_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    from spsync.sandbox.embedded import hold, release

    manifests = two_tenants(tmp_path)
    sandbox = tmp_path / ".spsync" / "sandbox"
    sandbox.mkdir(parents=True)
    hold(sandbox)
    try:
        proc = spawn(
            ["--sandbox", "plan", str(manifests / "acme")],
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**SANDBOX_ENV, "SPSYNC_SANDBOX_LOCK_WAIT": "0.2"},
        )
        _out, errs = proc.communicate(timeout=60)
    finally:
        release(sandbox)
    assert proc.returncode == 1
    assert errs.decode().splitlines()[-1] == (
        f"error: the sandbox .spsync/sandbox is still in use by pid {os.getpid()} after 0.2s; "
        "run one --sandbox command at a time"
    )


# --- state found from the configuration repository ---------------------------------------------


def test_state_is_read_from_the_configuration_repository(
    tmp_path: Path,
    server: ThreadedServer,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path.resolve()
    acme_at(root, server.url)
    monkeypatch.chdir(root)
    r = cli("apply", "manifests/acme", "--auto-approve")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("configuration repository") == 0  # run from the root: as ever
    told = f"state: {root}/state (configuration repository {root})"
    monkeypatch.chdir(root / "manifests")
    r = cli("plan", "acme", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == told
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    r = cli("plan", str(root / "manifests" / "acme"), "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == told
    # --state-dir and SPSYNC_STATE_DIR still decide, silently
    r = cli("plan", str(root / "manifests" / "acme"), "--detailed-exitcode", "--state-dir", "x")
    assert r.exit_code == 2
    assert "configuration repository" not in r.stderr


def test_the_sandbox_is_found_from_the_configuration_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path.resolve()
    manifests = two_tenants(root)
    monkeypatch.chdir(root)
    r = cli("--sandbox", "apply", "manifests/acme", "--auto-approve", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(manifests / "acme")
    r = cli("--sandbox", "plan", ".", "--detailed-exitcode", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0] == (
        f"sandbox: {root}/.spsync/sandbox (configuration repository {root})"
    )
    assert not (manifests / "acme" / ".spsync").exists()


# --- a plan saved on the sandbox stays there ---------------------------------------------------


def test_a_sandbox_plan_is_never_applied_to_the_real_api(
    tmp_path: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme_at(tmp_path, server.url)
    monkeypatch.chdir(tmp_path)
    r = cli("--sandbox", "plan", "manifests/acme", "--out", "sandbox.json", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output
    assert r.stderr.endswith("apply it with: spsync --sandbox apply sandbox.json\n")
    r = cli("apply", "sandbox.json")
    assert r.exit_code == 1
    assert r.stderr == (
        "error: sandbox.json was made with --sandbox (on the embedded simulator); it is never "
        "applied to the real API: spsync --sandbox apply sandbox.json\n"
    )
    assert _requests(server) == 0
    r = cli("plan", "manifests/acme", "--out", "real.json")
    assert r.exit_code == 0, r.output
    r = cli("--sandbox", "apply", "real.json", env=SANDBOX_ENV)
    assert r.exit_code == 1
    assert "error: real.json was made against the real API, not the sandbox" in r.stderr
    r = cli("--sandbox", "apply", "sandbox.json", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output


def _requests(srv: ThreadedServer) -> int:
    got = httpx.get(srv.url + "/_sandbox/requests", headers={"token": TOKEN})
    return int(got.json()["total"])


# --- hints that work as printed ----------------------------------------------------------------


def test_spsync_alone_prints_help_and_exits_0() -> None:
    r = CliRunner().invoke(main, [], prog_name="spsync", catch_exceptions=False)
    assert r.exit_code == 0
    assert r.stdout.startswith("Usage: spsync [OPTIONS] COMMAND [ARGS]...\n")
    assert "  plan " in r.stdout and r.stderr == ""


def test_a_one_dash_option_hints_the_two_dash_one() -> None:
    r = cli("plan", "manifests", "-out=plan.json")
    assert r.exit_code == 1
    assert r.stderr.endswith(
        "Error: No such option: -out (options take two dashes: --out=plan.json)\n"
    )
    r = cli("apply", ".", "-auto-approve")
    assert "No such option: -auto-approve (options take two dashes: --auto-approve)" in r.stderr


def test_sandbox_hints_say_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = two_tenants(tmp_path)
    monkeypatch.chdir(tmp_path)
    acme = str(manifests / "acme")
    r = cli("--sandbox", "onboard", acme, "session.cert-456.jnae", env=SANDBOX_ENV)
    assert r.exit_code == 1
    assert r.stderr == (
        "error: session.cert-456.jnae is not a session of acme; did you mean "
        "session.cert-456.jane?\n"
    )
    r = cli("--sandbox", "onboard", acme, "session.cert-456.jane", env=SANDBOX_ENV)
    assert r.stderr == (
        "error: session.cert-456.jane is not in the state of acme: apply it first "
        f"(spsync --sandbox apply {acme})\n"
    )
    # a lock left by a process that is gone: the way out names the sandbox
    from spsync.store import StateStore

    store = StateStore(tmp_path / ".spsync" / "sandbox" / "state")
    with store.lock("acme", "apply", unlock_hint=acme) as info:
        r = cli("--sandbox", "apply", acme, "--auto-approve", env=SANDBOX_ENV)
    assert r.exit_code == 1
    assert r.stderr.endswith(f"if that process is gone: spsync --sandbox unlock {acme} {info.id}\n")
    # state of another install in the sandbox: --state-dir would not help there
    r = cli("--sandbox", "apply", acme, "--auto-approve", env=SANDBOX_ENV)
    assert r.exit_code == 0, r.output
    tenant = manifests / "acme" / "tenant.yaml"
    tenant.write_text(
        tenant.read_text().replace("AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "AI" + "cd" * 16)
    )
    r = cli("--sandbox", "plan", acme, env=SANDBOX_ENV)
    assert r.exit_code == 1
    assert r.stderr.endswith(": start the sandbox afresh (rm -r .spsync/sandbox)\n")


def test_make_demo_shows_a_summary_per_tenant(tmp_path: Path) -> None:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    r = subprocess.run(
        ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "demo",
         f"BIN={Path(sys.executable).parent}", "-o", ".venv/.installed"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) < 30, r.stdout
    assert lines[3:] == [
        "$ spsync --sandbox apply manifests --auto-approve > .spsync/demo-apply.txt",
        "Tenant acme (install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6, state serial 0)",
        "Plan: 27 to create, 8 to assign, 7 to schedule; 2 unchanged.",
        "Tenant globex (install AIb2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7, state serial 0)",
        "Plan: 732 to create, 315 to assign, 246 to schedule; 41 unchanged.",
        lines[8],
        lines[9],
        "Apply complete.",
        "(the whole plan and report: .spsync/demo-apply.txt)",
        "$ spsync --sandbox plan manifests --detailed-exitcode",
        *lines[13:],
    ]
    assert lines[8].startswith("acme: 42 done (42 changes, ")
    assert lines[9].startswith("globex: 1293 done (1293 changes, ")
    assert "No changes. globex matches its manifests" in r.stdout.split("--detailed-exitcode")[1]
    assert len((tmp_path / ".spsync" / "demo-apply.txt").read_text().splitlines()) > 6000


def test_top_level_summaries_are_whole() -> None:
    r = CliRunner().invoke(main, ["--help"], prog_name="spsync", catch_exceptions=False)
    listing = r.stdout.split("Commands:\n", 1)[1]
    assert "..." not in listing
    assert "  plan      Show what apply would change: manifests vs state and the live API.\n" in (
        listing
    )
