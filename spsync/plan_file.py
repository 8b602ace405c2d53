"""Plan files (``spsync plan --out FILE``, ``spsync apply FILE``), a piece at a time.

The file is ``plan.dump_plan``'s text: the plan's JSON with sorted keys, one space of
indent per level. A plan of 100,000 students holds 400,000 changes and its file is ~180 MB;
making that text whole (and the dump it is made from) or parsing it whole (a tree of
dicts, then the models) took more memory than the rest of the apply. Here:

- ``plan_file_chunks`` gives the very text of ``dump_plan`` in pieces, encoding a thousand
  changes at a time;
- ``read_saved_plan`` reads a plan file for ``apply``: the plan without its changes and
  fingerprints, and for each change a *mark* (``plan.change_mark``: its action and
  digests of what it does) and for each fingerprint a digest, in ``AddressTable``s: all the
  staleness check needs, ~45 bytes an address. A file in the order spsync writes is read
  change by change (each checked as strictly as ``load_plan`` checks the whole file); any
  other file, a damaged or edited one included, goes through ``load_plan``, whose errors
  are the ones the user sees.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any, TypeVar

from pydantic import TypeAdapter

from spsync.address_table import AddressTable
from spsync.json_pieces import IndentedJson
from spsync.plan import (
    CHANGE_ADAPTER,
    FINGERPRINT_MARK_SIZE,
    MARK_SIZE,
    Change,
    Plan,
    TenantPlan,
    canonical_json,
    change_mark,
    change_marks,
    fingerprint_marks,
    load_plan,
)
from spsync.strictjson import strict_decoder

# --- writing ---------------------------------------------------------------------------------

#: the plan file's layout (``json.dumps(..., sort_keys=True, indent=1)``), in pieces
_FILE = IndentedJson(json.JSONEncoder(sort_keys=True, indent=1))


def plan_file_chunks(plan: Plan) -> Iterator[str]:
    """``dump_plan(plan)`` in pieces (their join is that text): every change's JSON is made
    once, a thousand at a time, and never all together."""
    head = plan.model_dump(mode="json", exclude={"tenants"})
    tenants = (partial(_tenant_pieces, tp) for tp in plan.tenants)
    yield from _FILE.with_hole(head, "tenants", 0, lambda depth: _FILE.array(tenants, depth))
    yield "\n"


def _tenant_pieces(tp: TenantPlan, depth: int) -> Iterator[str]:
    rest = tp.model_dump(mode="json", exclude={"changes"})
    changes = (c.model_dump(mode="json") for c in tp.changes)
    yield from _FILE.with_hole(rest, "changes", depth, partial(_FILE.plain_array, changes))


def write_plan_to(fh: IO[str], plan: Plan) -> None:
    """Write the plan file's text to ``fh`` (for ``store.write_atomic``)."""
    for piece in plan_file_chunks(plan):
        fh.write(piece)


# --- reading for apply -------------------------------------------------------------------------


@dataclass
class SavedPlan:
    """A plan file as apply needs it: the plan without its changes and fingerprints (every
    tenant's are empty), and per tenant its changes' and fingerprints' marks
    (``plan.change_marks``, ``plan.fingerprint_marks``), for ``plan.staleness``."""

    plan: Plan
    marks: dict[str, AddressTable]
    fingerprints: dict[str, AddressTable]

    def release_witnesses(self) -> None:
        """Let go of what only the staleness check reads, once it has passed (otherwise
        kept to the end of the apply by whoever holds the saved plan)."""
        self.marks.clear()
        self.fingerprints.clear()


def read_saved_plan(text: str, where: str = "plan file") -> SavedPlan:
    """The saved plan of a plan file's ``text``; ``PlanError`` as ``load_plan`` raises it
    when the file is corrupt, edited or of an unknown format."""
    try:
        return _Reader(text).plan()
    except _NOT_AS_WRITTEN:
        pass
    # not in the order spsync writes, or not valid: the whole-file reader says why
    plan = load_plan(text, where)
    marks = {tp.tenant: change_marks(tp.changes) for tp in plan.tenants}
    prints = {tp.tenant: fingerprint_marks(tp.fingerprints) for tp in plan.tenants}
    tenants = tuple(_bare(tp) for tp in plan.tenants)
    return SavedPlan(plan.model_copy(update={"tenants": tenants}), marks, prints)


