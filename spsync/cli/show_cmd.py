"""``spsync show PLANFILE``: render a saved plan."""

from __future__ import annotations

from pathlib import Path

import click

from spsync.cli.common import global_options, globals_of, out
from spsync.errors import PlanError
from spsync.render import FORMATS


@click.command("show")
@click.argument("planfile", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text, markdown or json (as `spsync plan`).",
)
@global_options(hide=("--state-dir", "--sandbox"))
@click.pass_context
def show(ctx: click.Context, planfile: Path, fmt: str) -> int:
    """Render a plan saved with `spsync plan --out FILE` (checksum verified).

    \b
    Example:
      spsync show plan.json --format markdown
    """
    from spsync import files
    from spsync.plan import load_plan
    from spsync.render import render

    text = files.read_owned(planfile, "plan file", PlanError)
    out(render(load_plan(text, str(planfile)), fmt, color=globals_of(ctx).color), nl=False)
    return 0


COMMANDS = [show]
