"""Renames, forced replacement and refresh-only plans from the command line, on the embedded
sandbox: what the plan shows is what apply does (docs/planning.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from support.apply import sandbox_acme

from spsync.cli import main

SANDBOX_NOW = "2027-06-01T00:00:00Z"


def cli(*args: str) -> Result:
    env = {"NO_COLOR": "1", "SPSYNC_SANDBOX_NOW": SANDBOX_NOW}
    return CliRunner().invoke(main, ["--sandbox", *args], env=env, catch_exceptions=False)


def world_sessions(root: Path) -> dict[str, tuple[str, str | None]]:
    """Session SID -> (status, appointment) in the embedded simulator's saved world."""
    out: dict[str, tuple[str, str | None]] = {}

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            if str(o.get("sid", "")).startswith("ES") and "status" in o:
                out[o["sid"]] = (o["status"], o.get("appointmentDate"))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(json.loads((root / ".spsync" / "sandbox" / "world.json").read_text()))
    return out


def state_of(root: Path) -> dict[str, Any]:
    return json.loads((root / ".spsync" / "sandbox" / "state" / "acme.json").read_text())


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = sandbox_acme(tmp_path, monkeypatch, "manifests")
    r = cli("apply", str(dest), "--auto-approve")
    assert r.exit_code == 0, r.output
    return dest


def rename_user(acme: Path, old: str, new: str) -> None:
    for f in ("roster.yaml", "sessions.yaml"):
        p = acme / f
        text = p.read_text()
        text = re.sub(rf"^  {old}:", f"  {new}:", text, flags=re.M)
        text = re.sub(rf"user: {old}$", f"user: {new}", text, flags=re.M)
        text = re.sub(rf"([\[, ]){old}([\],])", rf"\g<1>{new}\g<2>", text)
        p.write_text(text)


def test_a_renamed_key_is_a_move_applied_without_any_call(acme: Path, tmp_path: Path) -> None:
    before = world_sessions(tmp_path)
    rename_user(acme, "yuki", "yuki-tanaka")
    plan = cli("plan", str(acme), "--out", "p.json", "--format", "json")
    assert plan.exit_code == 0, plan.output
    (tenant,) = json.loads(plan.stdout)["tenants"]
    assert [(c["address"], c["action"], c["reason"]) for c in tenant["changes"]] == [
        ("user.yuki-tanaka", "move", "renamed"),
        ("enrollment.acme-compliance.yuki-tanaka", "move", "renamed"),
        ("session.orientation.yuki-tanaka", "move", "renamed"),
    ]
    r = cli("apply", "p.json")
    assert r.exit_code == 0, r.output
    assert "acme: 3 done (3 changes, 0 API calls" in r.stdout
    assert world_sessions(tmp_path) == before
    resources = state_of(tmp_path)["resources"]
    assert "session.orientation.yuki-tanaka" in resources
    assert "session.orientation.yuki" not in resources
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0


def test_state_mv_then_plan_is_empty(acme: Path, tmp_path: Path) -> None:
    rename_user(acme, "sven", "sven-berg")
    r = cli("state", "mv", str(acme), "user.sven", "user.sven-berg")
    assert r.exit_code == 0, r.output
    serial = state_of(tmp_path)["serial"]
    assert r.stdout.splitlines() == [
        f"Moved {a} -> {b} in the state of acme (serial {serial})"
        for a, b in [
            ("assignment.safety-101.sven", "assignment.safety-101.sven-berg"),
            ("enrollment.acme-compliance.sven", "enrollment.acme-compliance.sven-berg"),
            ("session.orientation.sven", "session.orientation.sven-berg"),
            ("user.sven", "user.sven-berg"),
        ]
    ]
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0
    again = cli("state", "mv", str(acme), "user.sven", "user.sven-berg")
    assert again.exit_code == 1
    assert "user.sven is not in state; did you mean user.sven-berg?; nothing moved" in (
        again.output
    )


def test_state_mv_to_the_same_address_says_so(acme: Path, tmp_path: Path) -> None:
    before = state_of(tmp_path)
    r = cli("state", "mv", str(acme), "user.jane", "user.jane")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: cannot move user.jane to itself: FROM and TO are the same address\n"
    )
    assert state_of(tmp_path) == before


def test_replace_books_one_session_again(acme: Path, tmp_path: Path) -> None:
    sid = state_of(tmp_path)["resources"]["session.cert-456.jane"]["sid"]
    plan = cli("plan", str(acme), "--replace", "session.cert-456.jane")
    assert plan.exit_code == 0, plan.output
    assert "-/+ session.cert-456.jane  (replace: forced, destructive)" in plan.stdout
    assert plan.stdout.splitlines()[-1] == "Plan: 1 to replace; 43 unchanged."
    r = cli("apply", str(acme), "--auto-approve", "--replace", "session.cert-456.jane")
    assert r.exit_code == 0, r.output
    after = world_sessions(tmp_path)
    assert after[sid][0] == "Cancelled"
    new_sid = state_of(tmp_path)["resources"]["session.cert-456.jane"]["sid"]
    assert new_sid != sid and after[new_sid] == ("Scheduled", "2028-03-01T14:00:00Z")
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0

    wrong = cli("plan", str(acme), "--replace", "user.jane")
    assert wrong.exit_code == 1
    assert "--replace user.jane: only sessions can be replaced" in wrong.output


def test_refresh_only_accepts_drift_without_any_write(acme: Path, tmp_path: Path) -> None:
    # move jane's appointment behind spsync's back (a person on the vendor's site)
    state = state_of(tmp_path)
    sid = state["resources"]["session.cert-456.jane"]["sid"]
    world_file = tmp_path / ".spsync" / "sandbox" / "world.json"
    text = world_file.read_text()
    assert text.count('"2028-03-01T14:00:00Z"') >= 1
    world = json.loads(text)

    def move(o: Any) -> None:
        if isinstance(o, dict):
            if o.get("sid") == sid:
                o["appointmentDate"] = "2028-03-03T10:00:00Z"
            for v in o.values():
                move(v)
        elif isinstance(o, list):
            for v in o:
                move(v)

    move(world)
    world_file.write_text(json.dumps(world))
    drift = cli("plan", str(acme))
    assert "~ session.cert-456.jane  (reschedule: drift)" in drift.stdout

    plan = cli("plan", str(acme), "--refresh-only", "--out", "r.json")
    assert plan.exit_code == 0, plan.output
    assert "session.cert-456.jane  (refresh: drift" in plan.stdout
    assert plan.stdout.splitlines()[-1].startswith("Plan: 1 to refresh;")
    before = world_sessions(tmp_path)
    r = cli("apply", "r.json")
    assert r.exit_code == 0, r.output
    assert "(1 change, 0 API calls" in r.stdout
    assert world_sessions(tmp_path) == before
    applied = state_of(tmp_path)["resources"]["session.cert-456.jane"]["applied"]
    assert applied["appointment"] == "2028-03-03T10:00:00Z"
    # the manifest still says 2028-03-01: now a change of the manifest's, no longer drift
    after = cli("plan", str(acme))
    assert "~ session.cert-456.jane  (reschedule: manifest-changed)" in after.stdout
