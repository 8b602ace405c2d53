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
    from spsync.plan_file import read_plan_to_show
    from spsync.render import chunks

    text = files.read_owned(planfile, "plan file", PlanError)
    # checked whole first (nothing is shown of a damaged or edited file), then shown a piece
    # at a time, the changes read again from the text a thousand at a time
    plan, changes_of = read_plan_to_show(text, str(planfile))
    for chunk in chunks(plan, fmt, color=globals_of(ctx).color, changes_of=changes_of):
        out(chunk, nl=False)
    return 0


COMMANDS = [show]
