"""A state file as spsync writes it is read with its checks done over all entries at once
(``state._parse_as_written``); any text that path does not accept is read by
``state._parse_checked``, every check in turn. The first must never accept what the
second refuses, nor read anything differently: same entries, same values, same order,
same shared texts; and ``parse_state`` says the same about every text, good or bad."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from spsync import state as state_mod
from spsync.errors import StateError
from spsync.model import ADDRESS_PATTERN
from spsync.state import ResourceState, State, dump_state, parse_state

HEX = "0123456789abcdef"
sids = st.builds(
    lambda p, h: p + h,
    st.sampled_from(["CU", "EX", "EN", "US", "ES", "EC"]),
    st.text(HEX, min_size=32, max_size=32),
)
# texts meant to trip the reader: colons and quotes (what its count of keys looks at),
# escapes, the separator between entries, non-ASCII and line breaks
tricky = st.sampled_from([
    ":", '":', '\\":', ": ", "\\u003a", "\\", '"', "\n", "\n    },\n    \"", "\n  }", "{", "é",
    "\u2603", "\U0001f600", "\x00", "\x7f", "NaN", "2027-03-01T14:00:00Z", "https://x.y/z",
])  # fmt: skip
texts = st.text(max_size=8) | tricky | st.lists(tricky, max_size=3).map("".join)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)  # (a state writes both as null)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
entries = st.builds(
    ResourceState,
    sid=st.none() | sids,
    refs=st.dictionaries(st.sampled_from(["course", "exam", "user", "enrollment"]) | texts, sids),
    applied=st.dictionaries(texts, values, max_size=5),
)
addresses = st.builds(
    lambda kind, name: f"{kind}.{name}",
    st.sampled_from(["course", "exam", "user", "enrollment", "session", "assignment"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,9}", fullmatch=True)
    | st.text(min_size=1, max_size=10)
    | texts,
)


def _states(entries: st.SearchStrategy[ResourceState], most: int) -> st.SearchStrategy[State]:
    return st.builds(
        lambda res, serial: State(
            lineage="6f1c3f0e-0000-4000-8000-000000000000",
            serial=serial,
            tenant="acme",
            install="AI" + "5e" * 16,
            api_url="https://api.example.com",
            resources=res,
        ),
        st.dictionaries(addresses, entries, min_size=1, max_size=most),
        st.integers(min_value=0, max_value=10**6),
    )


states = _states(entries, 8)
# smaller ones to break: what matters there is where the break is
small_entries = st.builds(
    ResourceState,
    sid=st.none() | sids,
    refs=st.dictionaries(st.sampled_from(["course", "user"]), sids, max_size=2),
    applied=st.dictionaries(texts, scalars | st.lists(scalars, max_size=2), max_size=3)
    | st.dictionaries(texts, st.dictionaries(texts, scalars, max_size=2), max_size=2),
)
small_states = _states(small_entries, 3)


@contextmanager
def slices_of(chars: int) -> Iterator[None]:
    before = state_mod.SLICE_CHARS
    state_mod.SLICE_CHARS = chars
    try:
        yield
    finally:
        state_mod.SLICE_CHARS = before


def _seen(state: State) -> str:
    """Everything a reader could get differently, values by their repr (which tells 1
    from 1.0 from True, and -0.0 from 0.0), entries in their order."""
    head = state.model_dump(exclude={"resources"})
    rows = [(a, r.sid, r.refs, r.applied) for a, r in state.resources.items()]
    return repr((head, rows))


def _outcome(read: Callable[[str], State], text: str) -> str:
    try:
        return "read " + _seen(read(text))
    except StateError as e:
        return f"refused {e}"


def _checked(text: str) -> State:
    return state_mod._parse_checked(text, "s.json", lambda: None)


def _agree(text: str) -> State | None:
    """Both readers say the same of ``text``; what the one at once read (``None``: it
    left the text to the other)."""
    fast = state_mod._parse_as_written(text)
    if fast is not None:
        assert _outcome(_checked, text) == "read " + _seen(fast)
    assert _outcome(lambda t: parse_state(t, "s.json"), text) == _outcome(_checked, text)
    return fast


def _plain(state: State, text: str) -> bool:
    """A text the reader at once must take: no colon can be an escape in it, every key is
    an address (both readers refuse any other)."""
    return "\\u003" not in text and all(re.fullmatch(ADDRESS_PATTERN, a) for a in state.resources)


@settings(max_examples=200, deadline=None)
@given(states, st.sampled_from([1, 60, 200_000]))
def test_a_file_as_written_is_read_at_once_and_the_same(state: State, chars: int) -> None:
    text = dump_state(state)
    with slices_of(chars):
        fast = _agree(text)
    if _plain(state, text):
        assert fast == state  # (the file's keys are sorted: equal, not in the same order)


def _key_lines(text: str) -> list[int]:
    lines = text.split("\n")
    return [i for i, line in enumerate(lines) if re.match(r'\s*".*": ', line)]


def _mutate(text: str, how: str, where: int, what: str) -> str:
    """``text`` broken in one way: ``where`` picks the place, ``what`` is what is put."""
    lines = text.split("\n")
    keyed = _key_lines(text)
    if how == "key twice":  # the key of a line given again just before it, any depth
        i = keyed[where % len(keyed)]
        key = lines[i].split('": ', 1)[0]
        lines.insert(i, f'{key}": {what},')
    elif how == "key added":
        i = keyed[where % len(keyed)]
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines.insert(i, f"{indent}{json.dumps(what)}: {what},")
    elif how == "value replaced":  # a key's value (or the first line of it) becomes another
        i = keyed[where % len(keyed)]
        key, value = lines[i].split('": ', 1)
        comma = "," if value.endswith(",") else ""
        lines[i] = f'{key}": {what}{comma}'
    elif how == "line dropped":
        del lines[where % len(lines)]
    elif how == "space before a colon":
        i = keyed[where % len(keyed)]
        lines[i] = lines[i].replace('": ', '" : ', 1)
    else:  # "text inserted": anywhere, even inside a string
        joined = "\n".join(lines)
        at = where % len(joined)
        return joined[:at] + what + joined[at:]
    return "\n".join(lines)


fragments = st.sampled_from([
    "1", "5", '"x"', "true", "null", "[]", "{}", '{"a": 1}', '"US' + "0" * 32 + '"',
    '"us' + "0" * 32 + '"', '"user.x"', '"bogus.x"', "NaN", "1e400", '"\\u003a"', '"\\ud800"',
    '"a\\u003a"', '"a:b"', ":", ",", '"', "\\", "\n", '"sid": null', '"refs": {}',
])  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(
    small_states,
    st.sampled_from([
        "key twice", "key added", "value replaced", "line dropped", "space before a colon",
        "text inserted",
    ]),
    st.integers(min_value=0, max_value=10**6),
    fragments,
    st.sampled_from([1, 200_000]),
)  # fmt: skip
def test_a_file_broken_anyhow_is_read_or_refused_as_by_every_check(
    state: State, how: str, where: int, what: str, chars: int
) -> None:
    text = _mutate(dump_state(state), how, where, what)
    with slices_of(chars):
        fast = _agree(text)
    if how == "key twice":
        assert fast is None
    event(f"{how}: {'read at once' if fast else 'left to every check'}")


def _file(resources: str, serial: str = "3") -> str:
    """A file as spsync writes it around the given text of its resources."""
    return (
        '{\n  "api_url": "https://api.example.com",\n  "install": "AI' + "5e" * 16 + '",\n'
        '  "lineage": "x",\n  "resources": {\n' + resources + '\n  },\n  "serial": '
        + serial + ',\n  "tenant": "acme",\n  "version": 1\n}\n'
    )  # fmt: skip


US, EN, CU = "US" + "a" * 32, "EN" + "b" * 32, "CU" + "c" * 32
USER = (
    '    "user.a": {\n      "applied": {\n        "ids": {\n          "external": "a"\n'
    '        },\n        "lastName": "A",\n        "tags": [\n          {\n'
    '            "k": "v"\n          }\n        ]\n      },\n      "refs": {},\n'
    f'      "sid": "{US}"\n    }}'
)
ENROLLMENT = (
    '    "enrollment.c.a": {\n      "applied": {\n        "role": "learner"\n      },\n'
    f'      "refs": {{\n        "course": "{CU}",\n        "user": "{US}"\n      }},\n'
    f'      "sid": "{EN}"\n    }}'
)
GOOD = _file(ENROLLMENT + ",\n" + USER)


def test_the_sample_is_read_at_once() -> None:
    state = state_mod._parse_as_written(GOOD)
    assert state is not None
    assert _seen(state) == _seen(_checked(GOOD))
    assert state.resources["user.a"].applied["tags"] == [{"k": "v"}]


@pytest.mark.parametrize(
    ("line", "twice", "key"),
    [
        ('  "lineage": "x",', '  "lineage": "y",', "lineage"),
        ('    "user.a": {', '    "user.a": {},', "user.a"),
        ('      "sid": "' + US + '"', '      "sid": null,', "sid"),
        ('      "refs": {},', '      "refs": {},', "refs"),
        ('        "course": "' + CU + '",', '        "course": "' + CU + '",', "course"),
        ('        "lastName": "A",', '        "lastName": "B",', "lastName"),
        ('          "external": "a"', '          "external": "b",', "external"),
        ('            "k": "v"', '            "k": "w",', "k"),
    ],
)
def test_a_key_given_twice_at_any_depth_is_refused_as_before(
    line: str, twice: str, key: str
) -> None:
    assert line in GOOD
    text = GOOD.replace(line, twice + "\n" + line, 1)
    assert state_mod._parse_as_written(text) is None
    for chars in (1, 200_000):
        with slices_of(chars), pytest.raises(StateError) as e:
            parse_state(text, "s.json")
        assert str(e.value) == (
            f's.json: not a valid state file: key "{key}" appears twice in one object'
        )


def test_an_address_in_two_slices_is_refused() -> None:
    text = _file(USER + ",\n" + ENROLLMENT + ",\n" + USER.replace('"A"', '"B"'))
    with slices_of(1):
        assert state_mod._parse_as_written(text) is None
        with pytest.raises(StateError, match=r'key "user\.a" appears twice'):
            parse_state(text, "s.json")


def test_a_key_given_twice_is_refused_whatever_colons_the_strings_hold() -> None:
    # the second "role" is dropped by the parser; its colon is made up for by one written
    # as an escape (decoded, a colon like any other): the count alone would match
    twice = ENROLLMENT.replace(
        '"role": "learner"', '"role": "x",\n        "role": "learner\\u003a"'
    )
    text = _file(twice)
    assert text.count(":") == _file(ENROLLMENT).count(":") + 1
    assert state_mod._parse_as_written(text) is None
    with pytest.raises(StateError, match='key "role" appears twice'):
        parse_state(text, "s.json")
    # and without the escape, colons in texts are counted as such
    plain = _file(ENROLLMENT.replace('"learner"', '"a: b \\": c"'))
    assert state_mod._parse_as_written(plain) is not None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (f'"sid": "{US}"', '"sid": "US"', "resources.user.a.sid is not a SID"),
        (f'"sid": "{US}"', f'"sid": "{US}\\n{US}"', "resources.user.a.sid is not a SID"),
        (f'"user": "{US}"', f'"user": "{US[:-1]}"', "resources.enrollment.c.a.refs.user is not"),
        (f'"user": "{US}"', '"user": 7', "resources.enrollment.c.a.refs.user: Input should be"),
        (f'"sid": "{US}"', '"sid": 7', "resources.user.a.sid: Input should be a valid string"),
        ('"refs": {}', '"refs": []', "resources.user.a.refs: Input should be an object"),
        ('"user.a": {', '"users.a": {', "not an address: 'users.a'"),
        ('"user.a": {', '"user\\nexam.a": {', "not an address: 'user\\nexam.a'"),
        ('"user.a": {', '"user": {', "not an address: 'user'"),
        ('"user.a": {', '"user.a`b": {', "not an address: 'user.a`b'"),
        ('"user.a": {', '"user.a\\u001b[2J": {', "not an address: 'user.a\\x1b[2J'"),
        ('"user.a": {', '"user.a\\u202e": {', "not an address: 'user.a\\u202e'"),
        ('"user.a": {', '"user.-a": {', "not an address: 'user.-a'"),
        ('"user.a": {', '"user.a\\n": {', "not an address: 'user.a\\n'"),
        ('"refs": {}', '"refs": {},\n      "extra": 1', "resources.user.a.extra: Extra inputs"),
        ('"serial": 3', '"serial": "3"', "serial: Input should be a valid integer"),
        ('"version": 1', '"version": 2', "state version 2 is not supported"),
    ],
)
def test_a_bad_entry_is_refused_as_before(old: str, new: str, message: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    assert state_mod._parse_as_written(text) is None
    with pytest.raises(StateError, match=re.escape(message)):
        parse_state(text, "s.json")
    _agree(text)


def test_an_entry_without_every_field_is_read_by_every_check() -> None:
    text = _file('    "assignment.c.a": {\n      "sid": null\n    }')
    assert state_mod._parse_as_written(text) is None
    state = parse_state(text, "s.json")
    assert state.resources["assignment.c.a"] == ResourceState()


def test_texts_repeated_across_entries_are_one_object() -> None:
    state = state_mod._parse_as_written(GOOD)
    assert state is not None
    user, enrollment = state.resources["user.a"], state.resources["enrollment.c.a"]
    assert enrollment.refs["user"] is user.sid
    assert state.resources["user.a"].applied["ids"]["external"] is "a"  # noqa: F632


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["\\ud800", "\\udc00", "\\ud83d\\ude00", "a", "\\\\"]), min_size=1))
def test_escaped_surrogates_are_read_as_pydantic_reads_them(parts: list[str]) -> None:
    """A lone surrogate is refused by pydantic's parser (not by json's): alike here."""
    text = _file(USER.replace('"external": "a"', '"external": "' + "".join(parts) + '"'))
    assume(text != GOOD)
    _agree(text)