def _bare(tp: TenantPlan) -> TenantPlan:
    """A tenant plan without what its marks stand for."""
    return tp.model_copy(update={"changes": (), "fingerprints": {}})


# --- reading for show ------------------------------------------------------------------------


def read_plan_to_show(
    text: str, where: str = "plan file"
) -> tuple[Plan, Callable[[TenantPlan], Iterator[Change]]]:
    """A plan file's plan, checked as ``load_plan`` checks it, for ``spsync show``: the plan
    without its changes, and what gives one of its tenants' changes a thousand at a time (read
    again from ``text``; asked with the plan's own tenant objects, which may share a name
    in a hand-made file). A file that is not in the order spsync writes is read whole
    (``load_plan``); its tenants then give their own changes."""
    reader = _Reader(text, marks=False)
    try:
        saved = reader.plan()
    except _NOT_AS_WRITTEN:
        plan = load_plan(text, where)
        return plan, _own_changes
    # the tenants are the reader's own objects, each met once: known by identity
    spans = {id(tp): s for tp, s in zip(saved.plan.tenants, reader.spans, strict=True)}

    def changes_of(tp: TenantPlan) -> Iterator[Change]:
        # every change was checked above: a thousand are validated at once from their text
        for start, end in spans[id(tp)]:
            yield from _CHANGES.validate_json("[" + text[start:end] + "]", strict=True)

    return saved.plan, changes_of


def _own_changes(tp: TenantPlan) -> Iterator[Change]:
    return iter(tp.changes)


_V = TypeVar("_V")


class _Unexpected(Exception):
    """The text is not a plan file in the order spsync writes it."""


#: what the piecewise reader raises on a text it cannot read (its own, pydantic's and
#: json's): the whole-file reader then reads it, or says what is wrong with it
_NOT_AS_WRITTEN = (_Unexpected, ValueError, IndexError, RecursionError)


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = strict_decoder()
_PLAN_KEYS = sorted(Plan.model_fields)
_TENANT_KEYS = sorted(TenantPlan.model_fields)
#: what the checksum covers of the plan, in order (all but the checksum)
_HEAD_KEYS = [k for k in _PLAN_KEYS if k not in ("checksum", "tenants")]
_CHANGES: TypeAdapter[list[Change]] = TypeAdapter(list[Change])
#: changes read again at once by ``read_plan_to_show``
_BATCH = 1000
_FIELD: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(Any if field.annotation is None else field.annotation)
    for name, field in TenantPlan.model_fields.items()
}


