"""What a killed apply journaled but never compacted is known to every reader of state."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme

from spsync.cli import main
from spsync.journal import Journal, journal_path
from spsync.state import State, dump_state
from spsync.store import write_atomic

ADDRESS = "session.cert-456.jane"


def test_plan_and_state_commands_see_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox_acme(tmp_path, monkeypatch, "manifests")
    runner = CliRunner()
    assert runner.invoke(main, ["--sandbox", "apply", "manifests", "--auto-approve"]).exit_code == 0

    # As if apply was killed after journaling ADDRESS but before folding it into the file.
    state_dir = tmp_path / ".spsync" / "sandbox" / "state"
    path = state_dir / "acme.json"
    state = State.model_validate_json(path.read_text())
    record = state.resources[ADDRESS]
    without = state.model_copy(
        update={"resources": {a: r for a, r in state.resources.items() if a != ADDRESS}}
    )
    write_atomic(path, dump_state(without))
    journal = Journal(
        journal_path(state_dir, "acme"), lineage=state.lineage, base_serial=state.serial
    )
    journal.put(ADDRESS, record)
    journal.close()

    listed = runner.invoke(main, ["--sandbox", "state", "list", "manifests/acme"])
    assert listed.exit_code == 0, listed.stderr
    assert ADDRESS in listed.stdout.split()

    r = runner.invoke(main, ["--sandbox", "plan", "manifests", "--detailed-exitcode"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "No changes." in r.stdout
    assert journal_path(state_dir, "acme").exists()  # plan writes nothing

    # a plan saved now is applied although apply folds the journal (and moves the serial)
    saved = runner.invoke(main, ["--sandbox", "plan", "manifests", "--out", "plan.json"])
    assert saved.exit_code == 0, saved.stderr
    applied = runner.invoke(main, ["--sandbox", "apply", "plan.json"])
    assert applied.exit_code == 0, applied.stderr
    assert not journal_path(state_dir, "acme").exists()
    final = State.model_validate_json(path.read_text())
    assert final.resources[ADDRESS] == record


def test_taking_the_lock_removes_temp_files_of_a_killed_writer(tmp_path: Path) -> None:
    from spsync.store import StateStore

    store = StateStore(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / ".acme.json.abc123.tmp"
    stale.write_text("{torn")
    other = tmp_path / ".globex.json.abc123.tmp"
    other.write_text("{torn")
    with store.lock("acme", "apply"):
        assert not stale.exists()
        assert other.exists()  # another tenant's writer may still be running
    assert sorted(p.name for p in tmp_path.iterdir()) == [".globex.json.abc123.tmp", "acme.lock"]
