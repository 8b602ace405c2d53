"""Reading the file of a ``{file: path}`` secret, confined to the configuration repository.

The only file that loading a manifest opens besides the manifests themselves.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_SECRET_BYTES = 64 * 1024


def read(name: str, *, base_dir: Path, root: Path | None) -> str:
    """A secret file's text; relative paths are from the tenant directory.

    The path, once symlinks and ``..`` are resolved, must be a regular file inside the
    configuration repository (``root``), never under ``/proc``, ``/dev`` or ``/sys``: a
    manifest cannot make a file of the machine it runs on (the environment of the
    process, another tenant's files) a password sent to the API.

    Where a path leads is decided before anything is looked up, first as written (``..``
    taken away) and then with the repository's symlinks followed, so a path out of the
    repository is refused alike whether or not its file exists: a manifest cannot learn
    which files the machine holds."""
    if "\x00" in name:
        raise OSError(0, "invalid path")
    path = Path(os.path.normpath(base_dir.resolve() / name))
    _confine(path, root)
    real = path.resolve()
    _confine(real, root)
    if not real.exists():
        raise FileNotFoundError(name)
    if not real.is_file():
        raise OSError(0, "not a regular file")
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(0, "not a regular file")
        data = f.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise OSError(0, f"larger than {MAX_SECRET_BYTES} bytes")
    return data.decode("utf-8")


def _confine(path: Path, root: Path | None) -> None:
    """Refuse ``path`` (absolute, without ``..``) out of ``root`` or on a system tree."""
    if path.parts[:2] in (("/", "proc"), ("/", "dev"), ("/", "sys")):
        raise OSError(0, f"outside the configuration repository ({path.parts[1]})")
    if root is not None and not path.is_relative_to(root.resolve()):
        raise OSError(0, f"outside the configuration repository {root}")
