"""The write-ahead journal of an apply: one JSON line per completed change.

Rewriting the whole state file after each of thousands of changes costs O(N²) bytes, so
apply appends each completed change to ``state/<tenant>.journal.jsonl`` instead and folds
the journal into the state file (one atomic save) now and then and at the end.

Durability. Entries are handed to the kernel with ``write(2)`` on an ``O_APPEND``
descriptor: each at once, or, in a journal opened ``deferred`` (apply's), together with
the others recorded since the last ``flush``, which the API client calls before it sends
any request. So no request leaves while a change already answered is unrecorded, and a
process killed at any instant (SIGKILL included) loses at most the changes whose responses
came in since its last request; the next plan finds such objects again (provision matches
by ids, sessions are adopted from the appointments report). One line per entry, encoded
without building a model of it: its resource is serialised once, by pydantic.

``fsync`` — which protects against power loss, not against a killed process — is
group-committed: at most every ``sync_interval`` seconds, and always
before a compaction and on close. The periodic fsync runs on a helper thread, so the event
loop that drives the API calls never stops for the disk (an fsync takes milliseconds, tens
of them on a busy disk, and there are dozens per second of a large apply).

Each line holds the state ``lineage`` and the ``base_serial`` it applies on top of. A save
raises the serial, so entries already folded into a saved state are recognised and skipped
(a crash between the save and the journal's truncation is harmless). A torn last line (the
process died inside ``write``) is ignored; any other unreadable line is an error.

The journal never holds secrets: entries carry ``ResourceState`` records, whose secret
fields are keyed fingerprints.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from spsync import files
from spsync.errors import StateError
from spsync.model import Tenant
from spsync.state import ResourceState, State, check_sids
from spsync.strictjson import duplicate_key

JOURNAL_VERSION = 1


class Entry(BaseModel):
    """One completed change: ``put`` records what spsync now knows of an address, ``drop``
    forgets it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = JOURNAL_VERSION
    lineage: str
    base_serial: int
    seq: int
    address: str
    op: Literal["put", "drop"]
    resource: ResourceState | None = None


def journal_path(directory: Path, tenant: str) -> Path:
    """``<state dir>/<tenant>.journal.jsonl``."""
    return Path(directory) / f"{tenant}.journal.jsonl"


def read_entries(path: Path) -> list[Entry]:
    """Every entry of a journal file, in order; ``[]`` when it does not exist.

    A last line without its newline is a write the process did not finish: ignored. Any
    other line that cannot be read raises ``StateError`` naming the line.
    """
    try:
        data = files.read_bytes(Path(path))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise StateError(f"{path}: cannot read the journal: {e.strerror}") from None
    lines = data.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is empty or torn
    out: list[Entry] = []
    for i, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            entry = Entry.model_validate_json(raw, strict=True)
        except ValidationError as e:
            first = e.errors()[0]
            raise StateError(
                f"{path}:{i}: unreadable journal entry ({first['msg']}); "
                "move the file aside to continue without it"
            ) from None
        problem = duplicate_key(raw)
        if problem is not None:
            raise StateError(
                f"{path}:{i}: unreadable journal entry ({problem}); "
                "move the file aside to continue without it"
            )
        if entry.resource is not None:
            check_sids(entry.address, entry.resource, f"{path}:{i}")
        out.append(entry)
    return out


def fold(state: State, entries: Iterable[Entry], *, source: str = "journal") -> tuple[State, int]:
    """Apply journal entries to a copy of ``state``; returns (new state, entries applied).

    Pure: no I/O. Entries written on top of an older serial are already in the state and
    skipped; entries of another lineage, or on top of a serial the state has not reached
    (the state file was replaced or rolled back), raise ``StateError``.
    """
    resources = dict(state.resources)
    applied = 0
    for e in entries:
        if e.lineage != state.lineage:
            raise StateError(
                f"{source}: entry {e.seq} belongs to state lineage {e.lineage}, but the state "
                f"file has lineage {state.lineage}; move the journal aside if the state file "
                "was replaced on purpose"
            )
        if e.base_serial < state.serial:
            continue
        if e.base_serial > state.serial:
            raise StateError(
                f"{source}: entry {e.seq} was written on top of state serial {e.base_serial}, "
                f"but the state file is at serial {state.serial} (was it rolled back?)"
            )
        if e.op == "put":
            if e.resource is None:
                raise StateError(f"{source}: entry {e.seq} puts {e.address} without a resource")
            resources[e.address] = e.resource
        else:
            resources.pop(e.address, None)
        applied += 1
    if not applied:
        return state, 0
    return state.model_copy(update={"resources": resources}), applied


def _store_dir(store: Any) -> Path:
    for attr in ("directory", "root", "path"):
        value = getattr(store, attr, None)
        if value is not None:
            return Path(value)
    raise TypeError("the state store has no directory")


