"""The command modules. Each ``spsync/cli/<module>.py`` exports ``COMMANDS``, a list of click
commands; a module listed here that is not present (yet) is simply not registered."""

from __future__ import annotations

import importlib

import click

MODULES: tuple[str, ...] = (
    "init_cmd",
    "validate_cmd",
    "schema_cmd",
    "plan_cmd",
    "show_cmd",
    "apply_cmd",
    "state_cmd",
    "import_cmd",
    "export_cmd",
    "onboard_cmd",
    "doctor_cmd",
    "unlock_cmd",
    "sandbox_cmd",
)


def load() -> list[click.Command]:
    out: list[click.Command] = []
    for name in MODULES:
        full = f"spsync.cli.{name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name == full:
                continue
            raise
        out.extend(module.COMMANDS)
    return out
