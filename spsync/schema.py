"""The manifest schema: one description of both file kinds, used three ways.

1. ``Spec.check`` reads a located YAML node (``spsync.yamlload``) into plain, normalised
   values, reporting every problem with its file, line, column and dotted path;
2. ``json_schema(kind)`` exports JSON Schema (draft 2020-12) for editors;
3. the tests compare it with ``spsync.model`` and ``docs/manifests.md``.

Checks that relate several resources (references, implied entries, windows against
sessions) live in ``spsync.manifest``; this module knows one node at a time.

Scalars are read by the type the schema expects, not by YAML's guess: a text field takes
the text as written (``code: 0123`` is ``"0123"``, a user named ``No`` stays ``"No"``);
numbers and booleans must be written as such (``duration: "120"`` is an error).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import stat
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from spsync.errors import Problem
from spsync.model import (
    DEFAULT_API_URL,
    NAME_PATTERN,
    TENANT_PATTERN,
    ExamType,
    PermittedItem,
    ProctorOption,
    Role,
    SessionType,
)
from spsync.secrets import (
    ENV_NAME_PATTERN,
    SecretRef,
    SecretRefError,
    UnreadSecret,
    env_refusal,
    resolve,
)
from spsync.yamlload import INT_RE, Map, Node, Scalar, Seq, describe, plain_value

# --- enumerations: the model's, so the two cannot drift ---------------------------------

EXAM_TYPES: tuple[str, ...] = get_args(ExamType)
ROLES: tuple[str, ...] = get_args(Role)
SESSION_TYPES: tuple[str, ...] = get_args(SessionType)
PERMITTED_ITEMS: tuple[str, ...] = get_args(PermittedItem)
PROCTOR_OPTIONS: tuple[str, ...] = get_args(ProctorOption)
SID_KINDS = {
    "AI": "install",
    "II": "integration",
    "CU": "course",
    "EX": "exam",
    "US": "user",
    "TS": "proctor type",
    "PL": "proctor location",
    "PT": "proctor location",
}
DATETIME_EXAMPLE = "2027-03-01T14:00:00Z"
MIN_YEAR, MAX_YEAR = 1970, 9000
MAX_DURATION = 525_600  # minutes: a year

INVALID: Any = object()
"""Returned by ``check`` for a value that is wrong (the problem is already reported)."""


# --- did-you-mean ----------------------------------------------------------------------


class Vocab:
    """Words a did-you-mean may offer, prepared once: a case-insensitive index, a cache of
    answers (a roster repeats the same typo many times) and, for large vocabularies, an
    index of one-character deletions so that a lookup does not compare against every word.
    """

    __slots__ = ("_deletions", "cache", "lower", "words")

    #: above this many words, candidates come from the deletion index, not a full scan
    SCAN_LIMIT = 1000
    #: words kept per deletion key (short names share keys heavily)
    BUCKET = 32

    def __init__(self, words: Iterable[str]) -> None:
        self.words = list(words)
        self.lower = {w.lower(): w for w in self.words}
        self.cache: dict[str, str | None] = {}
        self._deletions: dict[str, list[str]] | None = None

    def candidates(self, word: str) -> list[str]:
        """Words worth comparing with ``word``: all of them, or for a large vocabulary
        those within about two edits (sharing a one-character deletion)."""
        if len(self.words) <= self.SCAN_LIMIT:
            return self.words
        if self._deletions is None:
            index: dict[str, list[str]] = {}
            for w in self.words:
                for d in _deletions(w):
                    bucket = index.setdefault(d, [])
                    if len(bucket) < self.BUCKET:
                        bucket.append(w)
            self._deletions = index
        found: set[str] = set()
        for d in _deletions(word):
            found.update(self._deletions.get(d, ()))
        return sorted(found)


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


class Suggester:
    """``; did you mean "x"?`` suffixes, within a budget of string comparisons.

    A roster with thousands of dangling references must not spend minutes in difflib:
    large vocabularies are narrowed first (``Vocab.candidates``), answers are cached, and
    once the budget is spent messages simply carry no suggestion (case slips are still
    found: that is a dictionary lookup). All of it is deterministic."""

    def __init__(self, budget: int = 500_000) -> None:
        self.budget = budget

    def __call__(self, word: str, vocab: Vocab | Iterable[str]) -> str:
        best = self.best(word, vocab)
        return f'; did you mean "{best}"?' if best is not None else ""

    def best(self, word: str, vocab: Vocab | Iterable[str]) -> str | None:
        """The closest word, if one is close enough."""
        if not isinstance(vocab, Vocab):
            vocab = Vocab(vocab)
        if not word or not vocab.words:
            return None
        if word in vocab.cache:
            return vocab.cache[word]
        found = vocab.lower.get(word.lower())
        if found is None:
            pool = vocab.candidates(word)
            if pool and self.budget >= len(pool):
                self.budget -= len(pool)
                close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
                found = close[0] if close else None
        if found == word:
            found = None
        vocab.cache[word] = found
        return found


# --- reading context -------------------------------------------------------------------


@dataclass
class Ctx:
    """What checking one file needs: where problems go and how secrets are read."""

    file: str
    problems: list[Problem]
    #: directory that ``{file: path}`` secrets are relative to
    base_dir: Path = Path(".")
    env: Mapping[str, str] = field(default_factory=dict)
    #: sandbox mode: the API token is not read (other secrets are)
    sandbox: bool = False
    #: False (``validate --no-secrets``): secret references are checked for shape only,
    #: nothing is read, and each secret is an ``UnreadSecret`` (the token: ``None``)
    read_secrets: bool = True
    suggest: Suggester = field(default_factory=Suggester)
    #: the tenant being read: its ``{env:}`` secrets must be named ``SPSYNC_<TENANT>_…``
    #: (empty: no such rule, for callers outside a configuration directory)
    tenant: str = ""
    #: every tenant of the configuration: none may read another's longer prefix
    tenants: tuple[str, ...] = ()
    #: the configuration repository: ``{file:}`` secrets must resolve inside it
    root: Path | None = None
    #: (id of a mapping node, field name) pairs that an unknown key was probably meant to
    #: be: "missing field" would only repeat the did-you-mean of the typo, so it is skipped
    misspelt: set[tuple[int, str]] = field(default_factory=set)

    def given(self, node: Map, key: str) -> bool:
        """Whether ``node`` sets ``key``, or has a key that looks like a misspelling of it."""
        return key in node.items or (id(node), key) in self.misspelt

    def add(self, node: Node | None, where: str, message: str) -> None:
        line, col = (node.line, node.col) if node is not None else (1, 1)
        self.problems.append(Problem(self.file, line, col, where, message))

    def read_secret_file(self, name: str) -> str:
        """A secret file's text; relative paths are from the tenant directory.

        The path, once symlinks and ``..`` are resolved, must be a regular file inside the
        configuration repository (``root``), never under ``/proc``, ``/dev`` or ``/sys``: a
        manifest cannot make a file of the machine it runs on (the environment of the
        process, another tenant's files) a password sent to the API."""
        if "\x00" in name:
            raise OSError(0, "invalid path")
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            raise FileNotFoundError(name)
        real = path.resolve()
        if real.parts[:2] in (("/", "proc"), ("/", "dev"), ("/", "sys")):
            raise OSError(0, f"outside the configuration repository ({real.parts[1]})")
        if self.root is not None and not real.is_relative_to(self.root.resolve()):
            raise OSError(0, f"outside the configuration repository {self.root}")
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


MAX_SECRET_BYTES = 64 * 1024


# --- specs -----------------------------------------------------------------------------


class Spec:
    """How one node is read. Subclasses implement ``check`` and ``json``."""

    description: str = ""

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        raise NotImplementedError

    def json(self) -> dict[str, Any]:
        raise NotImplementedError

    def _schema(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            return {"description": self.description, **body}
        return body


def _scalar_text(node: Node, where: str, cx: Ctx, wanted: str) -> str | None:
    """The text of a non-null scalar, or None after reporting what was found instead."""
    if type(node) is Scalar and not node.is_null:
        return node.value
    cx.add(node, where, f"must be {wanted}, got {describe(node)}")
    return None


class Text(Spec):
    """Text; ``min_len`` counts characters after trimming."""

    def __init__(
        self,
        description: str = "",
        *,
        min_len: int = 1,
        max_len: int = 10_000,
        pattern: str | None = None,
        wanted: str = "text",
    ) -> None:
        self.description = description
        self.min_len = min_len
        self.max_len = max_len
        self.pattern = pattern
        self._re = re.compile(pattern) if pattern else None
        self.wanted = wanted

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        text = _scalar_text(node, where, cx, self.wanted)
        if text is None:
            return INVALID
        if self.min_len and len(text.strip()) < self.min_len:
            cx.add(node, where, f"must be {self.wanted}, got an empty value")
            return INVALID
        if len(text) > self.max_len:
            cx.add(node, where, f"is too long ({len(text)} characters, at most {self.max_len})")
            return INVALID
        if self._re is not None and not self._re.match(text):
            cx.add(node, where, f"must be {self.wanted}, got {describe(node)}")
            return INVALID
        return self.normalise(text, node, where, cx)

    def normalise(self, text: str, node: Node, where: str, cx: Ctx) -> Any:
        return text

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "string"}
        if self.min_len:
            body["minLength"] = self.min_len
        if self.pattern:
            body["pattern"] = self.pattern
        return self._schema(body)


def name_spec(description: str) -> Text:
    return Text(
        description,
        pattern=NAME_PATTERN,
        max_len=200,
        wanted="a local name (letters, digits, '.', '_', '-'; starting with a letter or digit)",
    )


def sid_spec(description: str, *prefixes: str) -> Text:
    kinds = " or ".join(f'"{p}"' for p in prefixes)
    what = SID_KINDS[prefixes[0]]
    article = "an" if what in ("install", "integration", "exam") else "a"
    alternation = "|".join(prefixes)
    pattern = (
        f"^{prefixes[0]}[a-f0-9]{{32}}$"
        if len(prefixes) == 1
        else (f"^(?:{alternation})[a-f0-9]{{32}}$")
    )
    return Text(
        description,
        pattern=pattern,
        wanted=f"{article} {what} SID ({kinds} + 32 lowercase hex characters)",
    )


class Enum(Text):
    """One of a fixed set of words."""

    def __init__(self, description: str, values: tuple[str, ...]) -> None:
        super().__init__(description, wanted="one of " + ", ".join(values))
        self.values = values
        self._set = frozenset(values)
        self.vocab = Vocab(values)

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        text = _scalar_text(node, where, cx, self.wanted)
        if text is None:
            return INVALID
        if text not in self._set:
            hint = cx.suggest(text, self.vocab)
            cx.add(node, where, f"must be {self.wanted}; got {describe(node)}{hint}")
            return INVALID
        return text

    def json(self) -> dict[str, Any]:
        return self._schema({"enum": list(self.values)})


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class Email(Text):
    """An e-mail address, normalised to trimmed lower case."""

    def __init__(self, description: str) -> None:
        super().__init__(description, max_len=254, wanted="an e-mail address")

    def normalise(self, text: str, node: Node, where: str, cx: Ctx) -> Any:
        email = text.strip().lower()
        if not _EMAIL.match(email) or ".." in email:
            cx.add(node, where, f"must be an e-mail address, got {describe(node)}")
            return INVALID
        return email

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "string", "format": "email"})


@cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows (empty without a tz database)."""
    return frozenset(zoneinfo.available_timezones())


@cache
def _zone_vocab() -> Vocab:
    return Vocab(sorted(time_zones()))


_TZ_SHAPE = re.compile(r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*$")


class TimeZone(Text):
    """An IANA time zone name such as ``America/New_York``."""

    def __init__(self, description: str) -> None:
        super().__init__(description, max_len=100, wanted="an IANA time zone name")

    def normalise(self, text: str, node: Node, where: str, cx: Ctx) -> Any:
        zones = time_zones()
        known = text in zones if zones else bool(_TZ_SHAPE.match(text))
        if not known:
            hint = cx.suggest(text, _zone_vocab())
            cx.add(
                node,
                where,
                f'must be an IANA time zone name like "America/New_York", '
                f"got {describe(node)}{hint}",
            )
            return INVALID
        return text


def parse_datetime(text: str) -> tuple[str | None, str]:
    """``(normal form, "")`` or ``(None, why not)``; the normal form is UTC ``…Z``."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, f'must be a date-time like "{DATETIME_EXAMPLE}"'
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None, f'has no time zone: write it in UTC with a Z, like "{DATETIME_EXAMPLE}"'
    if dt.microsecond:
        return None, "must be in whole seconds"
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:
        utc = None
    # a bounded range keeps arithmetic on it safe and the normal form fixed-width
    # (so that comparing normal forms as text compares times)
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        return None, f"is out of range (years {MIN_YEAR} to {MAX_YEAR})"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ"), ""


