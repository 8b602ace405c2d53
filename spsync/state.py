"""The state of one tenant, as values: which remote objects spsync manages, and their SIDs.

``state/<tenant>.json`` (product-spec §5)::

    {"version": 1, "lineage": uuid, "serial": n, "tenant", "install", "api_url",
     "resources": {ADDRESS: {"sid": ..., ...}}}

Sorted keys, pretty-printed. Never a secret: secret fields are kept as keyed fingerprints.

Pure: the models, and the text of a state file both ways (``dump_state``/``write_state``,
``parse_state``). Where the files live, their locks and atomic saves are ``spsync.store``'s.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import core_schema, from_json

from spsync.errors import StateError
from spsync.model import ADDRESS_PATTERN, MAX_ADDRESS, Tenant
from spsync.sanitize import clean
from spsync.sharing import share, share_values
from spsync.strictjson import duplicate_key, strict_loads

STATE_VERSION = 1


class ResourceState:
    """What spsync knows of one managed address.

    ``sid``: the object's own SID (``None`` for an assignment, which has none).
    ``refs``: SIDs it hangs off, e.g. ``{"course": "CU…", "exam": "EX…", "enrollment": "EN…",
    "user": "US…", "configuration": "EC…"}``.
    ``applied``: the managed fields as last applied (the planner's drift baseline), in the
    same normal form as the manifests; secrets as keyed fingerprints.

    A slotted record rather than a pydantic model: a state holds one per address, 400,000
    at 100,000 students, and a model instance with its ``__dict__`` costs ~260 bytes more
    than these three slots. It behaves as the model did where spsync uses it: built with
    keywords (``refs`` and ``applied`` copied, as validation copied them), compared by value,
    ``model_copy(update=...)``, ``model_dump``/``model_dump_json``, and as a field of pydantic
    models (``State.resources``, the journal's entries), validated from JSON with the same
    strictness and the same errors as the model (``__get_pydantic_core_schema__``).
    """

    __slots__ = ("applied", "refs", "sid")

    sid: str | None
    refs: dict[str, str]
    applied: dict[str, Any]

    def __init__(
        self,
        *,
        sid: str | None = None,
        refs: Mapping[str, str] | None = None,
        applied: Mapping[str, Any] | None = None,
    ) -> None:
        if sid is not None and not isinstance(sid, str):
            raise TypeError(f"ResourceState.sid: a str or None, not {type(sid).__name__}")
        self.sid = sid
        self.refs = {} if refs is None else dict(refs)
        self.applied = {} if applied is None else dict(applied)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.refs.items()):
            raise TypeError("ResourceState.refs: names and SIDs must be str")

    def __eq__(self, other: object) -> bool:
        if type(other) is not ResourceState:
            return NotImplemented
        return self.sid == other.sid and self.refs == other.refs and self.applied == other.applied

    __hash__ = None  # type: ignore[assignment]  # mutable, like the model it replaces

    def __repr__(self) -> str:
        return f"ResourceState(sid={self.sid!r}, refs={self.refs!r}, applied={self.applied!r})"

    @classmethod
    def holding(
        cls, sid: str | None, refs: dict[str, str], applied: dict[str, Any]
    ) -> ResourceState:
        """An entry holding these very maps, not copies (the constructor copies them): apply
        records the plan's own map of what a change sent, which the plan keeps to the end,
        rather than an equal copy of it. The caller gives the maps away."""
        entry: ResourceState = _new_entry(cls)
        entry.sid, entry.refs, entry.applied = sid, refs, applied
        return entry

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> ResourceState:
        """A shallow copy with the fields of ``update`` replaced (not validated)."""
        copy = _new_entry(ResourceState)
        copy.sid, copy.refs, copy.applied = self.sid, self.refs, self.applied
        for name, value in (update or {}).items():
            setattr(copy, name, value)
        return copy

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """``{"sid", "refs", "applied"}``, as pydantic dumps a model (``mode="json"``: values
        JSON can hold, e.g. a float that is not a number as ``None``)."""
        dumped: dict[str, Any] = _ENTRY.dump_python(self, mode=mode)
        return dumped

    def model_dump_json(self) -> str:
        """The entry as compact JSON, as pydantic writes a model."""
        return _ENTRY.dump_json(self).decode()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validated as the pydantic model was (the same fields, defaults, strictness and
        error messages: ``model_fields_schema`` is what a model's own schema wraps); an
        instance is taken as it is; dumped as its three fields."""

        def field(schema: core_schema.CoreSchema, **default: Any) -> core_schema.ModelField:
            return core_schema.model_field(core_schema.with_default_schema(schema, **default))

        fields = core_schema.model_fields_schema(
            {
                "sid": field(core_schema.nullable_schema(core_schema.str_schema()), default=None),
                "refs": field(
                    core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema()),
                    default_factory=dict,
                ),
                "applied": field(
                    core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema()),
                    default_factory=dict,
                ),
            },
            extra_behavior="forbid",
            model_name=cls.__name__,
        )
        built = core_schema.no_info_after_validator_function(_from_fields, fields)
        return core_schema.json_or_python_schema(
            json_schema=built,
            python_schema=core_schema.no_info_wrap_validator_function(_as_given, built),
            serialization=core_schema.plain_serializer_function_ser_schema(_fields_of),
        )


