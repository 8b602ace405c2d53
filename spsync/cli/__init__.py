"""The command line. Commands live in sibling modules; this module wires them and owns exit codes.

Exit codes (product-spec §3): 0 success; 1 any error, usage errors included; 2 only for
``plan --detailed-exitcode`` with changes pending. A user mistake never prints a traceback;
an unexpected exception is reported as an internal error (traceback with ``-v``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
import traceback
from typing import Any, NoReturn

import click

from spsync import __version__
from spsync.cli import commands
from spsync.cli.common import SummaryGroup, err, global_options, globals_of
from spsync.collector import freeze_after_bulk
from spsync.errors import SpsyncError


class SpsyncGroup(SummaryGroup):
    """A group whose ``main`` maps every outcome to spsync's exit codes, and which imports a
    command's module only when the command is asked for (``commands.MODULE_OF``).

    ``get_command`` imports the one module it needs; ``list_commands`` names every command
    without importing any; reading ``commands`` (help, a misspelt command's suggestions,
    anything that walks the tree) imports them all first, so it is always the whole set.
    """

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        if not getattr(self, "_all_loaded", False):
            self._all_loaded = True
            self._keep(commands.load())
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = value

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # click's own writes through ``commands``, which would import every module
        key = name or cmd.name
        if key is None:
            raise TypeError("Command has no name.")
        self._commands[key] = cmd

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._commands and cmd_name in commands.MODULE_OF:
            self._keep(commands.load_module(commands.MODULE_OF[cmd_name]))
        return self._commands.get(cmd_name)

    def _keep(self, loaded: list[click.Command]) -> None:
        """Register commands just imported (one added by hand under a name stays)."""
        for cmd in loaded:
            self._commands.setdefault(cmd.name or "", cmd)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._commands) | set(commands.MODULE_OF))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        verbose = "-v" in sys.argv or "--verbose" in sys.argv
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort as e:
            # click turns Ctrl-C into Abort (the KeyboardInterrupt is its cause); EOF at a
            # prompt is an Abort without one
            if isinstance(e.__cause__, KeyboardInterrupt):
                err("interrupted")
                sys.exit(130)
            err("aborted")
            sys.exit(1)
        except click.ClickException as e:
            # plain `spsync` (NoArgsIsHelpError: click 8.2 and later)
            if (
                type(e).__name__ == "NoArgsIsHelpError"
                and isinstance(e, click.UsageError)
                and e.ctx is not None
            ):
                click.echo(e.ctx.get_help())
                sys.exit(0)
            if isinstance(e, click.NoSuchOption):
                e = _hint_two_dashes(e, _argv(args, kwargs))
            e.show()
            sys.exit(1)
        except SpsyncError as e:
            err(f"error: {e}" if "\n" not in str(e) else str(e))
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            err("interrupted")
            sys.exit(130)
        except OSError as e:
            if e.filename is None or not e.strerror:
                _internal(e, verbose)
            # a path the system refused (a file where a directory was meant, no room, no
            # permission) is the machine's state, not a bug: said as every error is
            _traceback_if(verbose)
            err(f"error: {e.filename}: {e.strerror}")
            sys.exit(1)
        except Exception as e:  # a bug, not a user mistake
            _internal(e, verbose)
        sys.exit(rv if isinstance(rv, int) else 0)


def _traceback_if(verbose: bool) -> None:
    """The traceback of the exception being handled, with ``-v``."""
    ctx = click.get_current_context(silent=True)
    if verbose or (ctx is not None and globals_of(ctx).verbose):
        traceback.print_exc()


def _internal(e: Exception, verbose: bool) -> NoReturn:
    """Report ``e`` as a bug: ``internal error``, its traceback with ``-v``; exit 1."""
    _traceback_if(verbose)
    err(f"internal error: {type(e).__name__}: {e} (run with -v for the traceback)")
    sys.exit(1)


def _argv(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The command line ``main`` was given (its ``args``, else ``sys.argv``)."""
    given = kwargs.get("args", args[0] if args else None)
    return list(given) if given is not None else sys.argv[1:]


def _hint_two_dashes(e: click.NoSuchOption, argv: list[str]) -> click.NoSuchOption:
    """``-out=plan.json`` (a habit from other tools) names ``--out``: say so (the error to
    show instead of ``e``)."""
    if e.ctx is None:
        return e
    known = {o for p in e.ctx.command.params for o in getattr(p, "opts", ())}
    for word in argv:
        name = word.split("=", 1)[0]
        if name.startswith("-") and not name.startswith("--") and "-" + name in known:
            message = f"No such option: {name} (options take two dashes: -{word})"
            return click.NoSuchOption(name, message, possibilities=[], ctx=e.ctx)
    return e


@click.group(cls=SpsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="spsync")
@global_options
def main() -> None:
    """spsync: SmarterProctoring integration as code.

    Keep courses, exams, users, enrollments, assignments and exam sessions in YAML
    manifests, one directory per tenant; `plan` shows what would change, `apply` does it.

    \b
    Example:
      spsync --sandbox plan manifests/acme
    """


def run() -> None:
    """Console-script entry point."""
    # Planning or applying a large tenant builds millions of long-lived objects that hold no
    # cycles (manifests, state, live objects); with the default thresholds the cyclic
    # collector scans them again and again: a quarter of the CPU of a plan of 20,000
    # students. Rarer young collections and ten times rarer full ones cut that to a third,
    # with the same peak memory (docs/performance.md).
    gc.set_threshold(10_000, 10, 100)
    # and what is built in bulk is not looked at again once built (spsync.collector)
    freeze_after_bulk()
    try:
        main.main(prog_name="spsync")
    except SystemExit as e:
        _leave(e)
    _leave(SystemExit(0))


def _leave(how: SystemExit) -> NoReturn:
    """End the process as ``how`` says, without freeing its objects one by one.

    At exit the interpreter frees everything a run built: a first apply of 2,000 students
    spent a third of a second on it after its last line (8,011 changes, their state entries,
    the manifests), a plan of 100,000 students seconds. Everything that must happen at exit
    still does: the exit handlers run and stdout and stderr are flushed (a reader that has
    gone away, as ``| head`` does, is no error); then the process ends at once. While a
    thread other than the main one is still running (none does after a command), or while a
    profiler or tracer watches the run (``python -m cProfile -o FILE -m spsync ...`` writes
    FILE once the command returns), the interpreter's own exit is kept."""
    code = how.code
    if code is not None and not isinstance(code, int):
        err(str(code))
        code = 1
    if (
        sys.getprofile() is not None
        or sys.gettrace() is not None
        or any(
            t.is_alive() and not t.daemon
            for t in threading.enumerate()
            if t is not threading.main_thread()
        )
    ):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code or 0)