class DateTime(Text):
    """An ISO 8601 date-time with a zone (``Z`` or an offset), normalised to UTC ``…Z``."""

    def __init__(self, description: str) -> None:
        super().__init__(description, max_len=64, wanted="a date-time")

    def normalise(self, text: str, node: Node, where: str, cx: Ctx) -> Any:
        value, why = parse_datetime(text)
        if value is None:
            cx.add(node, where, f"{why}, got {describe(node)}")
            return INVALID
        return value

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "string", "format": "date-time"})


#: hosts, besides the official API's and loopback, that a tenant's ``api.url`` may name:
#: comma- or space-separated, set by whoever runs spsync (CI variables), never by manifests
ALLOWED_HOSTS_ENV = "SPSYNC_ALLOWED_API_HOSTS"


def allowed_api_hosts(env: Mapping[str, str]) -> set[str]:
    """The API hosts a token may be sent to, loopback aside: the official one, and those
    listed in ``SPSYNC_ALLOWED_API_HOSTS``."""
    hosts = {urlsplit(DEFAULT_API_URL).hostname or ""}
    extra = env.get(ALLOWED_HOSTS_ENV, "")
    hosts.update(h.strip().lower().rstrip(".") for h in extra.replace(",", " ").split())
    return {h for h in hosts if h}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Url(Text):
    """An absolute http(s) URL. With ``api=True``: https, or http to a loopback host only."""

    def __init__(self, description: str, *, api: bool = False) -> None:
        super().__init__(description, max_len=2000, wanted="a URL")
        self.api = api

    def normalise(self, text: str, node: Node, where: str, cx: Ctx) -> Any:
        url = text.strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            _ = parts.port
        except ValueError:
            parts, host = None, ""
        if parts is None or parts.scheme not in ("http", "https") or not host:
            cx.add(node, where, f"must be an absolute https:// URL, got {describe(node)}")
            return INVALID
        if self.api:
            if parts.scheme == "http" and not is_loopback(host):
                cx.add(
                    node,
                    where,
                    "must use https:// (plain http:// is allowed only for a loopback host "
                    "such as 127.0.0.1 or localhost)",
                )
                return INVALID
            if parts.query or parts.fragment or parts.username or parts.password:
                cx.add(node, where, "must be a base URL without credentials, query or fragment")
                return INVALID
            allowed = allowed_api_hosts(cx.env)
            if not is_loopback(host) and host.lower() not in allowed:
                cx.add(
                    node,
                    where,
                    f"API host {host} is not allowed: the token is sent only to "
                    f"{', '.join(sorted(allowed))} or a loopback host; the operator allows "
                    f"more in {ALLOWED_HOSTS_ENV}, outside the manifests (docs/security.md)",
                )
                return INVALID
            return url.rstrip("/")
        return url

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "string", "format": "uri", "pattern": "^https?://"})