class _Reader:
    """Reads a plan file whose keys are all there, in sorted order (as ``dump_plan``
    writes them), and hashes its canonical JSON as ``compute_checksum`` does as it goes."""

    def __init__(self, text: str, *, marks: bool = True) -> None:
        self.text = text
        self.at = 0
        self.digest = hashlib.sha256()
        #: whether each change's and fingerprint's mark is made (``False``: only read and
        #: hashed, for ``show``)
        self.marking = marks
        #: per tenant (in order), where each run of ``_BATCH`` changes starts and ends
        self.spans: list[list[tuple[int, int]]] = []

    def plan(self) -> SavedPlan:
        head: dict[str, Any] = {}
        keys = self._members()
        for key in _PLAN_KEYS[:-1]:
            self._key(keys, key)
            head[key] = self._value()
        if head.get("format_version") != "1":
            raise _Unexpected  # load_plan says what is wrong with it
        self._key(keys, "tenants")
        shell = Plan.model_validate_json(json.dumps({**head, "tenants": []}), strict=True)
        canonical_head = shell.model_dump(mode="json", exclude={"checksum"})
        self._hash("{")
        for key in _HEAD_KEYS:
            self._hash(canonical_json(key) + ":" + canonical_json(canonical_head[key]) + ",")
        self._hash('"tenants":[')
        tenants: list[TenantPlan] = []
        marks: dict[str, AddressTable] = {}
        prints: dict[str, AddressTable] = {}
        for i in self._elements():
            if i:
                self._hash(",")
            tp, changes, fingerprints = self._tenant()
            tenants.append(tp)
            marks[tp.tenant], prints[tp.tenant] = changes, fingerprints
        self._hash("]}")
        self._end(keys)
        self._end_of_text()
        if "sha256:" + self.digest.hexdigest() != shell.checksum:
            raise _Unexpected  # load_plan names the mismatch
        return SavedPlan(shell.model_copy(update={"tenants": tuple(tenants)}), marks, prints)

    def _tenant(self) -> tuple[TenantPlan, AddressTable, AddressTable]:
        fields: dict[str, Any] = {}
        marks: list[tuple[str, bytes]] = []
        keys = self._members()
        self._hash("{")
        for n, key in enumerate(_TENANT_KEYS):
            self._key(keys, key)
            self._hash(("," if n else "") + canonical_json(key) + ":")
            if key == "changes":
                self._changes(marks)
                fields[key] = ()
                continue
            fields[key] = self._validated(_FIELD[key])
            self._hash(canonical_json(_FIELD[key].dump_python(fields[key], mode="json")))
        self._hash("}")
        self._end(keys)
        prints = (
            fingerprint_marks(fields["fingerprints"])
            if self.marking
            else AddressTable((), FINGERPRINT_MARK_SIZE)
        )
        fields["fingerprints"] = {}
        # every field validated as the model validates it: the plan of them, as it is
        return TenantPlan.model_construct(**fields), AddressTable(marks, MARK_SIZE), prints

    def _changes(self, marks: list[tuple[str, bytes]]) -> None:
        spans: list[tuple[int, int]] = []
        self.spans.append(spans)
        self._hash("[")
        for i in self._elements():
            start = self._skip()
            change = self._validated(CHANGE_ADAPTER)
            if i % _BATCH:
                spans[-1] = (spans[-1][0], self.at)
            else:
                spans.append((start, self.at))
            dump = change.model_dump(mode="json")
            self._hash(("," if i else "") + canonical_json(dump))
            if self.marking:
                marks.append((change.address, change_mark(change, dump)))
        self._hash("]")

    # -- the JSON around the values

    def _skip(self) -> int:
        match = _WHITESPACE.match(self.text, self.at)
        assert match is not None  # matches the empty string
        self.at = match.end()
        return self.at

    def _take(self, char: str) -> bool:
        if self.text[self._skip()] == char:
            self.at += 1
            return True
        return False

    def _value(self) -> Any:
        value, self.at = _DECODER.raw_decode(self.text, self._skip())
        return value

    def _validated(self, adapter: TypeAdapter[_V]) -> _V:
        """The value that starts here, parsed strictly (a key twice, NaN), then validated
        from its own text as the whole file would be."""
        start = self._skip()
        self._value()
        return adapter.validate_json(self.text[start : self.at], strict=True)

    def _members(self) -> Iterator[str]:
        """The keys of the object that starts here, each followed by its ``:``; the caller
        reads each value before asking for the next key."""
        if not self._take("{"):
            raise _Unexpected
        if self._take("}"):
            return
        while True:
            key = self._value()
            if not isinstance(key, str) or not self._take(":"):
                raise _Unexpected
            yield key
            if self._take("}"):
                return
            if not self._take(","):
                raise _Unexpected

    def _key(self, keys: Iterator[str], wanted: str) -> None:
        if next(keys, None) != wanted:
            raise _Unexpected

    def _end(self, keys: Iterator[str]) -> None:
        if next(keys, None) is not None:
            raise _Unexpected

    def _elements(self) -> Iterator[int]:
        """0, 1, … before each element of the array that starts here (read by the caller)."""
        if not self._take("["):
            raise _Unexpected
        if self._take("]"):
            return
        i = 0
        while True:
            yield i
            i += 1
            if self._take("]"):
                return
            if not self._take(","):
                raise _Unexpected

    def _end_of_text(self) -> None:
        if self._skip() != len(self.text):
            raise _Unexpected

    def _hash(self, part: str) -> None:
        self.digest.update(part.encode())
