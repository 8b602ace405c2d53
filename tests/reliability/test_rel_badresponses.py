"""Bad responses: ``spsync plan`` and ``apply`` (through the API client) facing malformed
JSON, HTML pages, truncated bodies, unexpected statuses (418, 302, 404 without JSON) and
SIDs of the wrong prefix, from a front (``Tamper`` / ``Rewriter``) in front of the simulator.

A read that goes wrong stops the command with exit 1 and an error naming the call (method,
path, status) and what was wrong, no traceback, and the state untouched. A write whose answer
goes wrong (after the change happened) fails the run; the state still loads and holds no
SID of the wrong kind; a re-run adopts what was done and converges, with no double booking.
"""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

from support.api import Rule
from support.reliability import (
    Rewrite,
    Trial,
    Workspace,
    converge,
    finish,
    no_traceback,
    requests_seen,
    tampered,
)

HTML = b"<!DOCTYPE html><html><body><h1>Something went wrong</h1><p>Try later.</p></body></html>"
SID = r"[A-Z]{2}[0-9a-f]{32}"

#: (name, rule answering the first-contact user lookups instead of the simulator, what the
#: error says after "GET /v1/installs/AI…/users: ")
READ_CASES = [
    ("malformed-json", dict(status=200, body=b'{"total": 1, results: [}',
                            content_type="application/json"),
     r"200: unexpected response body: Invalid JSON: .+"),
    ("truncated", dict(status=200, body=b'{"total": 3, "count": 3, "results": [{"sid": "US12',
                       content_type="application/json"),
     r"200: unexpected response body: Invalid JSON: EOF while parsing .+"),
    ("html-200", dict(status=200, body=HTML),
     r"200: unexpected response body: Invalid JSON: expected value at line 1 column 1"),
    ("html-400", dict(status=400, body=HTML),
     rf"400: Bad Request \(non-JSON text/html body of {len(HTML)} bytes\)"),
    ("html-404", dict(status=404, body=HTML),
     rf"404: Not Found \(non-JSON text/html body of {len(HTML)} bytes\)"),
    ("teapot-418", dict(status=418, body=b"I'm a teapot", content_type="text/plain"),
     r"418: I'm a Teapot \(non-JSON text/plain body of 12 bytes\)"),
    ("redirect-302", dict(status=302, headers={"location": "https://login.example.com/sso"}),
     r"302: Found \(empty body\)"),
    ("wrong-shape", dict(status=200, body=b'{"items": []}', content_type="application/json"),
     r"200: unexpected response body: .+"),
]  # fmt: skip
#: the cases also run through apply (the rest through plan only, to keep the suite fast)
APPLY_TOO = {"malformed-json", "teapot-418", "redirect-302"}


def _state_untouched(ws: Workspace, before: dict[str, bytes]) -> None:
    after = ws.state_bytes()
    # apply takes the tenant's lock (an empty lock file may appear); nothing else may change
    after.pop("rel.lock", None)
    before = {k: v for k, v in before.items() if k != "rel.lock"}
    assert after == before


def test_rel_malformed_reads_stop_plan_and_apply(tmp_path: Path) -> None:
    jobs = []
    for name, rule_kw, expected in READ_CASES:
        for command in ("plan", "apply") if name in APPLY_TOO else ("plan",):
            jobs.append((name, rule_kw, expected, command))

    def job(name: str, rule_kw: dict, expected: str, command: str) -> None:
        rule = Rule("GET", r"/users$", "before", times=1000, **rule_kw)
        with tampered(rule, seed=61) as (srv, _front):
            ws = Workspace(tmp_path / f"{name}-{command}", srv.url, learners=2)
            if command == "apply":
                run = ws.run_here("apply", str(ws.tenant_dir()), "--auto-approve")
            else:
                run = ws.run_here("plan", str(ws.tenant_dir()))
            where = f"{name}\n{run}"
            no_traceback(run)
            assert run.code == 1, where
            assert run.out == "", where
            install = ws.installs["rel"]
            assert re.fullmatch(
                rf"error: GET /v1/installs/{install}/users: {expected}\n", run.err
            ), where
            # nothing reached the simulator, nothing was written
            assert rule.hits >= 1
            assert requests_seen(srv.url)["total"] == 0
            assert set(ws.state_bytes()) <= {"rel.lock"}, where
            assert not (tmp_path / f"{name}-{command}" / "plan.json").exists()

    for j in jobs:  # in this process, one at a time (each changes the working directory)
        job(*j)
    gc.collect()  # anything a run left open is reported here (warnings are errors)


def _wrong_prefix(old: str, new: str) -> Rewrite:
    """The first SID of kind ``old`` in the body becomes one of kind ``new``."""
    return Rewrite(
        "GET",
        "",
        lambda body: re.sub(rf'"sid": ?"{old}'.encode(), f'"sid":"{new}'.encode(), body, count=1),
    )


