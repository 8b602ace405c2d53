"""Saving and loading a world: its JSON form, and atomic whole-file snapshots (temp + fsync
+ rename).

``World`` mixes ``Persistent`` in (its JSON form, read under its lock), so this module needs
nothing of ``world.py`` at import time; ``load_world`` alone builds a ``World`` and imports it
when called.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from spsync.sandbox.entities import Install
from spsync.sandbox.timefmt import Clock

if TYPE_CHECKING:
    from spsync.sandbox.world import World


class _Held(Protocol):
    """What the JSON form reads of a world (``World`` provides it)."""

    version: int
    _seq: int
    _installs: dict[str, Install]

    @property
    def _lock(self) -> AbstractContextManager[Any]: ...


class Persistent:
    """A world's JSON form, read under its lock; mixed into ``World``."""

    def to_json(self: _Held) -> dict[str, Any]:
        """The whole world as JSON-ready data (``World.from_json`` reads it back)."""
        with self._lock:
            return {
                "version": 1,
                "seq": self._seq,
                "installs": [inst.dump() for inst in self._installs.values()],
            }

    @contextmanager
    def frozen(self: _Held) -> Iterator[tuple[int, int, list[Install]]]:
        """Hold the lock; yields ``(version, seq, installs)`` for a consistent read.

        For persistence only: the installs must not be changed, nor kept after the block.
        """
        with self._lock:
            yield self.version, self._seq, list(self._installs.values())

    def snapshot(self: _Held) -> tuple[int, dict[str, Any]]:
        """``(version, to_json())`` taken atomically."""
        with self._lock:
            return self.version, Persistent.to_json(self)


def parse_world(data: dict[str, Any]) -> tuple[int, dict[str, Install]]:
    """``(seq, installs by SID)`` from ``to_json()`` output; ``ValueError`` if not one."""
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError("not a sandbox world (expected version 1)")
    seq = int(data.get("seq", 0))
    installs: dict[str, Install] = {}
    for d in data["installs"]:
        inst = Install.load(d)
        installs[inst.sid] = inst
    return seq, installs


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    The file is private (0600): it holds what the service stores, exam passwords included.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself must survive a crash: sync the directory entry too.
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load_world(path: Path, *, clock: Clock | None = None, seed: int | None = None) -> World:
    """The world saved at ``path``, or a new empty one if there is no file yet."""
    # world.py imports this module (World mixes Persistent in): import World when called.
    from spsync.sandbox.world import World

    if not path.exists():
        return World(clock=clock, seed=seed)
    try:
        data = json.loads(path.read_bytes())
        return World.from_json(data, clock=clock, seed=seed)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable sandbox world: {e}") from e


class Persister:
    """Saves a world to ``path`` whenever its ``version`` moved since the last save.

    Safe from many threads: saves are serialised, and a caller whose change was already
    written by another caller's save returns at once (group commit), so every caller that
    returns knows its change is on disk.

    Each save writes the whole file, but only entities that changed since the previous save
    are serialised again: the JSON text of the others is reused (an entity's ``fingerprint()``
    tuple tells whether it changed). A world of thousands of entities saves in a few
    milliseconds plus the fsync.
    """

    def __init__(self, world: World, path: Path) -> None:
        self.world = world
        self.path = path
        self._lock = threading.Lock()
        self.saved_version = -1
        self.saves = 0
        self._cache: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}

    def render(self) -> tuple[int, bytes]:
        """``(version, file content)``: equal to ``dumps(world.to_json())``, made cheaply."""
        cache = self._cache
        fresh: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}
        with self.world.frozen() as (version, seq, installs):
            parts = [f'{{"version":1,"seq":{seq},"installs":[']
            for i, inst in enumerate(installs):
                if i:
                    parts.append(",")
                parts.append(f'{{"sid":{_j(inst.sid)},"settings":{_j(inst.settings_dump())}')
                for name, table in inst.tables():
                    parts.append(f',"{name}":[')
                    texts = []
                    for sid, entity in table.items():
                        key = (inst.sid, sid)
                        state = entity.fingerprint()
                        hit = cache.get(key)
                        fresh_hit = hit is not None and hit[0] == state
                        text = hit[1] if fresh_hit and hit else _j(entity.dump())
                        fresh[key] = (state, text)
                        texts.append(text)
                    parts.append(",".join(texts))
                    parts.append("]")
                parts.append("}")
            parts.append("]}")
        self._cache = fresh
        return version, "".join(parts).encode()

    def save(self) -> None:
        """Write the world if it changed; return once the current version is on disk."""
        wanted = self.world.version
        with self._lock:
            if self.saved_version >= wanted:
                return
            version, data = self.render()
            write_atomic(self.path, data)
            self.saved_version = version
            self.saves += 1
