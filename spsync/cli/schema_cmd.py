"""``spsync schema``: JSON Schema of manifest files, for editors (YAML language server), and of
the plan documents, for scripts."""

from __future__ import annotations

import json

import click

from spsync.cli.common import global_options, out

#: the kinds of ``spsync.plan_schema`` (repeated here so that --help needs no import of it)
PLAN_KINDS = ("plan", "plan-file")


@click.command("schema")
@click.option(
    "--kind",
    type=click.Choice(["tenant", "resources", *PLAN_KINDS]),
    default=None,
    help=(
        "tenant: tenant.yaml; resources: the other files; plan: the output of "
        "`plan/show --format json`; plan-file: a file saved by `plan --out`. Default: one "
        "schema accepting either manifest file."
    ),
)
@global_options(hide=("--state-dir", "--sandbox", "--no-color"))
def schema(kind: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of manifest files, or of plans.

    \b
    Example (for VS Code's YAML extension: save them, map them in settings):
      spsync schema --kind tenant > .schemas/tenant.json
      spsync schema --kind resources > .schemas/resources.json

    \b
    For scripts that read `plan --format json`, or a plan file:
      spsync schema --kind plan > plan.schema.json
      spsync schema --kind plan-file > plan-file.schema.json
    """
    if kind in PLAN_KINDS:
        from spsync.plan_schema import plan_schema

        out(json.dumps(plan_schema(kind), indent=2))
        return
    from spsync.schema import json_schema

    out(json.dumps(json_schema(kind), indent=2))


COMMANDS = [schema]
