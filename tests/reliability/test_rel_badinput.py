"""Bad input: property-based tests feeding ``spsync plan`` and ``spsync apply --auto-approve``
manifests broken in every way a person (or a bad generator) can break them: wrong types,
missing fields, broken references, random bytes, huge values, deep nesting, alias bombs,
duplicate keys, non-UTF-8 files, a missing secret.

Against a simulator and a tenant that was applied once, every broken tree must give: exit 1;
every message located (``file:line:col``, or at least the file); no traceback; **no API
call** (the simulator's request counter stays at 0); the state directory byte-identical; no
plan file written.

The properties run the CLI in-process (fast); a fixed list of the nastiest files also runs
through real subprocesses.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.reliability import Run, Workspace, control, requests_seen, run_parallel, simulator

from spsync.cli import main

FILES = ("tenant.yaml", "courses.yaml", "exams.yaml", "roster.yaml")


@dataclass(repr=False)
class Base:
    """A tenant applied once, the simulator's counters reset since."""

    ws: Workspace
    url: str
    originals: dict[str, bytes]
    state: dict[str, bytes]
    docs: dict[str, Any]

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Base({self.ws.tenant_dir()})"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    with simulator(seed=51) as srv:
        ws = Workspace(tmp_path_factory.mktemp("badinput"), srv.url, learners=4)
        tdir = ws.tenant_dir()
        docs = {f: yaml.safe_load((tdir / f).read_text()) for f in FILES}
        # the trees below are re-serialised by yaml.safe_dump: the unmutated round trip
        # must be valid, so that every failure comes from the mutation
        for f in FILES:
            (tdir / f).write_text(yaml.safe_dump(docs[f], sort_keys=False))
        first = ws.apply()
        assert first.code == 0, str(first)
        assert ws.plan(None, "--detailed-exitcode").code == 0
        control(srv.url, "DELETE", "/_sandbox/requests")
        originals = {f: (tdir / f).read_bytes() for f in FILES}
        yield Base(ws, srv.url, originals, ws.state_bytes(), docs)


# --- mutations ---------------------------------------------------------------------------

