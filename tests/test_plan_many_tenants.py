"""Several tenants in one run: planned and applied at once (``planning.TENANTS_AT_ONCE``),
with the same output, plan file and exit codes as one after another, and a tenant that
fails leaving the others' work whole. Small tenants against the simulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from support.apply import EXAMS, sessions_yaml, tenant_yaml, users_yaml

from spsync import planning
from spsync.api.client import Client
from spsync.cli import main
from spsync.sandbox.app import create_app
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret, env_prefix

TOKEN = "many-tenants-token"
#: created in this order; every run handles them in name order
NAMES = ["delta", "alpha", "echo", "charlie", "bravo"]


def _install(i: int) -> str:
    return f"AI{0xBEEF0000 + i:032x}"


def _env() -> dict[str, str]:
    env = {"NO_COLOR": "1"}
    for name in NAMES:
        p = env_prefix(name)
        env.update({f"{p}TOKEN": TOKEN, f"{p}FINAL_PASSWORD": "f-pw", f"{p}QUIZ_PASSWORD": "q"})
    return env


def _write(root: Path, url: str, name: str, users: int, when: str = "2027-03-01T14:00:00Z") -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "tenant.yaml").write_text(tenant_yaml(url, name, _install(NAMES.index(name))))
    (d / "exams.yaml").write_text(EXAMS.replace("SPSYNC_MINI_", env_prefix(name)))
    (d / "users.yaml").write_text(users_yaml(users))
    sessions = [("final", f"u{i:04d}", when) for i in range(1, users + 1)]
    (d / "sessions.yaml").write_text(sessions_yaml(sessions))
    return d


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    from support.sandbox_flow import SANDBOX_NOW

    with ThreadedServer(token=TOKEN, seed=5, now=SANDBOX_NOW) as srv:
        yield srv


@pytest.fixture
def manifests(tmp_path: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Five applied tenants of 2 to 6 students under ``tmp_path/manifests``."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "manifests"
    for i, name in enumerate(NAMES):
        _write(root, server.url, name, 2 + i)
    r = cli("apply", str(root), "--auto-approve")
    assert r.exit_code == 0, r.stderr
    return root


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=_env(), catch_exceptions=False)


def _sequential(monkeypatch: pytest.MonkeyPatch, sequential: bool) -> None:
    monkeypatch.setattr(planning, "TENANTS_AT_ONCE", 1 if sequential else 4)


def _summaries(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("Tenant ")]


def test_the_first_apply_did_every_tenant_in_name_order(manifests: Path) -> None:
    r = cli("plan", str(manifests), "--detailed-exitcode")
    assert r.exit_code == 0, r.stderr
    assert [line.split()[1] for line in _summaries(r.stdout)] == sorted(NAMES)
    assert r.stdout.count("No changes.") == len(NAMES)


def test_at_once_and_one_after_another_give_the_same_bytes(
    manifests: Path, server: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # changes in three tenants: a new student, a moved session, a longer exam
    _write(manifests, server.url, "alpha", 4)
    _write(manifests, server.url, "charlie", 5, when="2027-04-01T10:00:00Z")
    text = (manifests / "echo" / "exams.yaml").read_text()
    (manifests / "echo" / "exams.yaml").write_text(text.replace("duration: 90", "duration: 95"))
    runs: dict[bool, list[Any]] = {}
    for sequential in (True, False):
        _sequential(monkeypatch, sequential)
        out = Path(f"plan-{sequential}.json")
        text_run = cli("plan", str(manifests), "--detailed-exitcode")
        json_run = cli("plan", str(manifests), "--format", "json", "--out", str(out))
        md_run = cli("plan", str(manifests), "--format", "markdown")
        assert (text_run.exit_code, json_run.exit_code, md_run.exit_code) == (2, 0, 0)
        runs[sequential] = [text_run.stdout, json_run.stdout, md_run.stdout, out.read_bytes()]
    assert runs[True] == runs[False]
    doc = json.loads(runs[False][1])
    assert [t["tenant"] for t in doc["tenants"]] == sorted(NAMES)
    changed = {t["tenant"]: t["summary"] for t in doc["tenants"] if t["changes"]}
    assert sorted(changed) == ["alpha", "charlie", "echo"]
    assert changed["alpha"]["create"] == 2  # the user and its enrollment
    assert changed["charlie"]["reschedule"] == 5
    assert changed["echo"]["update"] == 1


def test_tenants_are_planned_at_once_and_started_in_name_order(
    manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    active = [0, 0]  # now, most at once
    real = planning.plan_tenant

    async def counting(desired: Any, *args: Any, **kwargs: Any) -> Any:
        started.append(desired.tenant.tenant)
        active[0] += 1
        active[1] = max(active)
        try:
            return await real(desired, *args, **kwargs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(planning, "plan_tenant", counting)
    assert cli("plan", str(manifests)).exit_code == 0
    assert started == sorted(NAMES)
    assert active[1] == planning.TENANTS_AT_ONCE == 4


def test_a_tenant_that_cannot_be_planned_leaves_the_others_whole(
    manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    others = [n for n in sorted(NAMES) if n not in ("bravo", "delta")]
    alone = cli("plan", str(manifests), *[a for n in others for a in ("--tenant", n)])
    assert alone.exit_code == 0
    Path("state/delta.json").write_text("{")
    Path("state/bravo.json").write_text('{"version": 7}')
    for sequential in (True, False):
        _sequential(monkeypatch, sequential)
        r = cli("plan", str(manifests), "--detailed-exitcode", "--out", "plan.json")
        assert r.exit_code == 1
        assert r.stdout == alone.stdout
        assert r.stderr.splitlines() == [
            "error: bravo: state/bravo.json: state version 7 is not supported (this spsync "
            "reads version 1)",
            "error: delta: state/delta.json: not a valid state file: bad JSON at line 1 "
            "column 2: Expecting property name enclosed in double quotes",
        ]
        assert not Path("plan.json").exists()  # no plan file of a partial plan

    # one failed tenant among several is named; a run of that tenant alone says it as ever
    Path("state/bravo.json").unlink()
    r = cli("plan", str(manifests))
    assert r.exit_code == 1
    assert r.stderr.startswith("error: delta: state/delta.json: not a valid state file")
    r = cli("plan", str(manifests / "delta"))
    assert r.exit_code == 1
    assert r.stderr.startswith("error: state/delta.json: not a valid state file")
    # apply applies nothing unless every tenant could be planned
    r = cli("apply", str(manifests), "--auto-approve")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.startswith("error: delta: state/delta.json: not a valid state file")


def test_a_tenant_failing_during_apply_does_not_stop_the_others(
    manifests: Path, server: ThreadedServer
) -> None:
    # charlie's sessions move to a time the simulator's clock then passes: refused (400);
    # the other tenants' moves are applied all the same
    for i, name in enumerate(NAMES):
        when = "2027-02-01T10:00:00Z" if name == "charlie" else "2027-05-01T10:00:00Z"
        _write(manifests, server.url, name, 2 + i, when=when)
    clock = {"now": "2027-02-15T00:00:00Z"}
    httpx.put(server.url + "/_sandbox/clock", json=clock, headers={"token": TOKEN})
    r = cli("apply", str(manifests), "--auto-approve")
    assert r.exit_code == 1, r.stderr
    lines = r.stderr.splitlines()
    report = lines[lines.index("apply did not finish:") + 1 :]
    assert [line.split(":")[0] for line in report if not line.startswith(" ")] == sorted(NAMES)
    failed = [line for line in report if line.startswith("  failed: ")]
    assert failed
    for line in failed:
        assert line.startswith("  failed: session.final.u000"), line
        assert ": 400 INVALIDINPUT: appointmentDateTime: must be in the future" in line
    charlie = next(line for line in report if line.startswith("charlie: "))
    assert charlie.startswith(f"charlie: 0 done, {len(failed)} failed"), charlie
    for name, n in [("alpha", 3), ("bravo", 6), ("delta", 2), ("echo", 4)]:
        done = next(line for line in report if line.startswith(f"{name}: "))
        assert done.startswith(f"{name}: {n} done ({n} changes"), done
    # each tenant's progress lines come together, in name order
    progress = [
        line.split(":")[0] for line in lines if ": applying " in line or "changes (" in line
    ]
    assert progress == sorted(progress)
    after = cli("plan", str(manifests), "--detailed-exitcode", "--format", "json")
    assert after.exit_code == 2
    pending = {t["tenant"] for t in json.loads(after.stdout)["tenants"] if t["changes"]}
    assert pending == {"charlie"}


def test_clients_share_one_budget_of_calls_in_flight() -> None:
    from support.sandbox_flow import SANDBOX_NOW

    from spsync.sandbox.server import build_world

    app = create_app(build_world(now=SANDBOX_NOW, seed=3), tokens={TOKEN}, latency_ms=5)
    active = [0, 0]

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        active[0] += 1
        active[1] = max(active)
        try:
            await app(scope, receive, send)
        finally:
            active[0] -= 1

    async def go() -> None:
        budget = asyncio.Semaphore(3)
        clients = [
            Client(
                "http://127.0.0.1",
                _install(i),
                Secret(TOKEN),
                transport=httpx.ASGITransport(app=counted),
                budget=budget,
            )
            for i in range(4)
        ]
        await asyncio.gather(*(c.settings() for c in clients for _ in range(4)))
        for c in clients:
            await c.aclose()

    asyncio.run(go())
    assert active[1] == 3  # 16 calls of 4 clients, each allowed 8 in flight by itself
