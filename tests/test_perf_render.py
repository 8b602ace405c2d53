"""The one-walk renderings of a change's fields equal the plain compositions they replace."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spsync.plan import SENSITIVE, SENSITIVE_CHANGED
from spsync.render_parts import flatten, fmt_value, masked, shown_fields
from spsync.sanitize import clean

#: every character class ``clean`` cares about, and plenty it does not
_chars = st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\n", "\x1b", "\x7f", "\x9b", "\u202e", "\u2028", "é", '"', "\\"]
)
_text = st.text(_chars, max_size=10)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
    | st.sampled_from([SENSITIVE, SENSITIVE_CHANGED])
)
_keys = st.sampled_from(["password", "token", "a", "b", "a.b", ""]) | st.text(max_size=4)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.none() | st.dictionaries(_keys, _values, max_size=5)


def _plain_fmt_value(value: Any) -> str:
    if isinstance(value, str) and value in (SENSITIVE, SENSITIVE_CHANGED):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(json.dumps(value, ensure_ascii=False, sort_keys=True))


@settings(max_examples=400, deadline=None)
@given(_fields)
def test_shown_fields_is_flatten_of_masked(fields: dict[str, Any] | None) -> None:
    # the same paths, each escaped (a key is the server's as much as a value is)
    assert shown_fields(fields) == {clean(p): v for p, v in flatten(masked(fields)).items()}


@settings(max_examples=400, deadline=None)
@given(_values)
def test_fmt_value_is_clean_json(value: Any) -> None:
    assert fmt_value(value) == _plain_fmt_value(value)


def test_fmt_value_escapes_what_json_leaves_raw() -> None:
    assert fmt_value("a\x7fb") == '"a\\x7fb"'
    assert fmt_value("x\u202ey") == '"x\\u202ey"'
    assert fmt_value("ok") == '"ok"'
    assert fmt_value(SENSITIVE) == SENSITIVE
