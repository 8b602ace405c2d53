"""``spsync apply``, ``onboard`` and ``unlock`` from the command line, against the simulator
over real HTTP (and the embedded one for ``--sandbox``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from support.apply import world
from support.apply_checker import world_mismatches

from spsync import manifest
from spsync.cli import main
from spsync.sandbox.server import ThreadedServer
from spsync.store import StateStore

REPO = Path(__file__).resolve().parents[1]
TOKEN = "acme-test-token"
ENV = {
    "SPSYNC_ACME_TOKEN": TOKEN,
    "SPSYNC_ACME_CERT_PASSWORD": "cert-pw-secret",
    "SPSYNC_ACME_SAFETY_PASSWORD": "safety-pw-secret",
    "SPSYNC_ACME_ORIENTATION_PASSWORD": "orientation-pw-secret",
    "NO_COLOR": "1",
}


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(token=TOKEN, seed=11) as srv:
        yield srv


@pytest.fixture
def acme(tmp_path: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled acme tenant, pointed at ``server``; the working directory is tmp_path."""
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "acme"
    shutil.copytree(REPO / "manifests" / "acme", dest)
    text = (dest / "tenant.yaml").read_text()
    (dest / "tenant.yaml").write_text(text.replace("https://api.smarterproctoring.com", server.url))
    return dest


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, input=input, catch_exceptions=False)


def _desired(path: Path) -> Any:
    (d,) = manifest.load(path, env=ENV)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _requests(srv: ThreadedServer) -> int:
    r = httpx.get(srv.url + "/_sandbox/requests", headers={"token": TOKEN})
    return int(r.json()["total"])


def test_apply_then_change_then_apply_converges(acme: Path, server: ThreadedServer) -> None:
    r = cli("apply", str(acme), "--auto-approve")
    assert r.exit_code == 0, r.stderr
    # 29 or 30 calls: whether the unlimited exam's report is read before or after the
    # last of its learners was provisioned depends on timing (a miss costs one list call)
    assert re.search(
        r"\nacme: 42 done \(42 changes, (29|30) API calls, \d+\.\ds\): "
        r"27 create, 8 assign, 7 schedule\nApply complete\.\n$",
        r.stdout,
    )
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0
    assert world_mismatches(world(server.url, TOKEN), _desired(acme)) == []

    # new users, a moved appointment, a longer exam, a removed session, another location
    _edit(acme / "exams.yaml", "duration: 120", "duration: 150")
    _edit(acme / "sessions.yaml", '"2028-03-02T15:30:00Z"', '"2028-03-09T16:00:00Z"')
    _edit(
        acme / "sessions.yaml",
        "proctorLocation: PLc37d8e9f0a1b2c3d4e5f6a7b8c9d0e1f",
        "proctorLocation: PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
    )
    text = (acme / "sessions.yaml").read_text()
    text = re.sub(r"  - exam: safety-101\n    user: priya\n(    .*\n)+?(?=  - )", "", text)
    text += (
        "  - exam: safety-101\n    user: omar\n"
        '    appointment: "2028-06-01T12:00:00Z"\n'
        "    proctorLocation: PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d\n"
    )
    (acme / "sessions.yaml").write_text(text)
    _edit(
        acme / "roster.yaml",
        "  olivia:          # instructor",
        "  nina: {ids: {external: user-800}, firstName: Nina, lastName: Novak, "
        "email: nina@example.com}\n"
        "  omar: {ids: {external: user-801}, firstName: Omar, lastName: Haddad, "
        "email: omar@example.com}\n"
        "  olivia:          # instructor",
    )
    _edit(acme / "roster.yaml", "cert-456: [li, mateo]", "cert-456: [li, mateo, nina]")
    _edit(acme / "roster.yaml", "safety-101: [sven]", "safety-101: [sven, priya]")

    plan = cli("plan", str(acme), "--detailed-exitcode")
    assert plan.exit_code == 2
    assert plan.stdout.splitlines()[-1] == (
        "Plan: 4 to create, 1 to update, 2 to assign, 1 to schedule, 1 to reschedule, "
        "1 to cancel, 1 to replace; 40 unchanged."
    )
    r = cli("apply", str(acme), "--auto-approve")
    assert r.exit_code == 0, r.stderr
    assert "acme: 11 done (11 changes" in r.stdout
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0
    assert world_mismatches(world(server.url, TOKEN), _desired(acme)) == []