class Currency(Text):
    def __init__(self, description: str) -> None:
        super().__init__(
            description,
            pattern=r"^[A-Z]{3}$",
            wanted='a currency code of 3 capital letters like "USD"',
        )


class Int(Spec):
    """A whole number written as one (``"120"`` in quotes is text, not a number)."""

    def __init__(
        self,
        description: str,
        *,
        minimum: int = 0,
        maximum: int = 1_000_000_000,
        wanted: str = "",
    ) -> None:
        self.description = description
        self.minimum = minimum
        self.maximum = maximum
        self.wanted = wanted or (
            "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        )

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if (
            type(node) is Scalar
            and (node.plain or node.tag == "int")
            and INT_RE.match(node.value)
            and len(node.value) < 19
        ):
            value = int(node.value)
            if self.minimum <= value <= self.maximum:
                return value
            if value > self.maximum:
                cx.add(node, where, f"must be at most {self.maximum:,}, got {value}")
                return INVALID
        cx.add(node, where, f"must be {self.wanted}, got {describe(node)}")
        return INVALID

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "integer", "minimum": self.minimum, "maximum": self.maximum})


_NUMBER = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


class Number(Spec):
    """A finite number in ``[minimum, maximum]``."""

    def __init__(
        self, description: str, *, minimum: float = 0, maximum: float | None = None
    ) -> None:
        self.description = description
        self.minimum = minimum
        self.maximum = maximum
        self.wanted = (
            f"a number >= {minimum:g}"
            if maximum is None
            else f"a number from {minimum:g} to {maximum:g}"
        )

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if (
            type(node) is Scalar
            and (node.plain or node.tag in ("int", "float"))
            and _NUMBER.match(node.value)
        ):
            value = float(node.value)
            if (
                math.isfinite(value)
                and value >= self.minimum
                and (self.maximum is None or value <= self.maximum)
            ):
                return value
        cx.add(node, where, f"must be {self.wanted}, got {describe(node)}")
        return INVALID

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "number", "minimum": self.minimum}
        if self.maximum is not None:
            body["maximum"] = self.maximum
        return self._schema(body)


class Bool(Spec):
    """``true`` or ``false`` (YAML 1.1's yes/no/on/off are refused as ambiguous)."""

    TRUE = frozenset(("true", "True", "TRUE"))
    FALSE = frozenset(("false", "False", "FALSE"))

    def __init__(self, description: str) -> None:
        self.description = description

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is Scalar and (node.plain or node.tag == "bool"):
            if node.value in self.TRUE:
                return True
            if node.value in self.FALSE:
                return False
        cx.add(node, where, f"must be true or false, got {describe(node)}")
        return INVALID

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "boolean"})


class SecretSpec(Spec):
    """``{env: VAR}`` or ``{file: path}``, resolved into a ``Secret`` at load time.

    ``token=True``: the API token, which is not read in sandbox mode (the value is then
    ``None``). Messages never include a value, not even a literal one written by mistake."""

    def __init__(self, description: str, *, token: bool = False) -> None:
        self.description = description
        self.token = token

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        what = "an API token" if self.token else "a secret"
        if type(node) is not Map:
            if type(node) is Scalar and not node.is_null:
                cx.add(
                    node,
                    where,
                    f"{what} must not be written in a manifest: refer to it as "
                    "{env: VARIABLE} or {file: path} (and rotate it if it was committed)",
                )
            else:
                cx.add(
                    node,
                    where,
                    f"must be {{env: VARIABLE}} or {{file: path}}, got {describe(node)}",
                )
            return INVALID
        refs: list[SecretRef] = []
        ok = True
        for key, (knode, vnode) in node.items.items():
            if key not in ("env", "file"):
                hint = cx.suggest(key, ("env", "file"))
                cx.add(knode, where, f'unknown field "{key}" in a secret reference{hint}')
                ok = False
                continue
            if type(vnode) is not Scalar or vnode.is_null or not vnode.value.strip():
                kind = "an environment variable name" if key == "env" else "a file path"
                cx.add(vnode, f"{where}.{key}", f"must be {kind}, got {describe(vnode)}")
                ok = False
                continue
            refs.append(SecretRef(key, vnode.value.strip()))  # type: ignore[arg-type]
        if not ok:
            return INVALID
        if len(refs) != 1:
            cx.add(node, where, "must be exactly one of {env: VARIABLE} or {file: path}")
            return INVALID
        ref = refs[0]
        if ref.kind == "env" and cx.tenant and re.match(ENV_NAME_PATTERN, ref.name):
            refusal = env_refusal(ref.name, cx.tenant, cx.tenants)
            if refusal is not None:
                cx.add(node.items["env"][1], f"{where}.env", refusal)
                return INVALID
        if self.token and (cx.sandbox or not cx.read_secrets):
            return None
        if not cx.read_secrets:
            if ref.kind == "env" and not re.match(ENV_NAME_PATTERN, ref.name):
                cx.add(
                    node.items["env"][1],
                    f"{where}.env",
                    "env must name an environment variable (letters, digits and _, "
                    "not starting with a digit)",
                )
                return INVALID
            return UnreadSecret(ref.source)
        try:
            return resolve(ref, env=cx.env, read_file=cx.read_secret_file, header=self.token)
        except SecretRefError as e:
            cx.add(node.items[ref.kind][1], f"{where}.{ref.kind}", str(e))
            return INVALID

    def json(self) -> dict[str, Any]:
        return self._schema({"$ref": "#/$defs/SecretRef"})


