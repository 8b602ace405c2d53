"""YAML to located nodes, safely.

PyYAML's ``compose``/``load`` are unfit for manifests: the last of two duplicate keys
silently wins, composition resolves every scalar through Python regexes (slow on big
rosters), the C composer recurses without a depth limit, and aliases can expand without
bound. So this module consumes the parser's *event* stream (libyaml's when available) and
builds its own small node tree, iteratively, with:

- a 1-based line and column on every node;
- duplicate keys reported (the first occurrence is kept);
- only the standard YAML tags (``!!str``, ``!!int``, ...); any other tag is an error, so no
  object is ever constructed from a tag;
- a nesting depth limit and a bound on the nodes that aliases may add (a "billion laughs"
  document fails at the offending alias, in microseconds);
- ``<<`` merge keys;
- every failure as a located :class:`YamlProblem` instead of an exception.

Scalars keep the text as written: what a scalar *means* (text, number, date) is decided by
the schema that reads it (``spsync.schema``), so ``code: 0123`` stays ``"0123"`` and a user
named ``No`` stays ``"No"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from spsync.collector import bulk
from spsync.sharing import share

#: libyaml's parser when PyYAML was built with it; the pure-Python one otherwise
Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 64
"""Deepest nesting accepted. Manifests need about 8 levels."""

MAX_ALIAS_NODES = 1_000_000
"""Nodes that aliases may add to a document, counted with repetition."""

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest manifest file read (a 20,000-user roster is about 8 MB)."""

_STD = "tag:yaml.org,2002:"
#: explicit tags accepted on scalars, by their short name
SCALAR_TAGS = {f"{_STD}{t}": t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP = f"{_STD}map"
_SEQ = f"{_STD}seq"
_TOO_MANY_ALIASES = (
    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
    "(refusing a possible 'billion laughs' document)"
)

# YAML 1.1 implicit scalars, as PyYAML resolves them (used to describe what was written
# and to read schema-less values such as proctoring option settings).
NULL_WORDS = frozenset(("", "~", "null", "Null", "NULL"))
TRUE_WORDS = frozenset(("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"))
FALSE_WORDS = frozenset(("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"))
INT_RE = re.compile(r"^[-+]?[0-9]+$")
FLOAT_RE = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"
)

# Characters YAML forbids in a stream (control characters other than tab, LF, CR, NEL).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


class Node:
    """A located YAML node (1-based line and column)."""

    __slots__ = ("col", "line")

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col


class Scalar(Node):
    """A scalar as written. ``tag`` is a short standard tag name when one was given."""

    __slots__ = ("plain", "tag", "value")

    def __init__(self, line: int, col: int, value: str, plain: bool, tag: str | None) -> None:
        self.line = line
        self.col = col
        self.value = value
        #: written without quotes or block style (so ``true``/``12``/``~`` may mean more than text)
        self.plain = plain
        self.tag = tag

    @property
    def is_null(self) -> bool:
        if self.tag is not None:
            return self.tag == "null"
        return self.plain and self.value in NULL_WORDS

    def implicit(self) -> str:
        """What YAML would make of it: ``str``, ``null``, ``bool``, ``int`` or ``float``."""
        if self.tag is not None:
            return self.tag
        if not self.plain:
            return "str"
        v = self.value
        if v in NULL_WORDS:
            return "null"
        if v in TRUE_WORDS or v in FALSE_WORDS:
            return "bool"
        if INT_RE.match(v.replace("_", "")):
            return "int"
        if FLOAT_RE.match(v):
            return "float"
        return "str"


class Map(Node):
    """A mapping: key text -> (key node, value node), in document order."""

    __slots__ = ("items",)

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col
        self.items: dict[str, tuple[Scalar, Node]] = {}


class Seq(Node):
    """A sequence of nodes."""

    __slots__ = ("items",)

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col
        self.items: list[Node] = []


@dataclass(frozen=True)
class YamlProblem:
    """A located problem found while reading a file (1-based; ``where`` is a dotted path)."""

    line: int
    col: int
    where: str
    message: str


class _Stop(Exception):
    """Ends composition at the first problem the document cannot be read past."""

    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem


def describe(node: Node) -> str:
    """How a node is shown in a type error: ``"two hours"``, ``12``, ``true``, ``a list``."""
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    assert isinstance(node, Scalar)
    kind = node.implicit()
    if kind == "null":
        return "nothing (null)"
    if kind in ("bool", "int", "float") and node.tag is None:
        return node.value
    text = node.value if len(node.value) <= 60 else node.value[:57] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def plain_value(node: Node) -> Any:
    """A schema-less node as plain Python data (YAML 1.1 meaning of scalars)."""
    if isinstance(node, Map):
        return {k: plain_value(v) for k, (_kn, v) in node.items.items()}
    if isinstance(node, Seq):
        return [plain_value(v) for v in node.items]
    assert isinstance(node, Scalar)
    kind = node.implicit()
    v = node.value
    try:
        if kind == "null":
            return None
        if kind == "bool":
            return v in TRUE_WORDS if node.tag is None else v.lower() in ("true", "yes", "on")
        if kind == "int":
            return int(v.replace("_", ""))
        if kind == "float":
            return float(v.replace("_", ""))
    except ValueError:
        pass
    return v


