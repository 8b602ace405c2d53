"""Journal and audit lines are written in batches, yet no request leaves while a change
already answered is unrecorded: checked at every request of a first apply over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.apply import (
    EXAMS,
    INSTALL,
    TOKEN,
    all_new,
    load,
    sessions_yaml,
    users_yaml,
    write_tenant,
)

from spsync.api.client import Client
from spsync.apply import Executor, execute_tenant
from spsync.audit import AuditLog, fan_out
from spsync.journal import Journal, journal_path, read_entries
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import Secret
from spsync.state import ResourceState
from spsync.store import StateStore

LINEAGE = "5b1e4a52-2d0e-4c59-9a57-1f6f3c1a0b11"


def test_a_deferred_journal_writes_at_flush_and_before_sync(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "acme")
    with Journal(path, lineage=LINEAGE, base_serial=2, deferred=True) as j:
        j.put("user.a", ResourceState(sid="US" + "a" * 32, applied={"lastName": "Ä"}))
        j.drop("user.b")
        assert path.read_bytes() == b""
        assert j.count == 2
        j.flush()
        assert [(e.address, e.op, e.seq) for e in read_entries(path)] == [
            ("user.a", "put", 1),
            ("user.b", "drop", 2),
        ]
        j.put("user.c", ResourceState(sid="US" + "c" * 32))
        j.sync()  # a compaction syncs first: nothing is left behind
        assert [e.address for e in read_entries(path)][-1] == "user.c"
    (a, _b, _c) = read_entries(path)
    assert a.resource == ResourceState(sid="US" + "a" * 32, applied={"lastName": "Ä"})
    assert a.lineage == LINEAGE and a.base_serial == 2


def test_every_request_leaves_with_the_journal_and_audit_log_written(tmp_path: Path) -> None:
    n = 30
    audit_dir = tmp_path / "audit"
    with ThreadedServer(token=TOKEN, seed=5, latency_ms=5) as srv:
        files = {
            "exams.yaml": EXAMS,
            "users.yaml": users_yaml(n),
            "sessions.yaml": sessions_yaml(
                [("final", f"u{i:04d}", f"2028-03-{i:02d}T14:00:00Z") for i in range(1, n + 1)]
            ),
        }
        desired = load(write_tenant(tmp_path, srv.url, files))
        store = StateStore(tmp_path / "state")
        changes = all_new(desired)
        jpath = journal_path(store.directory, desired.tenant.tenant)
        checks: list[tuple[int, int, int, int]] = []

        async def go() -> object:
            with AuditLog(audit_dir, "mini") as audit:
                async with Client(srv.url, INSTALL, Secret(TOKEN)) as client:
                    client.on_call = fan_out(client.on_call, audit.record)
                    client.before_send.append(audit.flush)

                    def watch(ex: Executor) -> None:
                        def check() -> None:  # runs after the journal's own flush
                            on_disk = len(jpath.read_bytes().splitlines())
                            logged = len(audit.path.read_bytes().splitlines())
                            checks.append((on_disk, ex.journal.count, logged, audit.lines))

                        client.before_send.append(check)

                    state = store.load(desired.tenant)
                    return await execute_tenant(
                        changes,
                        desired,
                        state,
                        client,
                        store,
                        applied_of=lambda a: {"at": a},
                        on_executor=watch,
                    )

        result = asyncio.run(go())
    assert result.ok  # type: ignore[attr-defined]
    assert len(checks) == result.calls  # type: ignore[attr-defined]
    # before each request: every entry recorded so far is in the file, every call logged
    assert all(on_disk == count for on_disk, count, _, _ in checks)
    assert all(logged == lines for _, _, logged, lines in checks)
    assert checks[-1][1] > 0
    assert not jpath.exists()  # folded into the state and removed at the end
    assert sorted(store.load(desired.tenant).resources) == sorted(c.address for c in changes)
