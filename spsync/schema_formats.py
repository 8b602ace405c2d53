"""The formats of the manifest schema with a meaning of their own.

Local names and SIDs, e-mail addresses, IANA time zones, date-times (normalised to UTC),
API URLs (and the hosts a token may be sent to), currency codes, the ``ids`` of a
resource, and secret references, which are resolved at load time. Each is a
``spsync.schema_spec.Spec``.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from spsync.model import DEFAULT_API_URL, NAME_PATTERN
from spsync.schema_spec import INVALID, Ctx, Spec, Text
from spsync.secrets import (
    ENV_NAME_PATTERN,
    SecretRef,
    SecretRefError,
    UnreadSecret,
    env_refusal,
    resolve,
)
from spsync.suggest import Vocab
from spsync.yamlload import Map, Node, Scalar, describe

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
            source: Literal["env", "file"] = "env" if key == "env" else "file"
            refs.append(SecretRef(source, vnode.value.strip()))
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
