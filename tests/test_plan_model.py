"""Plan files, checksums, safety policy and staleness."""

from __future__ import annotations

import hashlib
import json

import pytest
from support.plan import applied_state, observed_matching, user, world

from spsync.errors import PlanError
from spsync.fields import desired_digest_of, fingerprint_of
from spsync.model import Desired, Policy
from spsync.observed import Observed
from spsync.plan import (
    Change,
    TenantPlan,
    UnsafePlanError,
    canonical_json,
    check_safety,
    dump_plan,
    load_plan,
    make_plan,
    staleness,
    summarize,
)
from spsync.planner import build_plan
from spsync.state import State


def small_plan() -> TenantPlan:
    d = world(["jane", "carl"], scheduled=["carl"])
    return build_plan(d, applied_state(world()), None)


def test_plan_file_round_trip_and_checksum() -> None:
    plan = make_plan([small_plan()], targets=(), refresh=False)
    assert plan.checksum.startswith("sha256:") and len(plan.checksum) == 7 + 64
    text = dump_plan(plan)
    assert text.endswith("\n")
    assert load_plan(text) == plan
    assert dump_plan(load_plan(text)) == text


def test_a_plan_applied_as_made_can_go_without_its_checksum() -> None:
    """``make_plan(checksum=False)`` (an apply that is not of a saved plan): the same plan,
    its checksum left empty rather than computed over every change again."""
    full = make_plan([small_plan()])
    bare = make_plan([small_plan()], checksum=False)
    assert full.checksum.startswith("sha256:") and bare.checksum == ""
    assert bare == full.model_copy(update={"checksum": ""})


