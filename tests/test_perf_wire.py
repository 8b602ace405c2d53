"""Response times already in normal form skip re-parsing, with exactly the same results."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spsync.api.wire import normalise_time, reparse_time
from spsync.api.wire_types import NAIVE_TIME

_times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), allow_imaginary=False
)


@given(_times)
def test_a_time_in_normal_form_is_returned_as_it_is(when: datetime) -> None:
    text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert normalise_time(text) == text == reparse_time(text)


@given(_times, st.integers(-14 * 60, 14 * 60), st.sampled_from(["frac", "offset"]))
def test_other_forms_are_normalised_as_before(when: datetime, minutes: int, form: str) -> None:
    if form == "frac":
        text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        text = when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    assert normalise_time(text) == reparse_time(text)


@given(_times, st.sampled_from(["T", " "]))
def test_a_time_without_a_zone_is_refused_not_taken_for_utc(when: datetime, sep: str) -> None:
    text = when.isoformat(sep=sep)
    for read in (normalise_time, reparse_time):
        with pytest.raises(ValueError) as refused:
            read(text)
        assert str(refused.value) == NAIVE_TIME


@given(_times, st.integers(1, 6))
def test_a_utc_time_with_a_fraction_loses_it_as_parsing_would(when: datetime, digits: int) -> None:
    # the service's own form (milliseconds) takes the fast path; the text is the same
    text = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}"[:digits] + "Z"
    assert normalise_time(text) == reparse_time(text) == when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_text_of_the_right_shape_but_no_real_time_passes_through_unchanged() -> None:
    # pydantic's pattern check decides about it, as it did before
    for text in ("2030-13-45T99:99:99Z", "0000-00-00T00:00:00Z"):
        assert normalise_time(text) == text == reparse_time(text)
    assert normalise_time(" 2030-01-01T08:00:00Z") == "2030-01-01T08:00:00Z"
    assert normalise_time(7) == 7
