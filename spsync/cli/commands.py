"""The command modules. Each ``spsync/cli/<module>.py`` exports ``COMMANDS``, a list of click
commands; a module listed here that is not present (yet) is simply not registered.

A command's module is imported when the command is first asked for (``MODULE_OF``): a run
imports the one it runs, not all thirteen (a third of a second of start-up, most of it the
modules of commands that are not run). ``tests/test_cli_lazy.py`` checks the table against
the modules."""

from __future__ import annotations

import importlib

import click

#: each top-level command's name, and the module that defines it
MODULE_OF: dict[str, str] = {
    "init": "init_cmd",
    "validate": "validate_cmd",
    "schema": "schema_cmd",
    "plan": "plan_cmd",
    "show": "show_cmd",
    "apply": "apply_cmd",
    "state": "state_cmd",
    "import": "import_cmd",
    "export": "export_cmd",
    "onboard": "onboard_cmd",
    "doctor": "doctor_cmd",
    "unlock": "unlock_cmd",
    "sandbox": "sandbox_cmd",
}
#: the command modules, in the order ``load`` imports them
MODULES: tuple[str, ...] = tuple(MODULE_OF.values())


def load_module(name: str) -> list[click.Command]:
    """The commands of module ``name`` (none when it is not present)."""
    full = f"spsync.cli.{name}"
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name == full:
            return []
        raise
    return list(module.COMMANDS)


def load() -> list[click.Command]:
    """Every command, each module imported."""
    return [cmd for name in MODULES for cmd in load_module(name)]
