"""A state file as spsync writes it is parsed a slice of entries at a time
(``state._parse_in_slices``): the same state as one parse of the whole text, any text not
laid out so is read whole, and the errors are the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spsync import state as state_mod
from spsync.errors import StateError
from spsync.state import ResourceState, State, dump_state, parse_state

HEX = "0123456789abcdef"
sids = st.builds(
    lambda p, h: p + h,
    st.sampled_from(["CU", "EX", "EN", "US", "ES"]),
    st.text(HEX, min_size=32, max_size=32),
)
# texts meant to trip a cut: the separator between entries, quotes, braces, line breaks
texts = st.text(max_size=10) | st.sampled_from(['\n    },\n    "', "\n  }", '"}', "{", "\\"])
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
entries = st.builds(
    ResourceState,
    sid=st.none() | sids,
    refs=st.dictionaries(st.sampled_from(["course", "exam", "user", "enrollment"]), sids),
    applied=st.dictionaries(texts, values, max_size=4),
)
addresses = st.builds(
    lambda kind, name: f"{kind}.{name}",
    st.sampled_from(["course", "exam", "user", "enrollment", "session", "assignment"]),
    st.from_regex(r"[a-h0-9][a-h0-9.-]{0,11}", fullmatch=True),
)
states = st.builds(
    lambda res, serial: State(
        lineage="6f1c3f0e-0000-4000-8000-000000000000",
        serial=serial,
        tenant="acme",
        install="AI" + "5e" * 16,
        api_url="https://api.example.com",
        resources=res,
    ),
    st.dictionaries(addresses, entries, max_size=12),
    st.integers(min_value=0, max_value=10**6),
)


@contextmanager
def slices_of(chars: int) -> Iterator[None]:
    before = state_mod.SLICE_CHARS
    state_mod.SLICE_CHARS = chars
    try:
        yield
    finally:
        state_mod.SLICE_CHARS = before


@settings(max_examples=300, deadline=None)
@given(states, st.sampled_from([1, 40, 300, 200_000]))
def test_slices_give_the_state_one_parse_gives(state: State, chars: int) -> None:
    text = dump_state(state)
    with slices_of(chars):
        sliced = state_mod._parse_in_slices(text)
        assert parse_state(text, "s.json") == state
    whole = State.model_validate_json(text, strict=True)
    if state.resources:
        assert sliced == whole == state
        assert list(sliced.resources) == list(whole.resources)
    else:
        assert sliced is None  # "resources": {} is read whole


@settings(max_examples=100, deadline=None)
@given(states, st.sampled_from([None, 4, 1]))
def test_another_layout_is_read_whole(state: State, indent: int | None) -> None:
    text = json.dumps(json.loads(dump_state(state)), indent=indent)
    with slices_of(1):
        assert parse_state(text, "s.json") == state


def _file(entries: list[tuple[str, dict[str, Any]]]) -> str:
    body = ",\n".join(
        f"    {json.dumps(a)}: " + json.dumps(e, indent=2).replace("\n", "\n    ")
        for a, e in entries
    )
    return (
        '{\n  "api_url": "https://api.example.com",\n  "install": "AI' + "5e" * 16 + '",\n'
        '  "lineage": "x",\n  "resources": {\n' + body + '\n  },\n  "serial": 3,\n'
        '  "tenant": "acme",\n  "version": 1\n}\n'
    )


def _entry(sid: str | None = "US" + "a" * 32, **applied: Any) -> dict[str, Any]:
    return {"applied": applied, "refs": {}, "sid": sid}


def test_a_key_given_twice_in_different_slices_is_refused() -> None:
    text = _file([("user.a", _entry()), ("user.b", _entry()), ("user.a", _entry(name="x"))])
    with slices_of(1), pytest.raises(StateError, match=r"user\.a"):
        parse_state(text, "s.json")


def test_a_bad_value_in_a_slice_is_reported_as_before() -> None:
    text = _file([("user.a", _entry()), ("user.b", _entry(sid=None) | {"sid": 7})])
    with slices_of(1), pytest.raises(StateError) as sliced:
        parse_state(text, "s.json")
    with slices_of(10**9), pytest.raises(StateError) as whole:
        parse_state(text, "s.json")
    assert str(sliced.value) == str(whole.value)
    assert "resources.user.b.sid" in str(sliced.value)


def test_texts_repeated_across_entries_are_one_object() -> None:
    en = "EN" + "b" * 32
    text = _file([
        ("assignment.x.a", {"applied": {}, "refs": {"enrollment": en}, "sid": None}),
        ("enrollment.c.a", {"applied": {"role": "learner"}, "refs": {}, "sid": en}),
        ("session.x.a", {"applied": {"type": "automated"}, "refs": {"enrollment": en},
                         "sid": None}),
        ("session.x.b", {"applied": {"type": "automated"}, "refs": {}, "sid": None}),
    ])  # fmt: skip
    with slices_of(1):
        r = parse_state(text, "s.json").resources
    assert r["assignment.x.a"].refs["enrollment"] is r["enrollment.c.a"].sid
    assert r["session.x.a"].refs["enrollment"] is r["enrollment.c.a"].sid
    assert r["session.x.a"].applied["type"] is r["session.x.b"].applied["type"]