SECRET_REF_SCHEMA: dict[str, Any] = {
    "description": "A secret, read at load time: {env: VARIABLE} or {file: path} "
    "(relative to the tenant directory; one trailing newline is dropped).",
    "type": "object",
    "properties": {
        "env": {
            "description": "Name of the environment variable holding the value.",
            "type": "string",
            "pattern": ENV_NAME_PATTERN,
        },
        "file": {
            "description": "Path of a file holding the value (relative to the tenant directory).",
            "type": "string",
            "minLength": 1,
        },
    },
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}


@dataclass(frozen=True)
class Field:
    """One field of an object: its spec, and whether YAML must always give it."""

    spec: Spec
    required: bool = False
    #: documentation of conditional requirements ("to create", "or from defaults")
    note: str = ""


class Obj(Spec):
    """A mapping with known fields; anything else is an error with a did-you-mean.

    ``check`` returns the dict of fields that were valid (invalid ones are left out and
    reported), so cross-resource checks can still run on the rest."""

    def __init__(
        self,
        description: str,
        fields: dict[str, Field],
        *,
        unknown_hint: Mapping[str, str] | None = None,
        post: Callable[[dict[str, Any], Map, str, Ctx], None] | None = None,
        extra_schema: dict[str, Any] | None = None,
    ) -> None:
        self.description = description
        self.fields = fields
        self.names = Vocab(fields)
        self.required = tuple(k for k, f in fields.items() if f.required)
        self.unknown_hint = unknown_hint or {}
        self.post = post
        self.extra_schema = extra_schema or {}

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is not Map:
            cx.add(node, where, f"must be a mapping, got {describe(node)}")
            return INVALID
        out: dict[str, Any] = {}
        fields = self.fields
        for key, (knode, vnode) in node.items.items():
            f = fields.get(key)
            if f is None:
                self.unknown(key, knode, where, cx, node)
                continue
            value = f.spec.check(vnode, f"{where}.{key}" if where else key, cx)
            if value is not INVALID:
                out[key] = value
        for key in self.required:
            if not cx.given(node, key):
                cx.add(node, where, f'missing required field "{key}"')
        if self.post is not None:
            self.post(out, node, where, cx)
        return out

    def unknown(self, key: str, knode: Node, where: str, cx: Ctx, node: Map | None = None) -> None:
        """Report an unknown field of ``node`` (with a did-you-mean when one is close)."""
        hint = self.unknown_hint.get(key)
        if hint is not None:
            hint = f" ({hint})"
        else:
            best = cx.suggest.best(key, self.names)
            hint = f'; did you mean "{best}"?' if best is not None else ""
            if best is not None and node is not None:
                cx.misspelt.add((id(node), best))
        cx.add(knode, f"{where}.{key}" if where else key, f'unknown field "{key}"{hint}')

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "object",
            "properties": {k: _with_note(f) for k, f in self.fields.items()},
            "additionalProperties": False,
        }
        if self.required:
            body["required"] = list(self.required)
        body.update(self.extra_schema)
        return self._schema(body)


def _with_note(f: Field) -> dict[str, Any]:
    """A field's schema, its description completed with a conditional requirement."""
    body = f.spec.json()
    if f.note:
        body["description"] = f"{body.get('description', '')} ({f.note})".strip()
    return body