_new_entry = object.__new__


def _from_fields(validated: tuple[dict[str, Any], Any, Any]) -> ResourceState:
    """The entry of what ``model_fields_schema`` validated (fields, extras, fields set)."""
    fields = validated[0]
    entry: ResourceState = _new_entry(ResourceState)
    entry.sid, entry.refs, entry.applied = fields["sid"], fields["refs"], fields["applied"]
    return entry


def _as_given(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
    return value if type(value) is ResourceState else handler(value)


def _fields_of(entry: ResourceState) -> dict[str, Any]:
    return {"sid": entry.sid, "refs": entry.refs, "applied": entry.applied}


_ENTRY: TypeAdapter[ResourceState] = TypeAdapter(ResourceState)


class AppliedPlan(BaseModel):
    """The saved plan (``spsync apply PLANFILE``) whose apply wrote the state last.

    It speaks for the state only while the state's ``serial`` is still ``serial``: any later
    write (another apply, ``state rm``, ``state mv``, ``import``) raises the serial past it.
    While it does, applying the same plan file again is reported as already applied rather
    than as a stale plan (``planning.applied_before``).
    """

    model_config = ConfigDict(extra="forbid")

    #: the plan file's checksum
    checksum: str
    #: the state serial the plan was made on, and the serial of the save recording this
    from_serial: int
    serial: int
    #: every change of the plan was done (false: the apply failed or was interrupted)
    complete: bool


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    tenant: str
    install: str
    api_url: str
    resources: dict[str, ResourceState] = {}
    #: written by the apply of a saved plan; left out of the file when there is none
    applied_plan: AppliedPlan | None = None


def _head(state: State) -> dict[str, Any]:
    """The file's fields but ``resources``; ``applied_plan`` only when set, so that states
    written without a saved plan keep the format of product-spec §5."""
    exclude = {"resources"} if state.applied_plan is not None else {"resources", "applied_plan"}
    return state.model_dump(mode="json", exclude=exclude)


def new_state(tenant: Tenant) -> State:
    """An empty state for a tenant that has none yet: new lineage, serial 0."""
    return State(
        lineage=str(uuid.uuid4()),
        tenant=tenant.tenant,
        install=tenant.install,
        api_url=tenant.api.url,
    )


def dump_state(state: State) -> str:
    """The file text of a state: sorted keys, indent 2, trailing newline (readable git diffs)."""
    head = _head(state)
    head["resources"] = {a: r.model_dump(mode="json") for a, r in state.resources.items()}
    return json.dumps(head, sort_keys=True, indent=2) + "\n"


def write_state(state: State, fh: IO[str]) -> None:
    """Write ``dump_state(state)`` to ``fh`` one resource at a time.

    The same text, without ever holding it or a dump of the whole state: json.dumps with an
    indent collects every token in a list before joining them, some 3 million strings
    (230 MB) for 20,000 students, and a dump of 80,000 resources is another 80 MB.
    """
    head = _head(state)
    fh.write("{")
    for i, key in enumerate(sorted([*head, "resources"])):
        fh.write(("," if i else "") + "\n  " + json.dumps(key) + ": ")
        if key != "resources":
            fh.write(_indented(head[key], 1))
        elif not state.resources:
            fh.write("{}")
        else:
            fh.write("{")
            for j, address in enumerate(sorted(state.resources)):
                dumped = state.resources[address].model_dump(mode="json")
                fh.write(("," if j else "") + "\n    " + json.dumps(address) + ": ")
                fh.write(_indented(dumped, 2))
            fh.write("\n  }")
    fh.write("\n}\n")


def _indented(value: Any, level: int) -> str:
    """``value`` as ``json.dumps(..., sort_keys=True, indent=2)`` writes it ``level`` deep.

    The same text, faster: json's indenting encoder is its pure-Python one (a generator
    yielding every token), and the state's compactions spent a tenth of a first apply's CPU
    in it. Here a dict or list (or tuple, which json writes as a list) whose items hold no
    container (every one of a state entry's) is written by json's C encoder in one call,
    the line break and indent given as its item separator; deeper ones recurse.
    ``tests/test_state_text.py`` checks the equality on arbitrary values."""
    if isinstance(value, str):
        return _escape(value)
    if not isinstance(value, dict | list | tuple) or not value:
        return json.dumps(value)
    pad = "\n" + "  " * (level + 1)
    end = "\n" + "  " * level
    items = value.values() if isinstance(value, dict) else value
    if not any(isinstance(item, dict | list | tuple) for item in items):
        flat = _flat_encoder(level)(value)
        return flat[0] + pad + flat[1:-1] + end + flat[-1]
    if isinstance(value, dict):
        parts = [_escape(key) + ": " + _indented(value[key], level + 1) for key in sorted(value)]
        return "{" + pad + ("," + pad).join(parts) + end + "}"
    return "[" + pad + ("," + pad).join(_indented(item, level + 1) for item in value) + end + "]"


@functools.cache
def _flat_encoder(level: int) -> Callable[[Any], str]:
    """json's C encoder (when there is one) with sorted keys and items ``level + 1`` deep:
    made once per depth (``json.dumps`` with these separators makes one per call)."""
    separator = ",\n" + "  " * (level + 1)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return functools.partial(json.dumps, sort_keys=True, separators=(separator, ": "))
    encode = make(None, None, _escape, None, ": ", separator, True, False, True)
    return lambda value: "".join(encode(value, 0))


#: json's string escaper (C), as ``json.dumps`` uses it (``ensure_ascii``)
_escape: Callable[[str], str] = json.encoder.encode_basestring_ascii

#: what a SID in a state file must look like (kind prefix, 32 lowercase hex digits)
_SID = re.compile(r"[A-Z]{2}[a-f0-9]{32}")


def parse_state(text: str, where: str, parsed: Callable[[], object] = lambda: None) -> State:
    """Parse state file text; ``StateError`` naming ``where`` and what is wrong.

    Strictly: a key given twice, a value of the wrong JSON type (``"serial": "2"``) and a
    SID that does not look like one are refused, not coerced or taken as written.
    ``parsed`` is called once the models are built and the parser's own tree is freed,
    before the checks (the store hands that memory back to the system there).

    A file as spsync writes it is read with its checks done over all entries at once
    (``_parse_as_written``); any other text, and any that fails a check there, is read by
    ``_parse_checked``, which says what is wrong."""
    state = _parse_as_written(text)
    if state is None:
        return _parse_checked(text, where, parsed)
    parsed()
    return state


def _parse_checked(text: str, where: str, parsed: Callable[[], object]) -> State:
    """``parse_state`` for any text: each check in turn, the first that fails said."""
    try:
        # the fast paths (pydantic's own JSON parser); the slow one below explains failures
        state = _parse_in_slices(text) or State.model_validate_json(text, strict=True)
    except ValidationError:
        state = _parse_slowly(text, where)
    parsed()
    problem = duplicate_key(text)
    if problem is not None:
        raise StateError(f"{where}: not a valid state file: {problem}")
    if state.version != STATE_VERSION:
        raise StateError(_version_message(where, state.version))
    resources = state.resources
    for address, resource in resources.items():
        if not _ADDRESS.fullmatch(address) or len(address) > MAX_ADDRESS:
            raise StateError(
                f"{where}: not a valid state file: not an address: {clean(repr(address))}"
            )
        check_sids(address, resource, where)
        _share_entry(resource)
    # the addresses too: the manifests and the plan name the same ones
    state.resources = {share(address): resource for address, resource in resources.items()}
    return state


def _share_entry(resource: ResourceState) -> None:
    """An entry's SIDs and applied values as the shared objects of their texts
    (``spsync.sharing``): an enrollment's SID is in three entries, an exam's in every
    session's, and the manifests and live objects hold the same texts again."""
    if resource.sid is not None:
        resource.sid = share(resource.sid)
    share_values(resource.refs)
    share_values(resource.applied)


#: where the resources of a state file as spsync writes it start, and where they end
_RESOURCES_OPEN = '\n  "resources": {'
_RESOURCES_CLOSE = "\n  }"
#: the end of one resource entry and the start of the next, as spsync writes them
_BETWEEN_ENTRIES = '\n    },\n    "'
_ENTRY_END = len("\n    }")
#: characters of a file's resources parsed in one piece (about 1,400 entries)
SLICE_CHARS = 200_000
_ENTRIES: TypeAdapter[dict[str, ResourceState]] = TypeAdapter(dict[str, ResourceState])


def _parse_in_slices(text: str) -> State | None:
    """The state of a file laid out as ``write_state`` lays it out, its resources parsed a
    slice of entries at a time; ``None`` when the text is not laid out so.

    The same state as one parse of the whole text, with less memory at its peak: pydantic's
    parser builds a tree of the whole input before any model, and the tree of a large
    state's resources is most of the parse's peak (52 MiB less at 20,000 students, and a
    quarter faster). Any text this cannot cut at entry boundaries (hand-edited, another
    indent) fails to parse here (a cut inside an entry leaves both halves unbalanced) and
    is read whole; no slice can hold a line break inside a JSON string, as JSON has none.
    Keys given twice are found by the caller's check of the whole text, as for one parse.
    """
    cut = _cut(text)
    if cut is None:
        return None
    head, start, end = cut
    state = State.model_validate_json(head, strict=True)
    resources: dict[str, ResourceState] = {}
    for piece in _slices(text, start, end):
        resources.update(_ENTRIES.validate_json(piece, strict=True))
    state.resources = resources
    return state


def _cut(text: str) -> tuple[str, int, int] | None:
    """The text of a file laid out as ``write_state`` lays it out without its resources
    (``"resources": {}``), and where its resources' entries start and end; ``None`` when
    the text is not laid out so, or has none."""
    start = text.find(_RESOURCES_OPEN)
    if start < 0:
        return None
    start += len(_RESOURCES_OPEN)
    end = text.find(_RESOURCES_CLOSE, start)
    if end < 0 or text.startswith("}", start):
        return None
    return text[:start] + "}" + text[end + len(_RESOURCES_CLOSE) :], start, end


def _slices(text: str, start: int, end: int) -> Iterator[str]:
    """The entries between ``start`` and ``end``, a JSON object of about ``SLICE_CHARS``
    characters of them at a time (cut where one entry ends and the next starts)."""
    pos = start
    while pos < end:
        cut = text.find(_BETWEEN_ENTRIES, min(pos + SLICE_CHARS, end), end)
        stop = end if cut < 0 else cut + _ENTRY_END  # after the entry's closing brace
        yield "{" + text[pos:stop] + "\n}"
        pos = stop + 1  # past the comma (or past the end)


#: SIDs, one a line
_SID_LINES = re.compile(r"(?:[A-Z]{2}[a-f0-9]{32}\n)*")
#: addresses, one a line, each an address (``ADDRESS_PATTERN``, whose names hold no line
#: break)
_ADDRESS_LINES = re.compile(f"(?:{ADDRESS_PATTERN.strip('^$')}\n)*")
_ADDRESS = re.compile(ADDRESS_PATTERN)


def _parse_as_written(text: str) -> State | None:
    """The state of a file laid out as ``write_state`` lays it out whose every check
    passes, its checks done over all entries at once; ``None`` for any other text, which
    ``_parse_checked`` then reads and says what is wrong with.

    The same state as ``_parse_checked``, in about half the time. The resources are read a
    slice at a time by pydantic's own JSON parser (``from_json``: the parser of
    ``model_validate_json``, so the same values and the same limits) into plain values,
    which become entries in one pass that checks their JSON types and shares their texts.
    What took a pass of its own per entry is done once for all of them:

    - No key is given twice. A colon outside a string is a key's: the colons of the
      resources' text are their keys plus the colons written in their strings, and a
      string can write a colon only as itself or as ``\\u003a``. Without the latter, the
      colons of the text are at least the keys read plus the colons in the strings read,
      and are as many only when nothing was read twice and dropped (JSON parsers keep the
      last of a key given twice). An address in two slices is found by the count of entries
      read against the count kept. The rest of the file is small and checked as before.
    - Every SID looks like one: all of them, one a line, match one pattern (the length of
      the lines counted, so that no SID can hold a line break).
    - Every address is one (``ADDRESS_PATTERN``): likewise (no line break can match it).
    """
    cut = _cut(text)
    if cut is None:
        return None
    head, start, end = cut
    if text.find("\\", start, end) >= 0 and text.find("\\u003", start, end) >= 0:
        return None  # a colon may be written as an escape (or a text holds "\u003")
    try:
        state = State.model_validate_json(head, strict=True)
    except ValidationError:
        return None
    if state.version != STATE_VERSION or duplicate_key(head) is not None:
        return None
    resources: dict[str, ResourceState] = {}
    sids: list[str] = []
    read = 0
    colons = 0  # as many as the values read would be written with
    new = _new_entry
    try:
        for piece in _slices(text, start, end):
            part = from_json(piece)
            read += len(part)
            colons += len(part) * 4 + "".join(part).count(":")  # an entry's keys: 1 + 3
            for address, entry in part.items():
                if type(entry) is not dict or len(entry) != 3:
                    return None
                sid, refs, applied = entry["sid"], entry["refs"], entry["applied"]
                if type(refs) is not dict or type(applied) is not dict:
                    return None
                if sid is not None:
                    sid = share(sid)  # TypeError unless a str
                    sids.append(sid)
                for name, ref in refs.items():
                    refs[name] = share(ref)  # (a SID holds no colon)
                    if ":" in name:
                        colons += name.count(":")
                colons += len(refs) + _share_colons(applied)
                sids += refs.values()
                resource = new(ResourceState)
                resource.sid, resource.refs, resource.applied = sid, refs, applied
                resources[share(address)] = resource
    except (ValueError, TypeError, KeyError):  # not JSON pydantic reads, a field that is
        return None  # not of its type, or not there
    if read != len(resources) or text.count(":", start, end) != colons:
        return None
    distinct = set(sids)
    lines = "".join([sid + "\n" for sid in distinct])
    if len(lines) != len(distinct) * 35 or not _SID_LINES.fullmatch(lines):
        return None
    if not _ADDRESS_LINES.fullmatch("".join([address + "\n" for address in resources])):
        return None
    if resources and max(map(len, resources)) > MAX_ADDRESS:
        return None
    state.resources = resources
    return state


def _share_colons(values: dict[str, Any]) -> int:
    """``share_values(values)``; the colons of ``values`` written as JSON (without
    escapes): one a key, and those in its keys and texts."""
    colons = len(values)
    for key, value in values.items():
        if ":" in key:
            colons += key.count(":")
        kind = type(value)
        if kind is str:
            values[key] = share(value)
            if ":" in value:
                colons += value.count(":")
        elif kind is dict:
            colons += _share_colons(value)
        elif kind is list:
            colons += _share_colons_of_items(value)
    return colons


def _share_colons_of_items(items: list[Any]) -> int:
    colons = 0
    for i, value in enumerate(items):
        kind = type(value)
        if kind is str:
            items[i] = share(value)
            if ":" in value:
                colons += value.count(":")
        elif kind is dict:
            colons += _share_colons(value)
        elif kind is list:
            colons += _share_colons_of_items(value)
    return colons


def check_sids(address: str, resource: ResourceState, where: str) -> None:
    """Every SID of an entry must look like one: they are put in URLs and in plans;
    ``StateError`` naming ``where`` otherwise."""
    named = [("sid", resource.sid)] + [(f"refs.{k}", v) for k, v in resource.refs.items()]
    for field_name, sid in named:
        if sid is not None and not _SID.fullmatch(sid):
            raise StateError(
                f"{where}: not a valid state file: resources.{address}.{field_name} is not "
                "a SID (2 capital letters and 32 lowercase hex digits)"
            )


def _version_message(where: str, version: object) -> str:
    return (
        f"{where}: state version {version!r} is not supported "
        f"(this spsync reads version {STATE_VERSION})"
    )


def _parse_slowly(text: str, where: str) -> State:
    try:
        raw = strict_loads(text)
    except json.JSONDecodeError as e:
        raise StateError(
            f"{where}: not a valid state file: bad JSON at line {e.lineno} column {e.colno}: "
            f"{e.msg}"
        ) from None
    except ValueError as e:  # a duplicate key, NaN
        raise StateError(f"{where}: not a valid state file: {e}") from None
    if not isinstance(raw, dict):
        raise StateError(f"{where}: not a valid state file: expected a JSON object")
    if raw.get("version") != STATE_VERSION:
        raise StateError(_version_message(where, raw.get("version")))
    try:
        return State.model_validate_json(text, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        loc = clean(".".join(str(p) for p in first["loc"])) or "(top level)"  # keys: escaped
        more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise StateError(f"{where}: not a valid state file: {loc}: {first['msg']}{more}") from None
