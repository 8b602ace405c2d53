"""SIDs: a 2-letter prefix and 32 lowercase hex characters (api-contract §2)."""

from __future__ import annotations

import random
import re
import secrets
from typing import TypeGuard

_SID = re.compile(r"([A-Z]{2})[a-f0-9]{32}")


def is_sid(value: object, prefix: str | tuple[str, ...]) -> TypeGuard[str]:
    """True if ``value`` is a well-formed SID with (one of) the given prefix(es)."""
    if not isinstance(value, str):
        return False
    m = _SID.fullmatch(value)
    if m is None:
        return False
    return m.group(1) in ((prefix,) if isinstance(prefix, str) else prefix)


class SidFactory:
    """Makes fresh SIDs and opaque tokens; reproducible when given a seed (tests)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng: random.Random | None = random.Random(seed) if seed is not None else None

    def hex32(self) -> str:
        """32 random lowercase hex characters."""
        if self._rng is None:
            return secrets.token_hex(16)
        return f"{self._rng.getrandbits(128):032x}"

    def sid(self, prefix: str) -> str:
        return prefix + self.hex32()
