"""Every command's ``--help`` follows the same rules, walked over the whole click tree so
that a new command or option cannot break them unnoticed: repeatable options say so,
meaningful defaults are shown, no option is offered that does nothing for the command, and
the command lists carry whole summaries."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from spsync.cli import main
from spsync.cli.common import GLOBAL_OPTIONS


def _tree(cmd: click.Command, path: tuple[str, ...]) -> dict[tuple[str, ...], click.Command]:
    """Every command below ``cmd`` (itself included), by its name path."""
    tree = {path: cmd}
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        tree.update(_tree(sub, (*path, name)))
    return tree


COMMANDS = _tree(main, ())
PATHS = list(COMMANDS)


def _command(path: tuple[str, ...]) -> click.Command:
    return COMMANDS[path]


def _help(path: tuple[str, ...]) -> str:
    r = CliRunner().invoke(main, [*path, "--help"], terminal_width=88)
    assert r.exit_code == 0, r.output
    return r.output


def _options(path: tuple[str, ...]) -> list[click.Option]:
    return [p for p in _command(path).params if isinstance(p, click.Option)]


def _entry(help_text: str, opt: click.Option) -> str:
    """The option's entry in a rendered ``--help``: its line and the wrapped ones below."""
    lines = help_text.split("\n")
    start = next(
        i for i, line in enumerate(lines)
        if re.match(rf"\s+(-\w, )?{re.escape(opt.opts[-1])}\b", line)
    )  # fmt: skip
    entry = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 10) or re.match(r"\s+-", line):
            break
        entry.append(line)
    return " ".join(x.strip() for x in entry)


def _ids(paths: list[tuple[str, ...]]) -> list[str]:
    return [" ".join(("spsync", *p)) for p in paths]


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_repeatable_options_say_so(path: tuple[str, ...]) -> None:
    text = _help(path)
    for opt in _options(path):
        if opt.multiple and not opt.hidden:
            assert "(repeatable" in _entry(text, opt), (path, opt.opts)
        if opt.name and opt.opts[-1] in ("--target", "--tenant") and opt.multiple:
            assert "(repeatable)" in _entry(text, opt), (path, opt.opts)


def _defaults(path: tuple[str, ...]) -> dict[str | None, object]:
    """Each parameter's value when it is not given, as click resolves it."""
    cmd = _command(path)
    ctx = cmd.make_context(cmd.name, [], resilient_parsing=True)
    return dict(ctx.params)


def _meaningful_default(opt: click.Option, default: object) -> bool:
    """A default worth showing: not "unset", not off, not a counter at zero."""
    if opt.count or default is None or default is False or default in ((), ""):
        return False
    return not (opt.is_flag and not opt.secondary_opts)  # a plain flag: off unless given


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_meaningful_defaults_are_shown(path: tuple[str, ...]) -> None:
    text = _help(path)
    defaults = _defaults(path)
    for opt in _options(path):
        if not opt.expose_value or opt.hidden:
            continue  # the global options and --version: nothing to show
        if not _meaningful_default(opt, defaults[opt.name]):
            continue
        assert opt.show_default, (path, opt.opts)
        assert "[default: " in _entry(text, opt), (path, opt.opts)


#: the global options each command offers: only those that do something there (--state-dir
#: where state is read, --sandbox where the API is called, --no-color where a plan is drawn)
GLOBALS = {
    (): GLOBAL_OPTIONS,
    ("apply",): GLOBAL_OPTIONS,
    ("plan",): GLOBAL_OPTIONS,
    ("show",): ("--no-color", "--verbose"),
    ("export",): ("--state-dir", "--sandbox", "--verbose"),
    ("import",): ("--state-dir", "--sandbox", "--verbose"),
    ("onboard",): ("--state-dir", "--sandbox", "--verbose"),
    ("doctor",): ("--state-dir", "--sandbox", "--verbose"),
    ("unlock",): ("--state-dir", "--sandbox", "--verbose"),
    ("state", "list"): ("--state-dir", "--sandbox", "--verbose"),
    ("state", "show"): ("--state-dir", "--sandbox", "--verbose"),
    ("state", "mv"): ("--state-dir", "--sandbox", "--verbose"),
    ("state", "rm"): ("--state-dir", "--sandbox", "--verbose"),
    ("validate",): ("--sandbox", "--verbose"),
    ("init",): ("--verbose",),
    ("schema",): ("--verbose",),
    ("state",): (),
    ("sandbox",): (),
    ("sandbox", "serve"): ("--verbose",),
}


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_only_global_options_that_do_something_are_offered(path: tuple[str, ...]) -> None:
    assert path in GLOBALS, f"{path}: say which global options it uses"
    text = _help(path)
    offered = [g for g in GLOBAL_OPTIONS if re.search(rf"^\s+(-\w, )?{g}\b", text, re.M)]
    assert offered == list(GLOBALS[path])


@pytest.mark.parametrize(
    "args",
    [
        ["schema", "--kind", "tenant", "--sandbox", "--state-dir", "x", "--no-color"],
        ["init", "--help", "--sandbox", "--state-dir", "x", "--no-color"],
        ["validate", "--help", "--state-dir", "x", "--no-color"],
        ["sandbox", "serve", "--help", "-v", "--sandbox", "--state-dir", "x", "--no-color"],
    ],
)
def test_a_hidden_global_option_is_still_accepted(args: list[str]) -> None:
    # scripts written before it was hidden keep working
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output


GROUPS = [p for p in PATHS if isinstance(_command(p), click.Group)]


@pytest.mark.parametrize("path", GROUPS, ids=_ids(GROUPS))
def test_command_lists_show_whole_summaries(path: tuple[str, ...]) -> None:
    text = _help(path)
    section = text.split("\nCommands:\n", 1)[1]
    summaries: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        m = re.match(r"  (\S+)\s+(.*)", line)
        if m:
            name = m.group(1)
            summaries[name] = m.group(2)
        elif line.strip():
            summaries[name] += " " + line.strip()
    group = _command(path)
    assert isinstance(group, click.Group)
    assert sorted(summaries) == sorted(group.commands)
    for sub, summary in summaries.items():
        docstring = group.commands[sub].help or ""
        first = " ".join(docstring.split("\n\n", 1)[0].split())
        assert summary == first, (path, sub)
        assert not summary.endswith("..."), (path, sub)


def test_parallelism_is_told_as_the_ceiling_of_a_window_that_starts_at_the_specs_8() -> None:
    # product-spec §6 says "--parallelism, default 8": the window starts there, and grows
    # up to --parallelism (64 by default) only while the API keeps up
    from support.docs import DOCS

    from spsync.api.window import CEILING, START

    assert (START, CEILING) == (8, 64)
    text = " ".join(_help(("apply",)).split())
    assert "Most API calls in flight: the ceiling of the adaptive window, which starts at 8." in (
        text
    )
    assert "[default: 64; 1<=x<=256]" in text
    apply_doc = " ".join((DOCS / "apply.md").read_text(encoding="utf-8").split())
    assert (
        "The product specification gives `--parallelism` a default of 8 (§6). That is where "
        "the window starts"
    ) in apply_doc