#: (name, path of the read, what goes wrong with it)
STATE_CASES: list[tuple[str, str, Rule]] = [
    ("course-sid-prefix", r"/courses/CU[0-9a-f]{32}$", _wrong_prefix("CU", "EX")),
    ("user-sid-prefix", r"/users/US[0-9a-f]{32}/profile$", _wrong_prefix("US", "CU")),
    ("exam-html", r"/exams/EX[0-9a-f]{32}$", Rule("GET", "", "before", status=200, body=HTML)),
    ("report-truncated", r"/reports/appointments$",
     Rule("GET", "", "before", status=200, body=b'{"total": 9, "results": [',
          content_type="application/json")),
]  # fmt: skip


def test_rel_bad_reads_with_state_leave_it_byte_identical(tmp_path: Path) -> None:
    """After a clean apply, the live reads of the next plan and apply go wrong: both stop,
    naming the call, and the state file is byte-for-byte what it was."""
    with tampered(seed=62) as (srv, front):
        ws = Workspace(tmp_path, srv.url, learners=2)
        assert ws.apply().code == 0
        before = ws.state_bytes()
        for i, (name, path, rule) in enumerate(STATE_CASES):
            rule.path, rule.times = path, 1000
            front.add(rule)
            tdir = str(ws.tenant_dir())
            extra = ["--out", "plan.json"] if i % 2 else []
            plan = ws.run_here("plan", tdir, *extra)
            for run in (plan, ws.run_here("apply", tdir, "--auto-approve")):
                where = f"{name}\n{run}"
                no_traceback(run)
                assert run.code == 1, where
                assert run.out == "", where
                call = re.match(rf"error: GET (/v1/installs/{SID}/\S+): 200: \S", run.err)
                assert call is not None and re.search(path, call.group(1)), where
                _state_untouched(ws, before)
            assert rule.hits >= 2
            assert not (tmp_path / "plan.json").exists()
            rule.times = 0  # spent: the next case starts from a well-behaved front
        # the fronts gone, everything is as it was: nothing to do
        assert ws.plan(None, "--detailed-exitcode").code == 0
    gc.collect()  # anything a run left open is reported here (warnings are errors)


def test_rel_bad_answers_to_writes_fail_then_converge(tmp_path: Path) -> None:
    """Answers garbled after the change happened: a course SID of the wrong prefix, a
    schedule answered with an HTML page or a 418; a provision redirected before it happens.
    Each run fails cleanly, except where the answer is a 200 that is not the session: the
    booking is then read back and recorded (the vendor documents write answers as "a
    string"); the state never records a SID of the wrong kind; re-runs adopt what was done
    and converge without booking anything twice."""
    wrong = Rewrite(
        "POST",
        r"/provision$",
        lambda body: re.sub(rb'"course": ?\{"sid": ?"CU', b'"course":{"sid":"US', body, count=1),
    )
    rules = [
        Rule("POST", r"/sessions/ES", "after", status=200, body=HTML, times=2),
        Rule("POST", r"/sessions/ES", "after", status=418, body=b"teapot",
             content_type="text/plain"),
        Rule("POST", r"/provision$", "before", status=302, times=1,
             headers={"location": "https://elsewhere.example.com/"}),
    ]  # fmt: skip
    with tampered(*rules, rewrites=[wrong], seed=63) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=3)
        trial = Trial(seed=63)
        assert converge(ws, trial, max_runs=6), trial.report()
        finish(ws, srv, trial)
    assert trial.ok, trial.report()
    assert wrong.hits == 1 and [r.hits for r in rules] == [2, 1, 1]
    failed = [r for r in trial.runs if r.argv[0] == "apply" and r.code == 1]
    assert len(failed) >= 2, "\n".join(map(str, trial.runs))
    text = "\n".join(r.err for r in failed)
    # each failed change names its call: method, path, status, then what was wrong
    provision = rf"POST /v2/installs/{SID}/provision"
    schedule = rf"POST /v1/installs/{SID}/exams/{SID}/sessions/{SID}"
    for pattern in (
        rf"failed: course\.\S+ \(create\): {provision}: 200: unexpected response body: .*"
        r"course\.sid is not a CU SID",
        rf"failed: course\.\S+ \(create\): {provision}: 302: Found \(empty body\)",
        rf"failed: session\.\S+ \(schedule\): {schedule}: 418: I'm a Teapot ",
    ):
        assert re.search(pattern, text), f"{pattern}\n{text}"
    # the HTML 200s of the schedule were read back as booked, never a failure
    assert not re.search(rf"{schedule}: 200", text), text
    for run in trial.runs:
        no_traceback(run)
    state = json.loads(ws.state_path().read_text())
    for address, res in state["resources"].items():
        kind = address.split(".")[0]
        want = {"course": "CU", "exam": "EX", "user": "US", "enrollment": "EN", "session": "ES"}
        if kind in want:
            assert res["sid"].startswith(want[kind]), (address, res["sid"])
