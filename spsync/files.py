"""Opening spsync's own files as what they claim to be.

State, plan, journal, lock and audit files live in directories a pull request can write
to. A symlink put there in place of one of them would make spsync read a file it did not
write, or append to one outside the repository, so they are opened with ``O_NOFOLLOW``: a
symlink is refused with a clear error, never followed (their JSON is read strictly, by
``spsync.strictjson``).
"""

from __future__ import annotations

import errno
import os
import stat
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
