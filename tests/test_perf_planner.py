"""The planner's shortcuts give what the plain way gives: changes built without validation
are the validated ones, ``linked``'s fast path drops what the full rule drops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st
from support.plan import (
    applied_state,
    edit_live,
    missing,
    observed_matching,
    session,
    user,
    world,
)

from spsync.fields import project
from spsync.model import Desired
from spsync.plan import ACTIONS, DESTRUCTIVE, REASONS, Change, TenantPlan
from spsync.planner import build_plan
from spsync.planner_base import linked
from spsync.planner_provision import _manages_same

_names = st.sampled_from([f"{k}.{n}" for k in ("user", "session.cert") for n in "abcdef"])
_fields = st.none() | st.dictionaries(
    st.text(max_size=5),
    st.none()
    | st.integers()
    | st.text(max_size=5)
    | st.dictionaries(st.text(max_size=3), st.integers()),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    _names,
    st.sampled_from(ACTIONS),
    st.sampled_from(REASONS),
    _fields,
    _fields,
    st.lists(_names, max_size=4).map(lambda x: tuple(sorted(set(x)))),
    st.none() | _names,
)
def test_a_trusted_change_is_the_validated_change(
    address: str,
    action: Any,
    reason: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    depends_on: tuple[str, ...],
    previous: str | None,
) -> None:
    values: dict[str, Any] = {
        "address": address,
        "action": action,
        "reason": reason,
        "destructive": action in DESTRUCTIVE,
        "before": before,
        "after": after,
        "depends_on": depends_on,
        "previous_address": previous,
    }
    fast, plain = Change.trusted(**values), Change(**values)
    assert fast == plain
    assert not hasattr(fast, "__dict__") and not hasattr(plain, "__dict__")  # slots only
    assert fast.model_dump(mode="json") == plain.model_dump(mode="json")
    assert fast.model_copy(update={"depends_on": ()}) == plain.model_copy(update={"depends_on": ()})


def _plans() -> list[TenantPlan]:
    """Plans with every kind of change the planner makes: first apply, edits, drift,
    removals, a user made anew with what hangs off it."""
    d = world(["jane", "bob", "carl"], scheduled=["jane", "bob"])
    st0 = applied_state(d)
    live = observed_matching(st0, d)
    edited = d.model_copy(
        update={
            "users": {**d.users, "user.jane": user("jane", lastName="Changed")},
            "sessions": {
                **{a: s for a, s in d.sessions.items() if a != "session.cert.bob"},
                "session.cert.jane": session("cert", "jane", appointment="2027-04-01T10:00:00Z"),
            },
        }
    )
    smaller: Desired = world(["jane"])
    return [
        build_plan(d, applied_state(world([])), None),
        build_plan(edited, st0, None),
        build_plan(edited, st0, edit_live(live, "user.bob", firstName="Robert")),
        build_plan(d, st0, missing(live, "user.carl")),
        build_plan(smaller, st0, live),
    ]


def test_every_planned_change_is_valid() -> None:
    """The planner builds its changes without validation: validating each again gives the
    very same change (field types included: a list for a tuple would differ)."""
    seen: set[str] = set()
    for tp in _plans():
        for c in tp.changes:
            assert Change(**c.model_dump()) == c
            assert isinstance(c.depends_on, tuple)
            seen.add(c.action)
    assert {"create", "update", "cancel", "forget", "schedule", "reschedule"} <= seen


def _plain_linked(
    changes: Sequence[Change], call_needs: Mapping[str, set[str]]
) -> tuple[Change, ...]:
    """``linked`` as its rule reads, without shortcuts."""
    present = {c.address for c in changes}
    deps = {c.address: {x for x in c.depends_on if x in present} for c in changes}
    out = []
    for c in changes:
        mine, extra = deps[c.address], call_needs.get(c.address, set())
        kept = tuple(
            x
            for x in c.depends_on
            if x in mine and (x not in extra or not any(x in deps[y] for y in mine if y != x))
        )
        out.append(c if kept == c.depends_on else c.model_copy(update={"depends_on": kept}))
    return tuple(out)


_addresses = [f"user.u{i}" for i in range(8)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_addresses), unique=True, max_size=8).flatmap(
        lambda present: st.tuples(
            st.just(present),
            st.lists(
                st.lists(st.sampled_from(_addresses), max_size=4).map(tuple),
                min_size=len(present),
                max_size=len(present),
            ),
            st.dictionaries(
                st.sampled_from(_addresses), st.sets(st.sampled_from(_addresses), max_size=3)
            ),
        )
    )
)
def test_linked_drops_what_the_plain_rule_drops(
    case: tuple[list[str], list[tuple[str, ...]], dict[str, set[str]]],
) -> None:
    present, depends, call_needs = case
    changes = [
        Change(address=a, action="create", reason="new", destructive=False, depends_on=d)
        for a, d in zip(present, depends, strict=True)
    ]
    assert linked(changes, call_needs) == _plain_linked(changes, call_needs)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from([0.0, 1.0, 2.5])
    | st.text("ab", max_size=2)
)
_keys = st.sampled_from(["ids", "configuration", "proctorTypes", "a", "b"])
_maps = st.recursive(_leaf, lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=8)
_field_maps = st.dictionaries(_keys, _maps, max_size=4)


@settings(max_examples=400, deadline=None)
@given(_field_maps, _field_maps)
def test_equal_maps_project_onto_each_other_as_they_are(
    source: dict[str, Any], shape: dict[str, Any]
) -> None:
    """``compare``'s shortcuts: a map equal to the shape is its own projection, and
    ``_manages_same`` is ``project(applied, want) == want``."""
    assert _manages_same(source, shape) == (project(source, shape) == shape)
    assert _manages_same(shape, shape)
    if source == shape:
        assert project(source, shape) == source


_live_edits = st.dictionaries(
    st.sampled_from(["firstName", "lastName", "email", "timeZone", "currencyCode", "nickname"]),
    st.sampled_from(["Jane", "Doe", "jane@example.edu", "UTC", "EUR", None, 0, 0.0, True]),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["user.jane", "user.bob", "enrollment.main.bob"]), _live_edits),
    st.sets(st.sampled_from(["user.jane", "user.bob"])),
)
def test_the_agreeing_live_object_shortcut_plans_what_the_full_comparison_plans(
    edits: dict[str, dict[str, Any]], drifted: set[str]
) -> None:
    """``compare`` decides "unchanged" without laying the live fields over the last applied
    ones when the manifest is what was applied and the live object agrees with it; with
    any live edits (managed fields or not, numbers of another type) and any state drift
    the plan is the one the full comparison makes."""
    d = world(["jane", "bob"], scheduled=["jane"])
    st0 = applied_state(d)
    for address in drifted:
        rec = st0.resources[address]
        st0.resources[address] = rec.model_copy(
            update={"applied": {**rec.applied, "lastName": "Before"}}
        )
    live = observed_matching(st0, d)
    for address, fields in edits.items():
        live = edit_live(live, address, **fields)
    fast = build_plan(d, st0, live)
    with patch("spsync.planner_provision._agrees", lambda want, fields: False):
        full = build_plan(d, st0, live)
    assert fast == full
    assert [(c.address, c.before, c.after) for c in fast.changes] == [
        (c.address, c.before, c.after) for c in full.changes
    ]