#: (file, path, wrong values): a field and values of a type or form it never accepts
WRONG: list[tuple[str, tuple[Any, ...], list[Any]]] = [
    ("exams.yaml", ("exams", "cert", "configuration", "duration"),
     ["two hours", -5, 0, 1.5, [120], {"minutes": 120}, True, 10**12]),
    ("exams.yaml", ("exams", "safety", "configuration", "attempts"), [0, "once", [1], 2**70]),
    ("exams.yaml", ("exams", "cert", "limitedScope"), ["maybe", 1, "yes", []]),
    ("exams.yaml", ("exams", "cert", "configuration", "access", "open"),
     ["tomorrow", "2027-13-01T00:00:00Z", "2027-01-01 00:00", 20270101, "2028-06-01T00:00:00Z"]),
    ("exams.yaml", ("exams", "cert", "configuration", "proctorTypes"),
     [{"TSdeadbeef": {}}, [], "TS63dda27a6ba54c218449b934b7bb1ba8", {}]),
    ("exams.yaml", ("exams", "cert", "configuration", "url"), ["ftp://exams", 42, ""]),
    ("exams.yaml", ("exams", "cert", "type"), ["oral", 3]),
    ("courses.yaml", ("courses", "main", "ids"),
     [{"external": "a", "api": "b"}, {}, "main", {"sid": "CU123"}, {"email": "x"}]),
    ("courses.yaml", ("courses", "main", "title"), [["T"], {"t": 1}, ""]),
    ("roster.yaml", ("users", "u000", "email"), [["a@b.c"], 12, "not-an-email", "a@", "x" * 5000]),
    ("roster.yaml", ("users", "u001", "timeZone"), ["Mars/Olympus", 5, "EST5EDT+9"]),
    ("roster.yaml", ("users", "u002", "currencyCode"), ["dollars", "usd", 840]),
    ("roster.yaml", ("sessions", 0, "appointment"),
     ["next week", "2027-03-01T14:00:00", 12345, "2030-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]),
    ("roster.yaml", ("sessions", 0, "type"), ["teleport", 7]),
    ("roster.yaml", ("sessions", 1, "proctorLocation"), ["XX123", "PL" + "g" * 32, 0]),
    ("roster.yaml", ("sessions", 1, "amount"), [-1, "free", [0]]),
    ("roster.yaml", ("enrollments", 0, "role"), ["janitor", 1]),
    ("tenant.yaml", ("install",), ["AI123", 42, "CU" + "0" * 32, "AI" + "A" * 32]),
    ("tenant.yaml", ("tenant",), ["Bad Name!", [], "-x"]),
    ("tenant.yaml", ("api", "url"), ["ftp://api.example.com", 7, "not a url"]),
    ("tenant.yaml", ("api", "token"), ["literal-token-in-yaml", {"env": "lower case"}]),
    ("tenant.yaml", ("policy", "maxDestroy"), [-1, "ten"]),
    ("tenant.yaml", ("defaults", "user", "timeZone"), ["Nowhere/Land"]),
]  # fmt: skip

#: (file, path) of a field that must be there
REQUIRED: list[tuple[str, tuple[Any, ...]]] = [
    ("tenant.yaml", ("tenant",)),
    ("tenant.yaml", ("install",)),
    ("courses.yaml", ("courses", "main", "title")),
    ("courses.yaml", ("courses", "compliance", "code")),
    ("courses.yaml", ("courses", "main", "ids")),
    ("exams.yaml", ("exams", "cert", "course")),
    ("exams.yaml", ("exams", "cert", "title")),
    ("exams.yaml", ("exams", "safety", "configuration")),
    ("exams.yaml", ("exams", "cert", "configuration", "url")),
    ("exams.yaml", ("exams", "cert", "configuration", "access")),
    ("exams.yaml", ("exams", "cert", "configuration", "duration")),
    ("exams.yaml", ("exams", "cert", "configuration", "password")),
    ("exams.yaml", ("exams", "orientation", "configuration", "proctorTypes")),
    ("roster.yaml", ("users", "u000", "firstName")),
    ("roster.yaml", ("users", "u001", "email")),
    ("roster.yaml", ("users", "olivia", "ids")),
    ("roster.yaml", ("sessions", 0, "exam")),
    ("roster.yaml", ("sessions", 1, "user")),
    ("roster.yaml", ("sessions", 2, "appointment")),
    ("roster.yaml", ("enrollments", 0, "user")),
]

#: (file, path) of a reference to another entity by its local name
REFERENCES: list[tuple[str, tuple[Any, ...]]] = [
    ("exams.yaml", ("exams", "cert", "course")),
    ("exams.yaml", ("exams", "orientation", "course")),
    ("roster.yaml", ("sessions", 0, "exam")),
    ("roster.yaml", ("sessions", 1, "user")),
    ("roster.yaml", ("enrollments", 0, "course")),
    ("roster.yaml", ("enrollments", 1, "user")),
    ("roster.yaml", ("assignments", "cert", 0)),
]

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True).map(lambda s: f"ghost-{s}")


@dataclass(frozen=True)
class Case:
    """One broken tree: the files replaced (name -> bytes), what was done, and whether the
    problem can only be named by file (not line and column)."""

    files: tuple[tuple[str, bytes], ...]
    what: str
    file_only: bool = False
    env: tuple[tuple[str, str | None], ...] = ()


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**9).encode()


@st.composite
def wrong_type(draw: st.DrawFn, docs: dict[str, Any]) -> Case:
    fname, path, values = draw(st.sampled_from(WRONG))
    value = draw(st.sampled_from(values))
    doc = copy.deepcopy(docs[fname])
    _set(doc, path, value)
    return Case(((fname, _dump(doc)),), f"{fname} {path} = {value!r:.60}")


