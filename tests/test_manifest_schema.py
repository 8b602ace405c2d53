"""The schema: JSON Schema export, agreement with the models, and the reference doc."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel
from support.schema_check import schema_errors, schema_nodes

from spsync import model, schema
from spsync.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
DOC = ROOT / "docs" / "manifests.md"


def _obj(spec: schema.Spec, *path: str) -> schema.Obj:
    """The object spec reached through ``path`` (field names, through maps and lists)."""
    for key in path:
        while isinstance(spec, schema.MapOf | schema.ListOf):
            spec = spec.value if isinstance(spec, schema.MapOf) else spec.item
        assert isinstance(spec, schema.Obj)
        spec = spec.fields[key].spec
    while isinstance(spec, schema.MapOf | schema.ListOf):
        spec = spec.value if isinstance(spec, schema.MapOf) else spec.item
    assert isinstance(spec, schema.Obj)
    return spec


# (object spec, model, model fields that do not come from a manifest field)
PAIRS: list[tuple[schema.Obj, type[BaseModel], set[str]]] = [
    (schema.TENANT, model.Tenant, {"file"}),
    (_obj(schema.TENANT, "api"), model.Api, set()),
    (_obj(schema.TENANT, "signon"), model.Signon, set()),
    (_obj(schema.TENANT, "policy"), model.Policy, set()),
    (schema.COURSE, model.Course, {"name"}),
    (schema.EXAM, model.Exam, {"name"}),
    (schema.CONFIGURATION, model.ExamConfiguration, set()),
    (_obj(schema.CONFIGURATION, "access"), model.Window, set()),
    (_obj(schema.CONFIGURATION, "scheduling"), model.Window, set()),
    (_obj(schema.CONFIGURATION, "proctorTypes"), model.ProctorTypeConfig, set()),
    (_obj(schema.CONFIGURATION, "notes"), model.Notes, set()),
    (_obj(schema.CONFIGURATION, "permittedItems"), model.PermittedItemConfig, set()),
    (schema.USER, model.User, {"name"}),
    (schema.ENROLLMENT, model.Enrollment, {"implied"}),
    (schema.SESSION, model.Session, set()),
]


@pytest.mark.parametrize(("spec", "cls", "derived"), PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_schema_fields_are_model_fields(
    spec: schema.Obj, cls: type[BaseModel], derived: set[str]
) -> None:
    extra = {"defaults"} if spec is schema.TENANT else set()
    assert set(spec.fields) - extra == set(cls.model_fields) - derived


def test_ids_kinds_are_model_fields() -> None:
    assert set(schema.COURSE_IDS.kinds) == set(model.Ids.model_fields)
    assert set(schema.USER_IDS.kinds) == set(model.Ids.model_fields)
    assert schema.EXAM_IDS.kinds == ("sid", "external")


def test_enumerations_are_the_models() -> None:
    assert get_args(model.SessionType) == schema.SESSION_TYPES
    assert get_args(model.PermittedItem) == schema.PERMITTED_ITEMS
    assert get_args(model.ProctorOption) == schema.PROCTOR_OPTIONS
    assert get_args(model.Role) == schema.ROLES
    assert get_args(model.ExamType) == schema.EXAM_TYPES


def test_defaults_only_offer_fields_of_their_kind() -> None:
    for kind, spec in (
        ("user", schema.USER),
        ("exam", schema.EXAM),
        ("session", schema.SESSION),
    ):
        offered = _obj(schema.TENANT, "defaults", kind).fields
        assert set(offered) <= set(spec.fields)
        for name, f in offered.items():
            assert f.spec is spec.fields[name].spec  # same checks as on the resource


# --- the JSON Schema ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tenant", "resources", None])
def test_json_schema_shape(kind: str | None) -> None:
    doc = schema.json_schema(kind)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$defs"]["SecretRef"]["properties"]["env"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]*$"
    json.dumps(doc)  # serialisable
    for path, node in schema_nodes(doc):
        if "properties" in node and not path.endswith(".properties"):
            assert node["additionalProperties"] is False, path
            for name, prop in node["properties"].items():
                assert prop.get("description"), f"{path}.{name} has no description"


def test_schema_command_prints_the_schemas() -> None:
    for args, kind in (
        ([], None),
        (["--kind", "tenant"], "tenant"),
        (["--kind", "resources"], "resources"),
    ):
        r = CliRunner().invoke(main, ["schema", *args])
        assert (r.exit_code, r.stderr) == (0, "")
        assert json.loads(r.stdout) == schema.json_schema(kind)
    r = CliRunner().invoke(main, ["schema", "--kind", "other"])
    assert r.exit_code == 1
    assert "Invalid value for '--kind'" in r.stderr


def as_editors_read(text: str) -> Any:
    """YAML as editors read it for their schema checks: YAML 1.2, where unquoted dates and
    times are text (PyYAML's 1.1 makes them date objects)."""

    def text_times(v: Any) -> Any:
        if isinstance(v, datetime | date):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: text_times(x) for k, x in v.items()}
        if isinstance(v, list):
            return [text_times(x) for x in v]
        return v

    return text_times(yaml.safe_load(text))


