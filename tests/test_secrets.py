"""A Secret never shows its value: str, repr, format, pydantic dumps, JSON."""

from __future__ import annotations

import json
import logging

import pytest

from spsync.model import ExamConfiguration, Window
from spsync.secrets import MASK, Secret

VALUE = "hunter2-very-secret"


def test_secret_is_masked_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret(VALUE, "env:PW")
    assert str(s) == MASK
    assert repr(s) == "Secret(env:PW)"
    assert f"{s}" == MASK
    logging.getLogger("t").warning("pw=%s %r", s, s)
    assert VALUE not in caplog.text
    cfg = ExamConfiguration(
        url="https://x.example/e",
        access=Window(open="2027-01-01T00:00:00Z", close="2027-02-01T00:00:00Z"),
        duration=60,
        password=s,
        proctorTypes={},
    )
    assert VALUE not in repr(cfg)
    assert VALUE not in cfg.model_dump_json()
    assert cfg.model_dump(mode="json")["password"] == MASK
    assert VALUE not in json.dumps(cfg.model_dump(mode="json"))
    assert s.reveal() == VALUE


def test_secret_equality_and_fingerprint() -> None:
    a, b, c = Secret(VALUE), Secret(VALUE), Secret("other")
    assert a == b and a != c
    assert a.fingerprint(b"k") == b.fingerprint(b"k")
    assert a.fingerprint(b"k") != a.fingerprint(b"k2")
    assert VALUE not in a.fingerprint(b"k")


def test_plain_string_is_not_a_secret() -> None:
    with pytest.raises(ValueError, match="secret reference"):
        ExamConfiguration(
            url="u",
            access=Window(open="a", close="b"),
            duration=1,
            password=VALUE,  # type: ignore[arg-type]
            proctorTypes={},
        )
