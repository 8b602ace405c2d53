"""The repository as a configuration repository: the example tenants of manifests/ use every
manifest feature, read their secrets from the environment, keep their dates ahead of the
pinned clock; the YAML examples of the docs satisfy the schema."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.docs import (
    MANIFESTS,
    PINNED_NOW,
    REPO,
    blocks,
    doc_files,
    example_env,
    example_env_names,
    example_files,
    secret_refs,
)
from support.schema_check import schema_errors
from test_manifest_schema import as_editors_read

from spsync import manifest, schema

#: schema paths the examples leave out, and why
NOT_IN_EXAMPLES = {
    # an ``ids.sid`` refers to an object that already exists in the install, which a fresh
    # sandbox cannot have; docs/adopting.md shows them on objects that exist
    "$.courses.*.ids.sid",
    "$.exams.*.ids.sid",
    "$.users.*.ids.sid",
}


def _schema_paths(node: Any, path: str, out: set[str], root: dict[str, Any]) -> None:
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        if name == "SecretRef":
            out.add(f"{path}.<secret>")
            return
        _schema_paths(root["$defs"][name], path, out, root)
        return
    for sub in node.get("anyOf", []):
        _schema_paths(sub, path, out, root)
    for key, sub in node.get("properties", {}).items():
        out.add(f"{path}.{key}")
        _schema_paths(sub, f"{path}.{key}", out, root)
    if isinstance(node.get("additionalProperties"), dict):
        _schema_paths(node["additionalProperties"], f"{path}.*", out, root)
    if isinstance(node.get("items"), dict):
        _schema_paths(node["items"], f"{path}[]", out, root)


def _data_paths(value: Any, path: str, out: set[str]) -> None:
    if isinstance(value, dict):
        if len(value) == 1 and set(value) <= {"env", "file"}:
            out.add(f"{path}.<secret>")
            return
        for key, sub in value.items():
            for p in (f"{path}.{key}", f"{path}.*"):
                out.add(p)
                _data_paths(sub, p, out)
    elif isinstance(value, list):
        for sub in value:
            _data_paths(sub, f"{path}[]", out)


def _docs(kind: str) -> list[Any]:
    return [
        yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in example_files()
        if (p.name == "tenant.yaml") == (kind == "tenant")
    ]


def test_the_examples_validate() -> None:
    acme, globex = manifest.load(MANIFESTS, env=example_env(), sandbox=True)
    assert (len(acme.users), len(globex.users)) == (10, 320)  # one small, one realistic
    assert len(globex.sessions) > 200


@pytest.mark.parametrize("kind", ["tenant", "resources"])
def test_the_examples_use_every_field(kind: str) -> None:
    root = schema.json_schema(kind)
    wanted: set[str] = set()
    _schema_paths(root, "$", wanted, root)
    used: set[str] = set()
    for doc in _docs(kind):
        _data_paths(doc, "$", used)
    assert sorted(wanted - used - NOT_IN_EXAMPLES) == []
    assert NOT_IN_EXAMPLES & used == set()  # an exclusion that is no longer one


def test_the_examples_use_every_enumerated_value() -> None:
    data = _docs("resources")

    def values(pick: Any) -> set[str]:
        return {v for d in data for v in pick(d)}

    def exams(d: Any) -> list[Any]:
        return list((d.get("exams") or {}).values())

    assert values(lambda d: [s.get("type") for s in d.get("sessions") or []]) >= set(
        schema.SESSION_TYPES
    )
    configs = lambda d: [e["configuration"] for e in exams(d)]  # noqa: E731
    assert values(lambda d: [i for c in configs(d) for i in c.get("permittedItems", {})]) == set(
        schema.PERMITTED_ITEMS
    )
    assert values(
        lambda d: [
            o for c in configs(d) for t in c["proctorTypes"].values() for o in t.get("options", {})
        ]
    ) == set(schema.PROCTOR_OPTIONS)
    assert values(lambda d: [e.get("type", "online") for e in exams(d)]) == set(schema.EXAM_TYPES)
    assert values(lambda d: [e.get("role") for e in d.get("enrollments") or []]) >= set(
        schema.ROLES
    )
    ids = {
        kind
        for d in data
        for section in ("courses", "exams", "users")
        for entity in (d.get(section) or {}).values()
        for kind in entity["ids"]
    }
    assert ids == {"api", "external", "lms"}
    # limited scope comes from the tenants' defaults; the unlimited exams say so
    assert False in {e.get("limitedScope") for d in data for e in exams(d)}
    assert all(t["defaults"]["exam"]["limitedScope"] is True for t in _docs("tenant"))


def test_the_examples_use_yaml_conveniences() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in example_files())
    assert re.search(r"&[a-z-]+\n", text) and re.search(r": \*[a-z-]+", text)  # anchor, alias
    assert "<<: *" in text  # a merge key
    assert re.search(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"', text)  # a zone offset


def test_secrets_come_from_the_environment() -> None:
    refs = [r for p in example_files() for r in secret_refs(yaml.safe_load(p.read_text()))]
    assert refs and all(set(r) == {"env"} for r in refs)
    assert example_env_names("tokens") == {"SPSYNC_ACME_TOKEN", "SPSYNC_GLOBEX_TOKEN"}
    # make demo sets exactly the example passwords (the sandbox reads no token)
    makefile = (REPO / "Makefile").read_text()
    demo_env = re.search(r"^DEMO_ENV := (.*?)(?<!\\)$", makefile, re.M | re.S)
    assert demo_env is not None
    names = set(re.findall(r"([A-Z_]+)=", demo_env.group(1)))
    assert names == example_env_names("passwords") | {"SPSYNC_SANDBOX_NOW"}


def test_example_dates_stay_ahead_of_the_pinned_clock() -> None:
    now = datetime.fromisoformat(PINNED_NOW.replace("Z", "+00:00"))
    loaded = manifest.load(MANIFESTS, env=example_env(), sandbox=True)
    appointments = [
        datetime.fromisoformat(s.appointment.replace("Z", "+00:00"))
        for d in loaded
        for s in d.sessions.values()
    ]
    assert min(appointments) > now
    assert {a.year for a in appointments} == {2028}
    for d in loaded:
        for exam in d.exams.values():
            close = exam.configuration.access.close
            assert close.startswith("2028-"), (exam.name, close)
    assert now < datetime(2028, 1, 1, tzinfo=UTC)


def test_globex_is_what_its_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("gen_globex", REPO / "tools" / "gen_globex.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    files = gen.generate(320)
    assert sorted(files) == sorted(p.name for p in (MANIFESTS / "globex").iterdir())
    for name, text in files.items():
        assert (MANIFESTS / "globex" / name).read_text(encoding="utf-8") == text, name


# --- YAML examples of the docs ------------------------------------------------------------------

RESOURCE_KEYS = {"courses", "exams", "users", "enrollments", "assignments", "sessions"}


def _is_manifest(text: str) -> bool:
    """A whole manifest file (not a fragment such as ``policy:``, nor another tool's YAML)."""
    data = yaml.safe_load(text)
    return isinstance(data, dict) and ("tenant" in data or set(data) <= RESOURCE_KEYS)


YAML_BLOCKS = [
    b for f in doc_files() for b in blocks(f) if b.lang == "yaml" and _is_manifest(b.text)
]


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where() for b in YAML_BLOCKS])
def test_yaml_examples_of_the_docs_satisfy_the_schema(block: Any) -> None:
    data = as_editors_read(block.text)
    kind = "tenant" if "tenant" in data else "resources"
    doc = schema.json_schema(kind)
    assert schema_errors(doc, data, doc) == []


def test_yaml_examples_were_found() -> None:
    where = {Path(b.file).name for b in YAML_BLOCKS}
    assert {"manifests.md", "getting-started.md"} <= where
