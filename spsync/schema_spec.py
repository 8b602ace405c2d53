"""The building blocks of the manifest schema: a reading context and the generic specs.

A ``Spec`` reads one located YAML node (``spsync.yamlload``) into a plain, normalised value,
reporting every problem through ``Ctx`` with its file, line, column and dotted path, and
describes itself as JSON Schema. Here are the generic ones (text, enumerations, numbers,
booleans, objects, maps, lists); ``spsync.schema_formats`` adds the formats with a meaning
of their own (e-mail, time zone, date-time, URL, SIDs, secrets), and ``spsync.schema``
composes both into the shapes of the two file kinds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spsync import secret_file
from spsync.errors import Problem
from spsync.suggest import Suggester, Vocab
from spsync.yamlload import INT_RE, Map, Node, Scalar, Seq, describe, plain_value

INVALID: Any = object()
"""Returned by ``check`` for a value that is wrong (the problem is already reported)."""


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
        """A secret file's text; relative paths are from the tenant directory (the rules
        on where it may be: ``spsync.secret_file.read``)."""
        return secret_file.read(name, base_dir=self.base_dir, root=self.root)


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
