"""An exam update keeps what the manifest does not manage of its configuration.

The API replaces an exam's configuration as a whole when one is sent (api-contract §4),
and a part a manifest leaves out is not managed (docs/planning.md): whatever it is live is
fine, and the plan shows no change of it. So an update must not send it back to its
default. Against the simulator over real HTTP, in the contract's dialect and the vendor's:
someone sets attempts, a scheduling window, proctor notes and a permitted item on the
generated ``safety`` exam, whose manifest sets none of them; an edit of its title, then of
its duration, is planned as just that, and after each apply the live configuration is the
one before with only the edited field changed. When the read does not show a part the
manifest leaves out, apply sends nothing and says why.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.api import Tamper
from support.reliability import TOKEN, Rewrite, Workspace, no_traceback, tampered, world

from spsync.sandbox.dialect import Dialect
from spsync.sandbox.server import ThreadedServer

DIALECTS = {"contract": Dialect(), "vendor": Dialect.vendor()}
#: what each dialect's reads never show (the plan says so on every run)
WARNINGS = {
    "contract": "",
    "vendor": "".join(
        f"Warning: {kind}: the API's reads do not return {fields}: spsync keeps their last "
        "applied values and cannot see a change made to them outside spsync "
        "(docs/api-dialects.md)\n\n"
        for kind, fields in (
            ("exams", "configuration.proctorTypes.options"),
            ("sessions", "notes, proctorLocation"),
            ("users", "timeZone"),
        )
    ),
}
#: what someone sets live on the safety exam (its manifest sets none of it)
LIVE_EDIT = {
    "attempts": 3,
    "scheduling": {"open": "2027-01-20T00:00:00Z", "close": "2027-11-01T00:00:00Z"},
    "notes": {"proctor": "Check the desk."},
    "permittedItems": {"earplugs": {}},
}


class Setup:
    def __init__(self, srv: ThreadedServer, front: Tamper, ws: Workspace, dialect: str) -> None:
        self.srv, self.front, self.ws, self.dialect = srv, front, ws, dialect
        rec = json.loads(ws.state_path().read_text())["resources"]["exam.safety"]
        self.exam, self.course = rec["sid"], rec["refs"]["course"]

    def live(self) -> dict[str, Any]:
        """The safety exam as the simulator holds it."""
        (install,) = world(self.srv.url)["installs"]
        (exam,) = [e for e in install["exams"] if e["sid"] == self.exam]
        return dict(exam)

    def edit(self, old: str, new: str) -> None:
        path = self.ws.tenant_dir() / "exams.yaml"
        text = path.read_text()
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new))

    def plan(self, *extra: str) -> str:
        run = self.ws.run_here("plan", str(self.ws.tenant_dir()), *extra)
        no_traceback(run)
        assert run.code == 0, run
        return run.out

    def expected(self, changes: str, last: str) -> str:
        """The whole text of a plan: its changes (none: ``""``), then its last line."""
        serial = json.loads(self.ws.state_path().read_text())["serial"]
        head = f"Tenant rel (install {self.ws.installs['rel']}, state serial {serial})\n\n"
        return head + (changes + "\n" if changes else "") + WARNINGS[self.dialect] + last + "\n"


@pytest.fixture(params=sorted(DIALECTS))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """The generated tenant applied, then the safety exam's configuration changed live
    (``LIVE_EDIT``) by a direct provision call."""
    with tampered(seed=72, dialect=DIALECTS[request.param]) as (srv, front):
        ws = Workspace(tmp_path, srv.url, learners=2)
        assert ws.run_here("apply", str(ws.tenant_dir()), "--auto-approve").code == 0
        s = Setup(srv, front, ws, request.param)
        config = {k: v for k, v in s.live()["configuration"].items() if k != "sid"}
        body = {
            "course": {"ids": {"sid": s.course}},
            "exam": {"ids": {"sid": s.exam}, "configuration": {**config, **LIVE_EDIT}},
        }
        answer = httpx.post(
            f"{srv.url}/v2/installs/{ws.installs['rel']}/provision",
            headers={"token": TOKEN},
            json=body,
            timeout=30,
        )
        assert answer.json()["configuration"]["result"] == "Updated", answer.text
        yield s
    gc.collect()  # anything a run left open is reported here (warnings are errors)


def test_an_exam_update_keeps_what_the_manifest_leaves_out(setup: Setup) -> None:
    s = setup
    none = "No changes. rel matches its manifests (23 resources unchanged)."
    assert s.plan() == s.expected("", none)
    before = s.live()
    assert {k: before["configuration"][k] for k in LIVE_EDIT} == LIVE_EDIT

    # the title: the configuration is not touched
    s.edit("title: Workplace Safety\n", "title: Workplace Safety 2027\n")
    assert s.plan("--out", "plan.json") == s.expected(
        "  ~ exam.safety  (update: manifest-changed)\n"
        '      ~ title: "Workplace Safety" -> "Workplace Safety 2027"\n'
        "        (9 unchanged fields hidden)\n",
        "Plan: 1 to update; 22 unchanged.",
    )
    run = s.ws.run_here("apply", "plan.json")
    assert run.code == 0, run
    after = s.live()
    assert after["title"] == "Workplace Safety 2027"
    assert after["configuration"] == before["configuration"]

    # the duration: the configuration is sent, with the live parts the manifest leaves out
    s.edit("      duration: 45\n", "      duration: 50\n")
    assert s.plan("--out", "plan.json") == s.expected(
        "  ~ exam.safety  (update: manifest-changed)\n"
        "      ~ configuration.duration: 45 -> 50\n"
        "        (9 unchanged fields hidden)\n",
        "Plan: 1 to update; 22 unchanged.",
    )
    run = s.ws.run_here("apply", "plan.json")
    assert run.code == 0, run
    assert s.live()["configuration"] == {**before["configuration"], "duration": 50}
    assert s.plan() == s.expected("", none)


def _without(field: str) -> Callable[[bytes], bytes]:
    def edit(body: bytes) -> bytes:
        exam = json.loads(body)
        exam["configuration"].pop(field)
        return json.dumps(exam).encode()

    return edit


def test_an_exam_update_that_cannot_see_a_part_left_out_sends_nothing(setup: Setup) -> None:
    s = setup
    before = s.live()
    s.front.add(Rewrite("GET", f"/exams/{s.exam}$", _without("attempts"), times=100))
    s.edit("      duration: 45\n", "      duration: 50\n")
    run = s.ws.run_here("apply", str(s.ws.tenant_dir()), "--auto-approve")
    no_traceback(run)
    assert run.code == 1, run
    assert (
        "exam.safety: the exam's configuration is replaced as a whole when sent, and the "
        "API's read of it does not show configuration.attempts, which the manifest leaves "
        "out: sending it would reset them. Nothing was sent; set them in the manifest to "
        "manage them"
    ) in run.err, run
    assert s.live() == before
