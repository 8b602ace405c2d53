"""docs/troubleshooting.md covers every API error and every common spsync error, and its
messages are the ones spsync prints: each is provoked here, against the simulator, and the
documented text (``<placeholders>`` standing for what varies) must match what came out."""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support.docs import DOCS, MANIFESTS, PINNED_NOW, blocks, example_env

import spsync.api.client
from spsync.api.retry import RetryPolicy
from spsync.cli import main
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import forget_known
from spsync.store import StateStore

DOC = DOCS / "troubleshooting.md"
TOKEN = "troubleshooting-token"
NOW = datetime.fromisoformat(PINNED_NOW.replace("Z", "+00:00")).astimezone(UTC)

#: documented messages that are not provoked here, and why
NOT_REPRODUCED = {
    # the client sends only the methods of the API contract: a 405 needs a foreign server
    "error: <METHOD> <path>: 405 UNSUPPORTEDHTTPVERB: <message>",
    # a held request keeps the client waiting its whole timeout (30 s) per attempt
    "error: GET /v1/installs/<install>/users: timed out after 30s (ReadTimeout) (gave up "
    "after <n> attempts: retry budget exhausted)",
    # a bug, which no input should provoke
    "internal error: <type>: <message> (run with -v for the traceback)",
}


def documented() -> list[str]:
    """Every message line of the page: lines of its text blocks, first cells of its table."""
    lines = [
        line.strip()
        for b in blocks(DOC)
        if b.lang == "text"
        for line in b.text.splitlines()
        if line.strip()
    ]
    table = DOC.read_text(encoding="utf-8").split("### Other messages", 1)[1]
    lines += re.findall(r"^\| `(.+?)` \|", table, re.M)
    return lines


def pattern(line: str) -> re.Pattern[str]:
    parts = re.split(r"<[^<>\n]+>", line)
    return re.compile(".+?".join(re.escape(p) for p in parts))


def test_every_api_error_and_common_error_has_a_section() -> None:
    headings = re.findall(r"^#+ (.+)$", DOC.read_text(encoding="utf-8"), re.M)
    for code in (
        "AUTHENTICATIONFAILED",
        "INVALIDINPUT",
        "INVALIDPROTOCOL",
        "INVALIDURI",
        "RESOURCENOTFOUND",
        "UNSUPPORTEDHTTPVERB",
        "INTERNALERROR",
        "429",
        "502, 503, 504",
        "Timeouts",
    ):
        assert any(code in h for h in headings), code
    for section in (
        "Validation",
        "Missing secret",
        "Locked state",
        "Stale plan",
        "Plan already applied",
        "Refused destroy",
        "Install mismatch",
        "No confirmation",
        "Apply did not finish",
    ):
        assert f"### {section}" in [f"### {h}" for h in headings], section


def test_the_pattern_of_a_documented_line() -> None:
    p = pattern("error: state of <tenant> is locked by pid <pid> on <host>")
    assert p.fullmatch("error: state of acme is locked by pid 12 on ci-3")
    assert not p.fullmatch("error: state of acme is locked by 12 on ci-3")


# --- provoking every message ------------------------------------------------------------------


class FakeTime:
    """The API client's clock and sleep: waits (backoff, Retry-After, the rate limiter) pass
    at once, since what is checked is the message retries end with, not the waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Scene:
    """A working directory with the acme tenant, and a CLI to run in it."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.tenant = root / "manifests" / "acme"
        shutil.copytree(MANIFESTS / "acme", self.tenant)
        self.edit("tenant.yaml", "https://api.smarterproctoring.com", url)
        self.env: dict[str, str | None] = {
            **example_env(),
            "SPSYNC_ACME_TOKEN": TOKEN,
            "NO_COLOR": "1",
            "SPSYNC_STATE_DIR": None,
        }
        self.stderr: list[str] = []

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.tenant / name
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new), encoding="utf-8")

    def cli(self, *args: str, code: int = 1, **env: str | None) -> str:
        forget_known()  # each command is a process of its own: secrets of the last one go
        r = CliRunner().invoke(main, list(args), env={**self.env, **env})
        assert r.exit_code == code, (args, r.output)
        self.stderr += r.stderr.splitlines()
        return r.stdout


