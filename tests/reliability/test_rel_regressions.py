"""Regressions: defects the reliability suite found, each fixed and held by its test."""

from __future__ import annotations

import gc
import re
import warnings
from pathlib import Path

from support.api import Rule
from support.reliability import Trial, Workspace, kill_once_journaled, tampered

from spsync.journal import journal_path


def test_apply_failure_report_names_the_call(tmp_path: Path) -> None:
    """The failure report of apply names the failed call: method, path and status."""
    rule = Rule("POST", r"/sessions/ES", "after", status=418, body=b"teapot",
                content_type="text/plain")  # fmt: skip
    with tampered(rule, seed=91) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=2)
        run = ws.apply()
    assert run.code == 1
    assert re.search(r"failed: session\.\S+ \(schedule\).*POST /v1/installs/\S+: 418", run.err), (
        run.err
    )


def test_plan_after_a_killed_apply_is_applied_as_saved(tmp_path: Path) -> None:
    """A plan made after a killed apply (journal left behind) sees the journal, and
    ``apply PLANFILE`` accepts it although apply folds the journal first."""
    with tampered(seed=92) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=4)
        trial = Trial(seed=92)
        assert kill_once_journaled(ws, trial, entries=3), trial.report()
        assert journal_path(ws.state_dir, "rel").exists()
        assert ws.plan(None, "--out", "plan.json").code == 0
        run = ws.run("apply", "plan.json", "--manifests", "manifests")
    assert run.code == 0, run.err


def test_a_failed_read_leaves_no_connection_open(tmp_path: Path) -> None:
    """When one read of a plan fails, the others are awaited: no connection left open."""
    with tampered(seed=93) as (srv, front):
        ws = Workspace(tmp_path, srv.url, learners=3)
        assert ws.apply().code == 0
        front.add(Rule("GET", r"/courses/CU[0-9a-f]{32}$", "before", status=200, body=b"<html>",
                       times=1000))  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = ws.run_here("plan", str(ws.tenant_dir()))
            gc.collect()
    assert run.code == 1
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
