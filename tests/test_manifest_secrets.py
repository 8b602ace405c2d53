"""Resolving ``{env: VAR}`` / ``{file: path}`` references; errors never carry values."""

from __future__ import annotations

import pytest

from spsync.secrets import Secret, SecretRef, SecretRefError, resolve

VALUE = "s3cr3t-value"


def _files(**texts: str):  # type: ignore[no-untyped-def]
    def read(name: str) -> str:
        if name not in texts:
            raise FileNotFoundError(name)
        return texts[name]

    return read


def test_env_reference() -> None:
    s = resolve(SecretRef("env", "PW"), env={"PW": VALUE}, read_file=_files())
    assert s == Secret(VALUE)
    assert s.source == "env:PW"
    assert repr(s) == "Secret(env:PW)"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (VALUE, VALUE),
        (VALUE + "\n", VALUE),
        (VALUE + "\r\n", VALUE),
    ],
)
def test_file_reference_drops_one_trailing_newline(text: str, value: str) -> None:
    s = resolve(SecretRef("file", "pw.txt"), env={}, read_file=_files(**{"pw.txt": text}))
    assert s.reveal() == value
    assert s.source == "file:pw.txt"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # only one newline is the editor's: a second one is part of no password
        (VALUE + "\n\n", "has leading or trailing whitespace (value not shown); remove it"),
        (" " + VALUE + " ", "has leading or trailing whitespace (value not shown); remove it"),
        (VALUE + "\t", "has leading or trailing whitespace (value not shown); remove it"),
        ("a\x1b[31m" + VALUE, "holds a control or other unprintable character (value not shown)"),
        (VALUE + "\u202e", "holds a control or other unprintable character (value not shown)"),
    ],
)
def test_file_values_that_cannot_be_meant_are_refused_unshown(text: str, problem: str) -> None:
    with pytest.raises(SecretRefError) as e:
        resolve(SecretRef("file", "pw.txt"), env={}, read_file=_files(**{"pw.txt": text}))
    assert str(e.value) == f'secret file "pw.txt" {problem}'


def test_a_token_outside_ascii_is_refused_unshown() -> None:
    ref = SecretRef("env", "SPSYNC_X_TOKEN")
    with pytest.raises(SecretRefError) as e:
        resolve(ref, env={"SPSYNC_X_TOKEN": "tök-" + VALUE}, read_file=_files(), header=True)
    assert str(e.value) == (
        "environment variable SPSYNC_X_TOKEN holds a character outside ASCII (value not "
        "shown): an API token is sent as an HTTP header"
    )
    # the same value is a valid exam password (not a header)
    assert resolve(ref, env={"SPSYNC_X_TOKEN": "tök-" + VALUE}, read_file=_files()).reveal()


def _raises(read: object) -> object:
    def reader(name: str) -> str:
        raise read  # type: ignore[misc]

    return reader


@pytest.mark.parametrize(
    ("ref", "env", "read_file", "message"),
    [
        (SecretRef("env", "NOPE"), {}, _files(), "environment variable NOPE is not set"),
        (SecretRef("env", "PW"), {"PW": ""}, _files(), "environment variable PW is empty"),
        (
            SecretRef("env", VALUE),
            {VALUE: VALUE},
            _files(),
            "env must name an environment variable (letters, digits and _, "
            "not starting with a digit)",
        ),
        (SecretRef("file", "x"), {}, _files(), 'secret file "x" not found'),
        (SecretRef("file", "x"), {}, _files(x="\n"), 'secret file "x" is empty'),
        (
            SecretRef("file", "x"),
            {},
            _raises(PermissionError(13, "Permission denied")),
            'secret file "x" cannot be read: Permission denied',
        ),
        (
            SecretRef("file", "x"),
            {},
            _raises(UnicodeDecodeError("utf-8", VALUE.encode(), 0, 1, "invalid start byte")),
            'secret file "x" is not UTF-8 text',
        ),
    ],
)
def test_unresolvable_references(
    ref: SecretRef, env: dict[str, str], read_file: object, message: str
) -> None:
    with pytest.raises(SecretRefError) as e:
        resolve(ref, env=env, read_file=read_file)  # type: ignore[arg-type]
    assert str(e.value) == message
    assert VALUE not in str(e.value)
