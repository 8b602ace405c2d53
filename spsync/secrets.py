"""Secret values: resolved once from ``{env: VAR}`` / ``{file: path}`` and masked everywhere.

A ``Secret`` never shows its value through ``str``, ``repr``, f-strings, logging, pydantic
dumps or JSON: all of them give ``(sensitive)``. Code that must send the value to the API
calls ``reveal()``, and only the API client does. Drift of a secret is tracked through
``fingerprint(key)``, a keyed HMAC: state never holds plaintext nor an unkeyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic_core import core_schema

MASK = "(sensitive)"


class Secret:
    """A secret string. Compare with ``==``; read with ``reveal()`` only where it is sent."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        #: where it came from, e.g. ``env:ACME_TOKEN`` or ``file:secrets/pw``; safe to print
        self.source = source

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        """A keyed digest, for change detection without storing the value."""
        return "hmac-sha256:" + hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.source or MASK})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _s: MASK),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"$ref": "#/$defs/SecretRef"}

    @classmethod
    def _validate(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        raise ValueError("must be a secret reference {env: VAR} or {file: path}")
