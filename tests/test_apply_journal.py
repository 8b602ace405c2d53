"""The write-ahead journal: what it writes, how it is read back and folded into state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spsync.errors import StateError
from spsync.journal import Entry, Journal, fold, journal_path, read_entries
from spsync.state import ResourceState, State

LINEAGE = "5b1e4a52-2d0e-4c59-9a57-1f6f3c1a0b11"


def _state(serial: int = 3, **resources: ResourceState) -> State:
    return State(
        lineage=LINEAGE,
        serial=serial,
        tenant="acme",
        install="AI" + "a" * 32,
        api_url="http://127.0.0.1:1",
        resources=dict(resources),
    )


def _rs(sid: str) -> ResourceState:
    return ResourceState(sid=sid, refs={"course": "CU" + "1" * 32}, applied={"title": "T"})


def test_lines_are_one_json_object_each_in_order(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "acme")
    with Journal(path, lineage=LINEAGE, base_serial=3) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
        j.drop("user.x")
    lines = path.read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        {
            "address": "course.a",
            "base_serial": 3,
            "lineage": LINEAGE,
            "op": "put",
            "resource": {
                "applied": {"title": "T"},
                "refs": {"course": "CU" + "1" * 32},
                "sid": "CU" + "a" * 32,
            },
            "seq": 1,
            "v": 1,
        },
        {
            "address": "user.x",
            "base_serial": 3,
            "lineage": LINEAGE,
            "op": "drop",
            "resource": None,
            "seq": 2,
            "v": 1,
        },
    ]
    assert path.name == "acme.journal.jsonl"


def test_fold_applies_puts_and_drops_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage=LINEAGE, base_serial=3) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
        j.put("user.x", _rs("US" + "b" * 32))
        j.drop("user.old")
        j.put("course.a", _rs("CU" + "c" * 32))
    state = _state(3, **{"user.old": _rs("US" + "0" * 32)})
    folded, n = fold(state, read_entries(path))
    assert n == 4
    assert folded.resources == {"course.a": _rs("CU" + "c" * 32), "user.x": _rs("US" + "b" * 32)}
    assert state.resources == {"user.old": _rs("US" + "0" * 32)}  # the input is not changed
    assert folded.serial == 3


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage=LINEAGE, base_serial=0) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
    with path.open("ab") as fh:
        fh.write(b'{"address": "course.b", "op": "pu')  # the process died inside write(2)
    entries = read_entries(path)
    assert [e.address for e in entries] == ["course.a"]


def test_a_corrupt_middle_line_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    good = Entry(lineage=LINEAGE, base_serial=0, seq=1, address="course.a", op="drop")
    path.write_text("garbage\n" + good.model_dump_json() + "\n")
    with pytest.raises(StateError) as e:
        read_entries(path)
    assert str(e.value).startswith(f"{path}:1: unreadable journal entry")


def test_entries_already_in_a_saved_state_are_skipped(tmp_path: Path) -> None:
    # written on top of serial 3; the state was saved (serial 4) before the journal was
    # emptied: replaying must not apply them again on top of newer content
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage=LINEAGE, base_serial=3) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
    state = _state(4, **{"course.a": _rs("CU" + "f" * 32)})
    folded, n = fold(state, read_entries(path))
    assert n == 0
    assert folded is state


def test_rebase_empties_the_file_and_tags_new_entries(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage=LINEAGE, base_serial=3) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
        j.rebase(4)
        assert path.read_bytes() == b""
        j.put("course.b", _rs("CU" + "b" * 32))
        assert j.count == 1
    assert [(e.address, e.base_serial, e.seq) for e in read_entries(path)] == [("course.b", 4, 2)]


def test_another_lineage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage="other", base_serial=3) as j:
        j.drop("course.a")
    with pytest.raises(StateError) as e:
        fold(_state(3), read_entries(path), source="J")
    assert str(e.value) == (
        f"J: entry 1 belongs to state lineage other, but the state file has lineage {LINEAGE}; "
        "move the journal aside if the state file was replaced on purpose"
    )


def test_a_state_older_than_the_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, lineage=LINEAGE, base_serial=7) as j:
        j.drop("course.a")
    with pytest.raises(StateError) as e:
        fold(_state(3), read_entries(path), source="J")
    assert "written on top of state serial 7, but the state file is at serial 3" in str(e.value)


def test_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert read_entries(tmp_path / "none.jsonl") == []


def test_replay_folds_a_leftover_journal_into_the_state_file(tmp_path: Path) -> None:
    from spsync.journal import replay
    from spsync.model import Tenant
    from spsync.store import StateStore

    store = StateStore(tmp_path)
    tenant = Tenant(tenant="acme", install="AI" + "a" * 32)
    saved = store.save(store.load(tenant))  # serial 1, on disk
    path = journal_path(tmp_path, "acme")
    with Journal(path, lineage=saved.lineage, base_serial=saved.serial) as j:
        j.put("course.a", _rs("CU" + "a" * 32))
        j.put("user.x", _rs("US" + "b" * 32))
    # the process died here: nothing folded into the file yet, but readers know
    assert store.read("acme").resources == {}
    assert store.load(tenant).resources == {
        "course.a": _rs("CU" + "a" * 32),
        "user.x": _rs("US" + "b" * 32),
    }

    assert replay(store, tenant) is True
    after = store.load(tenant)
    assert after.serial == 2 and after.lineage == saved.lineage
    assert after.resources == {"course.a": _rs("CU" + "a" * 32), "user.x": _rs("US" + "b" * 32)}
    assert not path.exists()
    assert replay(store, tenant) is False  # nothing left
