"""A table of address -> fixed-size digest in a few objects, for what a saved plan keeps of
400,000 addresses to check them later (``plan.staleness``, which walks it in address
order).

A dict of 400,000 address strings and bytes values is ~130 MB with its entries (and more
once the memory it was built in is scattered); here the addresses, sorted, are one text with
an array of where each starts, and the values one ``bytes``: ~20 MB.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator


class AddressTable:
    """Addresses (each once) and a value of ``size`` bytes for each; read only."""

    __slots__ = ("_size", "_starts", "_text", "_values")

    def __init__(self, pairs: Iterable[tuple[str, bytes]], size: int) -> None:
        items = sorted(pairs)
        starts = array("q", [0])
        for i, (address, value) in enumerate(items):
            if len(value) != size:
                raise ValueError(f"{address}: a value of {len(value)} bytes, not {size}")
            if i and items[i - 1][0] == address:
                raise ValueError(f"{address} is in the table twice")
            starts.append(starts[-1] + len(address))
        self._size = size
        self._starts = starts
        self._text = "".join(address for address, _ in items)
        self._values = b"".join(value for _, value in items)

    def __len__(self) -> int:
        return len(self._starts) - 1

    def _address(self, i: int) -> str:
        return self._text[self._starts[i] : self._starts[i + 1]]

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every address and its value, in address order."""
        size = self._size
        for i in range(len(self)):
            yield self._address(i), self._values[i * size : (i + 1) * size]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AddressTable):
            return NotImplemented
        return (self._size, self._text, self._starts, self._values) == (
            other._size,
            other._text,
            other._starts,
            other._values,
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, like a dict

    def __repr__(self) -> str:
        return f"AddressTable({len(self)} addresses)"
