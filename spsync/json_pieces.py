"""Indented JSON written a piece at a time: the text ``json.dumps(doc, indent=N)`` would
give, without making a whole document of hundreds of thousands of entries first. PURE.

A document is written around *holes*: an object is encoded with one of its values
standing in for a placeholder, and the text before and after the placeholder is given
around the pieces of that value. Arrays are encoded a thousand items at a time. Every
piece goes through ``sanitize.json_text`` (which escapes one character at a time, so the
join of the pieces is the escaped whole).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from spsync.sanitize import json_text

#: items encoded per call of the encoder
CHUNK = 1000

#: stands for a value written in pieces: a lone surrogate, which no document of spsync
#: holds (plans and their checksums are UTF-8 text, which has no lone surrogates)
_HOLE = "\udfff\x00spsync-hole\x00\udfff"

Pieces = Callable[[int], Iterator[str]]
"""The pieces of a value, given the depth (in indent levels) of the line it starts on."""


class IndentedJson:
    """Pieces of the text of one ``json.JSONEncoder`` (its ``indent`` a number of spaces)."""

    def __init__(self, encoder: json.JSONEncoder) -> None:
        assert isinstance(encoder.indent, int) and encoder.indent > 0
        self.encoder = encoder
        self.unit = encoder.indent
        self._hole = encoder.encode(_HOLE)

    def indent(self, text: str, depth: int) -> str:
        """Text encoded at depth 0 as it reads at ``depth`` (a JSON string holds no newline)."""
        return text.replace("\n", "\n" + " " * (self.unit * depth)) if depth else text

    def with_hole(
        self, fields: dict[str, Any], key: str, depth: int, pieces: Pieces
    ) -> Iterator[str]:
        """The object of ``fields`` at ``depth``, the value of ``key`` given by ``pieces``
        (``key`` in its place among ``fields`` when they hold it, last otherwise, or where
        an encoder that sorts keys puts it)."""
        text = self.indent(self.encoder.encode({**fields, key: _HOLE}), depth)
        before, after = text.split(self._hole)  # the hole is in no document: see _HOLE
        yield json_text(before)
        yield from pieces(depth + 1)
        yield json_text(after)

    def array(self, items: Iterable[Pieces], depth: int) -> Iterator[str]:
        """An array at ``depth`` whose items are each given in pieces."""
        pad = "\n" + " " * (self.unit * (depth + 1))
        empty = True
        for item in items:
            yield ("[" if empty else ",") + pad
            empty = False
            yield from item(depth + 1)
        yield "[]" if empty else "\n" + " " * (self.unit * depth) + "]"

    def plain_array(self, values: Iterable[Any], depth: int) -> Iterator[str]:
        """An array at ``depth`` of plain values (taken lazily), ``CHUNK`` encoded at once."""
        batch: list[Any] = []
        first = True
        for value in values:
            batch.append(value)
            if len(batch) == CHUNK:
                yield self._batch(batch, depth, first)
                batch.clear()
                first = False
        if batch:
            yield self._batch(batch, depth, first)
        elif first:
            yield "[]"
            return
        yield "\n" + " " * (self.unit * depth) + "]"

    def _batch(self, batch: list[Any], depth: int, first: bool) -> str:
        text = self.indent(self.encoder.encode(batch), depth)
        body = text[1 : text.rindex("\n")]  # without "[" and the closing line
        return json_text(("[" if first else ",") + body)
