"""``spsync.fresh_copy``: plain data copied through one buffer, secrets kept aside."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.plan_sandbox import ENV, write_manifests

from spsync import manifest
from spsync.fresh_copy import Packed, pack
from spsync.secrets import Secret, UnreadSecret

_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=30,
)


@given(_plain)
def test_plain_data_comes_back_equal_and_of_the_same_types(value: Any) -> None:
    packed = pack(value)
    assert packed is not None
    again = packed.unpack()
    assert again == value
    assert repr(again) == repr(value)  # tuples stay tuples, True stays True, 1.0 stays 1.0


def test_containers_and_texts_are_new_objects_and_sharing_is_kept() -> None:
    name = "".join(["stu", "dent-1"])  # made at run time: not a shared constant
    shared = {"course": "algebra"}
    value = {"a": {"user": name, "x": shared}, "b": {"user": name, "x": shared}}
    packed = pack(value)
    assert packed is not None
    again = packed.unpack()
    assert again["a"] is not value["a"]
    assert again["a"]["user"] is not name
    assert again["a"]["user"] is again["b"]["user"]
    assert again["a"]["x"] is again["b"]["x"]


def test_a_secret_is_put_back_as_the_same_object_and_never_written_to_the_buffer() -> None:
    token = "s3cr3t-exam-password-4921"
    secret = Secret(token, "env:EXAM_PW")
    unread = UnreadSecret("env:OTHER")
    value = {"exam.final": {"password": secret, "name": "Final"}, "exam.quiz": {"p": unread}}
    packed = pack(value)
    assert packed is not None
    assert token.encode() not in packed._data
    assert b"EXAM_PW" not in packed._data
    again = packed.unpack()
    assert again["exam.final"]["password"] is secret
    assert again["exam.quiz"]["p"] is unread
    assert again["exam.final"]["name"] == "Final"


class _Other:
    pass


@pytest.mark.parametrize("odd", [_Other(), Path("x"), range(3)])
def test_anything_but_plain_data_and_secrets_is_not_packed(odd: Any) -> None:
    assert pack({"values": [1, odd]}) is None


def test_a_buffer_naming_any_other_global_is_refused() -> None:
    hostile = pickle.dumps(Path("/etc/passwd"))
    with pytest.raises(pickle.UnpicklingError, match="not plain data: pathlib"):
        Packed(hostile, []).unpack()


def test_manifests_read_through_the_copy_keep_their_secrets_and_shared_addresses(
    tmp_path: Path,
) -> None:
    write_manifests(tmp_path, "http://127.0.0.1:1")
    [desired] = manifest.load(tmp_path, env=ENV)
    password = desired.exams["exam.cert"].configuration.password
    assert isinstance(password, Secret)
    assert password.reveal() == ENV["SPSYNC_ACME_CERT_PW"]
    assert desired.users["user.jane"].email == "jane@example.com"  # normalised on read
    assert desired.sessions["session.cert.bob"].externalAppointmentId == "appt-bob"
    # the keys are the run's shared texts: the same objects as the locations' addresses
    for group in (desired.users, desired.sessions, desired.enrollments):
        for address in group:
            assert address is sys.intern("".join(address))
    assert set(desired.locations) == set(desired.addresses())
