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
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from pydantic_core import core_schema

MASK = "(sensitive)"


class Secret:
    """A secret string. Compare with ``==``; read with ``reveal()`` only where it is sent."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        #: where it came from, e.g. ``env:SPSYNC_ACME_TOKEN`` or ``file:secrets/pw``; safe to print
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


def resolve(
    ref: SecretRef,
    *,
    env: Mapping[str, str],
    read_file: Callable[[str], str],
    header: bool = False,
) -> Secret:
    """Read the value a reference points to.

    ``read_file`` gets the path as written and returns the file's text; its
    ``FileNotFoundError``/``OSError``/``UnicodeDecodeError`` become ``SecretRefError``.
    One trailing newline of a file is dropped (editors add it). An empty value is an
    error: an empty token or password is never what was meant. So is a value with
    surrounding whitespace, a control or other unprintable character, and (``header``: the
    API token, sent as an HTTP header) a character outside ASCII: such a value is refused
    here, with a message naming only where it came from, instead of failing later in the
    HTTP stack with an error that quotes it. A value that is read is registered for
    :func:`scrub`.
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
        _check_value(value, f"environment variable {ref.name}", header)
        return _known(Secret(value, ref.source))
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
    _check_value(value, f'secret file "{ref.name}"', header)
    return _known(Secret(value, ref.source))


def _check_value(value: str, what: str, header: bool) -> None:
    """Refuse a value that cannot be what was meant; the message never shows it."""
    if value != value.strip():
        raise SecretRefError(
            f"{what} has leading or trailing whitespace (value not shown); remove it"
        )
    if not value.isprintable():
        raise SecretRefError(
            f"{what} holds a control or other unprintable character (value not shown)"
        )
    if header and not value.isascii():
        raise SecretRefError(
            f"{what} holds a character outside ASCII (value not shown): an API token is "
            "sent as an HTTP header"
        )


# --- the tenant's own variables -------------------------------------------------------


def env_prefix(tenant: str) -> str:
    """``SPSYNC_<TENANT>_``: the only variables a tenant's manifests may read.

    The tenant name in capitals, every character other than a letter or digit turned to
    ``_`` (``acme-corp`` -> ``SPSYNC_ACME_CORP_``).
    """
    return "SPSYNC_" + re.sub(r"[^A-Z0-9]", "_", tenant.upper()) + "_"


def env_refusal(name: str, tenant: str, others: Iterable[str] = ()) -> str | None:
    """Why tenant ``tenant`` may not read variable ``name``, or ``None`` when it may.

    A name must start with the tenant's own prefix, and not with the longer prefix of
    another tenant (``acme`` may not read ``SPSYNC_ACME_CORP_TOKEN`` when ``acme-corp`` is
    a tenant too): a pull request cannot make one tenant send another's secret, or a
    variable of the CI runner, anywhere.
    """
    own = env_prefix(tenant)
    if not name.startswith(own) or len(name) == len(own):
        return (
            f"environment variable {name} is not one of tenant {tenant}'s: a tenant reads only "
            f"variables named {own}…"
        )
    for other in others:
        theirs = env_prefix(other)
        if other != tenant and len(theirs) > len(own) and name.startswith(theirs):
            return f"environment variable {name} belongs to tenant {other} ({theirs}…)"
    return None


# --- scrubbing ------------------------------------------------------------------------

#: every value read by ``resolve`` in this process (tokens and passwords of all tenants)
_KNOWN: dict[str, None] = {}
_pattern: re.Pattern[str] | None = None


#: shorter values are not masked in output: masking them would mask ordinary words
MIN_SCRUBBED = 4


def _known(secret: Secret) -> Secret:
    global _pattern
    value = secret.reveal()
    if value not in _KNOWN and len(value) >= MIN_SCRUBBED:
        _KNOWN[value] = None
        _pattern = None
    return secret


def forget_known() -> None:
    """Forget every value registered for scrubbing (tests that run many commands in one
    process)."""
    global _pattern
    _KNOWN.clear()
    _pattern = None


def has_known_secrets() -> bool:
    """Whether any value was registered for scrubbing."""
    return bool(_KNOWN)


def forms(value: str) -> set[str]:
    """The ways a value can appear in text: as is, in a ``bytes`` or ``str`` repr, JSON- or
    backslash-escaped, URL-encoded."""
    out = {
        value,
        repr(value.encode())[2:-1],
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        quote(value, safe=""),
        quote_plus(value, safe=""),
        quote(value),
    }
    return {f for f in out if f}


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every form of every known secret (and of ``secrets``) masked."""
    global _pattern
    extra = [s for s in secrets if s and s not in _KNOWN]
    if extra:
        pattern = _compile([*_KNOWN, *extra])
    else:
        if _pattern is None:
            _pattern = _compile(list(_KNOWN))
        pattern = _pattern
    return text if pattern is None else pattern.sub(MASK, text)


def _compile(values: list[str]) -> re.Pattern[str] | None:
    every = {f for v in values for f in forms(v)}
    if not every:
        return None
    # longest first: a form that contains another is masked whole
    return re.compile("|".join(re.escape(f) for f in sorted(every, key=len, reverse=True)))