@pytest.fixture
def produced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    fake = FakeTime()
    policy = functools.partial(RetryPolicy, sleep=fake.sleep, clock=fake.clock)
    monkeypatch.setattr(spsync.api.client, "RetryPolicy", policy)
    lines: list[str] = []
    yield lines


def _scene(root: Path, name: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Scene:
    (root / name).mkdir()
    monkeypatch.chdir(root / name)
    return Scene(root / name, url)


def test_the_documented_messages_are_the_printed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, produced: list[str]
) -> None:
    scenes: list[Scene] = []

    def scene(name: str, url: str) -> Scene:
        s = _scene(tmp_path, name, url, monkeypatch)
        scenes.append(s)
        return s

    # offline: validation and secrets
    s = scene("offline", "https://api.smarterproctoring.com")
    s.edit("exams.yaml", "duration: 120", 'duration: "two hours"')
    s.edit("exams.yaml", "attempts: 2", "attempts: 0")
    s.cli("validate", "manifests/acme")
    s = scene("secret", "https://api.smarterproctoring.com")
    s.cli("validate", "manifests/acme", SPSYNC_ACME_CERT_PASSWORD=None)
    s.edit("tenant.yaml", "{env: SPSYNC_ACME_TOKEN}", "sk-live-123")
    s.cli("validate", "manifests/acme")
    s = scene("http", "http://api.example.com")
    s.cli("validate", "manifests/acme")

    with ThreadedServer(token=TOKEN, now=NOW, seed=3) as srv:
        s = scene("api", srv.url)
        s.cli("plan", "manifests/acme", SPSYNC_ACME_TOKEN="wrong")
        s.cli("import", "manifests/acme", "course.acme-main", "CU" + "0" * 32)
        s.cli("plan", "manifests/acme", "--tenant", "acm")
        s.cli("plan", "manifests/acme", "--target", "user.jnae")
        s.cli("onboard", "manifests/acme", "session.cert-456.jane")  # declared, not applied yet
        s.cli("apply", "manifests/acme")  # no terminal, no --auto-approve
        s.cli("apply", "manifests/acme", "--auto-approve", code=0)
        s.cli("import", "manifests/acme", "user.jane", "US" + "0" * 32)
        s.edit("exams.yaml", "duration: 120", "duration: 100")
        s.cli("plan", "manifests/acme", "--out", "first.json", code=0)
        s.cli("plan", "manifests/acme", "--out", "first.json/again.json")  # a file in the way
        s.edit("exams.yaml", "duration: 100", "duration: 90")
        s.cli("apply", "manifests/acme", "--auto-approve", code=0)
        s.cli("apply", "first.json")  # stale: the state moved since
        s.edit("exams.yaml", "duration: 90", "duration: 120")
        s.cli("plan", "manifests/acme", "--out", "second.json", code=0)
        s.cli("apply", "second.json", code=0)
        s.cli("apply", "second.json")  # already applied
        s.cli("apply", "second.json", "--no-refresh")  # decided when planned
        s.cli("plan", "manifests/acme", "--out", "-")
        s.cli("onboard", "manifests/acme", "session.cert-456.li")  # assigned, no session
        s.cli("state", "mv", "manifests/acme", "user.jane", "user.jane/smith")
        s.cli("export", "exported", "--tenant", "acme", "--install", "AIbad")
        text = Path("first.json").read_text()
        Path("edited.json").write_text(text.replace('"acme"', '"acmx"', 1))
        s.cli("show", "edited.json")

        store = StateStore(Path("state"))
        with store.lock("acme", "apply") as info:
            s.cli("apply", "manifests/acme", "--auto-approve")
            s.cli("unlock", "manifests/acme", info.id)

        # a session cancelled remotely has no onboarding URL
        rs = store.load(_tenant(s)).resources["session.cert-456.jane"]
        with httpx.Client(base_url=srv.url, headers={"token": TOKEN}) as h:
            path = f"/v1/installs/{_install(s)}/exams/{rs.refs['exam']}/sessions/{rs.sid}"
            assert h.request("DELETE", path, json={"cancellationMemo": "t"}).status_code == 200
        s.cli("onboard", "manifests/acme", "session.cert-456.jane")

        # refused: more destructive changes than the policy allows; no resources at all
        s.edit("tenant.yaml", "maxDestroy: 10", "maxDestroy: 1")
        s.edit("sessions.yaml", "type: b-virtual", "type: vtc")
        s.edit("sessions.yaml", "type: instructor-as-proctor", "type: vtc")
        s.cli("plan", "manifests/acme")
        s.edit("tenant.yaml", "maxDestroy: 1", "maxDestroy: 10")
        s.edit(
            "sessions.yaml",
            "    type: vtc\n    proctorLocation: PLb27c8",
            "    type: b-virtual\n    proctorLocation: PLb27c8",
        )
        s.edit(
            "sessions.yaml",
            "    type: vtc\n    proctorLocation: PLd47e8",
            "    type: instructor-as-proctor\n    proctorLocation: PLd47e8",
        )
        saved = {p: p.read_text() for p in s.tenant.glob("*.yaml") if p.name != "tenant.yaml"}
        for p in saved:
            p.write_text("courses: {}\n")
        s.cli("plan", "manifests/acme")
        for p, t in saved.items():
            p.write_text(t)

        # failures during apply: appointments the clock has passed
        httpx.put(srv.url + "/_sandbox/clock", json={"now": "2028-12-31T00:00:00Z"},
                  headers={"token": TOKEN})  # fmt: skip
        s.edit("sessions.yaml", "2028-03-02T15:30:00Z", "2028-03-09T15:30:00Z")
        s.edit("sessions.yaml", "2028-04-12T09:00:00Z", "2028-04-19T09:00:00Z")
        s.cli("apply", "manifests/acme", "--auto-approve", "--parallelism", "1")

        # another install's state
        s.edit("tenant.yaml", "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "AI" + "f" * 32)
        s.cli("plan", "manifests/acme")

        s = scene("prefix", srv.url + "/api")
        s.cli("plan", "manifests/acme")

    with ThreadedServer(token=TOKEN, now=NOW, require_tls=True) as srv:
        scene("tls", srv.url).cli("plan", "manifests/acme")
    for kind in ("500", "502", "503"):
        with ThreadedServer(token=TOKEN, now=NOW, fault_rate=1.0, fault_kinds=(kind,)) as srv:
            scene(f"fault-{kind}", srv.url).cli("plan", "manifests/acme")
    with ThreadedServer(token=TOKEN, now=NOW, rate_limit=0.5) as srv:
        scene("rate", srv.url).cli("plan", "manifests/acme")
    scene("refused", "http://127.0.0.1:9").cli("plan", "manifests/acme")

    printed = [line.strip() for sc in scenes for line in sc.stderr]
    missing = [
        line
        for line in documented()
        if line not in NOT_REPRODUCED and not any(pattern(line).fullmatch(p) for p in printed)
    ]
    assert missing == [], "\n".join(["documented but not printed:", *missing, "printed:", *printed])
    assert set(documented()) >= NOT_REPRODUCED


def _tenant(s: Scene) -> object:
    from spsync import manifest

    (d,) = manifest.load(s.tenant, env={k: v for k, v in s.env.items() if v is not None})
    return d.tenant


def _install(s: Scene) -> str:
    return str(_tenant(s).install)  # type: ignore[attr-defined]
