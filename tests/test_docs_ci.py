"""The CI recipes of docs/ci/ work: their structure is checked, and their plan and apply
scripts are run, unmodified, against the simulator.

Each recipe runs as its pipeline would: the plan job in a clone of a git repository holding
the example manifests, the apply job in a fresh clone of the merged branch, with the plans
handed over as the artifact would, the recipe's secrets in the environment, and ``spsync``
talking over HTTP to a simulator served by the test (the tenants' ``api.url`` points at it
and it accepts only the tokens the recipe passes). State is committed and pushed to a bare
repository standing in for GitHub or GitLab. Skipped, and asserted to be exactly these:
installing spsync (this checkout is used), and the steps that call the GitHub or GitLab
API (``gh``, ``curl``, ``github-script``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from docs_forkserver import ForkServer
from docs_support import (
    DOCS,
    MANIFESTS,
    PINNED_NOW,
    REPO,
    example_env,
    example_env_names,
    write_exe,
)

from spsync.sandbox.server import ThreadedServer

GITHUB = DOCS / "ci" / "github-actions.yml"
GITLAB = DOCS / "ci" / "gitlab-ci.yml"
SECRETS = {
    **{name: f"ci-secret-{name.lower()}" for name in sorted(example_env_names("tokens"))},
    **example_env(),
}
TOKENS = {SECRETS[n] for n in example_env_names("tokens")}


def _github() -> dict[Any, Any]:
    doc = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as true
    return doc


def _gitlab() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text(encoding="utf-8"))


# --- structure --------------------------------------------------------------------------------


def test_github_recipe_structure() -> None:
    doc = _github()
    pr = doc["on"]["pull_request"]
    assert set(pr["types"]) == {"opened", "synchronize", "reopened", "closed"}
    assert set(pr["paths"]) == {"manifests/**", "state/**"}
    assert doc["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "actions": "read",
    }
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert set(doc["jobs"]) == {"plan", "apply"}
    assert doc["jobs"]["plan"]["if"] == "github.event.action != 'closed'"
    assert "github.event.pull_request.merged == true" in doc["jobs"]["apply"]["if"]
    steps = {job: [s["id"] for s in doc["jobs"][job]["steps"]] for job in doc["jobs"]}
    assert steps == {
        "plan": ["checkout", "python", "install", "plan", "upload", "comment"],
        "apply": ["checkout", "python", "install", "download", "apply", "commit-state"],
    }
    plan = {s["id"]: s for s in doc["jobs"]["plan"]["steps"]}
    assert plan["upload"]["with"] == {"name": "spsync-plans", "path": "plans/"}
    assert plan["comment"]["uses"].startswith("actions/github-script@")
    assert plan["comment"]["if"] == "${{ !cancelled() }}"
    apply = {s["id"]: s for s in doc["jobs"]["apply"]["steps"]}
    assert "--name spsync-plans --dir plans" in apply["download"]["run"]
    assert apply["commit-state"]["if"] == "${{ !cancelled() }}"


def test_github_recipe_passes_every_secret_the_manifests_read() -> None:
    doc = _github()
    assert doc["env"]["NO_COLOR"] == "1"
    assert not [v for v in doc["env"].values() if str(v).startswith("${{ secrets.")]
    # secrets only in the jobs, each from its protected environment
    for job, environment in (("plan", "spsync-plan"), ("apply", "spsync-apply")):
        assert doc["jobs"][job]["environment"] == environment
        env = doc["jobs"][job]["env"]
        secrets = {k for k, v in env.items() if str(v).startswith("${{ secrets.")}
        assert secrets == example_env_names()
        for name in secrets:
            assert env[name] == f"${{{{ secrets.{name} }}}}"


def test_gitlab_recipe_structure() -> None:
    doc = _gitlab()
    assert doc["stages"] == ["plan", "apply"]
    plan, apply = doc["spsync-plan"], doc["spsync-apply"]
    assert plan["stage"] == "plan" and apply["stage"] == "apply"
    assert plan["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert apply["rules"][0]["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    assert apply["resource_group"] == "spsync"
    assert plan["artifacts"]["paths"] == ["plans/"]
    assert len(plan["script"]) == 1 and len(plan["after_script"]) == 1
    assert "curl" in plan["after_script"][0] and "curl" not in plan["script"][0]
    assert len(apply["script"]) == 2
    assert "curl" in apply["script"][0] and "curl" not in apply["script"][1]
    assert "[skip ci]" in apply["script"][1]
    assert doc["variables"]["NO_COLOR"] == "1"


def test_both_recipes_plan_and_apply_with_the_same_commands() -> None:
    def spsync_lines(text: str) -> list[str]:
        return [x.strip() for x in text.splitlines() if re.search(r"\bspsync (plan|apply)", x)]

    gh = {s["id"]: s for j in _github()["jobs"].values() for s in j["steps"]}
    gl = _gitlab()
    assert spsync_lines(gh["plan"]["run"]) == spsync_lines(gl["spsync-plan"]["script"][0])
    assert spsync_lines(gh["apply"]["run"]) == spsync_lines(gl["spsync-apply"]["script"][1])
    assert _github()["env"]["SPSYNC_VERSION"] == gl["variables"]["SPSYNC_VERSION"]


# --- running them ---------------------------------------------------------------------------


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    r = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stderr}"
    return r.stdout


class Pipeline:
    """A bare repository of the example manifests, served tenants, and a place to run jobs."""

    def __init__(
        self, root: Path, server: ThreadedServer, secrets: dict[str, str], spsync: str
    ) -> None:
        self.root = root
        self.origin = root / "origin.git"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        write_exe(bin_dir / "spsync", spsync)
        home = root / "home"
        home.mkdir()
        self.env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            **secrets,
        }
        git(root, "init", "-q", "--bare", "-b", "main", str(self.origin), env=self.env)
        seed = self.clone("seed")
        shutil.copytree(MANIFESTS, seed / "manifests")
        for tenant in (seed / "manifests").glob("*/tenant.yaml"):
            text = tenant.read_text(encoding="utf-8")
            tenant.write_text(text.replace("https://api.smarterproctoring.com", server.url))
        (seed / "state").mkdir()
        shutil.copy(REPO / "state" / ".gitignore", seed / "state" / ".gitignore")
        git(seed, "add", ".", env=self.env)
        git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed",
            env=self.env)  # fmt: skip
        git(seed, "push", "-q", "origin", "main", env=self.env)

    def clone(self, name: str) -> Path:
        git(self.root, "clone", "-q", str(self.origin), name, env=self.env)
        return self.root / name

    def run(self, script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """A job's shell step, as the runners do: bash with errexit and pipefail."""
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def push_unrelated(self) -> None:
        """Someone else's commit lands on main meanwhile (the state push must rebase)."""
        other = self.clone(f"other-{len(list(self.root.glob('other-*')))}")
        (other / "NOTES.md").write_text("unrelated\n")
        git(other, "add", ".", env=self.env)
        git(other, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "notes",
            env=self.env)  # fmt: skip
        git(other, "push", "-q", "origin", "main", env=self.env)

    def history(self) -> list[str]:
        """Subjects of main's commits, newest first."""
        return git(self.origin, "log", "--format=%s", "main", env=self.env).split("\n")[:-1]

    def committed_state(self) -> tuple[str, list[str]]:
        """The last commit of the remote's main: subject and files under state/."""
        subject = git(self.origin, "log", "-1", "--format=%s", "main", env=self.env).strip()
        files = git(self.origin, "ls-tree", "-r", "--name-only", "main", "state", env=self.env)
        return subject, files.split()


