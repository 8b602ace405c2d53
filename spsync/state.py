"""The state file of one tenant: which remote objects spsync manages, and their SIDs.

``state/<tenant>.json`` (product-spec §5)::

    {"version": 1, "lineage": uuid, "serial": n, "tenant", "install", "api_url",
     "resources": {ADDRESS: {"sid": ..., ...}}}

Sorted keys, pretty-printed. Never a secret: secret fields are kept as keyed fingerprints.

``StateStore`` owns the files of a state directory: loading (with checks that the file
belongs to the tenant's install and API), atomic saving, and the per-tenant lock.

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
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from spsync import files
from spsync.errors import LockError, StateError
from spsync.model import KINDS, Tenant
from spsync.strictjson import duplicate_key, strict_loads

STATE_VERSION = 1


class ResourceState(BaseModel):
    """What spsync knows of one managed address.

    ``sid``: the object's own SID (``None`` for an assignment, which has none).
    ``refs``: SIDs it hangs off, e.g. ``{"course": "CU…", "exam": "EX…", "enrollment": "EN…",
    "user": "US…", "configuration": "EC…"}``.
    ``applied``: the managed fields as last applied (the planner's drift baseline), in the
    same normal form as the manifests; secrets as keyed fingerprints.
    """

    model_config = ConfigDict(extra="forbid")

    sid: str | None = None
    refs: dict[str, str] = {}
    applied: dict[str, Any] = {}


class AppliedPlan(BaseModel):
    """The saved plan (``spsync apply PLANFILE``) whose apply wrote the state last.

    It speaks for the state only while the state's ``serial`` is still ``serial``: any later
    write (another apply, ``state rm``, ``state mv``, ``import``) raises the serial past it.
    While it does, applying the same plan file again is reported as already applied rather
    than as a stale plan (``planning.applied_before``).
    """

    model_config = ConfigDict(extra="forbid")

    #: the plan file's checksum
    checksum: str
    #: the state serial the plan was made on, and the serial of the save recording this
    from_serial: int
    serial: int
    #: every change of the plan was done (false: the apply failed or was interrupted)
    complete: bool


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    tenant: str
    install: str
    api_url: str
    resources: dict[str, ResourceState] = {}
    #: written by the apply of a saved plan; left out of the file when there is none
    applied_plan: AppliedPlan | None = None


def _head(state: State) -> dict[str, Any]:
    """The file's fields but ``resources``; ``applied_plan`` only when set, so that states
    written without a saved plan keep the format of product-spec §5."""
    exclude = {"resources"} if state.applied_plan is not None else {"resources", "applied_plan"}
    return state.model_dump(mode="json", exclude=exclude)


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


def new_state(tenant: Tenant) -> State:
    """An empty state for a tenant that has none yet: new lineage, serial 0."""
    return State(
        lineage=str(uuid.uuid4()),
        tenant=tenant.tenant,
        install=tenant.install,
        api_url=tenant.api.url,
    )


def dump_state(state: State) -> str:
    """The file text of a state: sorted keys, indent 2, trailing newline (readable git diffs)."""
    head = _head(state)
    head["resources"] = {a: r.model_dump(mode="json") for a, r in state.resources.items()}
    return json.dumps(head, sort_keys=True, indent=2) + "\n"


def write_state(state: State, fh: IO[str]) -> None:
    """Write ``dump_state(state)`` to ``fh`` one resource at a time.

    The same text, without ever holding it or a dump of the whole state: json.dumps with an
    indent collects every token in a list before joining them, some 3 million strings
    (230 MB) for 20,000 students, and a dump of 80,000 resources is another 80 MB.
    """
    head = _head(state)
    fh.write("{")
    for i, key in enumerate(sorted([*head, "resources"])):
        fh.write(("," if i else "") + "\n  " + json.dumps(key) + ": ")
        if key != "resources":
            fh.write(_indented(head[key], 1))
        elif not state.resources:
            fh.write("{}")
        else:
            fh.write("{")
            for j, address in enumerate(sorted(state.resources)):
                dumped = state.resources[address].model_dump(mode="json")
                fh.write(("," if j else "") + "\n    " + json.dumps(address) + ": ")
                fh.write(_indented(dumped, 2))
            fh.write("\n  }")
    fh.write("\n}\n")


def _indented(value: Any, level: int) -> str:
    """``value`` as ``json.dumps(..., sort_keys=True, indent=2)`` writes it ``level`` deep
    (every newline of JSON text is between tokens: newlines in strings are escaped)."""
    return json.dumps(value, sort_keys=True, indent=2).replace("\n", "\n" + "  " * level)


#: what a SID in a state file must look like (kind prefix, 32 lowercase hex digits)
_SID = re.compile(r"[A-Z]{2}[a-f0-9]{32}")


def parse_state(text: str, where: str) -> State:
    """Parse state file text; ``StateError`` naming ``where`` and what is wrong.

    Strictly: a key given twice, a value of the wrong JSON type (``"serial": "2"``) and a
    SID that does not look like one are refused, not coerced or taken as written."""
    try:
        # the fast path (pydantic's own JSON parser); the slow one below explains failures
        state = State.model_validate_json(text, strict=True)
    except ValidationError:
        state = _parse_slowly(text, where)
    problem = duplicate_key(text)
    if problem is not None:
        raise StateError(f"{where}: not a valid state file: {problem}")
    if state.version != STATE_VERSION:
        raise StateError(_version_message(where, state.version))
    whole = _ALL_GIVEN
    for address, resource in state.resources.items():
        if address.split(".", 1)[0] not in KINDS or "." not in address:
            raise StateError(f"{where}: not a valid state file: unknown address {address!r}")
        check_sids(address, resource, where)
        if resource.__pydantic_fields_set__ == whole:
            # one shared "fields set" (216 bytes an entry, 86 MB at 100,000 students);
            # it names every field, so a later assignment adds nothing to it
            object.__setattr__(resource, "__pydantic_fields_set__", whole)
    return state


#: the "fields set" of a state entry that gives every field (as every saved file does)
_ALL_GIVEN = set(ResourceState.model_fields)


def check_sids(address: str, resource: ResourceState, where: str) -> None:
    """Every SID of an entry must look like one: they are put in URLs and in plans;
    ``StateError`` naming ``where`` otherwise."""
    named = [("sid", resource.sid)] + [(f"refs.{k}", v) for k, v in resource.refs.items()]
    for field_name, sid in named:
        if sid is not None and not _SID.fullmatch(sid):
            raise StateError(
                f"{where}: not a valid state file: resources.{address}.{field_name} is not "
                "a SID (2 capital letters and 32 lowercase hex digits)"
            )


def _version_message(where: str, version: object) -> str:
    return (
        f"{where}: state version {version!r} is not supported "
        f"(this spsync reads version {STATE_VERSION})"
    )


def _parse_slowly(text: str, where: str) -> State:
    try:
        raw = strict_loads(text)
    except json.JSONDecodeError as e:
        raise StateError(
            f"{where}: not a valid state file: bad JSON at line {e.lineno} column {e.colno}: "
            f"{e.msg}"
        ) from None
    except ValueError as e:  # a duplicate key, NaN
        raise StateError(f"{where}: not a valid state file: {e}") from None
    if not isinstance(raw, dict):
        raise StateError(f"{where}: not a valid state file: expected a JSON object")
    if raw.get("version") != STATE_VERSION:
        raise StateError(_version_message(where, raw.get("version")))
    try:
        return State.model_validate_json(text, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise StateError(f"{where}: not a valid state file: {loc}: {first['msg']}{more}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str | Callable[[IO[str]], None]) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old or the new file.

    ``text`` may be a function writing the content to the file it is given. Temp file in
    the same directory, fsync, rename over the target, fsync the directory.
    """
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
        state = parse_state(text, str(path))
        if state.tenant != tenant:
            raise StateError(f"{path}: holds the state of tenant {state.tenant!r}, not {tenant!r}")
        return state

    def read_known(self, tenant: str) -> State | None:
        """Like ``read``, with a journal left by an interrupted apply folded in (in memory)."""
        state = self.read(tenant)
        return None if state is None else self._with_journal(state)

    def load(self, tenant: Tenant) -> State:
        """The state of ``tenant``; a fresh one (new lineage, serial 0) when there is none.

        Refuses a file written for another install or API URL: SIDs of one install mean
        nothing in another, and mixing the sandbox's SIDs with real ones would make spsync
        act on the wrong objects.
        """
        state = self.read(tenant.tenant)
        if state is None:
            return new_state(tenant)
        path = self.path(tenant.tenant)
        state = self._with_journal(state)
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

    def _with_journal(self, state: State) -> State:
        """``state`` with a journal left by an interrupted apply folded in, in memory.

        Every reader (plan, state show, onboard) then knows what a killed apply did; the file
        itself is only rewritten by a writer's ``save`` (entries already saved are skipped by
        their serial) and the journal removed by the next apply (``journal.replay``).
        """
        from spsync.journal import fold, journal_path, read_entries

        path = journal_path(self.directory, state.tenant)
        entries = read_entries(path)
        if not entries:
            return state
        folded, _ = fold(state, entries, source=str(path))
        return folded

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
        self.directory.mkdir(parents=True, exist_ok=True)
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
            write_atomic(self._info_path(tenant), info.model_dump_json(indent=2) + "\n")
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
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StateError(f"{self._lock_path(tenant)}: cannot lock: {e}") from None
                if time.monotonic() >= deadline:
                    raise LockError(self._locked_message(tenant, unlock_hint)) from None
                time.sleep(0.05)

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
        self.directory.mkdir(parents=True, exist_ok=True)
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
