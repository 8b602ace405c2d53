"""``spsync validate PATH``: offline validation of manifests (no network, ever)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spsync.cli.common import err, global_options, globals_of, out
from spsync.errors import ManifestError, UsageError
from spsync.model import Desired

#: summary order and singular/plural nouns
_COUNTS = (
    ("courses", "course", "courses"),
    ("exams", "exam", "exams"),
    ("users", "user", "users"),
    ("enrollments", "enrollment", "enrollments"),
    ("assignments", "assignment", "assignments"),
    ("sessions", "session", "sessions"),
)


def counts(desired: Desired) -> dict[str, int]:
    """How many resources of each kind a tenant declares (implied entries included)."""
    return {attr: len(getattr(desired, attr)) for attr, _one, _many in _COUNTS}


def summary(desired: Desired) -> str:
    """``acme: ok (1 course, 2 exams, 300 users, ...)``."""
    n = counts(desired)
    parts = [f"{n[attr]} {one if n[attr] == 1 else many}" for attr, one, many in _COUNTS]
    return f"{desired.tenant.tenant}: ok ({', '.join(parts)})"


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    metavar="NAME",
    help="Only this tenant (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document on stdout, problems included.",
)
@click.option(
    "--no-secrets",
    "no_secrets",
    is_flag=True,
    help="Check secret references' shape only; read no variable or file (pre-commit hooks).",
)
@global_options(hide=("--state-dir", "--no-color"))
@click.pass_context
def validate(
    ctx: click.Context, path: Path, tenants: tuple[str, ...], fmt: str, no_secrets: bool
) -> int:
    """Check manifests offline and report every problem with file:line:col.

    PATH is a tenant directory (holding tenant.yaml) or a directory of them. Exit 0 when
    valid (one summary line per tenant), 1 otherwise. With --sandbox the API token is not
    read; with --no-secrets no secret is read (the API token and exam passwords need not
    be set: only the {env: ...} / {file: ...} references are checked). Never contacts the
    API.

    \b
    Examples:
      spsync validate manifests
      spsync validate manifests --no-secrets --format json
    """
    from spsync import manifest

    g = globals_of(ctx)
    try:
        loaded = manifest.load(path, tenants=tenants, sandbox=g.sandbox, secrets=not no_secrets)
    except ManifestError as e:
        if fmt == "json":
            problems = [
                {
                    "file": p.file,
                    "line": p.line,
                    "col": p.col,
                    "where": p.where,
                    "message": p.message,
                }
                for p in e.problems
            ]
            out(json.dumps({"valid": False, "problems": problems}, indent=2))
            return 1
        raise
    except UsageError as e:
        if fmt == "json":
            out(json.dumps({"valid": False, "error": e.message, "problems": []}, indent=2))
            return 1
        raise
    if fmt == "json":
        doc = {
            "valid": True,
            "problems": [],
            "tenants": [{"tenant": d.tenant.tenant, "counts": counts(d)} for d in loaded],
        }
        out(json.dumps(doc, indent=2))
    else:
        for desired in loaded:
            out(summary(desired))
    if g.verbose:
        err(f"{len(loaded)} tenant{'s' if len(loaded) != 1 else ''} valid")
    return 0


COMMANDS = [validate]
