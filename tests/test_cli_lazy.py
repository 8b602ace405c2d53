"""Commands are imported when asked for: the table that says where each lives must name
every command, and running one must not import the others' modules."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from spsync.cli import commands, main


def test_the_table_names_every_command_and_its_module() -> None:
    found = {cmd.name: name for name in commands.MODULES for cmd in commands.load_module(name)}
    assert found == commands.MODULE_OF
    assert sorted(main.commands) == sorted(commands.MODULE_OF)
    assert main.list_commands(None) == sorted(commands.MODULE_OF)  # type: ignore[arg-type]


def test_running_a_command_imports_its_module_only() -> None:
    r = subprocess.run(
        [sys.executable, "-c", (
            "import sys\n"
            "from spsync.cli import main\n"
            "try:\n"
            "    main.main(['validate', '--help'], prog_name='spsync')\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('spsync.cli.')\n"
            "             and m.endswith('_cmd')))\n"
        )],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert r.stdout.strip().splitlines()[-1] == "['spsync.cli.validate_cmd']"


def test_help_lists_every_command_and_a_misspelt_one_is_suggested() -> None:
    r = CliRunner().invoke(main, ["--help"])
    rows = r.output.split("Commands:")[1].splitlines()
    listed = [line.split()[0] for line in rows if line[2:3].strip()]  # not a wrapped line
    assert listed == sorted(commands.MODULE_OF)
    r = CliRunner().invoke(main, ["plna"])
    assert r.exit_code == 1
    assert "No such command 'plna'" in r.output and "plan" in r.output.split("'plna'")[1]
