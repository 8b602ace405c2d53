"""Manifest models share their "fields set"; locations are packed (memory of a roster)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spsync.model import Desired, Ids, Location, Locations, User


def _user(name: str, **extra: str) -> User:
    return User.model_validate({"name": name, "ids": {"external": f"x-{name}"}, **extra})


def test_users_given_the_same_fields_share_one_fields_set() -> None:
    a, b = _user("a", firstName="A"), _user("b", firstName="B")
    assert a.model_fields_set == {"name", "ids", "firstName"}
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert a.ids.__pydantic_fields_set__ is b.ids.__pydantic_fields_set__


def test_different_fields_keep_different_sets() -> None:
    a, c = _user("a", firstName="A"), _user("c", email="c@example.edu")
    assert a.model_fields_set == {"name", "ids", "firstName"}
    assert c.model_fields_set == {"name", "ids", "email"}
    assert a.model_dump(exclude_unset=True) == {
        "name": "a",
        "ids": {"external": "x-a"},
        "firstName": "A",
    }


def test_a_copy_with_an_update_does_not_touch_the_shared_set() -> None:
    a, b = _user("a", firstName="A"), _user("b", firstName="B")
    c = a.model_copy(update={"email": "a@example.edu"})
    assert c.model_fields_set == {"name", "ids", "firstName", "email"}
    assert a.model_fields_set == b.model_fields_set == {"name", "ids", "firstName"}
    assert Ids(external="x").model_fields_set == {"external"}


def test_a_location_is_a_tuple_with_named_parts() -> None:
    loc = Location(file="roster.yaml", line=3, col=5)
    assert loc == ("roster.yaml", 3, 5)
    assert (loc.file, loc.line, loc.col) == ("roster.yaml", 3, 5)
    assert str(loc) == "roster.yaml:3:5"


_positions = st.dictionaries(
    st.text("abcuser.-0123", min_size=1, max_size=12),
    st.tuples(
        st.sampled_from(["a.yaml", "b/users.yaml", "ü.yaml"]),
        st.integers(0, (1 << 28) - 1),
        st.integers(0, (1 << 20) - 1),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_positions, st.text("abcuser.-0123", max_size=12))
def test_packed_locations_are_the_mapping_they_were_built_from(
    positions: dict[str, tuple[str, int, int]], other: str
) -> None:
    locations = Locations(positions)
    expected = {a: Location(*p) for a, p in positions.items()}
    assert dict(locations.items()) == expected
    assert locations == expected and expected == locations
    assert list(locations) == sorted(positions)
    assert len(locations) == len(positions)
    assert (other in locations) == (other in positions)
    if other not in positions:
        with pytest.raises(KeyError):
            locations[other]
    assert Locations.of(positions) == locations
    assert Locations.of(locations) is locations


def test_locations_out_of_range_or_malformed_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Locations({"user.a": ("a.yaml", 1 << 28, 1)})
    with pytest.raises(ValueError, match="out of range"):
        Locations({"user.a": ("a.yaml", 1, 1 << 20)})
    with pytest.raises(ValueError, match="not a position"):
        Locations.of({"user.a": ("a.yaml", "1", 1)})


def test_desired_keeps_its_locations_packed_and_dumps_them_as_a_map() -> None:
    d = Desired.model_validate(
        {
            "tenant": {"tenant": "acme", "install": "AI" + "a" * 32, "file": "t.yaml"},
            "locations": {"user.b": ("u.yaml", 4, 3), "user.a": ("u.yaml", 2, 3)},
        }
    )
    assert isinstance(d.locations, Locations)
    assert d.locations["user.a"] == Location("u.yaml", 2, 3)
    assert d.model_dump()["locations"] == {
        "user.a": Location("u.yaml", 2, 3),
        "user.b": Location("u.yaml", 4, 3),
    }
    assert d.model_copy(update={"locations": {}}).locations == Locations()
