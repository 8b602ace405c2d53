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

import base64
import functools
import hashlib
import hmac
import html
import json
import re
import unicodedata
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
_scrubber: _Scrubber | None = None  # masks every value of _KNOWN; None: to be built

#: shorter values are not masked in output: masking them would mask ordinary words
MIN_SCRUBBED = 4
#: a shorter piece of a form is never masked alone: it could be an ordinary word of the
#: output ("password" of a password "test-password")
MIN_RUN = 10
#: the same for base64: 12 bytes of the value
MIN_BASE64_RUN = 16


def _known(secret: Secret) -> Secret:
    global _scrubber
    value = secret.reveal()
    if value not in _KNOWN and len(value) >= MIN_SCRUBBED:
        _KNOWN[value] = None
        _scrubber = None
    return secret


def forget_known() -> None:
    """Forget every value registered for scrubbing (tests that run many commands in one
    process)."""
    global _scrubber
    _KNOWN.clear()
    _scrubber = None


def has_known_secrets() -> bool:
    """Whether any value was registered for scrubbing."""
    return bool(_KNOWN)


def forms(value: str) -> set[str]:
    """The ways a value can appear in text: as is, in a ``bytes`` or ``str`` repr, JSON- or
    backslash-escaped, URL-encoded (upper- or lowercase hex, ``+`` or ``%20`` for a space),
    HTML-escaped, in base64; each of the value as read and in Unicode's composed and
    decomposed normal forms; and its UTF-8 read as Latin-1 or Windows-1252."""
    out = set()
    for variant in {
        value,
        unicodedata.normalize("NFC", value),
        unicodedata.normalize("NFD", value),
    }:
        out |= {
            variant,
            repr(variant.encode())[2:-1],
            repr(variant)[1:-1],
            variant.encode("unicode_escape").decode("ascii"),
            *_json_forms(variant),
            *_url_forms(variant),
            *_html_forms(variant),
            *_base64_forms(variant.encode()),
        }
    out |= {value.encode().decode("latin-1"), value.encode().decode("cp1252", "replace")}
    return {f for f in out if f}


