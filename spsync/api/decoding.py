"""An answer's ``Content-Encoding`` undone within a bound on what it expands to.

httpx decodes a compressed chunk whole: one chunk of a gzip bomb (a few hundred KiB read
from the socket at once) expands to hundreds of MiB before any limit can look at it, and
codings stacked (``gzip, gzip``) multiply: 500 bytes became 200 MiB in memory. Here the
raw bytes are inflated a piece of at most ``limit + 1`` bytes at a time, so no more than
the body limit is ever held, and at most one coding is undone (a real service applies one).

``gzip`` (``x-gzip``) and ``deflate`` (zlib-wrapped, or raw as some servers send it) are
decoded, the codings httpx asks for; ``identity`` and names spsync does not know are left
as they are, as httpx leaves them (the body is then not JSON, and refused as such).
"""

from __future__ import annotations

import zlib

#: the codings decoded, and the zlib window bits of each
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class Undecodable(Exception):
    """The body is not what its ``Content-Encoding`` says, or says more than spsync undoes."""


class TooLarge(Exception):
    """The decoded body is longer than the limit."""


class Decoder:
    """Undoes ``content_encoding`` (the header's value) of a body fed in raw pieces; the
    decoded bytes held at any time are at most ``limit`` (``TooLarge`` past it)."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        known = [c for c in codings if c in _WBITS]
        if len(known) > 1:
            raise Undecodable(f"{', '.join(known)}: more than one content coding")
        self._coding = known[0] if known else None
        self._inflate = zlib.decompressobj(_WBITS[known[0]]) if known else None
        self._started = False
        self._limit = limit
        self.size = 0
        self.parts: list[bytes] = []

    def feed(self, raw: bytes) -> None:
        """Decode one raw piece of the body."""
        if self._inflate is None:
            self._keep(raw)
            return
        if not self._started and raw:
            self._started = True
            raw = self._first(raw)
        while raw:
            try:
                out = self._inflate.decompress(raw, self._limit - self.size + 1)
            except zlib.error:
                raise self._not_as_said() from None
            self._keep(out)
            raw = self._inflate.unconsumed_tail

    def _first(self, raw: bytes) -> bytes:
        """The first piece: a ``deflate`` body without its zlib wrapper is raw deflate."""
        if self._coding != "deflate":
            return raw
        try:
            probe = zlib.decompressobj(zlib.MAX_WBITS)
            probe.decompress(raw[:64], 1)
        except zlib.error:
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        return raw

    def _keep(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self._limit:
            raise TooLarge
        if out:
            self.parts.append(out)

    def body(self) -> bytes:
        """The whole decoded body, once every raw piece was fed."""
        if self._inflate is not None and self._started:
            try:
                self._keep(self._inflate.flush())
            except zlib.error:
                raise self._not_as_said() from None
        return b"".join(self.parts)

    def _not_as_said(self) -> Undecodable:
        return Undecodable(f"not the {self._coding} its Content-Encoding says")
