"""Secret values: resolved once from ``{env: VAR}`` / ``{file: path}`` and masked everywhere.

A ``Secret`` never shows its value through ``str``, ``repr``, f-strings, logging, pydantic
dumps or JSON: all of them give ``(sensitive)``. Code that must send the value to the API
calls ``reveal()``, and only the API client does. Drift of a secret is tracked through
``fingerprint(key)``, a keyed HMAC: state never holds plaintext nor an unkeyed hash.

A reference is resolved by :func:`resolve`, which is given the environment and a file
reader rather than reaching for them itself (so this module stays free of I/O, and the
manifest loader decides where files are read from). Its errors never contain the value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

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


class UnreadSecret(Secret):
    """A reference that was checked for shape but deliberately not read
    (``spsync validate --no-secrets``). It has no value: ``reveal()`` raises, so a
    manifest loaded this way can be validated but never sent anywhere."""

    __slots__ = ()

    def __init__(self, source: str) -> None:
        super().__init__("", source)

    def reveal(self) -> str:
        raise RuntimeError(f"secret {self.source} was not read (loaded without secrets)")

    def fingerprint(self, key: bytes) -> str:
        raise RuntimeError(f"secret {self.source} was not read (loaded without secrets)")


#: what an ``{env: NAME}`` reference may name
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENV_NAME = re.compile(ENV_NAME_PATTERN)


class SecretRefError(ValueError):
    """A reference that cannot be resolved. The message names the source, never the value."""


@dataclass(frozen=True)
class SecretRef:
    """``{env: NAME}`` or ``{file: PATH}`` as written in a manifest."""

    kind: Literal["env", "file"]
    name: str

    @property
    def source(self) -> str:
        """``env:NAME`` or ``file:PATH``: safe to print."""
        return f"{self.kind}:{self.name}"


def resolve(ref: SecretRef, *, env: Mapping[str, str], read_file: Callable[[str], str]) -> Secret:
    """Read the value a reference points to.

    ``read_file`` gets the path as written and returns the file's text; its
    ``FileNotFoundError``/``OSError``/``UnicodeDecodeError`` become ``SecretRefError``.
    One trailing newline of a file is dropped (editors add it). An empty value is an
    error: an empty token or password is never what was meant.
    """
    if ref.kind == "env":
        if not _ENV_NAME.match(ref.name):
            raise SecretRefError(
                "env must name an environment variable (letters, digits and _, "
                "not starting with a digit)"
            )
        value = env.get(ref.name)
        if value is None:
            raise SecretRefError(f"environment variable {ref.name} is not set")
        if value == "":
            raise SecretRefError(f"environment variable {ref.name} is empty")
        return Secret(value, ref.source)
    try:
        value = read_file(ref.name)
    except FileNotFoundError:
        raise SecretRefError(f'secret file "{ref.name}" not found') from None
    except UnicodeDecodeError:
        # the exception text would quote bytes of the secret
        raise SecretRefError(f'secret file "{ref.name}" is not UTF-8 text') from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise SecretRefError(f'secret file "{ref.name}" cannot be read: {reason}') from None
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if value == "":
        raise SecretRefError(f'secret file "{ref.name}" is empty')
    return Secret(value, ref.source)
