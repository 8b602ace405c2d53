"""Every command of the docs runs: the ```sh blocks of README.md and docs/*.md are executed.

Each page runs as one shell session, block after block, in a temporary directory holding a
copy of manifests/, as a user following the page would: the exam passwords of the example
tenants are set, ``spsync`` is this checkout on the embedded sandbox (a shim that adds
``--sandbox``, so commands written for the real service run too; each command is a process
forked from a server that has spsync imported already, see support/docs_forkserver.py), its clock
is pinned, and stdin is a terminal that answers ``yes`` to apply's question. A ```yaml
block whose info string says ``file=PATH`` is written to PATH when the session reaches it
(the page tells the reader to save it there).

Each command must exit 0, or the code its line announces with a trailing ``# exit N``.
Blocks in other languages (```text, ```json, plain ```) are output or illustrations, not
run; their ``spsync`` lines are checked against the CLI by test_docs_commands.py.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.docs import REPO, Block, blocks, doc_files, sandbox_workdir
from support.docs_forkserver import ForkServer

#: commands that are not run, and why (asserted: nothing else is skipped)
SKIPPED = {"README.md": ["make test"]}  # the suite these tests belong to


@dataclass(frozen=True)
class Command:
    """One command line of a page (continuations and here-documents included)."""

    block: Block
    line: int
    text: str
    exit: int


_EXIT = re.compile(r"#\s*exit (\d+)\b")
_HEREDOC = re.compile(r"<<-?\s*'?\"?([A-Za-z_]+)'?\"?")


def commands_of(block: Block) -> list[Command]:
    """The commands of a ```sh block."""
    lines = block.text.splitlines()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        i += 1
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        while text.endswith("\\") and i < len(lines):
            text += "\n" + lines[i]
            i += 1
        m = _HEREDOC.search(text)
        if m:
            while i < len(lines):
                text += "\n" + lines[i]
                i += 1
                if lines[i - 1].strip() == m.group(1):
                    break
        assert not re.match(r"\s*(for|while|if|case)\b", text), (
            f"{block.where()}: keep documented commands one per line (no {text.split()[0]})"
        )
        code = _EXIT.search(text.splitlines()[0]) or _EXIT.search(text.splitlines()[-1])
        out.append(Command(block, block.line + 1 + start, text, int(code.group(1)) if code else 0))
    return out


def session(page: Path) -> tuple[str, list[Command]]:
    """The shell script that runs a page, and its commands in order."""
    script = ["set +u", 'rc() { echo "$1 $2" >> "$DOC_RC_LOG"; }']
    commands: list[Command] = []
    for block in blocks(page):
        if block.lang == "yaml" and "file" in block.attrs:
            target = block.attrs["file"]
            script += [
                f'mkdir -p "$(dirname "{target}")"',
                f"cat > '{target}' <<'__DOC_YAML_END__'",
                block.text.rstrip("\n"),
                "__DOC_YAML_END__",
            ]
        if block.lang not in ("sh", "bash", "shell"):
            continue
        for cmd in commands_of(block):
            n = len(commands)
            commands.append(cmd)
            label = f"=== [{n}] {cmd.block.file.name}:{cmd.line}: {cmd.text.splitlines()[0]}"
            script += [f"echo {_quote(label)}", cmd.text, f"rc {n} $?"]
    return "\n".join(script) + "\n", commands


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


PAGES = [p for p in doc_files() if any(b.lang in ("sh", "bash", "shell") for b in blocks(p))]


def test_every_page_with_commands_is_run() -> None:
    names = {p.name for p in PAGES}
    assert {
        "README.md",
        "getting-started.md",
        "commands.md",
        "ci.md",
        "adopting.md",
        "exit-codes.md",
    } <= names
    for page in doc_files():
        for block in blocks(page):
            assert block.lang != "console", f"{block.where()}: use sh (run) or text (output)"


@dataclass
class Run:
    """One page's session: where it ran, what it printed, each command's exit code."""

    root: Path
    commands: list[Command]
    log: str
    codes: dict[int, int]


def _start(page: Path, root: Path, spsync: str) -> tuple[subprocess.Popen[str], list[Command], int]:
    script, commands = session(page)
    env = sandbox_workdir(root, spsync)
    env["DOC_RC_LOG"] = str(root / ".rc")
    master, slave = pty.openpty()
    os.write(master, b"yes\n" * 8)  # apply's question, each time it is asked
    p = subprocess.Popen(
        ["bash", "-c", script],
        cwd=root,
        env=env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(slave)
    return p, commands, master


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every page's session, all started at once (they are independent: a directory, a
    sandbox and a state each), so the module takes as long as its longest page."""
    server = ForkServer.start(tmp_path_factory.mktemp("forkserver"))
    spsync = server.shim(["--sandbox"])
    started = {}
    for page in PAGES:
        root = tmp_path_factory.mktemp(page.stem)
        started[page.name] = (root, *_start(page, root, spsync))
    out = {}
    for name, (root, p, commands, master) in started.items():
        try:
            log, _ = p.communicate(timeout=300)
        finally:
            os.close(master)
        rc_log = root / ".rc"
        codes = {}
        if rc_log.exists():
            for line in rc_log.read_text().splitlines():
                n, code = line.split()
                codes[int(n)] = int(code)
        out[name] = Run(root, commands, log, codes)
    server.stop()
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_commands_of_the_page_run(page: Path, runs: dict[str, Run]) -> None:
    run = runs[page.name]
    assert run.commands, page
    failures = []
    for n, cmd in enumerate(run.commands):
        if run.codes.get(n) != cmd.exit:
            section = run.log.split(f"=== [{n}] ", 1)[-1].split("\n=== [", 1)[0]
            failures.append(
                f"{cmd.block.file.name}:{cmd.line}: exit {run.codes.get(n)}, expected "
                f"{cmd.exit}:\n  $ {cmd.text}\n"
                + "\n".join("  " + x for x in section.splitlines()[-25:])
            )
    assert failures == [], "\n\n".join(failures)
    skip_log = run.root / ".skipped"
    skipped = skip_log.read_text().splitlines() if skip_log.exists() else []
    assert skipped == SKIPPED.get(page.name, [])


#: pages whose ```text blocks show what their commands print
OUTPUT_PAGES = ("getting-started.md", "adopting.md")