def _json_forms(value: str) -> set[str]:
    """JSON strings as encoders write them: ``\\u00e4`` or UTF-8, ``/`` as ``\\/`` (PHP),
    ``<>&`` as ``\\u003c`` (Go)."""
    plain = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    slashed = {f.replace("/", "\\/") for f in plain}
    go = {f.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") for f in plain}
    return plain | slashed | go


#: characters left as they are by Python's ``quote`` (``safe``), and by JavaScript's
#: ``encodeURIComponent`` and ``encodeURI``
_URL_SAFE = ("", "/", "!~*'()", ";,/?:@&=+$#!~*'()")
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _url_forms(value: str) -> set[str]:
    """Percent-encodings: each safe set, ``%20`` or ``+`` for a space, hex in either case."""
    upper = {quote(value, safe=s) for s in _URL_SAFE} | {
        quote_plus(value, safe=s) for s in _URL_SAFE
    }
    return upper | {_PERCENT.sub(lambda m: m[0].lower(), f) for f in upper}


def _html_forms(value: str) -> set[str]:
    """HTML escapes: with or without quotes escaped (``&quot;``, ``&#x27;``, ``&#34;``,
    ``&#39;``), and with every character outside ASCII as a decimal or hex entity."""
    escaped = {
        html.escape(value, quote=False),
        html.escape(value, quote=True),
        html.escape(value, quote=True).replace("&quot;", "&#34;").replace("&#x27;", "&#39;"),
    }
    numeric = {"".join(c if c.isascii() else f"&#{ord(c)};" for c in f) for f in escaped}
    hexed = {"".join(c if c.isascii() else f"&#x{ord(c):x};" for c in f) for f in escaped}
    return escaped | numeric | hexed


def _base64_forms(raw: bytes) -> set[str]:
    """Standard and URL-safe base64 of the value alone, with and without padding."""
    out = set()
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        out |= {encoded, encoded.rstrip("=")}
    return out


def _base64_cores(raw: bytes) -> set[str]:
    """What base64 of a longer text holding the value shows of it wherever it starts: the
    value behind 1 or 2 other bytes, without the 4-character groups it shares with them
    (the value at a multiple of 3 bytes shows the start of its own base64)."""
    out = set()
    for shift in (1, 2):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()[4:]
        if (shift + len(raw)) % 3:
            encoded = encoded[:-4]
        out |= {encoded, encoded.translate(_URLSAFE)}
    return {c for c in out if len(c) >= MIN_BASE64_RUN}


_URLSAFE = str.maketrans("+/", "-_")


def _runs(value: str) -> set[tuple[str, int, bool]]:
    """``(form, least, in base64)``: each form of ``value`` and how long a piece of it is
    masked: all of a short form, else any run of two thirds of it or more (less would mask
    a word a password is made of, such as the name of its exam), and never less than
    ``MIN_RUN`` characters (``MIN_BASE64_RUN`` for base64, whose alphabet is that of
    words)."""
    raw = value.encode()
    encoded = _base64_forms(raw) | _base64_cores(raw)
    out = {(f, _least(f, MIN_BASE64_RUN), True) for f in encoded}
    return out | {(f, _least(f, MIN_RUN), False) for f in forms(value) - encoded}


def _least(form: str, shortest: int) -> int:
    return min(len(form), max(shortest, -(-2 * len(form) // 3)))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every form of every known secret (and of ``secrets``) masked, and every
    long enough piece of one (:func:`forms`, :data:`MIN_RUN`); ``text`` itself when none
    is in it."""
    global _scrubber
    extra = tuple(s for s in secrets if s and s not in _KNOWN)
    if extra:
        return _scrubber_of((*_KNOWN, *extra))(text)
    if _scrubber is None:
        _scrubber = _Scrubber(_KNOWN)
    return _scrubber(text)


@functools.lru_cache(maxsize=8)
def _scrubber_of(values: tuple[str, ...]) -> _Scrubber:
    return _Scrubber(values)


@dataclass(frozen=True)
class _Place:
    """Where an anchor sits in a form, and the shortest run of the form that is masked."""

    form: str
    at: int
    least: int


_CLEAN_LENGTH = 200
_CLEAN_KEPT = 4096
#: the length of an anchor: a piece of a form that every run masked holds one of whole
_ANCHOR = 6


class _Scrubber:
    """Finds the runs of forms of secrets in a text, in two steps that keep it fast.

    A run of a form ``MIN_RUN`` or more long is made of characters of the forms only, and
    base64 runs (``MIN_BASE64_RUN`` or more) of base64's. The text is read as ASCII (any
    other character as ``?``) and translated to "one of those characters or not"
    (``bytes.translate``, at memory speed): a stretch of them as long as the shortest run
    masked is where a run could be, and most texts have none. Inside a stretch, a run holds
    one of the form's anchors, pieces of ``_ANCHOR`` characters every ``least - _ANCHOR +
    1`` characters of it, looked up in one table whatever the number of secrets; where one
    is, the run around it is measured. Forms shorter than ``MIN_RUN`` are looked for whole,
    in one search.
    """

    def __init__(self, values: Iterable[str]) -> None:
        short: set[str] = set()
        groups: dict[bool, set[tuple[str, int]]] = {True: set(), False: set()}
        for value in values:
            for form, least, encoded in _runs(value):
                if least < MIN_RUN:
                    short.add(form)
                else:
                    groups[encoded].add((form, least))
        self._short = _literals(short)
        self._groups = [_Group(runs) for runs in groups.values() if runs]
        #: short texts found to hold nothing (a plan repeats its dates, ids and names)
        self._clean: dict[str, None] = {}

    def __call__(self, text: str) -> str:
        if text in self._clean:
            return text
        spans = _merged(self._spans(text))
        if not spans:
            if len(text) <= _CLEAN_LENGTH:
                if len(self._clean) >= _CLEAN_KEPT:
                    self._clean.clear()
                self._clean[text] = None
            return text
        out: list[str] = []
        last = 0
        for start, end in spans:
            out += (text[last:start], MASK)
            last = end
        out.append(text[last:])
        return "".join(out)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans = [m.span() for m in self._short.finditer(text)] if self._short else []
        if self._groups and len(text) >= MIN_RUN:
            ascii_ = text.encode("ascii", "replace")
            for group in self._groups:
                group.runs(text, ascii_, spans)
        return spans


class _Group:
    """Forms whose runs are masked from ``least`` (>= ``MIN_RUN``) characters on, and where
    in a text such a run could be: a stretch of their characters that long."""

    def __init__(self, runs: set[tuple[str, int]]) -> None:
        self._anchors: dict[str, list[_Place]] = {}
        for form, least in runs:
            for at in range(0, len(form) - _ANCHOR + 1, least - _ANCHOR + 1):
                place = _Place(form, at, least)
                self._anchors.setdefault(form[at : at + _ANCHOR], []).append(place)
        chars = {c for form, _ in runs for c in form}
        # the text as ASCII, "?" for any other character -> b"a" for one of ``chars``
        inside = {ord(c) for c in chars if c.isascii()}
        if not all(c.isascii() for c in chars):
            inside.add(ord("?"))
        self._table = bytes(97 if b in inside else 32 for b in range(256))
        shortest = min(least for _, least in runs)
        self._needle = b"a" * shortest
        self._stretch = re.compile(b"a{%d,}" % shortest)

    def runs(self, text: str, ascii_: bytes, spans: list[tuple[int, int]]) -> None:
        """Add to ``spans`` the runs of the forms in ``text`` (``ascii_``: as ASCII)."""
        inside = ascii_.translate(self._table)
        if self._needle not in inside:
            return
        anchors = self._anchors
        for stretch in self._stretch.finditer(inside):
            for i in range(stretch.start(), stretch.end() - _ANCHOR + 1):
                for place in anchors.get(text[i : i + _ANCHOR], ()):
                    start = i - _same_before(text, i, place.form, place.at)
                    after = place.at + _ANCHOR
                    end = i + _ANCHOR + _same_after(text, i + _ANCHOR, place.form, after)
                    if end - start >= place.least:
                        spans.append((start, end))


def _literals(words: set[str]) -> re.Pattern[str] | None:
    """Any of ``words``, the longest where several start at one place."""
    ordered = sorted(words, key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _same_before(a: str, i: int, b: str, j: int) -> int:
    """How many characters just before ``a[i]`` are those just before ``b[j]``."""
    low, high = 0, min(i, j)
    while low < high:
        mid = (low + high + 1) // 2
        if a[i - mid : i] == b[j - mid : j]:
            low = mid
        else:
            high = mid - 1
    return low


def _same_after(a: str, i: int, b: str, j: int) -> int:
    """How many characters from ``a[i]`` on are those from ``b[j]`` on."""
    low, high = 0, min(len(a) - i, len(b) - j)
    while low < high:
        mid = (low + high + 1) // 2
        if a[i : i + mid] == b[j : j + mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one (two secrets side by side stay two)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out