def test_edited_plan_file_is_refused() -> None:
    plan = make_plan([small_plan()])
    doc = json.loads(dump_plan(plan))
    doc["tenants"][0]["changes"][0]["address"] = "user.mallory"
    with pytest.raises(PlanError) as e:
        load_plan(json.dumps(doc), "plan.json")
    assert str(e.value) == (
        "plan.json: checksum mismatch: the plan file was edited or damaged; make the plan again"
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", "p: not a plan file: bad JSON at line 1 column 2"),
        ("[]", "p: not a plan file (no format_version)"),
        ('{"format_version": "2"}', "p: plan format_version '2' is not supported"),
        ('{"format_version": "1", "tenants": 3}', "p: not a valid plan file: tenants:"),
    ],
)
def test_corrupt_plan_files(text: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        load_plan(text, "p")
    assert str(e.value).startswith(message)


def _tp(n_destructive: int, managed: int, desired: int = 5) -> TenantPlan:
    changes = tuple(
        Change(address=f"session.cert.u{i}", action="cancel", reason="removed", destructive=True)
        for i in range(n_destructive)
    )
    return TenantPlan(
        tenant="acme",
        install="AI" + "0" * 32,
        api_url="u",
        state_serial=1,
        state_lineage="l",
        summary=summarize(c.action for c in changes),
        changes=changes,
        desired_count=desired,
        managed_count=managed,
    )


def test_safety_counts_destructive_changes() -> None:
    policy = Policy(maxDestroy=3, maxDestroyPercent=50)
    check_safety(_tp(3, 100), policy, 100, allow_destroy=False)
    with pytest.raises(UnsafePlanError) as e:
        check_safety(_tp(4, 100), policy, 100, allow_destroy=False)
    assert str(e.value) == (
        "acme: plan refused: 4 destructive changes (4 cancel) exceed the tenant policy "
        "(maxDestroy 3); review them and run again with --allow-destroy, or raise policy "
        "limits in tenant.yaml"
    )
    assert e.value.tenant_plan.tenant == "acme"
    check_safety(_tp(4, 100), policy, 100, allow_destroy=True)


def test_safety_percentage_of_managed() -> None:
    policy = Policy(maxDestroy=100, maxDestroyPercent=20)
    check_safety(_tp(2, 10), policy, 10, allow_destroy=False)
    with pytest.raises(UnsafePlanError) as e:
        check_safety(_tp(3, 10), policy, 10, allow_destroy=False)
    assert "(maxDestroyPercent 20% (30.0% of 10 managed))" in str(e.value)


def test_empty_manifests_against_state_are_refused() -> None:
    with pytest.raises(UnsafePlanError) as e:
        check_safety(_tp(0, 12, desired=0), Policy(), 12, allow_destroy=False)
    assert str(e.value) == (
        "acme: the manifests hold no resources but the state manages 12; refusing to forget or "
        "remove all of them (wrong path?). If that is really meant, run again with --allow-destroy"
    )
    check_safety(_tp(0, 12, desired=0), Policy(), 12, allow_destroy=True)
    check_safety(_tp(0, 0, desired=0), Policy(), 0, allow_destroy=False)


def _fresh(d: Desired, st: State, tp: TenantPlan, live: Observed) -> list[str]:
    """Why ``tp`` is stale against a plan made now on ``st`` and ``live`` (same changes)."""
    key = b"tok-acme"
    now = tp.model_copy(
        update={
            "state_lineage": st.lineage,
            "state_serial": st.serial,
            "fingerprints": {a: fingerprint_of(a, st, live, key) for a in tp.fingerprints},
            "desired_digest": desired_digest_of(d, tp.fingerprints, key),
        }
    )
    return staleness(tp, now)


def test_staleness_reasons() -> None:
    d = world(["jane", "bob"])
    d = d.model_copy(update={"users": {**d.users, "user.jane": user("jane", lastName="Doe")}})
    st = applied_state(world())
    live = observed_matching(st, world())
    tp = build_plan(d, st, live)
    assert _fresh(d, st, tp, live) == []
    bumped = st.model_copy(update={"serial": st.serial + 1})
    assert _fresh(d, bumped, tp, live) == [
        "the state of acme changed since planning (serial 3 -> 4)"
    ]
    other = st.model_copy(update={"lineage": "other"})
    assert _fresh(d, other, tp, live)[0].startswith("the state of acme is another lineage")
    obj = live.objects["user.jane"]
    edited = live.model_copy(
        update={
            "objects": {
                **live.objects,
                "user.jane": obj.replace(fields={**obj.fields, "email": "x@y.z"}),
            }
        }
    )
    assert _fresh(d, st, tp, edited) == ["live objects changed since planning: user.jane"]
    d2 = d.model_copy(update={"users": {**d.users, "user.jane": user("jane", lastName="Dee")}})
    assert _fresh(d2, st, tp, live) == ["the manifests of acme changed since planning"]


def test_a_plan_stale_because_the_live_world_changed_does_not_blame_the_manifests() -> None:
    """The live world drifts on another address: the fresh plan touches it too, so its
    digest of the touched manifests differs though no manifest changed. The reasons say
    what changed, not that the manifests did."""
    d = world(["jane", "bob"])
    d = d.model_copy(update={"users": {**d.users, "user.jane": user("jane", lastName="Doe")}})
    st = applied_state(world(["jane", "bob"]))
    live = observed_matching(st, world(["jane", "bob"]))
    key = b"tok-acme"
    saved = build_plan(d, st, live, secret_key=key)
    obj = live.objects["user.bob"]
    drifted = live.model_copy(
        update={
            "objects": {
                **live.objects,
                "user.bob": obj.replace(fields={**obj.fields, "email": "x@y.z"}),
            }
        }
    )
    fresh = build_plan(d, st, drifted, secret_key=key)
    assert fresh.desired_digest != saved.desired_digest  # the touched set grew
    assert staleness(saved, fresh) == ["acme: changes not in the plan: user.bob"]
    # a manifest edit on what both touch is still named
    d2 = d.model_copy(update={"users": {**d.users, "user.jane": user("jane", lastName="Dee")}})
    edited = build_plan(d2, st, live, secret_key=key)
    assert staleness(saved, edited) == [
        "the manifests of acme changed since planning",
        "acme: changes that are now different: user.jane (update -> update)",
    ]


def test_the_checksum_is_taken_over_the_whole_canonical_text() -> None:
    """Hashed piece by piece, it is the digest of the one canonical JSON text of the plan."""
    other = small_plan().model_copy(update={"tenant": "zeta", "warnings": ("w\u00e9",)})
    plan = make_plan([small_plan(), other], targets=("user.jane",), manifests="m")
    assert len(plan.tenants) == 2 and all(tp.changes for tp in plan.tenants)
    whole = canonical_json(plan.model_dump(mode="json", exclude={"checksum"}))
    assert plan.checksum == "sha256:" + hashlib.sha256(whole.encode()).hexdigest()
    empty = make_plan([])
    text = canonical_json(empty.model_dump(mode="json", exclude={"checksum"}))
    assert empty.checksum == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 2500])
def test_the_checksum_of_changes_encoded_in_chunks(n: int) -> None:
    """Changes are encoded a chunk at a time: any count, across chunk edges, digests the
    same one canonical text."""
    changes = tuple(
        Change(
            address=f"user.u{i:05d}",
            action="update",
            reason="drift",
            destructive=False,
            before={"lastName": f"N{i}", "ids": {"external": f"x{i}"}},
            after={"lastName": "\u00e9", "n": i * 0.5},
            depends_on=(f"course.c{i % 3}",),
        )
        for i in range(n)
    )
    tp = small_plan().model_copy(update={"changes": changes})
    plan = make_plan([tp, tp.model_copy(update={"tenant": "other", "changes": ()})])
    whole = canonical_json(plan.model_dump(mode="json", exclude={"checksum"}))
    assert plan.checksum == "sha256:" + hashlib.sha256(whole.encode()).hexdigest()
