"""The state file's indented JSON, built directly (``state._indented``), is the text
``json.dumps(..., sort_keys=True, indent=2)`` writes, at any depth."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spsync.state import _indented

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


def _reference(value: Any, level: int) -> str:
    return json.dumps(value, sort_keys=True, indent=2).replace("\n", "\n" + "  " * level)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(min_value=0, max_value=3))
def test_the_text_is_json_dumps_indented(value: Any, level: int) -> None:
    assert _indented(value, level) == _reference(value, level)


def test_a_state_entry_and_unusual_text() -> None:
    entry = {
        "sid": "US" + "0" * 32,
        "refs": {"course": "CU" + "1" * 32},
        "applied": {"name": 'Zoë \u2603 "quoted"\n\\', "seats": 3, "ratio": 0.5, "on": True},
        "empty": {},
        "list": [],
        "none": None,
    }
    assert _indented(entry, 2) == _reference(entry, 2)
    assert _indented(entry, 2).count("\n") == _reference(entry, 2).count("\n") > 10
