"""Planning several tenants: targets split between tenants, refusals collected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.plan import applied_state, hand_change, hand_plan, tenant, world

from spsync.errors import PlanError
from spsync.plan import dump_plan, make_plan
from spsync.planning import plan_all, scrubbed, secret_key
from spsync.secrets import Secret, _known
from spsync.store import StateStore


def test_targets_go_to_the_tenants_that_know_them(tmp_path: Path) -> None:
    acme = world(["jane"])
    globex = world(["zoe"], t=tenant("globex"))
    store = StateStore(tmp_path)
    plan, refused = asyncio.run(
        plan_all([globex, acme], store, sandbox=False, refresh=False, targets=["user.zoe"])
    )
    assert refused == []
    assert [t.tenant for t in plan.tenants] == ["acme", "globex"]
    assert plan.tenants[0].changes == ()
    assert sum(plan.tenants[0].summary.values()) == 0
    # a new user's provision call makes its enrollment, in a course that must exist: both
    # come with the target (docs/planning.md, Targets)
    assert [c.address for c in plan.tenants[1].changes] == [
        "course.main",
        "user.zoe",
        "enrollment.main.zoe",
    ]
    assert plan.targets == ("user.zoe",)
    with pytest.raises(PlanError, match=r"unknown target user\.zoey; did you mean user\.zoe\?"):
        asyncio.run(
            plan_all([acme, globex], store, sandbox=False, refresh=False, targets=["user.zoey"])
        )


def test_refused_tenants_are_planned_and_reported(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    strict = tenant("acme", maxDestroy=0)
    store.save(applied_state(world(["jane", "bob"], t=strict)).model_copy(update={"serial": 0}))
    desired = world(["jane", "bob"], scheduled=["jane"], t=strict)
    plan, refused = asyncio.run(plan_all([desired], store, sandbox=False, refresh=False))
    assert [str(e) for e in refused] == [
        "acme: plan refused: 1 destructive change (1 cancel) exceeds the tenant policy "
        "(maxDestroy 0); review them and run again with --allow-destroy, or raise policy "
        "limits in tenant.yaml"
    ]
    assert [c.action for c in plan.tenants[0].changes] == ["cancel"]
    plan, refused = asyncio.run(
        plan_all([desired], store, sandbox=False, refresh=False, allow_destroy=True)
    )
    assert refused == []


def test_secret_key_is_the_token_or_the_sandbox_key() -> None:
    d = world()
    assert secret_key(d, False) == b"tok-acme"
    assert secret_key(d, True) == b"spsync-sandbox"


def test_scrubbing_masks_echoed_secrets_and_copies_only_those_changes() -> None:
    _known(Secret("echoed-secret-value"))
    plain = hand_change("user.bob", "update", "drift", before={"title": "a"}, after={"title": "b"})
    echoed = hand_change(
        "user.jane",
        "update",
        "drift",
        before={"notes": ["x", "said echoed-secret-value"]},
        after={"notes": ["x"]},
    )
    tp = hand_plan("acme", [plain, echoed], warnings=("plain warning",))
    out = scrubbed(tp)
    bob, jane = out.changes
    assert bob is tp.changes[0]  # nothing secret in it: not copied
    assert jane.before == {"notes": ["x", "said (sensitive)"]}
    assert jane.after == {"notes": ["x"]}
    assert out.warnings == ("plain warning",)
    untouched = hand_plan("acme", [plain], warnings=("plain warning",))
    assert scrubbed(untouched) is untouched


def test_scrubbing_masks_a_secret_a_server_echoes_as_a_key() -> None:
    """As the name of an exam option (``permittedItems``): the key is shown, saved in the
    plan file and posted as a value is."""
    _known(Secret("certpass1234"))
    echoed = hand_change(
        "exam.orientation",
        "update",
        "drift",
        before={"configuration": {"permittedItems": {"certpass1234": {}, "calculator": {}}}},
        after={"configuration": {"permittedItems": {"calculator": {}}}},
    )
    out = scrubbed(hand_plan("acme", [echoed]))
    (change,) = out.changes
    assert change.before == {
        "configuration": {"permittedItems": {"(sensitive)": {}, "calculator": {}}}
    }
    assert change.after is echoed.after  # nothing secret in it: the same map
    assert "certpass1234" not in dump_plan(make_plan([out]))
