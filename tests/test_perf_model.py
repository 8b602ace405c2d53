"""Manifest models share their "fields set"; locations are plain tuples (memory of a roster)."""

from __future__ import annotations

from spsync.model import Ids, Location, User, trusted
from spsync.observed import LiveObject


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


def test_a_trusted_instance_equals_the_constructed_one() -> None:
    values = {"sid": "US" + "a" * 32, "refs": {"course": "CU" + "b" * 32}, "fields": {}}
    fields = set(LiveObject.model_fields)
    made = trusted(LiveObject, fields, {**values, "status": None})
    assert made == LiveObject.model_construct(**values, status=None)
    assert made.model_dump() == {**values, "status": None}
    assert made.model_fields_set is fields
    assert made.model_copy(update={"status": "Scheduled"}).status == "Scheduled"
    assert made.status is None
