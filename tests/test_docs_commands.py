"""docs/commands.md is generated from the click tree, and every ``spsync`` command line
written anywhere in the docs names commands and options that exist."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import click
import pytest
from support.docs import DOCS, REPO, doc_files

from spsync.cli import main


def _generator() -> ModuleType:
    path = REPO / "tools" / "gen_commands_doc.py"
    spec = importlib.util.spec_from_file_location("gen_commands_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_is_generated_from_the_cli() -> None:
    gen = _generator()
    doc = (DOCS / "commands.md").read_text(encoding="utf-8")
    assert gen.rewrite(doc) == doc, (
        "docs/commands.md is stale: run python tools/gen_commands_doc.py"
    )


def test_the_reference_covers_every_command_and_option() -> None:
    gen = _generator()
    doc = (DOCS / "commands.md").read_text(encoding="utf-8")
    for path in gen.command_paths():
        ctx = gen.context(path)
        section = doc.split(f"### `{gen.title(path)}`\n", 1)[1].split("\n### ", 1)[0]
        assert section.startswith("\n```text\nUsage: " + gen.title(path)), path
        for param in ctx.command.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden:  # hidden: does nothing
                for opt in (*param.opts, *param.secondary_opts):
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", section), (path, opt)
        assert "Example" in section, path


def test_an_unlisted_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    monkeypatch.setattr(gen, "ORDER", gen.ORDER[:-1])
    with pytest.raises(SystemExit, match=r"missing \[\('sandbox', 'serve'\)\]"):
        gen.render()


# --- every spsync command line of the docs -------------------------------------------------


def _options(cmd: click.Command) -> set[str]:
    ctx = click.Context(cmd, **main.context_settings)
    names: set[str] = set()
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


GLOBAL = _options(main)
SHELL_STOP = {"|", ">", ">>", "<", "&&", "||", ";", "2>&1", "&", ")"}


def command_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of code blocks (continuation lines joined) and
    every inline code span of a doc."""
    lines = path.read_text(encoding="utf-8").splitlines()
    in_block = False
    n = 0
    while n < len(lines):
        line, start = lines[n], n + 1
        n += 1
        if line.strip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            while line.endswith("\\") and n < len(lines):
                line = line[:-1] + " " + lines[n].strip()
                n += 1
            yield start, line
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield start, span


def parse(line: str) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """Each ``spsync …`` invocation of ``line``: its command path and the options it uses."""
    words = line.replace("$(", " ").split()
    for i, w in enumerate(words):
        if w.lstrip("$ ") != "spsync" or (i and words[i - 1] in ("pip", "install")):
            continue
        cmd: click.Command = main
        path: list[str] = []
        used: list[str] = []
        positional = False  # an argument seen: later words are not sub-commands
        previous = ""
        for word in words[i + 1 :]:
            if word in SHELL_STOP or word.startswith("#"):
                break
            for part in word.strip("[]()…,.'\"").split("/"):
                opt = part.split("=", 1)[0].strip("[]…")
                if re.fullmatch(r"--?[a-zA-Z][\w-]*", opt):
                    used.append(opt)
                elif isinstance(cmd, click.Group) and part in cmd.commands and not positional:
                    cmd = cmd.commands[part]
                    path.append(part)
                elif previous != "--state-dir":
                    positional = True
                previous = opt
        yield tuple(path), used


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = main
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


DOC_FILES = [*doc_files(), REPO / "state" / "README.md"]


@pytest.mark.parametrize("path", DOC_FILES, ids=[str(p.relative_to(REPO)) for p in DOC_FILES])
def test_documented_command_lines_use_real_options(path: Path) -> None:
    wrong = []
    for n, line in command_lines(path):
        for cmd_path, used in parse(line):
            known = _options(_command(cmd_path)) | GLOBAL
            for opt in used:
                if opt not in known:
                    wrong.append(f"{path.name}:{n}: spsync {' '.join(cmd_path)} has no {opt}")
    assert wrong == []


def test_the_parser_finds_wrong_options() -> None:
    assert list(parse("spsync --sandbox plan manifests --out p.json --detailed-exitcode")) == [
        (("plan",), ["--sandbox", "--out", "--detailed-exitcode"])
    ]
    assert list(parse("$ spsync state rm manifests/acme user.x | tail")) == [(("state", "rm"), [])]
    assert list(parse("spsync plan PATH [--refresh/--no-refresh] [--target ADDR]...")) == [
        (("plan",), ["--refresh", "--no-refresh", "--target"])
    ]
    with pytest.raises(AssertionError):
        assert "--nope" in _options(_command(("plan",))) | GLOBAL
