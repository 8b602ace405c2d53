"""Where the state files of a directory live: ``StateStore``.

``StateStore`` owns the files of a state directory: loading (with checks that the file
belongs to the tenant's install and API, and the journal of an interrupted apply folded in),
atomic saving, and the per-tenant lock. The values it reads and writes are ``spsync.state``'s.

The lock is an OS file lock (``fcntl.flock`` on ``<tenant>.lock``): the kernel releases it
when its holder dies, so a killed run never blocks the next one on the same machine. The
holder's details (``<tenant>.lock.json``) only serve the message a blocked run prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from spsync import files
from spsync.errors import LockError, SpsyncError, StateError
from spsync.interrupts import ctrl_c_interrupts
from spsync.journal import fold, journal_path, read_entries
from spsync.memory import give_back
from spsync.model import Tenant
from spsync.state import State, new_state, parse_state, write_state


class LockInfo(BaseModel):
    """Who holds a tenant's lock (written to ``<tenant>.lock.json`` while held)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tenant: str
    operation: str
    user: str
    host: str
    pid: int
    since: str


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path,
    text: str | Callable[[IO[str]], None],
    *,
    what: str = "the state file",
    error: type[SpsyncError] = StateError,
) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old or the new file.

    ``text`` may be a function writing the content to the file it is given. Temp file in
    the same directory, fsync, rename over the target, fsync the directory. A file-system
    failure is ``error`` naming ``path``, ``what`` it is and why (``path: cannot write the
    state file: state is not a directory``).
    """
    try:
        _write_atomic(path, text)
    except OSError as e:
        raise error(f"{path}: cannot write {what}: {files.why(e, path.parent)}") from None


def _write_atomic(path: Path, text: str | Callable[[IO[str]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if callable(text):
                text(fh)
            else:
                fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


#: times a reader reads a state file and its journal again when a writer replaced the file
#: meanwhile (an apply compacting its journal) before giving up
READ_ATTEMPTS = 20


def _identity(path: Path) -> tuple[int, ...] | None:
    """What tells one version of ``path`` from the next: an atomic save renames a new file
    over it (another inode, times and size); ``None`` when there is no file."""
    try:
        st = os.stat(path)
    except OSError:  # none, or unreadable: ``read`` says which
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateStore:
    """The state files of one directory: ``<dir>/<tenant>.json`` plus their locks."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        #: the embedded sandbox's own state directory (``--state-dir`` does not apply to it)
        self.sandbox = self.directory.parts[-3:] == (".spsync", "sandbox", "state")
        self._flag = "--sandbox " if self.sandbox else ""

    def _elsewhere(self) -> str:
        """How to keep SIDs of another install or API apart: another state directory."""
        if self.sandbox:
            return f"start the sandbox afresh (rm -r {self.directory.parent})"
        return "use another --state-dir"

    # --- files ---------------------------------------------------------------------------

    def path(self, tenant: str) -> Path:
        """``<dir>/<tenant>.json``."""
        return self.directory / f"{tenant}.json"

    def read(self, tenant: str) -> State | None:
        """The stored state of ``tenant`` as it is, or ``None`` when there is none.

        No check against manifests: for commands that only inspect state.
        """
        path = self.path(tenant)
        try:
            text = files.read_text(path)
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise StateError(f"{path}: cannot read state file: not UTF-8 text") from None
        except OSError as e:
            raise StateError(f"{path}: cannot read state file: {e.strerror}") from None
        # the parser's tree is freed in C memory that the Python objects made next (the
        # duplicate-key check's) cannot reuse: handed back before they are made, or it adds
        # to the peak (~70 MB at 20,000 students); then what the text and the check freed
        state = parse_state(text, str(path), parsed=give_back)
        del text
        give_back()
        if state.tenant != tenant:
            raise StateError(f"{path}: holds the state of tenant {state.tenant!r}, not {tenant!r}")
        return state

    def read_known(self, tenant: str) -> State | None:
        """Like ``read``, with a journal left by an interrupted apply folded in (in memory)."""
        return self._read_with_journal(tenant)

    def load(self, tenant: Tenant) -> State:
        """The state of ``tenant``; a fresh one (new lineage, serial 0) when there is none.

        Refuses a file written for another install or API URL: SIDs of one install mean
        nothing in another, and mixing the sandbox's SIDs with real ones would make spsync
        act on the wrong objects.
        """
        state = self._read_with_journal(tenant.tenant)
        if state is None:
            return new_state(tenant)
        path = self.path(tenant.tenant)
        where = f" ({tenant.file})" if tenant.file else ""
        if state.install != tenant.install:
            raise StateError(
                f"{path}: written for install {state.install}, but the manifests{where} say "
                f"{tenant.install}; never mix SIDs of different installs (or of the sandbox "
                f"and the real service): {self._elsewhere()}"
            )
        if state.api_url.rstrip("/") != tenant.api.url.rstrip("/"):
            raise StateError(
                f"{path}: written for API {state.api_url}, but the manifests{where} say "
                f"{tenant.api.url}; never mix SIDs of the sandbox and the real service: "
                f"{self._elsewhere()}"
            )
        return state

    def _read_with_journal(self, tenant: str) -> State | None:
        """The state file with the journal beside it folded in (in memory), both read as
        they were at one moment; ``None`` when there is no state file.

        Every reader (plan, state show, onboard) then knows what a killed apply did; the file
        itself is only rewritten by a writer's ``save`` (entries already saved are skipped by
        their serial) and the journal removed by the next apply (``journal.replay``).

        Readers that do not take the lock (plan, show) may run while an apply compacts its
        journal: it saves the state (serial + 1), empties the journal, then appends entries
        on top of the new serial. A state file read before that save and a journal read
        after it do not belong together (entries on top of a serial the file has not
        reached, or entries missing), so the pair is read again whenever the state file was
        replaced meanwhile.
        """
        path = self.path(tenant)
        jpath = journal_path(self.directory, tenant)
        for _ in range(READ_ATTEMPTS):
            before = _identity(path)
            state = self.read(tenant)
            if state is None:
                return None
            entries = read_entries(jpath)
            if _identity(path) != before:
                continue  # saved by a writer meanwhile: the journal may be past this state
            if not entries:
                return state
            folded, _ = fold(state, entries, source=str(jpath))
            return folded
        raise StateError(
            f"{path}: the state file kept being replaced while it was read ({READ_ATTEMPTS} "
            "times; another process is saving it): try again once that run is done"
        )

    def save(self, state: State) -> State:
        """Write ``state`` with its serial increased by one, atomically; returns what was saved."""
        saved = state.model_copy(update={"serial": state.serial + 1})
        write_atomic(self.path(saved.tenant), lambda fh: write_state(saved, fh))
        return saved

    # --- locks ---------------------------------------------------------------------------

    def _lock_path(self, tenant: str) -> Path:
        return self.directory / f"{tenant}.lock"

    def _info_path(self, tenant: str) -> Path:
        return self.directory / f"{tenant}.lock.json"

    def _remove_stale_temp_files(self, tenant: str) -> None:
        """Temp files of a writer killed inside ``write_atomic``; only the lock holder writes
        this tenant's files, so under the lock none of them is in use."""
        for name in (f"{tenant}.json", f"{tenant}.lock.json"):
            for tmp in self.directory.glob(f".{name}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def holder(self, tenant: str) -> LockInfo | None:
        """The recorded holder of ``tenant``'s lock (possibly stale), if any."""
        try:
            raw = files.read_text(self._info_path(tenant))
            return LockInfo.model_validate_json(raw, strict=True)
        except (OSError, ValidationError, ValueError):
            return None

    def _locked_message(self, tenant: str, unlock_hint: str) -> str:
        info = self.holder(tenant)
        if info is None:
            return f"state of {tenant} is locked by another process (no holder details recorded)"
        since = info.since
        if since.startswith(_utc_now().strftime("%Y-%m-%dT")):
            since = since.split("T", 1)[1]
        return (
            f"state of {tenant} is locked by pid {info.pid} on {info.host} since {since} "
            f"({info.operation}); if that process is gone: spsync {self._flag}unlock {unlock_hint} "
            f"{info.id}"
        )

    @contextlib.contextmanager
    def lock(
        self, tenant: str, operation: str, *, timeout: float = 0.0, unlock_hint: str = "PATH"
    ) -> Iterator[LockInfo]:
        """Hold ``tenant``'s lock for the ``with`` block.

        Blocked: ``LockError`` naming the holder at once, or after waiting ``timeout``
        seconds. ``unlock_hint`` is the path shown in the message's ``spsync unlock`` advice.
        """
        files.make_dirs(self.directory, "the state directory", StateError)
        fd = self._take(tenant, timeout, unlock_hint)
        try:
            info = LockInfo(
                id=str(uuid.uuid4()),
                tenant=tenant,
                operation=operation,
                user=_user(),
                host=socket.gethostname(),
                pid=os.getpid(),
                since=_utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            write_atomic(
                self._info_path(tenant),
                info.model_dump_json(indent=2) + "\n",
                what="the lock's holder record",
            )
            self._remove_stale_temp_files(tenant)
            try:
                yield info
            finally:
                with contextlib.suppress(FileNotFoundError):
                    current = self.holder(tenant)
                    if current is not None and current.id == info.id:
                        self._info_path(tenant).unlink()
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _take(self, tenant: str, timeout: float, unlock_hint: str) -> int:
        """A descriptor of the lock file holding its ``flock``.

        After the lock is taken, the file at the path must still be the one locked (same
        device and inode): one removed or replaced meanwhile is locked afresh. A holder
        record naming a live process of this host means the lock file was removed while that
        process held it: refused, as a lock held."""
        path = self._lock_path(tenant)
        deadline = time.monotonic() + max(timeout, 0.0)
        for _ in range(100):
            try:
                fd = files.open_lock(path)
            except OSError as e:
                raise StateError(f"{path}: cannot open the lock file: {e.strerror}") from None
            try:
                self._flock(fd, tenant, deadline, unlock_hint)
            except BaseException:
                os.close(fd)
                raise
            if files.same_file(fd, path):
                break
            os.close(fd)
        else:
            raise StateError(f"{path}: the lock file keeps being replaced; cannot lock")
        info = self.holder(tenant)
        if (
            info is not None
            and info.host == socket.gethostname()
            and info.pid != os.getpid()
            and _pid_alive(info.pid)
        ):
            os.close(fd)
            raise LockError(
                self._locked_message(tenant, unlock_hint)
                + " (its lock file was removed while held)"
            )
        return fd

    def _flock(self, fd: int, tenant: str, deadline: float, unlock_hint: str) -> None:
        if self._try_flock(fd, tenant):
            return
        with ctrl_c_interrupts():
            while time.monotonic() < deadline:
                time.sleep(0.05)
                if self._try_flock(fd, tenant):
                    return
        raise LockError(self._locked_message(tenant, unlock_hint))

    def _try_flock(self, fd: int, tenant: str) -> bool:
        """Take the lock if it is free; ``False`` when another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateError(f"{self._lock_path(tenant)}: cannot lock: {e}") from None
            return False
        return True

    def unlock(self, tenant: str, lock_id: str) -> None:
        """Release a stale lock whose holder is gone.

        Refuses a wrong ``lock_id`` and a holder that is still alive on this host. The OS
        lock of a dead process is already released by the kernel; what remains is the
        holder record, which this removes.
        """
        info = self.holder(tenant)
        if info is None:
            raise StateError(f"state of {tenant} is not locked (no {self._info_path(tenant)})")
        if info.id != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock of {tenant} ({info.id}, held by "
                f"pid {info.pid} on {info.host} for {info.operation})"
            )
        files.make_dirs(self.directory, "the state directory", StateError)
        with open(self._lock_path(tenant), "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if info.host == socket.gethostname() and _pid_alive(info.pid):
                    raise LockError(
                        f"state of {tenant} is locked by pid {info.pid} on {info.host}, which "
                        f"is still running ({info.operation}); stop it, or wait for it to finish"
                    ) from None
                raise LockError(
                    f"state of {tenant} is still locked by a running process "
                    f"(recorded holder: pid {info.pid} on {info.host}); the lock is released "
                    "when it exits"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                self._info_path(tenant).unlink()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
