"""`spsync apply PLANFILE` finds the manifests the plan was made from, wherever they are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme

from spsync.cli import main


def test_saved_plan_records_and_uses_its_manifests_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox_acme(tmp_path, monkeypatch, "tenants")
    runner = CliRunner()

    r = runner.invoke(main, ["--sandbox", "plan", "tenants/acme", "--out", "plan.json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(Path("plan.json").read_text())["manifests"] == "tenants/acme"

    r = runner.invoke(main, ["--sandbox", "apply", "plan.json"])
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(main, ["--sandbox", "plan", "tenants/acme", "--detailed-exitcode"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "No changes." in r.stdout


def test_saved_plan_whose_manifests_moved_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox_acme(tmp_path, monkeypatch, "tenants")
    runner = CliRunner()
    assert (
        runner.invoke(main, ["--sandbox", "plan", "tenants/acme", "--out", "p.json"]).exit_code == 0
    )
    shutil.move("tenants", "moved")
    r = runner.invoke(main, ["--sandbox", "apply", "p.json"])
    assert r.exit_code == 1
    assert r.stderr == (
        "error: tenants/acme: no such directory; the plan was made from it: run apply from the "
        "directory plan ran in, or give the manifests with --manifests PATH\n"
    )
    r = runner.invoke(main, ["--sandbox", "apply", "p.json", "--manifests", "moved/acme"])
    assert r.exit_code == 0, r.stderr


def test_a_plan_applied_from_elsewhere_uses_the_repository_of_its_manifests(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path_factory.mktemp("repo").resolve()
    plans = tmp_path_factory.mktemp("plans").resolve()
    elsewhere = tmp_path_factory.mktemp("elsewhere").resolve()
    runner = CliRunner()
    monkeypatch.chdir(root)
    init = ["init", "manifests/initech", "--tenant", "initech", "--install", "AI" + "c" * 32]
    assert runner.invoke(main, init).exit_code == 0
    first = ["--sandbox", "apply", "manifests/initech", "--auto-approve"]
    assert runner.invoke(main, first).exit_code == 0
    resources = root / "manifests" / "initech" / "resources.yaml"
    resources.write_text(resources.read_text().replace("Main course", "Main course 2"))
    plan = ["--sandbox", "plan", "manifests/initech", "--out", str(plans / "p.json")]
    assert runner.invoke(main, plan).exit_code == 0
    plan[-1] = str(plans / "stale.json")
    assert runner.invoke(main, [*plan, "--allow-destroy"]).exit_code == 0

    monkeypatch.chdir(elsewhere)
    manifests = ["--manifests", str(root / "manifests" / "initech")]
    r = runner.invoke(main, ["--sandbox", "apply", str(plans / "p.json"), *manifests])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.endswith("Apply complete.\n")
    assert r.stderr.splitlines()[0] == (
        f"sandbox: {root}/.spsync/sandbox (configuration repository {root})"
    )
    assert sorted(p.name for p in (root / ".spsync" / "audit").iterdir()) == ["initech.jsonl"]
    # a plan refused (stale: the state moved since) leaves nothing behind here either
    r = runner.invoke(main, ["--sandbox", "apply", str(plans / "stale.json"), *manifests])
    assert r.exit_code == 1
    assert r.stderr.splitlines()[1:3] == [
        "the saved plan is stale; make a new one (spsync plan ... --out FILE):",
        "  - the state of initech changed since planning (serial 2 -> 4)",
    ]
    assert list(elsewhere.iterdir()) == []


def test_manifests_given_with_a_directory_path_is_refused_before_anything(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--manifests is for a plan file: with manifests as PATH it would be silently ignored
    (which of the two was meant?), so it is refused, and nothing is made anywhere."""
    root = tmp_path_factory.mktemp("repo").resolve()
    other = tmp_path_factory.mktemp("other").resolve()
    runner = CliRunner()
    for where in (root, other):
        monkeypatch.chdir(where)
        init = ["init", "manifests/initech", "--tenant", "initech", "--install", "AI" + "c" * 32]
        assert runner.invoke(main, init).exit_code == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    path = root / "manifests" / "initech"
    apply = ["--sandbox", "apply", str(path), "--auto-approve"]
    r = runner.invoke(main, [*apply, "--manifests", str(other / "manifests" / "initech")])
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: --manifests is for a saved PLANFILE; {path} is already the manifests to "
        "apply (drop --manifests, or give the plan file as PATH)\n"
    )
    assert not (root / ".spsync").exists() and not (other / ".spsync").exists()
    assert list(elsewhere.iterdir()) == []