def test_apply_refuses_without_a_terminal_or_auto_approve(
    acme: Path, server: ThreadedServer
) -> None:
    r = cli("apply", str(acme))
    assert r.exit_code == 1
    assert r.stderr == (
        "error: refusing to apply without confirmation: stdin is not a terminal. Pass "
        "--auto-approve, or review a saved plan (spsync plan PATH --out FILE) and apply that "
        "(spsync apply FILE)\n"
    )
    assert _requests(server) == 0  # refused before any network call


def test_a_saved_plan_is_applied_as_reviewed_and_refused_once_stale(
    acme: Path, server: ThreadedServer
) -> None:
    assert cli("plan", str(acme), "--out", "first.json").exit_code == 0
    assert cli("plan", str(acme), "--out", "second.json").exit_code == 0
    r = cli("apply", "first.json", "--manifests", str(acme))
    assert r.exit_code == 0, r.stderr
    assert "Apply complete." in r.stdout
    # the second plan was made before the first was applied: state, live objects moved
    r = cli("apply", "second.json", "--manifests", str(acme))
    assert r.exit_code == 1
    # (made before any state: the state written since is a change, not another lineage)
    serial = json.loads((Path("state") / "acme.json").read_text())["serial"]
    assert r.stderr.startswith(
        "the saved plan is stale; make a new one (spsync plan ... --out FILE):\n"
        f"  - the state of acme changed since planning (serial 0 -> {serial})\n"
    )
    assert "  - acme: changes no longer needed: " in r.stderr

    _edit(acme / "exams.yaml", "duration: 120", "duration: 100")
    assert cli("plan", str(acme), "--out", "third.json").exit_code == 0
    _edit(acme / "exams.yaml", "duration: 100", "duration: 90")
    r = cli("apply", "third.json", "--manifests", str(acme))
    assert r.exit_code == 1
    assert "  - the manifests of acme changed since planning" in r.stderr
    assert "  - acme: changes that are now different: exam.cert-456 (update -> update)" in (
        r.stderr
    )
    state = StateStore(Path("state")).load(_desired(acme).tenant)
    # nothing was applied since first.json: its first save, its journal folded in, and the
    # record that the plan did it
    assert state.serial == 3


def test_a_second_apply_fails_at_once_naming_the_holder(acme: Path) -> None:
    store = StateStore(Path("state"))
    with store.lock("acme", "apply") as info:
        r = cli("apply", str(acme), "--auto-approve")
        waited = cli("apply", str(acme), "--auto-approve", "--lock-timeout", "0.2")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: state of acme is locked by pid {os.getpid()} on ")
    assert r.stderr.endswith(f"(apply); if that process is gone: spsync unlock {acme} {info.id}\n")
    assert waited.exit_code == 1 and "is locked by" in waited.stderr
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0


@pytest.mark.parametrize("given", ["nan", "inf", "1e400"])
def test_a_lock_timeout_that_is_no_number_of_seconds_is_refused(
    acme: Path, server: ThreadedServer, given: str
) -> None:
    # nan passed the range check, and with another run holding the lock waited for it
    # forever, saying nothing; inf too. Refused now before anything is read or asked
    r = cli("apply", str(acme), "--auto-approve", "--lock-timeout", given)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--lock-timeout': {given} is not a finite number of seconds."
    )
    assert (
        httpx.get(server.url + "/_sandbox/requests", headers={"token": TOKEN}).json()["total"] == 0
    )


def test_unlock_releases_the_lock_record_of_a_dead_holder(acme: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from spsync.store import StateStore\n"
        "with StateStore(Path('state')).lock('acme', 'apply') as info:\n"
        "    print(info.id, flush=True); os._exit(0)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lock_id = p.stdout.strip()
    assert Path("state/acme.lock.json").exists()
    wrong = cli("unlock", str(acme), "not-the-id")
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        f"error: no tenant under {acme} holds lock not-the-id; current locks: acme: {lock_id}\n"
    )
    r = cli("unlock", str(acme), lock_id)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith(f"released lock {lock_id} of acme (was held by pid ")
    assert not Path("state/acme.lock.json").exists()


