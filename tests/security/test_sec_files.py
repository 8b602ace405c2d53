"""spsync's own files are opened as what they claim to be (issue 14, point 5): strict JSON,
SIDs that look like SIDs, no symlink followed, and a lock that is really held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.hostile import INSTALL, environment, repo, spsync
from support.plan import hand_change, hand_plan

from spsync.audit import AuditLog
from spsync.errors import LockError, PlanError, StateError
from spsync.journal import read_entries
from spsync.plan import dump_plan, load_plan, make_plan
from spsync.plan_file import read_plan_to_show, read_saved_plan
from spsync.sanitize import is_clean
from spsync.state import parse_state
from spsync.store import StateStore

SID = "US" + "0" * 32


def _state(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "version": 1,
        "lineage": "11111111-2222-3333-4444-555555555555",
        "serial": 2,
        "tenant": "t1",
        "install": INSTALL,
        "api_url": "https://api.smarterproctoring.com",
        "resources": {"user.jane": {"sid": SID, "refs": {}, "applied": {}}},
    }
    doc.update(over)
    return doc


def test_a_state_file_with_a_key_given_twice_is_refused() -> None:
    text = json.dumps(_state())
    twice = text.replace('"resources": {', '"resources": {}, "resources": {', 1)
    with pytest.raises(StateError) as e:
        parse_state(twice, "state/t1.json")
    assert str(e.value) == (
        'state/t1.json: not a valid state file: key "resources" appears twice in one object'
    )
    assert parse_state(text, "state/t1.json").serial == 2


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"serial": "2"}, "serial: Input should be a valid integer"),
        ({"version": True}, "version: Input should be a valid integer"),
        ({"tenant": 7}, "tenant: Input should be a valid string"),
    ],
)
def test_a_state_file_with_a_wrong_type_is_refused(over: dict[str, object], problem: str) -> None:
    with pytest.raises(StateError) as e:
        parse_state(json.dumps(_state(**over)), "s.json")
    assert str(e.value) == f"s.json: not a valid state file: {problem}"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"sid": "US<img src=x onerror=alert(1)>"}, "sid"),
        ({"sid": SID, "refs": {"course": "CU`**md**`"}}, "refs.course"),
        ({"sid": "us" + "0" * 32}, "sid"),
    ],
)
def test_a_sid_that_is_not_a_sid_is_refused(entry: dict[str, object], field: str) -> None:
    with pytest.raises(StateError) as e:
        parse_state(json.dumps(_state(resources={"user.jane": entry})), "s.json")
    assert str(e.value) == (
        f"s.json: not a valid state file: resources.user.jane.{field} is not a SID "
        "(2 capital letters and 32 lowercase hex digits)"
    )


def test_a_journal_line_with_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    line = json.dumps(
        {"v": 1, "lineage": "l", "base_serial": 1, "seq": 1, "address": "user.jane", "op": "drop"}
    )
    path = tmp_path / "t1.journal.jsonl"
    path.write_text(line.replace('"op": "drop"', '"op": "drop", "op": "put"') + "\n")
    with pytest.raises(StateError) as e:
        read_entries(path)
    assert str(e.value) == (
        f'{path}:1: unreadable journal entry (key "op" appears twice in one object); move the '
        "file aside to continue without it"
    )


def test_a_plan_file_with_a_key_given_twice_is_refused() -> None:
    with pytest.raises(PlanError) as e:
        load_plan('{"format_version": "1", "format_version": "1"}', "p.json")
    assert str(e.value) == (
        'p.json: not a plan file: key "format_version" appears twice in one object'
    )


def _deep(head: str) -> str:
    """A JSON object after ``head``'s keys, nested deeper than a parser can follow."""
    return "{" + head + '"x": ' + "[" * 100_000 + "]" * 100_000 + "}"


def test_a_plan_or_state_file_nested_too_deeply_is_refused_with_a_message() -> None:
    deep_plan = _deep('"format_version": "1", ')
    for read in (load_plan, read_saved_plan):
        with pytest.raises(PlanError) as e:
            read(deep_plan, "p.json")
        assert str(e.value) == "p.json: not a plan file: arrays or objects nested too deeply"
    with pytest.raises(StateError) as s:
        parse_state(_deep('"version": 1, '), "state/t1.json")
    assert str(s.value) == (
        "state/t1.json: not a valid state file: arrays or objects nested too deeply"
    )


def test_state_journal_and_plan_files_are_never_read_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(_state()))
    states = tmp_path / "state"
    states.mkdir()
    (states / "t1.json").symlink_to(outside)
    with pytest.raises(StateError) as e:
        StateStore(states).read("t1")
    assert str(e.value) == (
        f"{states}/t1.json: cannot read state file: is a symbolic link (refused: spsync "
        "never follows one here)"
    )
    (states / "t1.journal.jsonl").symlink_to(outside)
    with pytest.raises(StateError) as e:
        read_entries(states / "t1.journal.jsonl")
    assert "cannot read the journal: is a symbolic link" in str(e.value)
    plan = tmp_path / "plan.json"
    plan.symlink_to(outside)
    result = spsync(tmp_path, "show", "plan.json")
    assert (result.code, result.stderr) == (
        1,
        "error: plan.json: cannot read the plan file: is a symbolic link (refused: spsync "
        "never follows one here)\n",
    )