@pytest.fixture(scope="module")
def forkserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """spsync commands without the import cost of a new interpreter (docs_forkserver.py)."""
    server = ForkServer.start(tmp_path_factory.mktemp("forkserver"))
    yield server
    server.stop()


@pytest.fixture
def pipeline(tmp_path: Path, forkserver: ForkServer) -> Iterator[Pipeline]:
    now = datetime.fromisoformat(PINNED_NOW.replace("Z", "+00:00")).astimezone(UTC)
    with ThreadedServer(tokens=TOKENS, now=now, seed=5) as server:
        yield Pipeline(tmp_path, server, SECRETS, forkserver.shim([]))


def _expand(value: str, context: dict[str, str]) -> str:
    """GitHub's ``${{ expr }}``, for the expressions the recipe's run steps use."""

    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        assert expr in context, f"an expression the test does not know: {expr}"
        return context[expr]

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def _summaries(log: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): plan exit code (\d)", log, re.M))


def test_the_github_recipe_runs(pipeline: Pipeline) -> None:
    doc = _github()
    context = {
        "github.event.pull_request.base.ref": "main",
        "github.event.pull_request.number": "42",
        **{f"secrets.{k}": v for k, v in SECRETS.items()},
    }
    workflow_env = {k: _expand(str(v), context) for k, v in doc["env"].items()}

    def step_env(step: dict[str, Any]) -> dict[str, str]:
        return {
            **workflow_env,
            **{k: _expand(str(v), context) for k, v in step.get("env", {}).items()},
        }

    def run_job(job: str, cwd: Path) -> dict[str, subprocess.CompletedProcess[str]]:
        results = {}
        skipped, simulated = [], []
        for step in doc["jobs"][job]["steps"]:
            if "uses" in step and not step["uses"].startswith("actions/github-script@"):
                simulated.append(step["id"])  # checkout (the clone), setup-python, artifacts
                continue
            if "uses" in step or step["id"] == "install" or re.search(r"\bgh ", step["run"]):
                skipped.append(step["id"])
                continue
            results[step["id"]] = pipeline.run(step["run"], cwd, step_env(step))
        assert (job, skipped) in (
            ("plan", ["install", "comment"]),
            ("apply", ["install", "download"]),
        )
        assert (job, simulated) in (
            ("plan", ["checkout", "python", "upload"]),
            ("apply", ["checkout", "python"]),
        )
        return results

    # a pull request: plan every tenant, a markdown comment and a plan file each
    pr = pipeline.clone("pr")
    planned = run_job("plan", pr)["plan"]
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert _summaries(planned.stdout) == {"acme": "2", "globex": "2"}
    assert sorted(p.name for p in (pr / "plans").iterdir()) == [
        "acme.json", "acme.log", "acme.md", "globex.json", "globex.log", "globex.md",
    ]  # fmt: skip
    comment = (pr / "plans" / "acme.md").read_text()
    assert comment.startswith("### spsync plan\n")
    assert re.search(r"#### `acme` — Plan: 27 to create, 8 to assign, 7 to schedule;", comment)
    assert SECRETS["SPSYNC_ACME_CERT_PASSWORD"] not in comment

    # merged: apply the reviewed plans in a fresh checkout, commit and push the state
    merged = pipeline.clone("merged")
    shutil.copytree(pr / "plans", merged / "plans")  # the artifact
    pipeline.push_unrelated()
    results = run_job("apply", merged)
    assert results["apply"].returncode == 0, results["apply"].stdout + results["apply"].stderr
    assert results["apply"].stdout.count("Apply complete.") == 2
    assert results["commit-state"].returncode == 0, results["commit-state"].stderr
    assert pipeline.committed_state() == (
        "spsync: state after applying #42",
        ["state/.gitignore", "state/acme.json", "state/globex.json"],
    )
    assert pipeline.history() == ["spsync: state after applying #42", "notes", "seed"]

    # the next pull request starts from that state: nothing to do
    again = pipeline.clone("next")
    replanned = run_job("plan", again)["plan"]
    assert replanned.returncode == 0, replanned.stderr
    assert _summaries(replanned.stdout) == {"acme": "0", "globex": "0"}
    assert "No changes. acme matches its manifests" in (again / "plans" / "acme.md").read_text()