@pytest.mark.parametrize("name", OUTPUT_PAGES)
def test_the_output_shown_is_the_output_printed(name: str, runs: dict[str, Run]) -> None:
    """Each line of the page's output blocks is printed by its commands (lines with an
    ellipsis are elided ones, and skipped), in the log or in a file they wrote."""
    run = runs[name]
    printed = run.log + "".join(p.read_text() for p in run.root.glob("*.md"))
    page = next(p for p in PAGES if p.name == name)
    shown = [
        line.rstrip()
        for b in blocks(page)
        if b.lang == "text"
        for line in b.text.splitlines()
        if line.strip() and "…" not in line and line.strip() != "..."
    ]
    assert len(shown) >= 5
    assert [line for line in shown if line not in printed] == []


def test_the_readme_leaves_a_reviewable_plan(runs: dict[str, Run]) -> None:
    """The markdown plan of the README's taste is a pull-request comment."""
    md = (runs["README.md"].root / "plan.md").read_text()
    assert md.startswith("### spsync plan\n\n| tenant | create | unchanged |\n")
    assert "| `initech` | 3 | 0 |" in md
    assert "<details><summary>Details: 3 changes</summary>" in md
    assert len(md) < 60_000


def test_commands_are_split_as_written() -> None:
    page = REPO / "docs" / "x.md"
    block = Block(
        page,
        10,
        "sh",
        "# a comment\n"
        "spsync validate manifests\n"
        "spsync plan manifests \\\n  --detailed-exitcode   # exit 2\n"
        "cat > f <<'EOF'\nline\nEOF\n",
    )
    got = [(c.line, c.text, c.exit) for c in commands_of(block)]
    assert got == [
        (12, "spsync validate manifests", 0),
        (13, "spsync plan manifests \\\n  --detailed-exitcode   # exit 2", 2),
        (15, "cat > f <<'EOF'\nline\nEOF", 0),
    ]
