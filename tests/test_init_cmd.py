"""`spsync init` scaffolds a tenant that validates and is wired to the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spsync.cli import main

INSTALL = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"


def test_init_then_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        main, ["init", "manifests/acme-corp", "--tenant", "acme-corp", "--install", INSTALL]
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "wrote manifests/acme-corp/tenant.yaml",
        "wrote manifests/acme-corp/resources.yaml",
        "wrote manifests/acme-corp/.schemas/tenant.schema.json",
        "wrote manifests/acme-corp/.schemas/resources.schema.json",
        "wrote .gitignore",
        "next: export SPSYNC_ACME_CORP_TOKEN=... ; spsync validate manifests/acme-corp",
    ]
    assert Path(".gitignore").read_text().splitlines()[1:] == [
        ".spsync/",
        "state/*.lock",
        "state/*.lock.json",
        "state/*.journal.jsonl",
        "state/.*.tmp",
    ]
    tenant = Path("manifests/acme-corp/tenant.yaml").read_text()
    assert tenant.startswith("# yaml-language-server: $schema=.schemas/tenant.schema.json\n")
    assert "token: {env: SPSYNC_ACME_CORP_TOKEN}" in tenant
    schema = json.loads(Path("manifests/acme-corp/.schemas/resources.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    v = CliRunner().invoke(main, ["--sandbox", "validate", "manifests/acme-corp"])
    assert v.exit_code == 0, v.stderr
    assert v.stdout == (
        "acme-corp: ok (1 course, 0 exams, 1 user, 1 enrollment, 0 assignments, 0 sessions)\n"
    )
    monkeypatch.setenv("SPSYNC_ACME_CORP_TOKEN", "tok")
    assert CliRunner().invoke(main, ["validate", "manifests"]).exit_code == 0


def test_init_never_overwrites(tmp_path: Path) -> None:
    args = ["init", str(tmp_path / "t"), "--tenant", "t", "--install", INSTALL]
    assert CliRunner().invoke(main, args).exit_code == 0
    (tmp_path / "t" / "tenant.yaml").write_text("tenant: t\n")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1
    assert (
        r.stderr
        == f"error: {tmp_path / 't'} already holds YAML files; init never overwrites manifests\n"
    )
    assert (tmp_path / "t" / "tenant.yaml").read_text() == "tenant: t\n"


@pytest.mark.parametrize(
    ("tenant", "install", "message"),
    [
        ("Acme", INSTALL, 'error: --tenant "Acme" must match ^[a-z0-9][a-z0-9-]*$ (e.g. "acme")'),
        (
            "acme",
            "AI123",
            'error: --install "AI123" is not an install SID: "AI" followed by '
            "32 lowercase hex digits",
        ),
    ],
)
def test_init_rejects_bad_names(tmp_path: Path, tenant: str, install: str, message: str) -> None:
    r = CliRunner().invoke(
        main, ["init", str(tmp_path / "x"), "--tenant", tenant, "--install", install]
    )
    assert r.exit_code == 1
    assert r.stderr.strip() == message
    assert not (tmp_path / "x").exists()


def test_init_keeps_what_a_gitignore_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path(".gitignore").write_text("*.pyc\n.spsync/")
    args = ["init", "manifests/a", "--tenant", "a", "--install", INSTALL]
    assert "wrote .gitignore" in CliRunner().invoke(main, args).stdout
    assert Path(".gitignore").read_text() == (
        "*.pyc\n.spsync/\n# spsync's local files: never commit them (state/<tenant>.json is "
        "committed)\nstate/*.lock\nstate/*.lock.json\nstate/*.journal.jsonl\nstate/.*.tmp\n"
    )
    args = ["init", "manifests/b", "--tenant", "b", "--install", INSTALL]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "gitignore" not in r.stdout  # nothing left to add