def test_github_recipe_annotates_validation_problems(pipeline: Pipeline) -> None:
    step = next(s for s in _github()["jobs"]["plan"]["steps"] if s["id"] == "plan")
    pr = pipeline.clone("pr")
    exams = pr / "manifests" / "acme" / "exams.yaml"
    exams.write_text(exams.read_text().replace("duration: 120", 'duration: "two hours"'))
    r = pipeline.run(step["run"], pr, {})
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "manifests/acme/exams.yaml:11:17: exams.cert-456.configuration.duration: must be a "
        'positive integer, got "two hours"',
        "1 problem found",
        "::error file=manifests/acme/exams.yaml,line=11,col=17::"
        'exams.cert-456.configuration.duration: must be a positive integer, got "two hours"',
    ]
    assert not (pr / "plans").exists()  # nothing to upload, nothing to apply


def test_the_gitlab_recipe_runs(pipeline: Pipeline) -> None:
    doc = _gitlab()
    bot = "glpat-ci-bot-token"
    host, project = "gitlab.example.com", "example/spsync-config"
    # the push URL of the recipe, sent to the bare repository instead
    remote = f"https://oauth2:{bot}@{host}/{project}.git"
    git(pipeline.root, "config", "--global", f"url.{pipeline.origin}.insteadOf", remote,
        env=pipeline.env)  # fmt: skip
    env = {
        **{k: str(v) for k, v in doc["variables"].items()},
        "SPSYNC_BOT_TOKEN": bot,
        "CI_SERVER_HOST": host,
        "CI_PROJECT_PATH": project,
        "CI_API_V4_URL": f"https://{host}/api/v4",
        "CI_PROJECT_ID": "7",
        "CI_DEFAULT_BRANCH": "main",
    }
    plan, apply = doc["spsync-plan"], doc["spsync-apply"]

    mr = pipeline.clone("mr")
    r = pipeline.run(plan["script"][0], mr, {**env, "CI_PIPELINE_SOURCE": "merge_request_event"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert _summaries(r.stdout) == {"acme": "2", "globex": "2"}
    # skipped: after_script (the merge-request note) and the artifact download, both curl

    merged = pipeline.clone("merged")
    git(merged, "checkout", "-q", "--detach", env=pipeline.env)  # as GitLab's runner checks out
    sha = git(merged, "rev-parse", "HEAD", env=pipeline.env).strip()
    shutil.copytree(mr / "plans", merged / "plans")  # what the download unzips
    pipeline.push_unrelated()
    job_env = {
        **env,
        "CI_COMMIT_BRANCH": "main",
        "CI_COMMIT_SHA": sha,
        "CI_COMMIT_SHORT_SHA": sha[:8],
    }
    r = pipeline.run(apply["script"][1], merged, job_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Apply complete.") == 2
    assert pipeline.committed_state() == (
        f"spsync: state after {sha[:8]} [skip ci]",
        ["state/.gitignore", "state/acme.json", "state/globex.json"],
    )
    assert pipeline.history() == [f"spsync: state after {sha[:8]} [skip ci]", "notes", "seed"]