def _load(path: Path) -> Any:
    return as_editors_read(path.read_text())


VALID_FILES = sorted(p for p in (FIXTURES / "valid").rglob("*.y*ml"))


@pytest.mark.parametrize(
    "path", VALID_FILES, ids=[str(p.relative_to(FIXTURES)) for p in VALID_FILES]
)
def test_valid_manifests_satisfy_the_json_schema(path: Path) -> None:
    kind = "tenant" if path.name == "tenant.yaml" else "resources"
    doc = schema.json_schema(kind)
    assert schema_errors(doc, _load(path), doc) == []
    combined = schema.json_schema()
    assert schema_errors(combined, _load(path), combined) == []


@pytest.mark.parametrize(
    ("case", "file", "error"),
    [
        ("field-typo", "main.yaml", "$.users.jane.frstName: not allowed"),
        ("ids-two-kinds", "main.yaml", "$.courses.main.ids: property count"),
        (
            "duration-not-integer",
            "main.yaml",
            "$.exams.final.configuration.duration: str is not integer",
        ),
        ("session-type-unknown", "main.yaml", "$.sessions[0].type: 'automatic' not in enum"),
        ("tenant-name-pattern", "tenant.yaml", "$.tenant: pattern"),
        ("api-token-literal", "tenant.yaml", "$.api.token: str is not object"),
        (
            "proctor-types-empty",
            "main.yaml",
            "$.exams.final.configuration.proctorTypes: property count",
        ),
    ],
)
def test_broken_manifests_fail_the_json_schema(case: str, file: str, error: str) -> None:
    doc = schema.json_schema("tenant" if file == "tenant.yaml" else "resources")
    assert error in schema_errors(doc, _load(FIXTURES / "broken" / case / file), doc)


# --- the reference documentation ------------------------------------------------------------


def _models() -> list[type[BaseModel]]:
    return [
        c
        for c in vars(model).values()
        if isinstance(c, type)
        and issubclass(c, BaseModel)
        and c.__module__ == model.__name__
        and c is not model.Strict
    ]


def _documented(name: str, text: str) -> bool:
    """``name`` appears in backticks, alone or as the end of a dotted path (`api.token`)."""
    return re.search(rf"`(?:[\w.…]+\.)?{re.escape(name)}`", text) is not None


def test_every_model_field_is_documented() -> None:
    text = DOC.read_text()
    missing = [
        f"{cls.__name__}.{name}"
        for cls in _models()
        for name in cls.model_fields
        if not _documented(name, text)
    ]
    assert missing == []


def test_every_manifest_field_and_enum_value_is_documented() -> None:
    text = DOC.read_text()
    names: set[str] = set()
    for spec in (schema.TENANT, schema.RESOURCES):
        for _path, node in schema_nodes(spec.json()):
            names.update(node.get("properties", {}))
    values = {
        *schema.SESSION_TYPES,
        *schema.PERMITTED_ITEMS,
        *schema.PROCTOR_OPTIONS,
        *schema.ROLES,
        *schema.EXAM_TYPES,
    }
    missing = sorted(n for n in names | values if not _documented(n, text))
    assert missing == []
