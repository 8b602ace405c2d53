"""``changed_paths`` walks plain maps itself: the same paths DeepDiff finds."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st
from support.plan import KEY, applied_state, world

from spsync import fields
from spsync.fields import _plain_changed_paths, changed_paths, fingerprint_of
from spsync.observed import Observed
from spsync.plan import canonical_json


def _deepdiff_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``changed_paths`` as DeepDiff alone answers it."""
    if old == new:
        return []
    diff = DeepDiff(dict(old), dict(new), ignore_numeric_type_changes=True, view="tree")
    paths = {
        ".".join(str(p) for p in item.path(output_format="list"))
        for items in diff.values()
        for item in items
    }
    return sorted(paths)


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 0.0, 1, 1.0, True, False, "", "a", "0"])
    | st.text(max_size=3)
)
_keys = st.sampled_from(["a", "b", "a.b", "ids", "c"]) | st.text(max_size=2)
_values = st.recursive(
    _leaves,
    lambda inner: st.dictionaries(_keys, inner, max_size=3) | st.lists(inner, max_size=2),
    max_leaves=8,
)
_maps = st.dictionaries(_keys, _values, max_size=4)


@settings(max_examples=1000, deadline=None)
@given(_maps, _maps)
def test_changed_paths_are_deepdiffs(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert changed_paths(old, new) == _deepdiff_paths(old, new)


@settings(max_examples=500, deadline=None)
@given(_maps, st.data())
def test_changed_paths_of_edits_are_deepdiffs(old: dict[str, Any], data: st.DataObject) -> None:
    """Maps that differ in a few places, as a manifest edit makes them."""
    new = dict(old)
    for key in data.draw(st.lists(_keys, max_size=3)):
        new[key] = data.draw(_values)
    for key in data.draw(st.lists(st.sampled_from(sorted(old) or ["a"]), max_size=2)):
        new.pop(key, None)
    assert changed_paths(old, new) == _deepdiff_paths(old, new)


def test_plain_changes() -> None:
    old = {"a": 1, "conf": {"url": "u", "access": {"open": "x"}}, "gone": None}
    new = {"a": 1.0, "conf": {"url": "v", "access": {"open": "y", "close": "z"}}, "n": {}}
    assert changed_paths(old, new) == [
        "conf.access.close",
        "conf.access.open",
        "conf.url",
        "gone",
        "n",
    ]
    assert _plain_changed_paths(old, new) is not None  # walked, not left to DeepDiff


def test_what_deepdiff_decides() -> None:
    """Maps sharing few keys are one change as a whole; lists and type changes are left to
    DeepDiff too."""
    assert changed_paths({}, {"a": None, "b": None}) == [""]
    assert changed_paths({"x": {"a": 1}}, {"x": {"b": 1, "c": 2}}) == ["x"]
    assert changed_paths({"a": [1, 2]}, {"a": [1, 3]}) == ["a.1"]
    assert changed_paths({"a": "1"}, {"a": 1}) == ["a"]
    for old, new in (({}, {"a": 1, "b": 2}), ({"a": [1]}, {"a": [2]}), ({"a": "1"}, {"a": 1})):
        assert _plain_changed_paths(old, new) is None


def test_the_fingerprint_of_an_unknown_address_is_that_of_its_payload() -> None:
    """``fingerprint_of`` answers a constant for what is neither in state nor observed: the
    digest of the payload it would otherwise build."""
    state = applied_state(world(["jane"]))
    plain = hashlib.sha256(canonical_json({"state": None}).encode()).hexdigest()
    assert fingerprint_of("user.nobody", state, None, KEY) == "sha256:" + plain
    assert fingerprint_of("user.jane", state, None, KEY) != "sha256:" + plain


def test_the_fingerprint_of_an_address_looked_for_and_not_seen_is_one_shared_text() -> None:
    """A first plan with refresh fingerprints 400,000 addresses nothing is known of: one
    text for all, the digest of the payload it would otherwise build; anything seen of the
    address (missing included) gives another."""
    state = applied_state(world([]))
    nothing = Observed()
    plain = canonical_json({"state": None, "live": None, "session": None})
    seen = fingerprint_of("user.nobody", state, nothing, KEY)
    assert seen == "sha256:" + hashlib.sha256(plain.encode()).hexdigest()
    assert fingerprint_of("user.other", state, nothing, KEY) is seen
    gone = Observed(missing=frozenset({"user.nobody"}))
    assert fingerprint_of("user.nobody", state, gone, KEY) != seen
    assert fingerprint_of("user.other", state, gone, KEY) is seen


def test_mask_shares_a_map_with_nothing_to_mask_and_copies_one_with_a_secret() -> None:
    from spsync.fields import SENSITIVE, mask

    plain = {"firstName": "Ada", "email": "ada@example.edu"}
    assert mask(plain) is plain
    assert mask(plain, {"firstName": "Al"}) is plain
    secret = {"name": "Final", "password": "fp:abc"}
    shown = mask(secret)
    assert shown == {"name": "Final", "password": SENSITIVE}
    assert secret == {"name": "Final", "password": "fp:abc"}  # the original is untouched
    nested = {"settings": {"password": "fp:abc"}, "name": "Final"}
    assert mask(nested) == {"settings": {"password": SENSITIVE}, "name": "Final"}


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_the_desired_digest_is_fed_in_pieces_to_the_same_mac(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``desired_digest_of`` is the keyed MAC of one canonical JSON text of every address's
    manifest version, however many addresses it encodes at once."""
    d = world(["jane", "bob", "carl"], scheduled=["jane", "bob"])
    addresses = [*sorted(d.addresses()), "user.gone", "user.jane"]  # a repeat, an unknown one
    t = d.tenant
    whole = {
        "tenant": {
            "tenant": t.tenant,
            "install": t.install,
            "api_url": t.api.url,
            "signon": t.signon.integrationSid if t.signon else None,
        },
        "resources": {a: fields._desired_body(d, a, KEY) for a in sorted(set(addresses))},
    }
    mac = hmac.new(KEY, canonical_json(whole).encode(), hashlib.sha256).hexdigest()
    monkeypatch.setattr(fields, "_DIGEST_CHUNK", chunk)
    assert fields.desired_digest_of(d, addresses, KEY) == "hmac-sha256:" + mac
    assert fields.desired_digest_of(d, [], KEY) != fields.desired_digest_of(d, ["user.gone"], KEY)
