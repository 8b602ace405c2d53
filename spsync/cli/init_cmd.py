"""`spsync init`: scaffold a tenant directory that validates, wired to the JSON Schema."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import click

from spsync.cli.common import global_options, out
from spsync.errors import UsageError
from spsync.model import INSTALL_PATTERN, TENANT_PATTERN
from spsync.secrets import env_prefix

SCHEMA_DIR = ".schemas"
#: what a configuration repository never commits: the sandbox and audit logs (.spsync/),
#: the lock and its holder, and the journal of an interrupted apply (state/ is committed)
GITIGNORE = (
    "# spsync's local files: never commit them (state/<tenant>.json is committed)",
    ".spsync/",
    "state/*.lock",
    "state/*.lock.json",
    "state/*.journal.jsonl",
    "state/.*.tmp",
)


def _template(name: str) -> str:
    return resources.files("spsync.templates").joinpath(name).read_text(encoding="utf-8")


def env_name(tenant: str, what: str) -> str:
    """``acme-corp`` -> ``SPSYNC_ACME_CORP_TOKEN``: under the tenant's own prefix, the only
    variables its manifests may read."""
    return env_prefix(tenant) + what


def scaffold(path: Path, tenant: str, install: str) -> list[Path]:
    """Write the tenant directory; refuse to touch an existing manifest. Returns the files."""
    from spsync.files import blocker, write_together

    if not re.match(TENANT_PATTERN, tenant):
        raise UsageError(f'--tenant "{tenant}" must match {TENANT_PATTERN} (e.g. "acme")')
    if not re.match(INSTALL_PATTERN, install):
        raise UsageError(
            f'--install "{install}" is not an install SID: "AI" followed by 32 lowercase hex digits'
        )
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory")
    found = blocker(path)
    if found is not None:
        raise UsageError(f"{path}: cannot create the tenant directory: {found} is not a directory")
    if path.is_dir() and any(path.glob("*.y*ml")):
        raise UsageError(f"{path} already holds YAML files; init never overwrites manifests")
    from spsync.schema import json_schema

    values = {
        "tenant": tenant,
        "install": install,
        "path": str(path),
        "schema_dir": SCHEMA_DIR,
        "token_env": env_name(tenant, "TOKEN"),
        "password_env": env_name(tenant, "FINAL_PASSWORD"),
    }
    files = {
        path / "tenant.yaml": _template("tenant.yaml.tmpl").format(**values),
        path / "resources.yaml": _template("resources.yaml.tmpl").format(**values),
        path / SCHEMA_DIR / "tenant.schema.json": json.dumps(json_schema("tenant"), indent=2)
        + "\n",
        path / SCHEMA_DIR / "resources.schema.json": json.dumps(json_schema("resources"), indent=2)
        + "\n",
    }
    ignore = _gitignore(path)
    if ignore is not None:
        files[ignore[0]] = ignore[1]
    # all of them or none: a tenant half written would be refused by the retry
    write_together(files, UsageError)
    return list(files)


def _gitignore(path: Path) -> tuple[Path, str] | None:
    """The ``.gitignore`` of the configuration repository holding ``path`` and its text
    with spsync's local files added (lines already there are kept, none removed); ``None``
    when there is no such repository or nothing to add."""
    from spsync.cli.common import config_root

    root = config_root(path, made=True)
    if root is None:
        return None
    here = Path.cwd().resolve()
    target = Path(".gitignore") if root == here else root / ".gitignore"
    old = _read_gitignore(target)
    have = {line.strip() for line in old.splitlines()}
    missing = [line for line in GITIGNORE if line not in have]
    if missing == list(GITIGNORE[:1]) or not [m for m in missing if not m.startswith("#")]:
        return None
    sep = "" if not old or old.endswith("\n") else "\n"
    return target, old + sep + "\n".join(missing) + "\n"


def _read_gitignore(target: Path) -> str:
    """The text of ``target`` ("" when there is none); one that cannot be read is an error
    found before anything is written."""
    try:
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise UsageError(f"{target}: cannot read: not UTF-8 text; nothing was written") from None
    except OSError as e:
        raise UsageError(f"{target}: cannot read: {e.strerror}; nothing was written") from None


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--tenant", "tenant", required=True, help="Tenant name: [a-z0-9][a-z0-9-]*.")
@click.option("--install", "install", required=True, help="The install SID (AI + 32 hex).")
@global_options(hide=("--state-dir", "--sandbox", "--no-color"))
def init(path: Path, tenant: str, install: str) -> int:
    """Scaffold a tenant directory: a commented tenant.yaml and a resource file.

    The files carry a yaml-language-server modeline pointing at the JSON Schema (written
    to PATH/.schemas/), so editors complete and check fields as you type.

    \b
    Example:
      spsync init manifests/acme --tenant acme --install AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6
      spsync --sandbox validate manifests/acme
    """
    written = scaffold(path, tenant, install)
    for f in written:
        out(f"wrote {f}")
    out(f"next: export {env_name(tenant, 'TOKEN')}=... ; spsync validate {path}")
    return 0


COMMANDS = [init]