def decode(data: bytes) -> tuple[str | None, YamlProblem | None]:
    """UTF-8 bytes (an optional BOM is dropped) to text, or a located problem."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _position(data, e.start)
        return None, YamlProblem(line, col, "", f"not valid UTF-8 (byte 0x{data[e.start]:02x})")
    m = _NON_PRINTABLE.search(text)
    if m is not None:
        before = text[: m.start()]
        line = before.count("\n") + 1
        col = m.start() - (before.rfind("\n") + 1) + 1
        return None, YamlProblem(
            line, col, "", f"control character U+{ord(m.group()):04X} is not allowed in YAML"
        )
    return text, None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    head = data[:offset]
    line = head.count(b"\n") + 1
    start = head.rfind(b"\n") + 1
    # column in characters: count the UTF-8 lead bytes of the part of the line before
    col = sum(1 for b in head[start:] if b & 0xC0 != 0x80) + 1
    return line, col


def parse(text: str) -> tuple[Node | None, list[YamlProblem]]:
    """Compose one YAML document from ``text``.

    Returns the root node (None for an empty document or when reading stopped early) and
    every problem found, in document order.
    """
    composer = _Composer()
    loader = Loader(text)
    try:
        with bulk():  # hundreds of thousands of nodes, no cycles
            root = composer.run(loader)
    except _Stop as stop:
        composer.problems.append(stop.problem)
        root = None
    except yaml.MarkedYAMLError as e:
        composer.problems.append(_syntax_problem(e, text))
        root = None
    except yaml.YAMLError as e:  # ReaderError: position only (we pre-check, so rare)
        pos = getattr(e, "position", 0) or 0
        line, col = _position(text.encode("utf-8"), pos)
        composer.problems.append(YamlProblem(line, col, "", f"YAML error: {e}"))
        root = None
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose is not None:
            dispose()
    return root, composer.problems


def _syntax_problem(e: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (e.problem or "invalid YAML").strip()
    if "cannot start any token" in problem:
        char = _char_at(text, line, col)
        if char == "\t":
            return YamlProblem(
                line, col, "", "YAML syntax error: tab character (indent with spaces)"
            )
        if char:
            return YamlProblem(
                line,
                col,
                "",
                f"YAML syntax error: {char!r} cannot start a value (put the value in quotes)",
            )
    context = f" ({e.context})" if e.context else ""
    return YamlProblem(line, col, "", f"YAML syntax error: {problem}{context}")


def _char_at(text: str, line: int, col: int) -> str:
    """The character at a 1-based position (libyaml's errors do not name it)."""
    lines = text.split("\n", line)
    if line <= len(lines) and col <= len(lines[line - 1]):
        return lines[line - 1][col - 1]
    return ""


class _Composer:
    def __init__(self) -> None:
        self.problems: list[YamlProblem] = []
        #: anchor -> (node, its size with aliases expanded)
        self.anchors: dict[str, tuple[Node, int]] = {}
        self.alias_nodes = 0

    def run(self, loader: Any) -> Node | None:
        # One flat loop with parallel stacks: this is the hot path for big rosters.
        get = loader.get_event
        root: Node | None = None
        documents = 0
        nodes: list[Map | Seq] = []  # open collections
        keys: list[Scalar | None] = []  # each open mapping's pending key
        starts: list[int] = []  # `count` when each open collection started
        anchors_open: list[str | None] = []
        merges: dict[int, list[tuple[Scalar, Node]]] = {}
        count = 0  # nodes so far, aliases counted as expanded
        anchors = self.anchors
        ScalarEvent = yaml.ScalarEvent
        MappingStartEvent = yaml.MappingStartEvent
        SequenceStartEvent = yaml.SequenceStartEvent
        MappingEndEvent = yaml.MappingEndEvent
        SequenceEndEvent = yaml.SequenceEndEvent
        AliasEvent = yaml.AliasEvent
        Map_ = Map
        Seq_ = Seq
        Scalar_ = Scalar
        # Memory of a large roster (20,000 students: 400,000 scalars): one string object per
        # distinct text (keys and values repeat: "firstName", an exam's name, a location)
        # and one int per line number (a flow mapping puts ten scalars on one line). The
        # texts are the shared ones of the whole run (``spsync.sharing``): the state and
        # the live objects hold the same names, SIDs and times.
        text_of = share
        seen_line = -1
        line = 0
        while True:
            ev = get()
            cls = type(ev)
            node: Node
            if cls is ScalarEvent:
                count += 1
                mark = ev.start_mark
                tag = ev.tag
                short: str | None = None
                if tag is not None:
                    if tag == "!":  # the non-specific tag: plain text
                        short = "str"
                    else:
                        short = SCALAR_TAGS.get(tag)
                        if short is None:
                            self._stop(mark, _bad_tag(tag))
                style = ev.style
                if mark.line != seen_line:
                    seen_line = mark.line
                    line = seen_line + 1
                value = ev.value
                node = Scalar_(
                    line,
                    mark.column + 1,
                    text_of(value),
                    (style is None or style == "") and tag is None,
                    short,
                )
                if ev.anchor is not None:
                    anchors[ev.anchor] = (node, 1)
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                count += 1
                mark = ev.start_mark
                tag = ev.tag
                is_map = cls is MappingStartEvent
                if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
                    self._stop(mark, _bad_tag(tag))
                if len(nodes) >= MAX_DEPTH:
                    self._stop(mark, f"nesting deeper than {MAX_DEPTH} levels")
                nodes.append((Map_ if is_map else Seq_)(mark.line + 1, mark.column + 1))
                keys.append(None)
                starts.append(count)
                anchors_open.append(ev.anchor)
                continue
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                node = nodes.pop()
                keys.pop()
                start = starts.pop()
                anchor = anchors_open.pop()
                if merges:
                    pending = merges.pop(id(node), None)
                    if pending is not None:
                        count += self._merge(node, pending)  # type: ignore[arg-type]
                if anchor is not None:
                    anchors[anchor] = (node, count - start + 1)
            elif cls is AliasEvent:
                mark = ev.start_mark
                target = anchors.get(ev.anchor)
                if target is None:
                    self._stop(mark, f"unknown alias *{ev.anchor}")
                node, size = target
                count += size
                self.alias_nodes += size
                if self.alias_nodes > MAX_ALIAS_NODES:
                    self._stop(mark, _TOO_MANY_ALIASES)
            elif cls is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    self._stop(ev.start_mark, "more than one YAML document in the file")
                continue
            elif cls is yaml.StreamEndEvent:
                return root
            else:  # StreamStart, DocumentEnd
                continue

            # attach the finished node to its parent
            if not nodes:
                root = node
                continue
            parent = nodes[-1]
            if isinstance(parent, Seq_):
                parent.items.append(node)
                continue
            key = keys[-1]
            if key is None:
                if not isinstance(node, Scalar_):
                    self._stop_at(node, "a mapping key must be a scalar, not a collection")
                keys[-1] = node
                continue
            keys[-1] = None
            text = key.value
            items = parent.items
            if text in items:
                k0 = items[text][0]
                self.problems.append(
                    YamlProblem(
                        key.line,
                        key.col,
                        _path(nodes, keys, text),
                        f'duplicate key "{text}" (first at line {k0.line}, col {k0.col})',
                    )
                )
            elif text == "<<" and key.plain:
                merges.setdefault(id(parent), []).append((key, node))
            else:
                items[text] = (key, node)

    def _merge(self, node: Map, merges: list[tuple[Scalar, Node]]) -> int:
        """Apply ``<<`` merge keys: explicit keys win, then earlier merged mappings.

        Returns how many nodes the merge added (they count against the alias bound)."""
        sources: list[Map] = []
        for key, value in merges:
            for item in value.items if isinstance(value, Seq) else [value]:
                if not isinstance(item, Map):
                    self._stop_at(key, "a merge key (<<) takes a mapping or a list of mappings")
                sources.append(item)
        added = 0
        for src in sources:
            for text, pair in src.items.items():
                if text not in node.items:
                    node.items[text] = pair
                    added += 2
        self.alias_nodes += added
        if self.alias_nodes > MAX_ALIAS_NODES:
            self._stop_at(merges[0][0], _TOO_MANY_ALIASES)
        return added

    def _stop(self, mark: Any, message: str) -> NoReturn:
        raise _Stop(YamlProblem(mark.line + 1, mark.column + 1, "", message))

    def _stop_at(self, node: Node, message: str) -> NoReturn:
        raise _Stop(YamlProblem(node.line, node.col, "", message))


def _path(nodes: list[Map | Seq], keys: list[Scalar | None], last: str) -> str:
    """The dotted path of a key being added (for duplicate-key messages)."""
    parts: list[str] = []
    for node, key in zip(nodes[:-1], keys[:-1], strict=True):
        if isinstance(node, Seq):
            parts.append(f"[{len(node.items)}]")
        elif key is not None:
            parts.append("." + key.value)
    parts.append("." + last)
    return "".join(parts).lstrip(".")


def _bad_tag(tag: str) -> str:
    shown = "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag
    return f"unsupported tag {shown} (only the standard YAML tags are read)"
