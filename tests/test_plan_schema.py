"""The JSON Schemas of plans (`spsync schema --kind plan|plan-file`): every plan spsync
writes satisfies them, broken documents do not, and `plan --format json` carries what the
plan file does (changes with depends_on and previous_address, adoptions, warnings)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme
from support.schema_check import schema_errors, schema_nodes
from test_render_golden import large_plan, small_plan

from spsync import plan_schema
from spsync.cli import main
from spsync.cli.schema_cmd import PLAN_KINDS
from spsync.plan import (
    ACTIONS,
    REASONS,
    Adoption,
    Change,
    Plan,
    TenantPlan,
    dump_plan,
    make_plan,
    summarize,
)
from spsync.render import render_json

GOLDEN = Path(__file__).parent / "golden"
PLAN = plan_schema.plan_schema("plan")
PLAN_FILE = plan_schema.plan_schema("plan-file")


def moving_plan() -> Plan:
    """A plan with a move, an adoption of an assignment (no SID), a warning, and made with
    --allow-destroy: the shapes the small golden plan lacks."""
    changes = (
        Change(
            address="user.jane-smith",
            action="move",
            reason="renamed",
            destructive=False,
            before={"firstName": "Jane"},
            after={"firstName": "Jane"},
            previous_address="user.jane",
        ),
        Change(
            address="session.cert.jane-smith",
            action="cancel",
            reason="unassigned",
            destructive=True,
            before={"appointment": "2027-03-01T14:00:00Z"},
            depends_on=("assignment.cert.jane-smith",),
        ),
    )
    tp = TenantPlan(
        tenant="acme",
        install="AI" + "a1" * 16,
        api_url="https://api.smarterproctoring.com",
        state_serial=4,
        state_lineage="5c1d0e43-0000-4000-8000-000000000000",
        summary=summarize(c.action for c in changes),
        changes=changes,
        adopt={"assignment.cert.bob": Adoption(refs={"exam": "EX" + "e" * 32})},
        warnings=("session.cert.kim: the session is Closed",),
    )
    return make_plan([tp], targets=("user.jane-smith",), allow_destroy=True, manifests="m/acme")


PLANS = {"small": small_plan, "large": large_plan, "moving": moving_plan}


# --- the schemas themselves -----------------------------------------------------------------


@pytest.mark.parametrize("kind", plan_schema.KINDS)
def test_schema_shape(kind: str) -> None:
    doc = plan_schema.plan_schema(kind)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$defs"]["Action"]["enum"] == list(ACTIONS)
    assert doc["$defs"]["Reason"]["enum"] == list(REASONS)
    assert doc["$defs"]["Summary"]["required"] == list(ACTIONS)
    json.dumps(doc)
    keywords = {
        "$schema", "title", "description", "type", "properties", "required",
        "additionalProperties", "enum", "items", "pattern", "minimum", "$ref", "$defs",
        "maxLength", "propertyNames",
    }  # fmt: skip
    for path, node in schema_nodes(doc):
        if path.endswith((".properties", ".$defs")):
            continue
        assert set(node) <= keywords, (path, set(node) - keywords)
        if "properties" in node:
            assert node["additionalProperties"] is False, path
            assert node["required"] == list(node["properties"]), path
            for name, prop in node["properties"].items():
                assert prop.get("description"), f"{path}.{name} has no description"


def test_plan_file_schema_has_every_model_field() -> None:
    assert list(PLAN_FILE["properties"]) == list(Plan.model_fields)
    for model in (TenantPlan, Adoption):
        assert list(PLAN_FILE["$defs"][model.__name__]["properties"]) == list(model.model_fields)
    change_fields = [f.name for f in dataclasses.fields(Change)]  # a slotted dataclass
    assert list(PLAN_FILE["$defs"]["Change"]["properties"]) == change_fields


def test_schema_command_prints_the_plan_schemas() -> None:
    assert PLAN_KINDS == plan_schema.KINDS
    for kind in plan_schema.KINDS:
        r = CliRunner().invoke(main, ["schema", "--kind", kind])
        assert (r.exit_code, r.stderr) == (0, "")
        assert json.loads(r.stdout) == plan_schema.plan_schema(kind)
    with pytest.raises(ValueError, match="unknown plan schema kind 'plans'"):
        plan_schema.plan_schema("plans")


# --- every plan output satisfies them -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.json")))
def test_golden_json_plans_are_valid(name: str) -> None:
    doc = json.loads((GOLDEN / name).read_text())
    assert schema_errors(PLAN, doc) == []


@pytest.mark.parametrize("name", sorted(PLANS))
def test_rendered_and_saved_plans_are_valid(name: str) -> None:
    plan = PLANS[name]()
    assert schema_errors(PLAN, json.loads(render_json(plan))) == []
    assert schema_errors(PLAN_FILE, json.loads(dump_plan(plan))) == []


def carried(doc: dict[str, Any], saved: dict[str, Any]) -> None:
    """``doc`` (plan --format json) holds the plan file's changes, adoptions and warnings,
    and its checksum."""
    assert doc["checksum"] == saved["checksum"]
    assert [t["tenant"] for t in doc["tenants"]] == [t["tenant"] for t in saved["tenants"]]
    for shown, kept in zip(doc["tenants"], saved["tenants"], strict=True):
        keys = plan_schema.JSON_KEYS["Change"]
        assert shown["changes"] == [{k: c[k] for k in keys} for c in kept["changes"]]
        assert shown["adopt"] == kept["adopt"]
        assert shown["warnings"] == kept["warnings"]
        assert shown["summary"] == kept["summary"]


@pytest.mark.parametrize("name", sorted(PLANS))
def test_json_carries_what_the_plan_file_holds(name: str) -> None:
    plan = PLANS[name]()
    carried(json.loads(render_json(plan)), json.loads(dump_plan(plan)))


def test_a_move_shows_its_previous_address() -> None:
    doc = json.loads(render_json(moving_plan()))
    move, cancel = doc["tenants"][0]["changes"]
    assert (move["action"], move["previous_address"]) == ("move", "user.jane")
    assert (cancel["previous_address"], cancel["depends_on"]) == (
        None,
        ["assignment.cert.jane-smith"],
    )
    assert doc["tenants"][0]["adopt"] == {
        "assignment.cert.bob": {"sid": None, "refs": {"exam": "EX" + "e" * 32}}
    }


# --- broken documents do not ----------------------------------------------------------------------


def test_broken_plan_documents_are_invalid() -> None:
    good = json.loads(render_json(small_plan()))
    doc = copy.deepcopy(good)
    doc["tenants"][0]["changes"][0]["action"] = "explode"
    assert schema_errors(PLAN, doc) == ["$.tenants[0].changes[0].action: 'explode' not in enum"]
    doc = copy.deepcopy(good)
    del doc["tenants"][0]["adopt"]
    assert schema_errors(PLAN, doc) == ["$.tenants[0]: missing adopt"]
    doc = copy.deepcopy(good)
    doc["tenants"][0]["changes"][0]["reason"] = "because"
    doc["tenants"][0]["changes"][1]["previous_address"] = 3
    doc["tenants"][1]["summary"]["explode"] = 1
    doc["extra"] = True
    assert schema_errors(PLAN, doc) == [
        "$.tenants[0].changes[0].reason: 'because' not in enum",
        "$.tenants[0].changes[1].previous_address: int is not string or null",
        "$.tenants[1].summary.explode: not allowed",
        "$.extra: not allowed",
    ]
    # the plan document is not a plan file: it lacks the staleness data
    assert "$: missing manifests" in schema_errors(PLAN_FILE, good)


def test_broken_plan_files_are_invalid() -> None:
    good = json.loads(dump_plan(small_plan()))
    doc = copy.deepcopy(good)
    doc["tenants"][0]["changes"][2]["action"] = "delete"
    del doc["tenants"][0]["fingerprints"]
    del doc["allow_destroy"]
    doc["checksum"] = "md5:0"
    assert schema_errors(PLAN_FILE, doc) == [
        "$: missing allow_destroy",
        "$.checksum: pattern",
        "$.tenants[0]: missing fingerprints",
        "$.tenants[0].changes[2].action: 'delete' not in enum",
    ]


def test_plans_of_the_sandbox_flow_are_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plans of a first apply and of a later, destructive one, as the CLI writes and prints
    them: each valid, and the printed JSON carries what the file holds."""
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    runner = CliRunner()

    def plan(out: str, *more: str) -> dict[str, Any]:
        r = runner.invoke(
            main, ["--sandbox", "plan", str(acme), "--format", "json", "--out", out, *more]
        )
        assert r.exit_code == 0, r.stderr
        doc = json.loads(r.stdout)
        saved = json.loads(Path(out).read_text())
        assert schema_errors(PLAN, doc) == []
        assert schema_errors(PLAN_FILE, saved) == []
        carried(doc, saved)
        shown = runner.invoke(main, ["--sandbox", "show", out, "--format", "json"])
        assert (shown.exit_code, shown.stdout) == (0, r.stdout)
        return doc

    first = plan("first.json")
    assert first["tenants"][0]["summary"]["create"] == 27
    assert runner.invoke(main, ["--sandbox", "apply", "first.json"]).exit_code == 0

    roster = acme / "roster.yaml"
    text = roster.read_text().replace("cert-456: [li, mateo]", "cert-456: [mateo]")
    roster.write_text(
        text.replace("enrollments:\n", "enrollments:\n  - {user: li, course: acme-main}\n")
    )
    sessions = acme / "sessions.yaml"
    text = sessions.read_text().replace("type: vtc", "type: b-virtual")
    sessions.write_text(text.replace('"2028-03-01T14:00:00Z"', '"2028-03-08T14:00:00Z"'))
    second = plan("second.json", "--allow-destroy")
    changes = {c["address"]: c for c in second["tenants"][0]["changes"]}
    assert {a: c["action"] for a, c in changes.items()} == {
        "assignment.cert-456.li": "unassign",
        "session.cert-456.amara": "replace",
        "session.cert-456.jane": "reschedule",
    }
    assert changes["session.cert-456.jane"]["depends_on"] == []
    assert json.loads(Path("second.json").read_text())["allow_destroy"] is True
