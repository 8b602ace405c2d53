"""``spsync schema``: JSON Schema of manifest files, for editors (YAML language server)."""

from __future__ import annotations

import json

import click

from spsync.cli.common import global_options, out


@click.command("schema")
@click.option(
    "--kind",
    type=click.Choice(["tenant", "resources"]),
    default=None,
    help="tenant: tenant.yaml; resources: the other files. Default: one schema accepting either.",
)
@global_options
def schema(kind: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of manifest files.

    \b
    Example (for VS Code's YAML extension: save them, map them in settings):
      spsync schema --kind tenant > .schemas/tenant.json
      spsync schema --kind resources > .schemas/resources.json
    """
    from spsync.schema import json_schema

    out(json.dumps(json_schema(kind), indent=2))


COMMANDS = [schema]