class MapOf(Spec):
    """A mapping whose keys follow ``key`` and whose values follow ``value``."""

    def __init__(
        self, description: str, key: Text, value: Spec, *, min_items: int = 0, empty: str = ""
    ) -> None:
        self.description = description
        self.key = key
        self.value = value
        self.min_items = min_items
        self.empty = empty or f"must have at least {min_items} entries"

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is not Map:
            cx.add(node, where, f"must be a mapping, got {describe(node)}")
            return INVALID
        if len(node.items) < self.min_items:
            cx.add(node, where, self.empty)
            return INVALID
        out: dict[str, Any] = {}
        for key, (knode, vnode) in node.items.items():
            path = f"{where}.{key}"
            if self.key.check(knode, path, cx) is INVALID:
                continue
            value = self.value.check(vnode, path, cx)
            if value is not INVALID:
                out[key] = value
        return out

    def json(self) -> dict[str, Any]:
        key = self.key.json()
        body: dict[str, Any] = {"type": "object", "additionalProperties": self.value.json()}
        if "enum" in key:
            body["propertyNames"] = {"enum": key["enum"]}
        elif "pattern" in key:
            body["propertyNames"] = {"pattern": key["pattern"]}
        if self.min_items:
            body["minProperties"] = self.min_items
        return self._schema(body)


class ListOf(Spec):
    def __init__(self, description: str, item: Spec) -> None:
        self.description = description
        self.item = item

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is not Seq:
            cx.add(node, where, f"must be a list, got {describe(node)}")
            return INVALID
        out = []
        for i, item in enumerate(node.items):
            value = self.item.check(item, f"{where}[{i}]", cx)
            if value is not INVALID:
                out.append(value)
        return out

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "array", "items": self.item.json()})


class AnyMap(Spec):
    """A mapping of free-form settings, passed to the API as written."""

    def __init__(self, description: str) -> None:
        self.description = description

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is not Map:
            cx.add(node, where, f"must be a mapping ({{}} for none), got {describe(node)}")
            return INVALID
        return plain_value(node)

    def json(self) -> dict[str, Any]:
        return self._schema({"type": "object"})


IDS_DESCRIPTIONS = {
    "api": "Your own stable id for it.",
    "external": "Its id on your platform.",
    "lms": "Its id in your LMS.",
}


class Ids(Spec):
    """``ids``: exactly one of the identifiers a kind accepts; a ``sid`` must be well formed."""

    def __init__(self, description: str, kinds: tuple[str, ...], prefix: str, what: str) -> None:
        self.description = description
        self.kinds = kinds
        self.what = what
        self.sid = sid_spec(f"SmarterProctoring's SID of an existing {what}.", prefix)
        self.texts = {
            kind: Text(IDS_DESCRIPTIONS[kind], max_len=500) for kind in kinds if kind != "sid"
        }

    def check(self, node: Node, where: str, cx: Ctx) -> Any:
        if type(node) is not Map:
            cx.add(
                node, where, f"must be a mapping with one of {self._alts()}, got {describe(node)}"
            )
            return INVALID
        out: dict[str, str] = {}
        ok = True
        for key, (knode, vnode) in node.items.items():
            if key not in self.kinds:
                if key in ("sid", "api", "external", "lms"):
                    hint = f" ({self.what}s are identified by {self._alts()})"
                else:
                    hint = cx.suggest(key, self.kinds)
                cx.add(knode, f"{where}.{key}", f'unknown field "{key}"{hint}')
                ok = False
                continue
            spec = self.sid if key == "sid" else self.texts[key]
            value = spec.check(vnode, f"{where}.{key}", cx)
            if value is INVALID:
                ok = False
            else:
                out[key] = value
        if not ok:
            return INVALID
        if len(out) != 1:
            given = "none" if not out else " and ".join(out)
            cx.add(node, where, f"must have exactly one of {self._alts()}, got {given}")
            return INVALID
        return out

    def _alts(self) -> str:
        return " | ".join(self.kinds)

    def json(self) -> dict[str, Any]:
        props = {k: (self.sid if k == "sid" else self.texts[k]).json() for k in self.kinds}
        return self._schema(
            {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
            }
        )


# --- the resources ---------------------------------------------------------------------


def _window_order(values: dict[str, Any], node: Map, where: str, cx: Ctx) -> None:
    # normal forms have fixed width, so text order is time order
    opens, closes = values.get("open"), values.get("close")
    if opens is not None and closes is not None and not opens < closes:
        knode = node.items["close"][1]
        cx.add(knode, f"{where}.close", f"must be after open ({opens}), got {closes}")
        del values["close"]  # so sessions are not also measured against a broken window


def window(description: str) -> Obj:
    return Obj(
        description,
        {
            "open": Field(DateTime("When the window opens (UTC)."), required=True),
            "close": Field(DateTime("When the window closes (UTC); after open."), required=True),
        },
        post=_window_order,
    )


def ref_spec(kind: str) -> Text:
    return Text(
        f"Local name of a {kind} defined in this tenant's manifests.",
        max_len=200,
        wanted=f"the name of a {kind}",
    )


COURSE_IDS = Ids(
    "How SmarterProctoring knows the course: exactly one of sid | api | external | lms.",
    ("sid", "api", "external", "lms"),
    "CU",
    "course",
)
EXAM_IDS = Ids(
    "How SmarterProctoring knows the exam: exactly one of sid | external.",
    ("sid", "external"),
    "EX",
    "exam",
)
USER_IDS = Ids(
    "How SmarterProctoring knows the user: exactly one of sid | api | external | lms.",
    ("sid", "api", "external", "lms"),
    "US",
    "user",
)

