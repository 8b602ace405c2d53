"""What a killed apply journaled but never compacted is known to every reader of state."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme

from spsync.cli import main
from spsync.journal import Journal, journal_path
from spsync.state import ResourceState, State, dump_state
from spsync.store import StateStore, write_atomic

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


LINEAGE = "3c7e5a10-8f2b-4d6e-9a1c-0b2d4f6e8a0c"


def _user(n: int) -> ResourceState:
    return ResourceState(sid=f"US{n:032x}", applied={"email": f"u{n}@example.com"})


class _RacedStore(StateStore):
    """A reader whose first read of the state file is followed at once by what a concurrent
    apply does when it compacts its journal (in the gap between reading the state file and
    reading the journal, which a large state file makes wide): save the state it holds
    (serial + 1), empty the journal, then ``after`` (journal a new change, or end the run:
    the journal removed)."""

    def __init__(self, directory: Path, writer: State, journal: Journal, after: str) -> None:
        super().__init__(directory)
        self._writer, self._journal, self._after = writer, journal, after
        self.reads = 0

    def read(self, tenant: str) -> State | None:
        got = super().read(tenant)
        self.reads += 1
        if self.reads == 1:
            saved = StateStore(self.directory).save(self._writer)
            self._journal.rebase(saved.serial)
            if self._after == "journal":
                self._journal.put("user.u3", _user(3))
                self._journal.close()
            else:
                self._journal.discard()
        return got


@pytest.mark.parametrize("after", ["journal", "end"])
def test_a_reader_racing_a_compaction_sees_one_consistent_state(tmp_path: Path, after: str) -> None:
    """``plan`` and ``show`` read state without the lock, while an apply may be compacting
    its journal. A state file read before the compaction's save, with the journal read after
    it, failed the read (`entry … was written on top of state serial 3, but the state file is
    at serial 2 (was it rolled back?)`) or silently lacked what the compaction folded in."""
    store = StateStore(tmp_path)
    first = store.save(
        State(
            lineage=LINEAGE,
            serial=1,
            tenant="acme",
            install="AI" + "a" * 32,
            api_url="http://127.0.0.1:1",
            resources={"user.u1": _user(1)},
        )
    )
    assert first.serial == 2
    journal = Journal(journal_path(tmp_path, "acme"), lineage=LINEAGE, base_serial=2)
    journal.put("user.u2", _user(2))
    writer = first.model_copy(update={"resources": {"user.u1": _user(1), "user.u2": _user(2)}})

    raced = _RacedStore(tmp_path, writer, journal, after)
    state = raced.read_known("acme")

    assert state is not None and raced.reads == 2  # read again once the file was replaced
    assert state.serial == 3
    expected = {"user.u1": _user(1), "user.u2": _user(2)}
    if after == "journal":
        expected["user.u3"] = _user(3)
    assert state.resources == expected
