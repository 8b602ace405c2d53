"""``AddressTable``: address -> fixed-size value in a few objects, in address order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spsync.address_table import AddressTable

_addresses = st.text(st.sampled_from("abcé.-_0129ü"), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_addresses, st.binary(min_size=3, max_size=3), max_size=40))
def test_a_table_holds_the_dict_it_was_made_of_in_address_order(pairs: dict[str, bytes]) -> None:
    table = AddressTable(pairs.items(), 3)
    assert len(table) == len(pairs)
    assert list(table.items()) == sorted(pairs.items())
    assert table == AddressTable(reversed(list(pairs.items())), 3)
    if pairs:
        assert table != AddressTable(list(pairs.items())[1:], 3)


def test_a_table_refuses_a_repeated_address_and_a_value_of_another_size() -> None:
    with pytest.raises(ValueError, match=r"user\.a is in the table twice"):
        AddressTable([("user.a", b"x"), ("user.a", b"y")], 1)
    with pytest.raises(ValueError, match=r"user\.a: a value of 2 bytes, not 1"):
        AddressTable([("user.a", b"xy")], 1)
    empty = AddressTable([], 4)
    assert (len(empty), list(empty.items())) == (0, [])