COURSE = Obj(
    "A course (a grouping of exams and enrollments).",
    {
        "ids": Field(COURSE_IDS, required=True),
        "title": Field(Text("Course title."), note="required to create"),
        "code": Field(Text("Course code."), note="required to create"),
    },
)

PROCTOR_TYPE = Obj(
    "Settings of one proctor type.",
    {
        "options": Field(
            MapOf(
                "Proctoring options: option name -> settings ({} for a plain switch).",
                Enum("A proctoring option.", PROCTOR_OPTIONS),
                AnyMap("Settings of the option ({} for a plain switch)."),
            )
        )
    },
)

EXAM_TYPE = Enum("online (default in the API) or written.", EXAM_TYPES)
LIMITED_SCOPE = Bool(
    "true: sessions exist only for assigned users (what integrations use); the API's "
    "default is false: every learner enrollment of the course gets a session."
)

CONFIGURATION = Obj(
    "The exam's primary configuration (sent and replaced as a whole).",
    {
        "url": Field(Url("The exam's URL on your platform."), required=True),
        "access": Field(window("When the exam can be taken."), required=True),
        "scheduling": Field(
            window(
                "When appointments may be booked; not managed when left out "
                "(the API then allows scheduling until access.close)."
            )
        ),
        "duration": Field(
            Int("Exam duration in minutes.", minimum=1, maximum=MAX_DURATION), required=True
        ),
        "password": Field(SecretSpec("Exam password, as a secret reference."), required=True),
        "attempts": Field(Int("Allowed attempts (API default 1).", minimum=1)),
        "proctorTypes": Field(
            MapOf(
                "Proctor types of the exam, keyed by their TS SID.",
                sid_spec("A proctor type SID.", "TS"),
                PROCTOR_TYPE,
                min_items=1,
                empty="must list at least one proctor type (by its TS SID)",
            ),
            required=True,
        ),
        "notes": Field(
            Obj(
                "Instructions.",
                {
                    "student": Field(Text("Shown to the student.", min_len=0)),
                    "proctor": Field(Text("Shown to the proctor.", min_len=0)),
                },
            )
        ),
        "permittedItems": Field(
            MapOf(
                "Items allowed during the exam: item -> {notes}.",
                Enum("A permitted item.", PERMITTED_ITEMS),
                Obj(
                    "Settings of a permitted item.",
                    {"notes": Field(Text("Conditions of use.", min_len=0))},
                ),
            )
        ),
    },
)

EXAM = Obj(
    "An exam of a course.",
    {
        "course": Field(ref_spec("course"), required=True),
        "ids": Field(EXAM_IDS, required=True),
        "title": Field(Text("Exam title."), note="required to create"),
        "description": Field(Text("Exam description.", min_len=0)),
        "type": Field(EXAM_TYPE, note="or from defaults.exam"),
        "limitedScope": Field(LIMITED_SCOPE, note="or from defaults.exam"),
        "configuration": Field(CONFIGURATION, note="required to create"),
    },
)

TIME_ZONE = TimeZone("IANA time zone (API default: the install's).")
CURRENCY_CODE = Currency("ISO 4217 currency code (API default: the install's).")

USER = Obj(
    "A user (learner or instructor).",
    {
        "ids": Field(USER_IDS, required=True),
        "firstName": Field(Text("First name."), note="required to create"),
        "lastName": Field(Text("Last name."), note="required to create"),
        "email": Field(
            Email("E-mail address (stored trimmed, lower case)."), note="required to create"
        ),
        "timeZone": Field(TIME_ZONE, note="or from defaults.user"),
        "currencyCode": Field(CURRENCY_CODE, note="or from defaults.user"),
    },
)

ENROLLMENT = Obj(
    "A user's enrollment in a course.",
    {
        "user": Field(ref_spec("user"), required=True),
        "course": Field(ref_spec("course"), required=True),
        "role": Field(Enum("learner (default) or instructor.", ROLES)),
    },
)

SESSION_TYPE = Enum("How the session is proctored.", SESSION_TYPES)
PROCTOR_LOCATION = sid_spec(
    "Proctor location SID (PL…; the API's schedule schema accepts no other prefix).", "PL"
)
AMOUNT = Number("Price charged for the session (>= 0).")
CURRENCY = Currency("ISO 4217 currency of amount.")

SESSION = Obj(
    "A scheduled exam session of a user.",
    {
        "exam": Field(ref_spec("exam"), required=True),
        "user": Field(ref_spec("user"), required=True),
        "appointment": Field(DateTime("Appointment start (UTC)."), required=True),
        "type": Field(SESSION_TYPE, note="required, or from defaults.session"),
        "proctorLocation": Field(PROCTOR_LOCATION, note="required, or from defaults.session"),
        "amount": Field(AMOUNT, note="or from defaults.session"),
        "currency": Field(CURRENCY, note="or from defaults.session"),
        "externalAppointmentId": Field(Text("Your system's id of the appointment.")),
        "notes": Field(Text("Notes for the session.", min_len=0)),
        "proctorTypeSubCategory": Field(
            sid_spec("A proctor type (TS SID) among the exam's proctorTypes.", "TS")
        ),
    },
)

