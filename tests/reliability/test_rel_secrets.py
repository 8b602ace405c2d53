"""Secrets never leave the process: a known API token and known exam passwords (through the
environment, as manifests require) are searched for in EVERY byte spsync prints or writes,
across validate, plan (text, markdown, json, --out), show, apply (from PATH and from a plan
file), a password change, state list/show, onboard, the audit log, state and journal; with
and without -v; and on error paths (a 400 from the API, an API that echoes the password in
its error message, a refused token).

Besides the raw values, their common encodings are searched too (hex digests, base64), since
"not printed" must also mean "not printed in disguise".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

from support.api import Rule
from support.reliability import (
    PASSWORDS,
    TOKEN,
    TS_AUTO,
    TS_LIVE,
    Run,
    Trial,
    Workspace,
    control,
    kill_once_journaled,
    no_traceback,
    password_env,
    tampered,
)

from spsync.journal import journal_path

#: the second generation of exam passwords (a rotation applied half-way)
ROTATED = ("pw2-Rb45tYu7Io", "pw2-Lk09jHg3Fd", "pw2-Qw12eRt6Yu", "pw2-Zx78cVb2Nm")
#: the third generation, refused by the API at first
THIRD = ("pw3-Mn56bVc8Xz", "pw3-Po90iUy6Tr", "pw3-As34dFg1Hj", "pw3-Kl23jHg7Fd")
#: a token the API refuses (it must not be printed either)
WRONG_TOKEN = "rel-tok-WRONG-u8Kd3Hs1Pq"


def disguises(secret: str) -> dict[str, bytes]:
    """``secret`` and encodings a careless program might print or store instead."""
    raw = secret.encode()
    forms = {
        "raw": raw,
        "sha256": hashlib.sha256(raw).hexdigest().encode(),
        "sha1": hashlib.sha1(raw).hexdigest().encode(),
        "md5": hashlib.md5(raw).hexdigest().encode(),
        "base64": base64.b64encode(raw).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "hex": raw.hex().encode(),
    }
    return forms


def leaks(data: bytes, secrets: list[str]) -> list[str]:
    found = []
    for secret in secrets:
        for form, needle in disguises(secret).items():
            if needle in data or needle.upper() in data:
                found.append(f"{secret[:6]}… ({form})")
    return found


def scan_tree(root: Path, secrets: list[str]) -> dict[str, list[str]]:
    """Every file under ``root`` that holds a secret in some form."""
    bad = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found = leaks(path.read_bytes(), secrets)
            if found:
                bad[str(path.relative_to(root))] = found
    return bad


def test_rel_no_secret_in_any_output_or_file(tmp_path: Path) -> None:
    echo_body = json.dumps(
        {
            "code": "INVALIDINPUT",
            "status": 400,
            "message": f"exam.configuration.password: '{THIRD[0]}' is too weak (token {TOKEN})",
            "details": [
                {"path": "exam.configuration.password", "message": f"got {THIRD[0]!r}"},
                {"path": "token", "message": f"token {TOKEN} is read-only"},
            ],
        }
    ).encode()
    echo = Rule("POST", r"/provision$", "before", status=400, body=echo_body,
                content_type="application/json", times=0)  # fmt: skip
    runs: list[Run] = []
    with tampered(echo, seed=71) as (srv, _front):
        ws = Workspace(tmp_path, srv.url, learners=3)
        tdir = str(ws.tenant_dir())

        def spsync(*args: str, env: dict[str, str] | None = None) -> Run:
            run = ws.run(*args, env=env)
            runs.append(run)
            no_traceback(run)
            return run

        # offline, then plans in every format
        assert spsync("validate", tdir).code == 0
        assert spsync("-v", "validate", tdir).code == 0
        assert spsync("plan", tdir).code == 0
        assert spsync("-v", "plan", tdir, "--format", "markdown").code == 0
        assert spsync("plan", tdir, "--format", "json").code == 0
        # an apply killed half-way leaves its journal: keep a copy to search
        trial = Trial(seed=71)
        assert kill_once_journaled(ws, trial, entries=3), trial.report()
        shutil.copy(journal_path(ws.state_dir, "rel"), tmp_path / "journal-copy.jsonl")
        runs.extend(trial.runs)
        assert spsync("-v", "apply", tdir, "--auto-approve").code == 0
        assert spsync("plan", tdir, "--detailed-exitcode").code == 0

        # rotate every password through a saved plan: it says "(changed)", never the values
        rotated = password_env(ROTATED)
        changed = spsync("plan", tdir, "--format", "json", "--out", "rotate.json", env=rotated)
        assert changed.code == 0
        doc = json.loads(changed.out)
        updates = [c for t in doc["tenants"] for c in t["changes"] if c["action"] == "update"]
        assert {c["address"] for c in updates} == {"exam.cert", "exam.safety", "exam.orientation"}
        assert "(sensitive)" in changed.out
        for fmt in ("text", "markdown", "json"):
            assert spsync("show", "rotate.json", "--format", fmt).code == 0
        applied = spsync("-v", "apply", "rotate.json", "--manifests", "manifests", env=rotated)
        assert applied.code == 0, str(applied)

        # error paths, with a third generation of passwords pending: the API refuses the
        # update with a 400 (a proctor type disabled) ...
        third = password_env(THIRD)
        settings = f"/_sandbox/installs/{ws.installs['rel']}/settings"
        control(srv.url, "PUT", settings, {"proctorTypes": [TS_AUTO]})
        refused = spsync("-v", "apply", tdir, "--auto-approve", env=third)
        assert refused.code == 1 and "INVALIDINPUT" in refused.err, str(refused)
        assert "exam.cert (update)" in refused.err
        control(srv.url, "PUT", settings, {"proctorTypes": [TS_LIVE, TS_AUTO]})
        # ... an API that quotes the password and the token in its error message ...
        echo.times = 1
        echoed = spsync("-v", "apply", tdir, "--auto-approve", env=third)
        assert echoed.code == 1 and echo.hits == 1, str(echoed)
        assert "too weak" in echoed.err
        # ... and a token the API does not know
        denied = spsync("-v", "plan", tdir, env={"SPSYNC_REL_TOKEN": WRONG_TOKEN, **third})
        assert denied.code == 1 and "AUTHENTICATIONFAILED" in denied.err, str(denied)

        # the third generation applied for good; state and onboarding
        final = spsync("apply", tdir, "--auto-approve", env=third)
        assert final.code == 0, str(final)
        assert spsync("plan", tdir, "--detailed-exitcode", env=third).code == 0
        assert spsync("state", "list", tdir).code == 0
        shown = spsync("state", "show", tdir, "exam.cert")
        assert shown.code == 0 and '"password": "(sensitive)"' in shown.out, shown.out
        onboard = spsync("-v", "onboard", tdir, "session.cert.u000", env=third)
        assert onboard.code == 0, str(onboard)
        url = onboard.out.strip()
        assert re.fullmatch(r"https://onboarding\.smarterproctoring\.com/launch/ES\w+\?t=\w+", url)

    secrets = [TOKEN, WRONG_TOKEN, *PASSWORDS, *ROTATED, *THIRD]
    printed = {
        f"{' '.join(r.argv)} -> {stream}": leaks(text.encode(), secrets)
        for r in runs
        for stream, text in (("stdout", r.out), ("stderr", r.err))
    }
    assert {k: v for k, v in printed.items() if v} == {}
    written = scan_tree(tmp_path, secrets)
    assert written == {}
    # the onboarding URL is printed once and stored nowhere
    token_part = url.split("?t=")[1].encode()
    assert [p for p in tmp_path.rglob("*") if p.is_file() and token_part in p.read_bytes()] == []
    # the files that were searched are the ones that matter
    names = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert {"state/rel.json", ".spsync/audit/rel.jsonl", "rotate.json",
            "journal-copy.jsonl"} <= names  # fmt: skip
    assert (tmp_path / "journal-copy.jsonl").stat().st_size > 0