def test_the_audit_log_is_never_appended_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "t1.jsonl").symlink_to(outside)
    with pytest.raises(StateError) as e:
        AuditLog(audit, "t1")
    assert str(e.value) == (
        f"{audit}/t1.jsonl: cannot open the audit log: is a symbolic link (refused: spsync "
        "never follows one here)"
    )
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(StateError) as e:
        AuditLog(linked, "t1")
    assert "the audit directory is or passes through a symbolic link" in str(e.value)
    assert outside.read_text() == "keep\n"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_an_apply_refuses_an_audit_log_that_is_a_symlink(tmp_path: Path) -> None:
    root = repo(tmp_path / "repo")
    outside = tmp_path / "outside.log"
    outside.write_text("")
    (root / ".spsync" / "audit").mkdir(parents=True)
    (root / ".spsync" / "audit" / "t1.jsonl").symlink_to(outside)
    env = environment(SPSYNC_SANDBOX_NOW="2027-01-15T00:00:00Z")
    result = spsync(
        root, "--sandbox", "apply", "manifests", "--tenant", "t1", "--auto-approve", env=env
    )
    assert result.code == 1
    assert result.stderr.endswith(
        ".spsync/audit/t1.jsonl: cannot open the audit log: is a symbolic link (refused: "
        "spsync never follows one here)\n"
    )
    assert outside.read_text() == ""


HOLD = """
import sys, time
from pathlib import Path
from spsync.store import StateStore
with StateStore(Path(sys.argv[1])).lock("t1", "apply"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_file_removed_while_held_does_not_let_a_second_run_in(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        (tmp_path / "t1.lock").unlink()  # what a careless clean-up does
        with pytest.raises(LockError) as e, StateStore(tmp_path).lock("t1", "apply"):
            pass
        assert f"state of t1 is locked by pid {holder.pid}" in str(e.value)
        assert str(e.value).endswith("(its lock file was removed while held)")
    finally:
        holder.kill()
        holder.communicate(timeout=10)  # reaps it and closes its pipe
    # once the holder is gone, the state can be locked again
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{holder.pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    with StateStore(tmp_path).lock("t1", "apply") as info:
        assert info.pid == os.getpid()


# --- addresses: only what an address can be is ever shown as one ------------------------------

#: an address that would act on a terminal or a pull-request page if shown as it is
HOSTILE_ADDRESSES = [
    "session.cert.u1` **PWNED** [click](https://evil.example) <img src=x>",
    "session.cert.u1\r# heading",
    "session.cert.u1\x1b]8;;https://evil.example\x07LINK\x1b]8;;\x07",
    "session.cert.u1\u202e",
    "session.cert.u1\n",
]


def _plan_doc() -> dict[str, object]:
    plan = make_plan(
        [
            hand_plan(
                "acme",
                [
                    hand_change("assignment.cert.u1", "unassign", "removed"),
                    hand_change("session.cert.u1", "cancel", "removed"),
                ],
            )
        ]
    )
    doc: dict[str, object] = json.loads(dump_plan(plan))
    return doc


def _put(doc: Any, where: str, bad: str) -> None:
    """``bad`` at one place of a plan document where an address (or a tenant) goes."""
    tp = doc["tenants"][0]
    change = tp["changes"][1]
    if where == "address":
        change["address"] = bad
    elif where == "depends_on":
        change["depends_on"] = [bad]
    elif where == "previous_address":
        change["previous_address"] = bad
    elif where in ("adopt", "fingerprints"):
        tp[where][bad] = {"sid": None, "refs": {}} if where == "adopt" else "x"
    elif where in ("targets", "replace"):
        doc[where] = [bad]
    else:  # tenant, install
        tp[where] = bad


@pytest.mark.parametrize(
    "where",
    ["address", "depends_on", "previous_address", "adopt", "fingerprints", "targets", "replace"],
)
@pytest.mark.parametrize("bad", HOSTILE_ADDRESSES)
def test_a_plan_file_naming_what_is_not_an_address_is_refused(where: str, bad: str) -> None:
    """By every reader (show's, apply's, the whole file's), whatever the layout: a plan
    file from an artifact or a pull request cannot put markup or controls where the plan's
    renderings print an address."""
    doc = _plan_doc()
    _put(doc, where, bad)
    as_written = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False)
    for text in (as_written, json.dumps(doc)):
        for read in (load_plan, read_saved_plan, read_plan_to_show):
            with pytest.raises(PlanError) as e:
                read(text, "p.json")
            message = str(e.value)
            assert message.startswith("p.json: not a valid plan file: "), message
            assert "String should match pattern" in message
            assert is_clean(message)


@pytest.mark.parametrize(("where", "bad"), [("tenant", "acme`\n# x"), ("install", "AI\x1b[2J")])
def test_a_plan_file_with_a_tenant_or_install_of_another_form_is_refused(
    where: str, bad: str
) -> None:
    doc = _plan_doc()
    _put(doc, where, bad)
    with pytest.raises(PlanError) as e:
        load_plan(json.dumps(doc), "p.json")
    assert str(e.value).startswith(f"p.json: not a valid plan file: tenants.0.{where}: String")


@pytest.mark.parametrize("bad", HOSTILE_ADDRESSES)
def test_a_state_file_naming_what_is_not_an_address_is_refused_escaped(
    tmp_path: Path, bad: str
) -> None:
    """``state list`` (and every command reading the state) refuses it, and says what it
    found escaped, not as the terminal would act on it."""
    repo(tmp_path)
    states = tmp_path / "state"
    states.mkdir()
    doc = _state()
    doc["resources"] = {bad: {"sid": SID, "refs": {}, "applied": {}}}
    (states / "t1.json").write_text(json.dumps(doc, indent=2))
    out = spsync(tmp_path, "state", "list", "manifests/t1")
    assert out.code == 1
    assert out.stderr.startswith(
        "error: state/t1.json: not a valid state file: not an address: "
    ), out.stderr
    assert repr(bad) in out.stderr
    assert is_clean(out.stdout + out.stderr.rstrip("\n")), out.stderr