def test_onboard_prints_a_fresh_url_that_is_never_kept(acme: Path, server: ThreadedServer) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    first = cli("onboard", str(acme), "session.cert-456.jane")
    second = cli("onboard", str(acme), "session.cert-456.jane")
    assert first.exit_code == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("https://") and second.stdout.strip() != url  # fresh each time
    kept = "".join(
        p.read_text() for p in [*Path("state").glob("*"), *Path(".spsync").rglob("*.jsonl")]
    )
    assert url not in kept

    # li is assigned to cert-456 but has no session: apply would not book one
    missing = cli("onboard", str(acme), "session.cert-456.li")
    assert missing.exit_code == 1
    assert missing.stderr == (
        "error: session.cert-456.li is not a session of acme: no item of sessions: in the "
        "manifests has that exam and user\n"
    )
    unknown = cli("onboard", str(acme), "session.a/b.c")
    assert unknown.stderr == (
        "error: session.a/b.c is not a session of acme: no item of sessions: in the "
        "manifests has that exam and user\n"
    )
    bad = cli("onboard", str(acme), "exam.cert-456")
    assert (bad.exit_code, bad.stderr) == (
        1,
        "error: exam.cert-456: not a session address (session.EXAM.USER)\n",
    )
    # cancelled remotely: no URL
    store = StateStore(Path("state"))
    rs = store.load(_desired(acme).tenant).resources["session.cert-456.jane"]
    with httpx.Client(base_url=server.url, headers={"token": TOKEN}) as h:
        install = _desired(acme).tenant.install
        path = f"/v1/installs/{install}/exams/{rs.refs['exam']}/sessions/{rs.sid}"
        assert h.request("DELETE", path, json={"cancellationMemo": "test"}).status_code == 200
    gone = cli("onboard", str(acme), "session.cert-456.jane")
    assert gone.exit_code == 1
    assert gone.stderr == (
        f"error: session.cert-456.jane ({rs.sid}) is Cancelled, not Scheduled: only a "
        "scheduled session has an onboarding URL\n"
    )


def test_a_failure_stops_the_run_and_is_reported(acme: Path, server: ThreadedServer) -> None:
    # the simulated clock after every appointment: each schedule is refused (non-retryable)
    httpx.put(
        server.url + "/_sandbox/clock",
        json={"now": "2028-12-31T00:00:00Z"},
        headers={"token": TOKEN},
    )
    r = cli("apply", str(acme), "--auto-approve", "--parallelism", "1")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    start = lines.index("apply did not finish:")
    # work starts exam by exam (apply_ops.in_waves): the course and the exams, the first
    # exam's students and its assignments are done when its first schedule fails; the
    # other exams' students are never provisioned
    assert re.fullmatch(
        r"acme: 13 done, 1 failed, 28 not started \(42 changes, \d+ API calls, \d+\.\ds\)",
        lines[start + 1],
    )
    assert re.fullmatch(
        r"  failed: session\.orientation\.yuki \(schedule\): POST /v1/installs/AI[0-9a-f]{32}/"
        r"exams/EX[0-9a-f]{32}/sessions/ES[0-9a-f]{32}: 400 INVALIDINPUT: .*in the future.*",
        lines[start + 2],
    ), lines[start + 2]
    assert lines[start + 3] == "  not-started: user.amara (create)"
    saved = StateStore(Path("state")).load(_desired(acme).tenant)
    assert len(saved.resources) == 13
    assert not Path("state/acme.journal.jsonl").exists()


def test_audit_log_lines(acme: Path) -> None:
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    text = Path(".spsync/audit/acme.jsonl").read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    applied = [x for x in lines if x["address"] is not None]
    assert len(applied) in (29, 30)
    assert {x["method"] for x in applied} == {"POST", "PUT", "GET"}
    assert len({x["run"] for x in lines}) == 1
    for secret in ENV.values():
        if secret != "1":
            assert secret not in text