TENANT_KEYS_HINT = "tenant settings belong in tenant.yaml"

RESOURCES = Obj(
    "A resource file: any of courses, exams, users, enrollments, assignments, sessions.",
    {
        "courses": Field(MapOf("Courses by local name.", name_spec("Course name."), COURSE)),
        "exams": Field(MapOf("Exams by local name.", name_spec("Exam name."), EXAM)),
        "users": Field(MapOf("Users by local name.", name_spec("User name."), USER)),
        "enrollments": Field(ListOf("Explicit enrollments.", ENROLLMENT)),
        "assignments": Field(
            MapOf(
                "Exam name -> users assigned to it (implies learner enrollments).",
                ref_spec("exam"),
                ListOf("Users assigned to the exam.", ref_spec("user")),
            )
        ),
        "sessions": Field(ListOf("Scheduled exam sessions (imply assignments).", SESSION)),
    },
    unknown_hint={
        k: TENANT_KEYS_HINT for k in ("tenant", "install", "api", "signon", "defaults", "policy")
    },
)

# The sections of a resource file that are read entry by entry (to locate each one).
SECTIONS = ("courses", "exams", "users", "enrollments", "assignments", "sessions")

DEFAULTS = Obj(
    "Values applied to resources that do not set them.",
    {
        "user": Field(
            Obj(
                "Defaults for users.",
                {"timeZone": Field(TIME_ZONE), "currencyCode": Field(CURRENCY_CODE)},
            )
        ),
        "exam": Field(
            Obj(
                "Defaults for exams.",
                {"type": Field(EXAM_TYPE), "limitedScope": Field(LIMITED_SCOPE)},
            )
        ),
        "session": Field(
            Obj(
                "Defaults for sessions.",
                {
                    "type": Field(SESSION_TYPE),
                    "proctorLocation": Field(PROCTOR_LOCATION),
                    "amount": Field(AMOUNT),
                    "currency": Field(CURRENCY),
                },
            )
        ),
    },
)

TENANT = Obj(
    "tenant.yaml: connection, defaults and policy of one tenant.",
    {
        "tenant": Field(
            Text(
                "Tenant name; names the state file. Unique across a directory of tenants.",
                pattern=TENANT_PATTERN,
                max_len=100,
                wanted="a tenant name (lowercase letters, digits and '-', "
                "starting with a letter or digit)",
            ),
            required=True,
        ),
        "install": Field(sid_spec("Install SID (installSid).", "AI"), required=True),
        "api": Field(
            Obj(
                "API connection.",
                {
                    "url": Field(Url(f"API base URL (default {DEFAULT_API_URL}).", api=True)),
                    "token": Field(
                        SecretSpec("API token, as a secret reference.", token=True),
                        note="required unless --sandbox",
                    ),
                    "dialect": Field(
                        Obj(
                            "Which documented form of the API the install speaks "
                            "(docs/api-dialects.md; `spsync doctor` tells).",
                            {
                                "assignments": Field(
                                    Enum(
                                        "Assignment endpoint: auto (default: found on the "
                                        "first call), guide, exam or newest.",
                                        ("auto", "guide", "exam", "newest"),
                                    )
                                )
                            },
                        )
                    ),
                },
            )
        ),
        "signon": Field(
            Obj(
                "Single sign-on.",
                {"integrationSid": Field(sid_spec("Integration SID.", "II"), required=True)},
            )
        ),
        "defaults": Field(DEFAULTS),
        "policy": Field(
            Obj(
                "Safety limits of plan/apply.",
                {
                    "maxDestroy": Field(
                        Int("Destructive changes allowed in one run (default 10).", minimum=0)
                    ),
                    "maxDestroyPercent": Field(
                        Number(
                            "... as a percentage of managed resources (default 20).",
                            minimum=0,
                            maximum=100,
                        )
                    ),
                },
            )
        ),
    },
)


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``tenant`` files, ``resources`` files, or either."""
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    defs = {"SecretRef": SECRET_REF_SCHEMA}
    if kind == "tenant":
        return {**head, "title": "spsync tenant.yaml", **TENANT.json(), "$defs": defs}
    if kind == "resources":
        return {**head, "title": "spsync resource file", **RESOURCES.json(), "$defs": defs}
    if kind is not None:
        raise ValueError(f"unknown schema kind {kind!r}")
    return {
        **head,
        "title": "spsync manifest file (tenant.yaml or a resource file)",
        "anyOf": [{"$ref": "#/$defs/Tenant"}, {"$ref": "#/$defs/Resources"}],
        "$defs": {**defs, "Tenant": TENANT.json(), "Resources": RESOURCES.json()},
    }