@st.composite
def missing_field(draw: st.DrawFn, docs: dict[str, Any]) -> Case:
    fname, path = draw(st.sampled_from(REQUIRED))
    doc = copy.deepcopy(docs[fname])
    _delete(doc, path)
    return Case(((fname, _dump(doc)),), f"{fname} without {path}")


@st.composite
def broken_reference(draw: st.DrawFn, docs: dict[str, Any]) -> Case:
    fname, path = draw(st.sampled_from(REFERENCES))
    doc = copy.deepcopy(docs[fname])
    name = draw(NAMES)
    _set(doc, path, name)
    return Case(((fname, _dump(doc)),), f"{fname} {path} -> {name}")


@st.composite
def random_bytes(draw: st.DrawFn) -> Case:
    fname = draw(st.sampled_from(FILES))
    data = bytearray(draw(st.binary(min_size=0, max_size=300)))
    # a lone continuation byte: never valid UTF-8, whatever surrounds it
    data.insert(draw(st.integers(0, len(data))), 0x80)
    return Case(((fname, bytes(data)),), f"{fname}: random bytes")


@st.composite
def non_utf8(draw: st.DrawFn, originals: dict[str, bytes]) -> Case:
    fname = draw(st.sampled_from(FILES))
    encoding = draw(st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-16-be", "utf-32"]))
    text = originals[fname].decode()
    # a non-ASCII character in a comment, so that the encodings differ from UTF-8
    text = text.replace("\n", f"\n# Café {draw(st.sampled_from('éüßñø'))}\n", 1)
    return Case(((fname, text.encode(encoding)),), f"{fname} in {encoding}")


@st.composite
def huge_value(draw: st.DrawFn, docs: dict[str, Any]) -> Case:
    which = draw(st.sampled_from(["duration", "attempts", "amount", "sid", "email", "name"]))
    exp = draw(st.integers(10, 4000))
    fname = "exams.yaml"
    if which == "duration":
        doc = copy.deepcopy(docs[fname])
        _set(doc, ("exams", "cert", "configuration", "duration"), 10**exp)
    elif which == "attempts":
        doc = copy.deepcopy(docs[fname])
        _set(doc, ("exams", "cert", "configuration", "attempts"), 10**exp)
    elif which == "amount":
        fname = "roster.yaml"
        doc = copy.deepcopy(docs[fname])
        _set(doc, ("sessions", 0, "amount"), float("inf"))
    elif which == "sid":
        fname = "courses.yaml"
        doc = copy.deepcopy(docs[fname])
        _set(doc, ("courses", "main", "ids"), {"sid": "CU" + "a" * (32 + exp)})
    elif which == "email":
        fname = "roster.yaml"
        doc = copy.deepcopy(docs[fname])
        _set(doc, ("users", "u000", "email"), "a" * exp * 100 + "@")
    else:
        fname = "roster.yaml"
        doc = copy.deepcopy(docs[fname])
        doc["users"]["x" * exp * 50 + "!"] = doc["users"]["u000"]
    return Case(((fname, _dump(doc)),), f"{fname}: huge {which} ({exp})")


@st.composite
def many_digits(draw: st.DrawFn, originals: dict[str, bytes]) -> Case:
    """An integer with more digits than Python converts by default (4,300)."""
    digits = draw(st.integers(4000, 60000))
    text = originals["exams.yaml"].replace(b"duration: 120", b"duration: 1" + b"0" * digits, 1)
    assert text != originals["exams.yaml"]
    return Case((("exams.yaml", text),), f"duration of {digits + 1} digits")


@st.composite
def deep_nesting(draw: st.DrawFn, originals: dict[str, bytes]) -> Case:
    fname = draw(st.sampled_from(FILES[1:]))
    depth = draw(st.integers(65, 20000))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
    value = opener * depth + closer * depth
    return Case(
        ((fname, originals[fname] + f"\nnested: {value}\n".encode()),),
        f"{fname}: nesting {depth} deep",
    )


@st.composite
def alias_bomb(draw: st.DrawFn, originals: dict[str, bytes]) -> Case:
    fname = draw(st.sampled_from(FILES))
    width = draw(st.integers(4, 12))
    levels = draw(st.integers(1, 12))
    while width**levels <= 1_000_000:
        levels += 1
    lines = ['l0: &l0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"l{i}: &l{i} [{refs}]")
    bomb = "\n".join(lines) + "\n"
    return Case(
        ((fname, originals[fname] + b"\n" + bomb.encode()),),
        f"{fname}: alias bomb {width}^{levels}",
    )


@st.composite
def duplicate_key(draw: st.DrawFn, originals: dict[str, bytes]) -> Case:
    fname = draw(st.sampled_from(FILES))
    text = originals[fname].decode()
    first_key = text.split(":", 1)[0]
    return Case(((fname, (text + f"{first_key}: {{}}\n").encode()),), f"{fname}: dup {first_key}")


@st.composite
def missing_secret(draw: st.DrawFn) -> Case:
    var = draw(
        st.sampled_from(
            ["SPSYNC_REL_PW_0", "SPSYNC_REL_PW_1", "SPSYNC_REL_PW_2", "SPSYNC_REL_TOKEN"]
        )
    )
    blank = draw(st.sampled_from([None, ""]))
    return Case((), f"{var} {'unset' if blank is None else 'empty'}", env=((var, blank),))


@st.composite
def broken(draw: st.DrawFn, base: Base) -> Case:
    docs, originals = base.docs, base.originals
    kind = draw(
        st.sampled_from(
            [
                wrong_type(docs),
                missing_field(docs),
                broken_reference(docs),
                random_bytes(),
                non_utf8(originals),
                huge_value(docs),
                many_digits(originals),
                deep_nesting(originals),
                alias_bomb(originals),
                duplicate_key(originals),
                missing_secret(),
            ]
        )
    )
    return draw(kind)


# --- running and checking ----------------------------------------------------------------

LOCATED = r"{dir}/(?:{files})(?::[1-9]\d*:[1-9]\d*)?"


def run_inprocess(base: Base, case: Case, command: str) -> Run:
    """``spsync plan|apply`` in this process on the tree broken by ``case``."""
    ws = base.ws
    tdir = ws.tenant_dir()
    out_file = ws.root / "plan.out.json"
    args = [command, str(tdir), "--state-dir", str(ws.state_dir)]
    args += ["--auto-approve"] if command == "apply" else ["--out", str(out_file)]
    env = {**ws.env, **dict(case.env)}
    with _broken_tree(base, case), contextlib.chdir(ws.root):
        result = CliRunner(env=env).invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), case.what
    assert not out_file.exists(), case.what
    return Run(args, result.exit_code, result.stdout, result.stderr)


@contextlib.contextmanager
def _broken_tree(base: Base, case: Case) -> Iterator[None]:
    tdir = base.ws.tenant_dir()
    try:
        for fname, data in case.files:
            (tdir / fname).write_bytes(data)
        yield
    finally:
        for fname, data in base.originals.items():
            (tdir / fname).write_bytes(data)


def check_refused(base: Base, case: Case, run: Run, tdir: Path | None = None) -> None:
    """Exit 1, located messages naming the broken file, no traceback, no API call, state
    untouched. ``tdir``: where the broken tree is (default: the base's tenant directory)."""
    tdir = tdir or base.ws.tenant_dir()
    where = f"{case.what}\n{run}"
    assert run.code == 1, where
    assert run.out == "", where
    assert "Traceback" not in run.err and "internal error" not in run.err, where
    lines = [x for x in run.err.splitlines() if x.strip()]
    assert lines, where
    if re.fullmatch(r"\d+ problems? found", lines[-1]):
        lines = lines[:-1]
    located = re.compile(LOCATED.format(dir=re.escape(str(tdir)), files="|".join(FILES)))
    for line in lines:
        assert located.search(line), f"unlocated line {line!r}\n{where}"
    for fname, _ in case.files:
        assert f"{tdir}/{fname}" in run.err, where
    if not case.file_only and case.files:
        assert re.search(rf"{re.escape(str(tdir))}/[a-z]+\.yaml:[1-9]\d*:[1-9]\d*: ", run.err)
    assert requests_seen(base.url)["total"] == 0, where
    assert base.ws.state_bytes() == base.state, where


def test_rel_base_tree_is_valid_and_applied(base: Base) -> None:
    """The unmutated tree plans to nothing (and that plan made calls: reset afterwards), so
    the properties below fail only through their mutation."""
    plan = base.ws.plan(None, "--detailed-exitcode")
    assert plan.code == 0, str(plan)
    assert requests_seen(base.url)["total"] > 0
    control(base.url, "DELETE", "/_sandbox/requests")
    assert base.ws.state_bytes() == base.state


SETTINGS = settings(
    max_examples=45,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(data=st.data())
def test_rel_plan_refuses_broken_manifests(base: Base, data: st.DataObject) -> None:
    case = data.draw(broken(base))
    check_refused(base, case, run_inprocess(base, case, "plan"))


@SETTINGS
@given(data=st.data())
def test_rel_apply_refuses_broken_manifests(base: Base, data: st.DataObject) -> None:
    case = data.draw(broken(base))
    check_refused(base, case, run_inprocess(base, case, "apply"))


def test_rel_nastiest_files_through_real_processes(base: Base) -> None:
    """The same checks with ``python -m spsync`` in its own process, for the files that
    stress the parser most (a process is where a stack overflow or a decode crash would
    show); plan and apply take turns."""
    originals, ws = base.originals, base.ws
    bomb = "\n".join(
        ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
        + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    )
    deep = b"\nx: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    digits = originals["exams.yaml"].replace(b"duration: 120", b"duration: 1" + b"0" * 50_000)
    jobs = [
        ("apply", Case((("roster.yaml", originals["roster.yaml"] + f"\n{bomb}\n".encode()),),
                       "alias bomb 10^10")),
        ("plan", Case((("exams.yaml", originals["exams.yaml"] + deep),), "nesting 100,000")),
        ("apply", Case((("courses.yaml", bytes(range(256)) * 8),), "all 256 bytes")),
        ("plan", Case((("tenant.yaml", originals["tenant.yaml"].decode().encode("utf-16")),),
                      "UTF-16")),
        ("apply", Case((("roster.yaml", originals["roster.yaml"].replace(b"Learner", b"L\xe9a")),),
                       "Latin-1 letters")),
        ("plan", Case((("exams.yaml", digits),), "an integer of 50,001 digits")),
    ]  # fmt: skip

    def job(command: str, case: Case, tdir: Path) -> Run:
        # each job has its own copy of the tree (they run two at a time)
        tdir.mkdir(parents=True)
        for f in FILES:
            (tdir / f).write_bytes(originals[f])
        for fname, data in case.files:
            (tdir / fname).write_bytes(data)
        extra = ["--auto-approve"] if command == "apply" else []
        return ws.run(command, str(tdir), "--state-dir", str(ws.state_dir), *extra)

    dirs = [ws.root / "scratch" / f"t{i}" / "rel" for i in range(len(jobs))]
    runs = run_parallel(
        [lambda j=j, d=d: job(j[0], j[1], d) for j, d in zip(jobs, dirs, strict=True)], workers=2
    )
    for (_command, case), run, tdir in zip(jobs, runs, dirs, strict=True):
        check_refused(base, case, run, tdir)
