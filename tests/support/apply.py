"""Fixtures for the apply tests: small tenants written as YAML, pointed at a simulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from spsync import manifest
from spsync.model import Desired, kind_of
from spsync.plan import Change
from spsync.secrets import env_prefix

TOKEN = "apply-test-token"
INSTALL = "AI" + "a" * 32
#: the environment the test manifests read their secrets from
ENV = {
    "SPSYNC_MINI_TOKEN": TOKEN,
    "SPSYNC_MINI_FINAL_PASSWORD": "final-secret-pw",
    "SPSYNC_MINI_QUIZ_PASSWORD": "quiz-pw",
}
REPO = Path(__file__).resolve().parents[2]
#: the exam passwords the bundled acme tenant reads from the environment
SPSYNC_ACME_PASSWORDS = (
    "SPSYNC_ACME_CERT_PASSWORD",
    "SPSYNC_ACME_SAFETY_PASSWORD",
    "SPSYNC_ACME_ORIENTATION_PASSWORD",
)
LOCATION = "PL" + "b" * 32
OTHER_LOCATION = "PL" + "c" * 32


def tenant_yaml(url: str, name: str = "mini", install: str = INSTALL) -> str:
    return (
        f"tenant: {name}\n"
        f"install: {install}\n"
        f"api: {{url: {url}, token: {{env: {env_prefix(name)}TOKEN}}}}\n"
        "defaults:\n"
        "  exam: {limitedScope: true}\n"
        f"  session: {{type: automated, proctorLocation: {LOCATION}}}\n"
        "policy: {maxDestroy: 1000, maxDestroyPercent: 100}\n"
    )


EXAMS = """\
courses:
  main: {ids: {external: main-course}, title: Main Course, code: MAIN-1}
exams:
  final:
    course: main
    ids: {external: final-exam}
    title: Final Exam
    configuration:
      url: https://exams.example.com/final
      access: {open: "2027-01-01T00:00:00Z", close: "2028-12-31T23:59:59Z"}
      duration: 90
      password: {env: SPSYNC_MINI_FINAL_PASSWORD}
      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {options: {recordScreen: {}}}}
  quiz:
    course: main
    ids: {external: quiz-exam}
    title: Unlimited Quiz
    limitedScope: false
    configuration:
      url: https://exams.example.com/quiz
      access: {open: "2027-01-01T00:00:00Z", close: "2028-12-31T23:59:59Z"}
      duration: 20
      password: {env: SPSYNC_MINI_QUIZ_PASSWORD}
      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {}}
"""


def users_yaml(n: int, *, start: int = 1) -> str:
    lines = ["users:"]
    for i in range(start, start + n):
        lines.append(
            f"  u{i:04d}: {{ids: {{external: ext-{i:04d}}}, firstName: First{i}, "
            f"lastName: Last{i}, email: u{i:04d}@example.com}}"
        )
    return "\n".join(lines) + "\n"


def sessions_yaml(entries: list[tuple[str, str, str]], **extra: str) -> str:
    """``entries``: (exam, user, appointment)."""
    lines = ["sessions:"]
    for exam, user, when in entries:
        more = "".join(f", {k}: {v}" for k, v in extra.items())
        lines.append(f'  - {{exam: {exam}, user: {user}, appointment: "{when}"{more}}}')
    return "\n".join(lines) + "\n"


def write_tenant(root: Path, url: str, files: dict[str, str], *, name: str = "mini") -> Path:
    """A tenant directory ``root/name`` with tenant.yaml and ``files``."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.yaml"):
        old.unlink()
    (d / "tenant.yaml").write_text(tenant_yaml(url, name))
    for fname, text in files.items():
        (d / fname).write_text(text)
    return d


def load(path: Path) -> Desired:
    (desired,) = manifest.load(path, env=ENV)
    return desired


def all_new(desired: Desired) -> list[Change]:
    """The plan of a first apply on an empty world: everything created, assigned, scheduled,
    each change depending on what its requests name (for the executor's own tests,
    independent of the planner)."""
    actions: dict[str, str] = {}
    for a in desired.addresses():
        kind = kind_of(a)
        if kind == "assignment":
            if not desired.exams[f"exam.{desired.assignments[a].exam}"].limited:
                continue
            actions[a] = "assign"
        else:
            actions[a] = "schedule" if kind == "session" else "create"
    return [
        Change(address=a, action=act, reason="new", destructive=False,  # type: ignore[arg-type]
               depends_on=tuple(sorted(x for x in _uses(desired, a) if x in actions)))
        for a, act in actions.items()
    ]  # fmt: skip


def _uses(desired: Desired, address: str) -> set[str]:
    """The addresses whose SIDs the request of a new object at ``address`` names."""
    if address in desired.exams:
        return {f"course.{desired.exams[address].course}"}
    if address in desired.users:
        name = desired.users[address].name
        mine = sorted(e.course for e in desired.enrollments.values() if e.user == name)
        return {f"course.{mine[0]}" if mine else min(desired.courses)}
    if address in desired.enrollments:
        e = desired.enrollments[address]
        return {f"course.{e.course}", f"user.{e.user}"}
    res = desired.assignments.get(address) or desired.sessions.get(address)
    if res is None:
        return set()
    exam = desired.exams[f"exam.{res.exam}"]
    out = {f"exam.{res.exam}", f"enrollment.{exam.course}.{res.user}"}
    if address in desired.sessions and exam.limited:
        out.add(f"assignment.{res.exam}.{res.user}")
    return out


def world(url: str, token: str = TOKEN) -> dict[str, Any]:
    r = httpx.get(url + "/_sandbox/world", headers={"token": token}, timeout=10)
    r.raise_for_status()
    return r.json()


def sessions_of(world_json: dict[str, Any], install: str = INSTALL) -> list[dict[str, Any]]:
    inst = next(i for i in world_json["installs"] if i["sid"] == install)
    return list(inst["sessions"])


def sandbox_acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, under: str) -> Path:
    """The bundled acme tenant copied to ``tmp_path/under/acme`` with its exam passwords set,
    the working directory ``tmp_path``: ready for ``--sandbox`` commands."""
    monkeypatch.chdir(tmp_path)
    for name in SPSYNC_ACME_PASSWORDS:
        monkeypatch.setenv(name, "pw-for-tests")
    dest = tmp_path / under / "acme"
    shutil.copytree(REPO / "manifests" / "acme", dest)
    return dest
