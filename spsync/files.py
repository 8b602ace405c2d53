"""Opening spsync's own files as what they claim to be.

State, plan, journal, lock and audit files live in directories a pull request can write
to. A symlink put there in place of one of them would make spsync read a file it did not
write, or append to one outside the repository, so they are opened with ``O_NOFOLLOW``: a
symlink is refused with a clear error, never followed (their JSON is read strictly, by
``spsync.strictjson``).

Making the directories they live in, and writing several files as one (``init``), a path
the system refuses is an ``SpsyncError`` naming it and why (``state is not a directory``),
never a bare ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import uuid
from pathlib import Path

from spsync.errors import SpsyncError


class SymlinkError(OSError):
    """A file spsync owns is a symbolic link: refused, never followed."""


def _open(path: Path, flags: int, mode: int = 0o644) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SymlinkError(
                errno.ELOOP, "is a symbolic link (refused: spsync never follows one here)"
            ) from None
        raise


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, refused when it is a symlink or not a regular file."""
    fd = _open(Path(path), os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not _is_regular(f.fileno()):
            raise OSError(errno.EINVAL, "not a regular file")
        return f.read()


def read_text(path: Path) -> str:
    """``read_bytes`` decoded as UTF-8."""
    return read_bytes(path).decode("utf-8")


def open_append(path: Path) -> int:
    """A descriptor appending to ``path`` (created if missing), never through a symlink."""
    fd = _open(Path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    if not _is_regular(fd):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def open_lock(path: Path) -> int:
    """A read-write descriptor of a lock file (created if missing), never through a symlink."""
    return _open(Path(path), os.O_RDWR | os.O_CREAT)


def same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` (not followed) is still the file open as ``fd``."""
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def blocker(path: Path) -> Path | None:
    """The nearest of ``path``'s ancestors (``path`` included) that exists but is not a
    directory: what stops ``path`` being made a directory; ``None`` when there is none."""
    for p in (path, *path.parents):
        try:
            if p.is_dir():
                return None
            if p.exists() or p.is_symlink():
                return p
        except OSError:
            return None
    return None


def why(error: OSError, directory: Path) -> str:
    """The reason, in words, that a file in ``directory`` (made if missing) could not be
    written: an ancestor that is a file is named, otherwise the system's reason (never a
    Python class name)."""
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        found = blocker(directory)
        if found is not None:
            return f"{found} is not a directory"
    return error.strerror or str(error)


def make_dirs(directory: Path, what: str, error: type[SpsyncError]) -> None:
    """``directory`` and its missing parents, or ``error`` naming it and why it cannot be
    made (``what`` says what the directory is for: "the state directory")."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{directory}: cannot create {what}: {why(e, Path(directory))}") from None


def check_writable(path: Path, what: str, error: type[SpsyncError]) -> None:
    """Raise ``error`` unless a file could be written at ``path`` now: its directory (or the
    nearest existing ancestor, the rest made on writing) must be a directory that takes a
    new file, found by making one there and removing it. For an output that is written
    last (``plan --out``): its problems are found before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: cannot write {what}: it is a directory")
    found = blocker(path.parent)
    if found is not None:
        raise error(f"{path}: cannot write {what}: {found} is not a directory")
    here = next((p for p in (path.parent, *path.parent.parents) if p.is_dir()), path.parent)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=here)
    except OSError as e:
        raise error(f"{path}: cannot write {what}: {why(e, path.parent)}") from None
    os.close(fd)
    os.unlink(probe)


def write_together(contents: dict[Path, str], error: type[SpsyncError]) -> None:
    """Write every file of ``contents`` (made or replaced), or none of them.

    Each is first written to a temporary file beside it, in directories made as needed;
    only when all of them are written are they renamed into place. A failure removes the
    temporary files and the directories made, and raises ``error`` naming the file or
    directory and why, so that a retry starts from what was there before."""
    for path in contents:
        found = blocker(path.parent)
        if found is not None:
            raise error(f"{path}: cannot write: {found} is not a directory; nothing was written")
        if path.is_dir():
            raise error(f"{path}: cannot write: it is a directory; nothing was written")
    made: list[Path] = []
    temps: list[tuple[Path, Path]] = []
    try:
        _make_missing({p.parent for p in contents}, made, error)
        for path, text in contents.items():
            temps.append((_write_temp(path, text, error), path))
        for tmp, path in temps:
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise error(f"{path}: cannot write: {why(e, path.parent)}") from None
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _make_missing(directories: set[Path], made: list[Path], error: type[SpsyncError]) -> None:
    """Make the missing ``directories`` and their parents, parents first; each one made is
    added to ``made``."""
    missing = {d for top in directories for d in (top, *top.parents) if not d.exists()}
    for directory in sorted(missing, key=lambda d: len(d.parts)):
        try:
            directory.mkdir()
        except OSError as e:
            raise error(
                f"{directory}: cannot create the directory: {why(e, directory)}; "
                "nothing was written"
            ) from None
        made.append(directory)


def _write_temp(path: Path, text: str, error: type[SpsyncError]) -> Path:
    """``text`` in a new temporary file beside ``path`` (with ``path``'s mode when it
    exists, else the default one)."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = _open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise error(f"{path}: cannot write: {why(e, path.parent)}; nothing was written") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if path.exists():
                os.fchmod(fh.fileno(), stat.S_IMODE(path.stat().st_mode))
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise error(f"{path}: cannot write: {why(e, path.parent)}; nothing was written") from None
    return tmp


def read_owned(path: Path, what: str, error: type[SpsyncError]) -> str:
    """The text of one of spsync's files given on the command line (a plan file), or
    ``error`` naming it and why it cannot be read (a symlink among the reasons)."""
    try:
        return read_text(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: cannot read the {what}: not UTF-8 text") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or type(e).__name__}") from None
