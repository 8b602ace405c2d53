"""A state entry (``ResourceState``) is a slotted record that behaves as the pydantic model
it replaces: the same validation from JSON (strictness, defaults, errors), the same dumps,
equality by value, copies; and it is smaller."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from spsync.journal import Entry
from spsync.state import ResourceState, State


class Model(BaseModel):
    """``ResourceState`` as it was."""

    model_config = ConfigDict(extra="forbid")

    sid: str | None = None
    refs: dict[str, str] = {}
    applied: dict[str, Any] = {}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
# entries as a file may hold them: mostly the right fields, of any JSON type
entry_texts = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["sid", "refs", "applied", "extra"]) | st.text(max_size=3),
        json_values | st.dictionaries(st.text(max_size=4), st.text(max_size=4) | json_values),
        max_size=4,
    ),
).map(lambda v: json.dumps({"user.a": v}))

NOW = TypeAdapter(dict[str, ResourceState])
BEFORE = TypeAdapter(dict[str, Model])


def _result(adapter: TypeAdapter[Any], text: str, strict: bool) -> str:
    try:
        got = adapter.validate_json(text, strict=strict)
    except ValidationError as e:
        return repr([(x["loc"], x["msg"], x["type"]) for x in e.errors()])
    return repr({a: (r.sid, r.refs, r.applied) for a, r in got.items()})


@settings(max_examples=400, deadline=None)
@given(entry_texts, st.booleans())
def test_validation_from_json_is_the_models(text: str, strict: bool) -> None:
    assert _result(NOW, text, strict) == _result(BEFORE, text, strict)


@settings(max_examples=300, deadline=None)
@given(
    st.none() | st.text(max_size=6),
    st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=4), json_values | st.tuples(json_values), max_size=4),
)
def test_dumps_are_the_models(sid: str | None, refs: dict[str, str], applied: Any) -> None:
    now, before = (
        ResourceState(sid=sid, refs=refs, applied=applied),
        Model(sid=sid, refs=refs, applied=applied),
    )
    assert now.model_dump_json() == before.model_dump_json()
    assert repr(now.model_dump(mode="json")) == repr(before.model_dump(mode="json"))
    assert repr(now.model_dump()) == repr(before.model_dump())
    assert repr(now) == repr(before).replace("Model(", "ResourceState(", 1)
    entry = Entry(lineage="l", base_serial=1, seq=1, address="user.a", op="put", resource=now)
    assert entry.resource is now
    assert json.loads(entry.model_dump_json())["resource"] == json.loads(before.model_dump_json())


def test_built_with_keywords_compared_by_value_copied_shallowly() -> None:
    refs, applied = {"course": "CU" + "1" * 32}, {"ids": {"external": "x"}}
    entry = ResourceState(sid="US" + "0" * 32, refs=refs, applied=applied)
    assert entry.refs == refs and entry.refs is not refs  # the record owns its maps,
    assert entry.applied["ids"] is applied["ids"]  # as validation made them
    assert ResourceState() == ResourceState(sid=None, refs={}, applied={})
    assert ResourceState().refs is not ResourceState().refs
    assert entry != ResourceState(sid=entry.sid, refs=refs)
    assert entry != Model(sid=entry.sid, refs=refs, applied=applied)  # not the same kind
    copy = entry.model_copy(update={"applied": {"role": "learner"}})
    assert (copy.sid, copy.refs, copy.applied) == (entry.sid, refs, {"role": "learner"})
    assert copy.refs is entry.refs and entry.applied == applied
    assert entry.model_copy() == entry
    with pytest.raises(TypeError):
        hash(entry)
    with pytest.raises(TypeError):
        ResourceState(sid=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ResourceState(refs={"course": 7})  # type: ignore[dict-item]
    with pytest.raises(AttributeError):
        entry.other = 1  # type: ignore[attr-defined]


def test_in_a_state_it_is_validated_dumped_and_taken_as_given() -> None:
    entry = ResourceState(sid="US" + "0" * 32, applied={"lastName": "L"})
    head = {"lineage": "l", "tenant": "t", "install": "i", "api_url": "u"}
    state = State(**head, resources={"user.a": entry})
    assert state.resources["user.a"] is entry
    assert state.model_dump(mode="json")["resources"] == {
        "user.a": {"sid": "US" + "0" * 32, "refs": {}, "applied": {"lastName": "L"}}
    }
    again = State.model_validate_json(state.model_dump_json(), strict=True)
    assert again == state and type(again.resources["user.a"]) is ResourceState
    from_python = State.model_validate({**head, "resources": {"user.a": {"sid": "x"}}})
    assert from_python.resources == {"user.a": ResourceState(sid="x")}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        State.model_validate({**head, "resources": {"user.a": {"other": 1}}})


def test_an_entry_is_smaller_than_a_model() -> None:
    entry = ResourceState(sid="US" + "0" * 32)
    model = Model(sid="US" + "0" * 32)
    assert not hasattr(entry, "__dict__")
    assert sys.getsizeof(entry) + 200 <= sys.getsizeof(model) + sys.getsizeof(model.__dict__)
