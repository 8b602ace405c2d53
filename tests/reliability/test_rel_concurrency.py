"""Concurrent applies: the same tenant twice at once (the second is refused at once, naming
the holder), and two tenants in parallel (both succeed, their states independent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send
from support.api import Rule
from support.reliability import (
    NOW,
    RUN_TIMEOUT,
    TOKEN,
    Run,
    Trial,
    Workspace,
    finish,
    install_sid,
    no_traceback,
    requests_seen,
    tampered,
    world,
)

from spsync.sandbox.server import ThreadedServer
from spsync.store import StateStore


def test_rel_second_apply_of_a_tenant_is_refused_at_once(tmp_path: Path) -> None:
    # The first apply is held inside its first provision call (the server waits on a gate)
    # until the second one has finished: the two certainly overlap, with no timing guess.
    gate = threading.Event()
    entered = threading.Event()

    def hold() -> None:
        entered.set()
        gate.wait(RUN_TIMEOUT)

    rule = Rule("POST", r"/provision$", "pass", on_hit=hold)
    with tampered(rule, seed=41) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=4)
        with ws.popen("apply", str(ws.tenant_dir()), "--auto-approve") as first:
            try:
                assert entered.wait(RUN_TIMEOUT), "the first apply never reached provision"
                holder = json.loads((ws.state_dir / "rel.lock.json").read_text())
                second = ws.apply()
                # refused while the first was still held: it did not wait for the lock
                assert first.poll() is None
            finally:
                gate.set()
                out, err = first.communicate(timeout=RUN_TIMEOUT)
        no_traceback(second)
        assert second.code == 1
        assert second.out == ""
        assert holder["pid"] == first.pid and holder["operation"] == "apply"
        host = socket.gethostname()
        expected = (
            rf"^error: state of rel is locked by pid {first.pid} on {re.escape(host)} since "
            rf"\d\d:\d\d:\d\dZ \(apply\); if that process is gone: spsync unlock "
            rf"{re.escape(str(ws.tenant_dir()))} {holder['id']}\n$"
        )
        assert re.match(expected, second.err), second.err
        done = Run(["apply (first)"], first.returncode, out, err)
        assert done.code == 0, str(done)
        assert done.out.rstrip().endswith("Apply complete.")
        # the refused run made no API call: every audit line is the first run's
        audit = (tmp_path / ".spsync" / "audit" / "rel.jsonl").read_text().splitlines()
        assert len({json.loads(line)["run"] for line in audit}) == 1
        assert not (ws.state_dir / "rel.lock.json").exists()
        trial = Trial(seed=41)
        finish(ws, srv, trial)
        assert trial.ok, trial.report()


class Rendezvous:
    """ASGI middleware: the first request of each install waits until every other install
    has sent a request too. Two applies behind it certainly overlap, with no timing guess."""

    def __init__(self, app: ASGIApp, installs: list[str]) -> None:
        self.app = app
        self.installs = installs
        self.events: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox"):
            mine = next((i for i in self.installs if i in scope["path"]), None)
            if mine is not None:
                # created here, on the server's event loop
                events = {i: self.events.setdefault(i, asyncio.Event()) for i in self.installs}
                events[mine].set()
                for other, event in events.items():
                    if other != mine:
                        await asyncio.wait_for(event.wait(), RUN_TIMEOUT)
        await self.app(scope, receive, send)


def test_rel_two_tenants_apply_in_parallel(tmp_path: Path) -> None:
    srv = ThreadedServer(token=TOKEN, now=NOW, seed=42)
    installs = [install_sid(1), install_sid(2)]
    srv.app = Rendezvous(srv.app, installs)  # type: ignore[assignment]
    with srv:
        ws = Workspace(tmp_path, srv.url, tenants=("alpha", "beta"), learners=5)
        assert list(ws.installs.values()) == installs
        procs = {t: ws.popen("apply", str(ws.tenant_dir(t)), "--auto-approve") for t in ws.tenants}
        runs = {}
        for t, proc in procs.items():
            with proc:
                out, err = proc.communicate(timeout=RUN_TIMEOUT)
            runs[t] = Run([f"apply {t}"], proc.returncode, out, err)
        for run in runs.values():
            assert run.code == 0, str(run)
            assert run.out.rstrip().endswith("Apply complete."), str(run)

        store = StateStore(ws.state_dir)
        states = {t: store.read(t) for t in ws.tenants}
        w = world(srv.url)
        sids = {
            inst["sid"]: {
                x["sid"]
                for kind in ("courses", "exams", "users", "enrollments", "sessions")
                for x in inst[kind]
            }
            for inst in w["installs"]
        }
        for t, state in states.items():
            assert state is not None
            assert (state.tenant, state.install) == (t, ws.installs[t])
            own = {r.sid for r in state.resources.values() if r.sid}
            assert own and own <= sids[ws.installs[t]]
            other = next(x for x in ws.tenants if x != t)
            assert not own & sids[ws.installs[other]]
            # every address of the manifests, but the assignments of the unlimited-scope
            # exam (which has no assignment step)
            wanted = {
                a for a in ws.desired(t).addresses() if not a.startswith("assignment.orientation.")
            }
            assert set(state.resources) == wanted
        assert states["alpha"].lineage != states["beta"].lineage  # type: ignore[union-attr]
        assert requests_seen(srv.url)["statuses"].keys() == {"200"}
        trial = Trial(seed=42)
        finish(ws, srv, trial)
        assert trial.ok, trial.report()


def _opened(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its /proc/PID/fd links)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if Path(os.readlink(fd)) == path:
                return True
    return False


def test_rel_ctrl_c_while_waiting_for_the_lock_exits_130_at_once(tmp_path: Path) -> None:
    """Apply waits for a held lock (``--lock-timeout``) inside asyncio, whose SIGINT handler
    only cancels the main task: the wait blocked the loop, so the first Ctrl-C was lost until
    the whole timeout had passed."""
    ws = Workspace(tmp_path, "http://127.0.0.1:9", learners=1)  # reached only after the lock
    store = StateStore(ws.state_dir)
    with store.lock("rel", "test"):
        proc = ws.popen("apply", str(ws.tenant_dir()), "--auto-approve", "--lock-timeout", "30")
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            lock = (ws.state_dir / "rel.lock").resolve()
            while not _opened(proc.pid, lock) and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.2)  # past its first try: waiting
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        waited = time.monotonic() - sent
    assert (proc.returncode, out, err) == (130, "", "\ninterrupted\n")
    assert waited < 10, waited
    assert not (ws.state_dir / "rel.json").exists()
