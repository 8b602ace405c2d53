"""The journal's periodic fsync runs on a helper thread, never on the caller's (the event
loop of apply), and its failures still surface."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from spsync.errors import StateError
from spsync.journal import Journal, journal_path, read_entries
from spsync.state import ResourceState

LINEAGE = "5b1e4a52-2d0e-4c59-9a57-1f6f3c1a0b11"
HELPER = "spsync-journal"


def _rs(i: int) -> ResourceState:
    return ResourceState(sid=f"US{i:032x}", applied={"lastName": f"L{i}"})


def _helpers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(HELPER)]


def test_periodic_fsyncs_run_on_the_helper_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    threads: list[str] = []

    def fsync(fd: int) -> None:
        threads.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr("spsync.journal.os.fsync", fsync)
    path = journal_path(tmp_path, "acme")
    j = Journal(path, lineage=LINEAGE, base_serial=1, sync_interval=0.0)
    threads.clear()  # opening a new journal syncs its directory, on this thread
    for i in range(20):
        j.put(f"user.u{i}", _rs(i))
    during = list(threads)
    j.close()
    # every fsync asked for while writing ran on the helper; only close's own final one
    # (for entries the helper had not covered yet) may run on the caller's thread
    assert during and all(name.startswith(HELPER) for name in during)
    main = [name for name in threads if not name.startswith(HELPER)]
    assert len(main) <= 1
    assert [e.address for e in read_entries(path)] == [f"user.u{i}" for i in range(20)]
    assert _helpers_alive() == []


def test_a_failed_background_fsync_is_raised_to_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync

    def fsync(fd: int) -> None:
        if threading.current_thread().name.startswith(HELPER):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr("spsync.journal.os.fsync", fsync)
    path = journal_path(tmp_path, "acme")
    j = Journal(path, lineage=LINEAGE, base_serial=1, sync_interval=0.0)
    with pytest.raises(StateError, match=r"acme\.journal\.jsonl: cannot sync the journal: .*"):
        j.put("user.a", _rs(1))
        j.put("user.b", _rs(2))
        j.close()
    j.close()  # the error was reported once; closing again finishes cleanly
    assert [e.address for e in read_entries(path)][:1] == ["user.a"]
    assert _helpers_alive() == []


def test_sync_waits_for_the_background_fsync_and_covers_later_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    release = threading.Event()
    calls: list[str] = []

    def fsync(fd: int) -> None:
        name = threading.current_thread().name
        if name.startswith(HELPER):
            assert release.wait(5)
        calls.append(name)
        real(fd)

    monkeypatch.setattr("spsync.journal.os.fsync", fsync)
    path = journal_path(tmp_path, "acme")
    with Journal(path, lineage=LINEAGE, base_serial=1, sync_interval=0.0) as j:
        calls.clear()  # opening a new journal syncs its directory, on this thread
        j.put("user.a", _rs(1))  # starts a background fsync, which waits for `release`
        j.put("user.b", _rs(2))  # one is running: left for the next fsync
        assert calls == []
        release.set()
        j.sync()
        # the helper's fsync finished first, then one more for user.b on this thread
        assert [name.startswith(HELPER) for name in calls] == [True, False]
