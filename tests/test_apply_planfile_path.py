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
