"""What every command shares: global options, output helpers, tenant selection."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from spsync.errors import SpsyncError
from spsync.sanitize import clean_lines
from spsync.secrets import scrub

F = TypeVar("F", bound=Callable[..., Any])

SANDBOX_DIR = Path(".spsync") / "sandbox"
#: marks a configuration repository's root where it has no ``manifests/`` directory
ROOT_MARKER = ".spsync-root"


def config_root(start: Path | None = None, *, made: bool = False) -> Path | None:
    """The configuration repository holding ``start`` (default: the working directory): the
    nearest directory from there upward that holds a ``manifests/`` directory or a
    ``.spsync-root`` file; ``None`` when there is none. ``made``: as it will be once
    ``start`` is made (a ``manifests`` directory on the way to it counts)."""
    try:
        here = (start if start is not None else Path.cwd()).resolve()
    except OSError:
        return None
    on_the_way = {here, *here.parents} if made else set()
    for d in (here, *here.parents):
        if (
            (d / "manifests") in on_the_way
            or (d / "manifests").is_dir()
            or (d / ROOT_MARKER).exists()
        ):
            return d
    return None


def _command_path() -> Path | None:
    """Where the running command's manifests are: where the configuration repository is
    looked for first. The PATH argument (manifests, a plan file, an export's destination),
    but for a plan file given with apply's ``--manifests``, that."""
    ctx = click.get_current_context(silent=True)
    params = ctx.params if ctx is not None else {}
    path, manifests = _given(params.get("path")), _given(params.get("manifests_opt"))
    if manifests is not None and (path is None or path.is_file()):
        return manifests
    return path


def _given(value: object) -> Path | None:
    return Path(value) if isinstance(value, str | Path) and str(value) else None


@dataclass
class Globals:
    """Global options; settable before or after the sub-command name."""

    state_dir_opt: Path | None = None
    sandbox: bool = False
    no_color: bool = False
    verbose: int = 0
    tenants: list[str] = field(default_factory=list)

    #: directories already announced on stderr (each once per run)
    told: set[Path] = field(default_factory=set)

    @property
    def state_dir(self) -> Path:
        """``--state-dir`` / ``SPSYNC_STATE_DIR`` / ``state/`` of the configuration repository;
        the sandbox has its own."""
        if self.sandbox:
            return self.sandbox_dir / "state"
        if self.state_dir_opt is not None:
            return self.state_dir_opt
        env = os.environ.get("SPSYNC_STATE_DIR")
        return Path(env) if env else self._located(Path("state"), "state")

    @property
    def sandbox_dir(self) -> Path:
        """``.spsync/sandbox/`` of the configuration repository (the embedded simulator)."""
        return self._located(SANDBOX_DIR, "sandbox")

    @property
    def audit_dir(self) -> Path:
        """``.spsync/audit/`` of the configuration repository (apply's audit logs: only
        written, so not said on stderr as the state and the sandbox are)."""
        from spsync.audit import AUDIT_DIR

        return self._located(AUDIT_DIR, "audit log", say=False)

    def _located(self, relative: Path, what: str, *, say: bool = True) -> Path:
        """``relative`` in the configuration repository of the command's PATH (else of the
        working directory); said on stderr when that is not the working directory (unless
        not ``say``), so a run from elsewhere never silently reads another (empty) state."""
        path = _command_path()
        root = (config_root(path) if path is not None else None) or config_root()
        if root is None or root == Path.cwd().resolve():
            return relative
        where = root / relative
        if say and where not in self.told:
            self.told.add(where)
            err(f"{what}: {where} (configuration repository {root})")
        return where

    @property
    def color(self) -> bool:
        """Colour only on a terminal, never with ``--no-color`` or ``NO_COLOR`` set."""
        if self.no_color or os.environ.get("NO_COLOR", "") != "":
            return False
        return sys.stdout.isatty()


def globals_of(ctx: click.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def _set(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        g = globals_of(ctx)
        if attr == "verbose":
            g.verbose += value or 0
        elif attr == "state_dir_opt":
            if value is not None:
                g.state_dir_opt = Path(value)
        elif value:
            setattr(g, attr, value)

    return callback


#: the global options, by name: what each does is in its help
GLOBAL_OPTIONS = ("--state-dir", "--sandbox", "--no-color", "--verbose")


def global_options(f: F | None = None, *, hide: tuple[str, ...] = ()) -> Any:
    """Attach the global options to a command (they also work before the command name).

    ``hide``: those that do nothing for this command (``--state-dir`` where no state is
    read, ``--sandbox`` where no API is called, ``--no-color`` where nothing is coloured).
    They are still accepted, so a script that passes them keeps working, but not offered in
    its ``--help``. Use as ``@global_options`` or ``@global_options(hide=(...))``.
    """
    unknown = set(hide) - set(GLOBAL_OPTIONS)
    if unknown:
        raise ValueError(f"not global options: {sorted(unknown)}")

    def attach(f: F) -> F:
        for opt in reversed(_global_option_decorators(hide)):
            f = opt(f)
        return f

    return attach if f is None else attach(f)


def _global_option_decorators(hide: tuple[str, ...]) -> list[Callable[[F], F]]:
    return [
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False),
            default=None,
            expose_value=False,
            hidden="--state-dir" in hide,
            callback=_set("state_dir_opt"),
            help="Where state files live (default: state/ of the configuration repository, "
            "or SPSYNC_STATE_DIR).",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            expose_value=False,
            hidden="--sandbox" in hide,
            callback=_set("sandbox"),
            help="Use the embedded simulator under .spsync/sandbox/ (no credentials).",
        ),
        click.option(
            "--no-color",
            is_flag=True,
            expose_value=False,
            hidden="--no-color" in hide,
            callback=_set("no_color"),
            help="No colour (NO_COLOR is honoured too).",
        ),
        click.option(
            "-v",
            "--verbose",
            count=True,
            expose_value=False,
            hidden="--verbose" in hide,
            callback=_set("verbose"),
            help="More detail; tracebacks for internal errors.",
        ),
    ]


class SummaryGroup(click.Group):
    """A group listing each command with the whole first sentence of its help (click cuts
    it to fit one line, which left most summaries ending in "...")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands`` section of ``--help``."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class OutputClosed(SpsyncError):
    """stdout's reader went away before everything was written (``| head``)."""


def out(text: str = "", *, nl: bool = True) -> None:
    """Write to stdout (the only place results go), with every form of every secret read
    in this run masked. What is shown there was made one safe line per field by whoever
    formatted it (a rendered plan keeps its own colour codes).

    A reader gone away (``spsync plan … | head -1``) ends the command with exit 1 and says
    so on stderr: the command did not do all it was asked (a plan whose rendering was cut
    short is not saved with ``--out``; apply stops before its question)."""
    try:
        click.echo(scrub(text), nl=nl)
    except BrokenPipeError:
        raise OutputClosed(
            "standard output was closed before all of it was written (its reader, such as "
            "`| head`, stopped reading); the command stopped there"
        ) from None


def err(text: str = "", *, nl: bool = True) -> None:
    """Write to stderr (errors, warnings, progress): secrets masked, and every control or
    bidi character other than a line break escaped (spsync colours nothing here)."""
    click.echo(clean_lines(scrub(text)), err=True, nl=nl)


def ask(question: str) -> str:
    """One line read from stdin after ``question`` (on stderr); ``""`` at end of input
    (Ctrl-D), after which a line break ends the question's line.

    Ctrl-C raises ``KeyboardInterrupt`` at the first press (exit 130), also inside
    ``asyncio.run``: its own SIGINT handler only cancels the main task, which a blocking
    read never notices, so the first press would be lost.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: the handler cannot be changed, nor needs to be
        previous = None
    try:
        err(question, nl=False)
        line = sys.stdin.readline()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if not line:  # Ctrl-D: no line break was typed, so what follows starts a line of its own
        err()
    return line.rstrip("\r\n")


def spsync_hint(rest: str) -> str:
    """``spsync REST`` as the user must type it to run it again: with ``--sandbox`` in a
    sandbox run (a hint without it would reach for the real API)."""
    ctx = click.get_current_context(silent=True)
    sandbox = ctx is not None and globals_of(ctx).sandbox
    return f"spsync {'--sandbox ' if sandbox else ''}{rest}"


def addresses_given(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An address argument or option (one or several) with an empty one refused: what a
    script passes for a variable that was not set (``--target "$ADDR"``), which the
    messages about unknown addresses would show as nothing at all."""
    for given in value if isinstance(value, tuple) else (value,):
        if isinstance(given, str) and not given.strip():
            raise click.BadParameter(
                "empty: give an address, KIND.NAME (user.jane, session.cert-456.jane)",
                ctx=ctx,
                param=param,
            )
    return value


#: ``--target``, shared by plan and apply
target_option = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    callback=addresses_given,
    help="Only this address and what it depends on (repeatable).",
)
#: ``--replace`` and ``--refresh-only``, shared by plan and apply (a saved plan keeps them)
replace_option = click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    callback=addresses_given,
    help="Cancel this booked session and book it again, even if nothing changed (repeatable).",
)
refresh_only_option = click.option(
    "--refresh-only",
    is_flag=True,
    help="Only take what changed remotely into state; change nothing remotely.",
)
