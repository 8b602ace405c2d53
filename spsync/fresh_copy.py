"""Plain data moved to fresh memory, so that what it was read with can be given back. PURE.

Reading a manifest of 100,000 students builds a tree of located YAML nodes (about 300 MB)
and, among them, the texts and maps the manifests' models keep. Once the tree is let go,
those survivors stay scattered over the memory it took: the interpreter gives an arena
back to the system only when nothing at all lives in it, so a roster of about 270 MB
kept the process at 670 MB for the rest of the run (a first apply of 100,000 students
then ended above 1.1 GB). Packing the survivors into one buffer, letting the originals
go and unpacking them puts them side by side in new memory, and the old arenas are
returned whole.

Only plain data is packed: dicts, lists, tuples, texts, numbers, booleans, ``None``. A
secret is never written into the buffer: it is kept aside as the same object and put
back in its place. Anything else makes ``pack`` answer ``None`` (the caller keeps its
originals) rather than copy an object it does not know.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from spsync.secrets import Secret

_MARK = "spsync.fresh_copy._aside"
"""The one global a packed buffer may name: the place of a secret kept aside."""


class _NotPlain(Exception):
    """An object that is not plain data was met while packing."""


class _Packer(pickle.Pickler):
    def __init__(self, buffer: io.BytesIO, aside: list[Any]) -> None:
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.aside = aside

    def reducer_override(self, obj: Any) -> Any:
        # called for everything but exact dicts, lists, tuples, texts, numbers and None
        if isinstance(obj, Secret):
            self.aside.append(obj)
            return _aside, (len(self.aside) - 1,)
        if type(obj) is bool or obj is _aside:
            return NotImplemented
        raise _NotPlain(type(obj).__name__)


def _aside(index: int) -> Any:  # pragma: no cover - named in buffers, never called itself
    raise RuntimeError("a packed secret is put back by Packed.unpack")


class Packed:
    """Plain data as one buffer, the secrets it held kept aside (never in the buffer)."""

    def __init__(self, data: bytes, aside: list[Any]) -> None:
        self._data = data
        self._aside = aside

    def unpack(self) -> Any:
        """The data again, every container and text a new object, each secret the same."""
        return _Unpacker(io.BytesIO(self._data), self._aside).load()


class _Unpacker(pickle.Unpickler):
    def __init__(self, buffer: io.BytesIO, aside: list[Any]) -> None:
        super().__init__(buffer)
        self.aside = aside

    def find_class(self, module: str, name: str) -> Any:
        if f"{module}.{name}" == _MARK:
            return self.aside.__getitem__
        raise pickle.UnpicklingError(f"not plain data: {module}.{name}")


def pack(value: Any) -> Packed | None:
    """``value`` packed, or ``None`` when it holds anything but plain data and secrets."""
    buffer = io.BytesIO()
    aside: list[Any] = []
    try:
        _Packer(buffer, aside).dump(value)
    except _NotPlain:
        return None
    return Packed(buffer.getvalue(), aside)