def test_sandbox_mode_needs_no_server_and_keeps_its_own_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "manifests" / "acme", tmp_path / "manifests" / "acme")
    env = {k: v for k, v in ENV.items() if k != "SPSYNC_ACME_TOKEN"}
    r = CliRunner().invoke(main, ["--sandbox", "apply", "manifests", "--auto-approve"], env=env)
    assert r.exit_code == 0, r.stderr
    assert Path(".spsync/sandbox/state/acme.json").exists()
    assert not Path("state").exists()
    again = CliRunner().invoke(
        main, ["--sandbox", "plan", "manifests", "--detailed-exitcode"], env=env
    )
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "No changes. acme matches its manifests" in again.stdout


def _spawn(acme: Path, *extra: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spsync", "apply", str(acme), *extra],
        env={**os.environ, **ENV},
        text=True,
        **kw,
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 1)])
def test_a_signal_stops_gracefully_and_a_rerun_finishes(
    acme: Path, server: ThreadedServer, sig: signal.Signals, code: int
) -> None:
    httpx.put(server.url + "/_sandbox/config", json={"latencyMs": 40}, headers={"token": TOKEN})
    proc = _spawn(
        acme, "--auto-approve", "--parallelism", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    audit = Path(".spsync/audit/acme.jsonl")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = audit.read_text().splitlines() if audit.exists() else []
        if sum(1 for x in lines if '"address": "user.' in x) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"{sig.name}: stopping; finishing the calls in flight" in err
    assert f"\ninterrupted by {sig.name}; state saved, a re-run continues" in err
    assert re.search(r"acme: \d+ done, \d+ not started \(42 changes", err)
    saved = StateStore(Path("state")).load(_desired(acme).tenant)
    assert 0 < len(saved.resources) < 42
    assert not Path("state/acme.journal.jsonl").exists()

    httpx.put(server.url + "/_sandbox/config", json={"latencyMs": 0}, headers={"token": TOKEN})
    r = cli("apply", str(acme), "--auto-approve")
    assert r.exit_code == 0, r.stderr
    assert world_mismatches(world(server.url, TOKEN), _desired(acme)) == []


def _pty_apply(acme: Path, answer: str) -> tuple[int, str]:
    """Run apply on a pseudo-terminal and answer its question."""
    import pty

    primary, secondary = pty.openpty()
    proc = _spawn(acme, stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True)
    os.close(secondary)
    seen = b""
    sent = False
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not sent and b"Enter a value:" in seen:
            os.write(primary, answer.encode() + b"\n")
            sent = True
    os.close(primary)
    return proc.wait(timeout=60), seen.decode(errors="replace")


def test_on_a_terminal_only_yes_approves(acme: Path, server: ThreadedServer) -> None:
    code, text = _pty_apply(acme, "y")
    assert code == 1
    assert "Only 'yes' will be accepted" in text
    assert "error: apply cancelled" in text
    assert not Path("state/acme.json").exists()

    code, text = _pty_apply(acme, "yes")
    assert code == 0, text
    assert "Apply complete." in text
    assert world_mismatches(world(server.url, TOKEN), _desired(acme)) == []


def test_objects_done_remotely_but_never_recorded_are_adopted_not_redone(
    acme: Path, server: ThreadedServer
) -> None:
    """What a killed apply did after its last journal line: the next plan finds it."""
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    before = world(server.url, TOKEN)
    state_file = Path("state/acme.json")
    raw = json.loads(state_file.read_text())
    lost = [a for a in raw["resources"] if a.split(".")[0] in ("user", "enrollment", "session")]
    for a in lost:
        del raw["resources"][a]
    state_file.write_text(json.dumps(raw))

    plan = cli("plan", str(acme), "--detailed-exitcode")
    assert plan.exit_code == 2
    assert plan.stdout.splitlines()[-1] == f"Plan: {len(lost)} to record in state; 44 unchanged."
    assert "  = session.cert-456.jane (ES" in plan.stdout
    r = cli("apply", str(acme), "--auto-approve")
    assert r.exit_code == 0, r.stderr
    assert f"acme: 0 done, {len(lost)} recorded (0 changes, 0 API calls" in r.stdout
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0
    assert world(server.url, TOKEN)["installs"] == before["installs"]  # nothing redone