def replay(store: Any, tenant: Tenant) -> bool:
    """Fold a journal left over by an interrupted apply into the tenant's state file.

    Call it holding the tenant's lock. Saves the state (atomically, serial + 1) when
    entries were folded, then removes the journal. Returns whether the state changed.
    It reads the file with ``store.read`` (not ``load``), so ``StateStore.load`` may call it.
    """
    path = journal_path(_store_dir(store), tenant.tenant)
    entries = read_entries(path)
    if not entries and not path.exists():
        return False
    changed = False
    if entries:
        state = store.read(tenant.tenant)
        if state is None:
            # apply saves the state before its first journal line, so this is a stray file
            raise StateError(
                f"{path}: a journal without its state file "
                f"({_store_dir(store) / (tenant.tenant + '.json')}); move it aside"
            )
        folded, n = fold(state, entries, source=str(path))
        if n:
            store.save(folded)
            changed = True
    _remove(path)
    return changed


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """An open journal for one apply of one tenant.

    ``put``/``drop`` write one line each, at once or, ``deferred``, at the next ``flush``
    (``sync``, ``rebase`` and ``close`` flush first); ``sync`` forces an fsync (otherwise done
    at most every ``sync_interval`` seconds, on a helper thread); ``rebase`` empties the
    file after the state was saved with a new serial; ``close`` syncs and closes (the file
    stays until removed with ``discard`` once its content is in a saved state).
    """

    def __init__(
        self,
        path: Path,
        *,
        lineage: str,
        base_serial: int,
        sync_interval: float = 0.05,
        deferred: bool = False,
    ) -> None:
        self.path = Path(path)
        self.deferred = deferred
        self._pending: list[bytes] = []
        self.lineage = lineage
        self.base_serial = base_serial
        self.sync_interval = sync_interval
        self._seq = 0
        self._dirty = False
        self._last_sync = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        try:
            self._fd: int | None = files.open_append(self.path)
        except OSError as e:
            raise StateError(f"{self.path}: cannot open the journal: {e.strerror}") from None
        if not existed:
            _fsync_dir(self.path.parent)
        #: entries written since the last rebase
        self.count = 0
        # the periodic fsync's thread (started on first use) and the fsync it is running
        self._syncer: ThreadPoolExecutor | None = None
        self._syncing: Future[None] | None = None

    def put(self, address: str, resource: ResourceState) -> None:
        self._append(address, "put", resource.model_dump_json())

    def drop(self, address: str) -> None:
        self._append(address, "drop", "null")

    def _append(self, address: str, op: str, resource: str) -> None:
        """One ``Entry`` as a JSON line, written now or at the next ``flush``."""
        if self._fd is None:
            raise StateError(f"{self.path}: journal is closed")
        self._seq += 1
        # the fields of Entry, in key order; the resource came from its own serialiser
        line = (
            f'{{"address":{json.dumps(address)},"base_serial":{self.base_serial},'
            f'"lineage":{json.dumps(self.lineage)},"op":"{op}","resource":{resource},'
            f'"seq":{self._seq},"v":{JOURNAL_VERSION}}}\n'
        )
        self._pending.append(line.encode())
        self.count += 1
        if not self.deferred:
            self.flush()

    def flush(self) -> None:
        """Write the entries recorded since the last flush, with one ``write(2)``."""
        if not self._pending or self._fd is None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        # O_APPEND makes the write land whole at the end of the file, and once it returns
        # the bytes survive the death of this process
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - regular files do not short-write
            raise StateError(f"{self.path}: short write to the journal")
        self._dirty = True
        if time.monotonic() - self._last_sync >= self.sync_interval:
            self._sync_in_background(self._fd)

    def _sync_in_background(self, fd: int) -> None:
        """Start an fsync on the helper thread, unless one is still running: the entries
        written meanwhile are left for the next one (group commit)."""
        if self._syncing is not None:
            if not self._syncing.done():
                return
            self._collect()
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spsync-journal")
        self._dirty = False
        self._last_sync = time.monotonic()
        self._syncing = self._syncer.submit(os.fsync, fd)

    def _collect(self) -> None:
        """Wait for the background fsync, if any; raise what it raised."""
        syncing, self._syncing = self._syncing, None
        if syncing is None:
            return
        try:
            syncing.result()
        except OSError as e:
            raise StateError(f"{self.path}: cannot sync the journal: {e}") from None

    def sync(self) -> None:
        """fsync pending entries now (after the background one, if it runs)."""
        self.flush()
        self._collect()
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def rebase(self, serial: int) -> None:
        """The state was saved as ``serial`` holding every entry so far: start afresh."""
        if self._fd is None:
            raise StateError(f"{self.path}: journal is closed")
        self.flush()
        self._collect()
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self._dirty = False
        self.base_serial = serial
        self.count = 0

    def close(self) -> None:
        try:
            if self._fd is not None:
                self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._syncer is not None:
                self._syncer.shutdown(wait=True)
                self._syncer = None

    def discard(self) -> None:
        """Close and delete the file (its content is in the saved state)."""
        self.close()
        _remove(self.path)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
