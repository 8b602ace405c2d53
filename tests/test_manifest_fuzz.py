"""Fuzzing ``spsync validate``: any bytes give exit 0 or 1, located messages, no traceback."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spsync.cli import main

SCHOOL = Path(__file__).parent / "fixtures" / "manifests" / "valid" / "school"
FILES = {name: (SCHOOL / name).read_bytes() for name in ("tenant.yaml", "main.yaml")}
ENV = {"SPSYNC_SCHOOL_TOKEN": "t", "SPSYNC_SCHOOL_PASSWORD": "p"}

# what YAML is made of, plus things that break it
PIECES = st.sampled_from(
    [
        ":",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!!str ",
        "!x ",
        "<<: ",
        "|",
        ">",
        "'",
        '"',
        "#",
        "\t",
        "\n",
        "\n  ",
        " ",
        "~",
        "? ",
        "---\n",
        "%YAML 1.1\n",
        "@",
        "`",
        "\\",
        "é",
        "\ufeff",
        "\x00",
        "\x85",
        "2027-01-01T00:00:00Z",
        "null",
        "yes",
        "-1",
        "1e9",
        "TS63dda27a6ba54c218449b934b7bb1ba8",
        "jane",
        "final",
        "main",
        "users:",
        "sessions:",
        "ids:",
        "sid: ",
        "env: ",
        "file: ",
        "courses:",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """One of the valid files with a few random edits (deletions, insertions)."""
    name = draw(st.sampled_from(sorted(FILES)))
    data = bytearray(FILES[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 12))
        piece = draw(st.one_of(PIECES, st.text(max_size=4)))
        data[at : at + cut] = piece.encode("utf-8", "surrogatepass")
    return name, bytes(data)


RANDOM_BYTES = st.tuples(st.sampled_from(sorted(FILES)), st.binary(max_size=300))


def _check(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "school"
        d.mkdir()
        for fname, content in FILES.items():
            (d / fname).write_bytes(data if fname == name else content)
        r = CliRunner(env=ENV).invoke(main, ["validate", str(d)])
    assert r.exit_code in (0, 1), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.stderr
    assert "internal error" not in r.stderr
    if r.exit_code == 0:
        assert r.stderr == ""
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*: ok \(.*\)\n", r.stdout)
        return
    assert r.stdout == ""
    *lines, last = r.stderr.rstrip("\n").split("\n")
    assert re.fullmatch(r"\d+ problems? found", last)
    assert lines
    located = re.compile(rf"{re.escape(str(d))}/(tenant|main)\.yaml:[1-9]\d*:[1-9]\d*: .+")
    for line in lines:
        assert located.fullmatch(line), line


@settings(max_examples=60, deadline=None)
@given(mutated())
def test_mutated_manifests(case: tuple[str, bytes]) -> None:
    _check(*case)


@settings(max_examples=40, deadline=None)
@given(RANDOM_BYTES)
def test_random_bytes(case: tuple[str, bytes]) -> None:
    _check(*case)
