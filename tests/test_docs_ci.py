"""The CI recipes of docs/ci/ work: their structure is checked, and their plan and apply
scripts are run, unmodified, against the simulator.

Each recipe runs as its pipeline would: the plan job in a clone of a git repository holding
the example manifests, the apply job in a fresh clone of the merged branch, with the plans
handed over as the artifact would, the recipe's secrets in the environment, and ``spsync``
talking over HTTP to a simulator served by the test (the tenants' ``api.url`` points at it
and it accepts only the tokens the recipe passes). State is committed and pushed to a bare
repository standing in for GitHub or GitLab. Skipped, and asserted to be exactly these:
installing spsync (this checkout is used), and the steps that call the GitHub or GitLab
API (``gh``, ``curl``, ``github-script``), except the drift jobs' issue steps: they run
against stand-ins (a ``gh`` script, a GitLab issues API served on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from support.docs import (
    DOCS,
    MANIFESTS,
    PINNED_NOW,
    REPO,
    example_env,
    example_env_names,
    write_exe,
)
from support.docs_forkserver import ForkServer

from spsync.sandbox.server import ThreadedServer

GITHUB = DOCS / "ci" / "github-actions.yml"
DRIFT = DOCS / "ci" / "github-drift.yml"
GITLAB = DOCS / "ci" / "gitlab-ci.yml"
SECRETS = {
    **{name: f"ci-secret-{name.lower()}" for name in sorted(example_env_names("tokens"))},
    **example_env(),
}
TOKENS = {SECRETS[n] for n in example_env_names("tokens")}


def _github(path: Path = GITHUB) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as true
    return doc


def _gitlab() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text(encoding="utf-8"))


# --- structure --------------------------------------------------------------------------------


def test_github_recipe_structure() -> None:
    doc = _github()
    pr = doc["on"]["pull_request"]
    # labeled/unlabeled: adding the allow-destroy label plans again
    assert set(pr["types"]) == {
        "opened", "synchronize", "reopened", "closed", "labeled", "unlabeled",
    }  # fmt: skip
    assert set(pr["paths"]) == {"manifests/**", "state/**"}
    assert doc["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "actions": "read",
    }
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert set(doc["jobs"]) == {"plan", "tenants", "apply"}
    assert doc["jobs"]["plan"]["if"] == "github.event.action != 'closed'"
    assert "github.event.pull_request.merged == true" in doc["jobs"]["tenants"]["if"]
    steps = {job: [s["id"] for s in doc["jobs"][job]["steps"]] for job in doc["jobs"]}
    assert steps == {
        "plan": ["checkout", "python", "install", "plan", "upload", "comment"],
        "tenants": ["download", "list"],
        "apply": ["checkout", "python", "install", "download", "apply", "commit-state"],
    }
    # one apply job per tenant, in parallel, none cancelled by another's failure
    apply_job = doc["jobs"]["apply"]
    assert apply_job["needs"] == "tenants"
    assert apply_job["strategy"] == {
        "fail-fast": False,
        "matrix": {"tenant": "${{ fromJSON(needs.tenants.outputs.list) }}"},
    }
    assert apply_job["env"]["TENANT"] == "${{ matrix.tenant }}"
    assert doc["jobs"]["plan"]["steps"][0]["with"] == {"fetch-depth": 2}
    plan = {s["id"]: s for s in doc["jobs"]["plan"]["steps"]}
    assert plan["upload"]["with"] == {"name": "spsync-plans", "path": "plans/"}
    assert plan["comment"]["uses"].startswith("actions/github-script@")
    assert plan["comment"]["if"] == "${{ !cancelled() }}"
    apply = {s["id"]: s for s in doc["jobs"]["apply"]["steps"]}
    assert "--name spsync-plans --dir plans" in apply["download"]["run"]
    assert apply["commit-state"]["if"] == "${{ !cancelled() }}"
    labels = "${{ join(github.event.pull_request.labels.*.name, ' ') }}"
    assert plan["plan"]["env"] == {"LABELS": labels}
    assert apply["apply"]["env"] == {"LABELS": labels}


@pytest.mark.parametrize(
    ("path", "jobs"),
    [
        (GITHUB, {"plan": "spsync-plan", "apply": "spsync-apply-${{ matrix.tenant }}"}),
        (DRIFT, {"drift": "spsync-plan"}),
    ],
    ids=["github", "drift"],
)
def test_github_recipe_passes_every_secret_the_manifests_read(
    path: Path, jobs: dict[str, str]
) -> None:
    doc = _github(path)
    assert doc["env"]["NO_COLOR"] == "1"
    assert not [v for v in doc["env"].values() if str(v).startswith("${{ secrets.")]
    # secrets only in the jobs, each from its protected environment
    for job, environment in jobs.items():
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
    # pushes only: `changes` is true in every scheduled pipeline, the drift job's
    assert apply["rules"][0]["if"] == (
        '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == "push"'
    )
    assert apply["resource_group"] == "spsync"
    assert plan["artifacts"]["paths"] == ["plans/"]
    assert len(plan["script"]) == 1 and len(plan["after_script"]) == 1
    assert "curl" in plan["after_script"][0] and "curl" not in plan["script"][0]
    assert len(apply["script"]) == 2
    assert "curl" in apply["script"][0] and "curl" not in apply["script"][1]
    assert "[skip ci]" in apply["script"][1]
    assert doc["variables"]["NO_COLOR"] == "1"


def test_gitlab_drift_job_structure() -> None:
    doc = _gitlab()
    drift = doc["spsync-drift"]
    assert drift["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    # the plan job's secrets; never while an apply runs
    assert drift["environment"] == doc["spsync-plan"]["environment"]
    assert drift["environment"] == {"name": "spsync-plan", "action": "prepare"}
    assert drift["resource_group"] == doc["spsync-apply"]["resource_group"]
    assert len(drift["script"]) == 2
    assert "curl" not in drift["script"][0] and "curl" in drift["script"][1]
    assert "--refresh" in drift["script"][0] and "--detailed-exitcode" in drift["script"][0]
    # in a scheduled pipeline only the drift job runs: every other job is for one source
    others = [job for job, spec in doc.items() if isinstance(spec, dict) and "script" in spec]
    assert sorted(others) == ["spsync-apply", "spsync-drift", "spsync-plan"]
    for job in ("spsync-plan", "spsync-apply"):
        for rule in doc[job]["rules"]:
            assert re.search(r'\$CI_PIPELINE_SOURCE == "(merge_request_event|push)"', rule["if"])


def test_drift_recipe_structure() -> None:
    doc = _github(DRIFT)
    assert doc["on"]["schedule"] == [{"cron": "17 5 * * *"}]
    assert "workflow_dispatch" in doc["on"]
    assert doc["permissions"] == {"contents": "read", "issues": "write"}
    assert doc["concurrency"] == _github()["concurrency"]  # never during an apply
    steps = [s["id"] for s in doc["jobs"]["drift"]["steps"]]
    assert steps == ["checkout", "python", "install", "plan", "issues"]


def test_both_recipes_plan_and_apply_with_the_same_commands() -> None:
    def spsync_lines(text: str) -> list[str]:
        # up to the tenant's own flags: GitLab sends each apply to the background
        return [
            x.strip().split(" $destroy")[0]
            for x in text.splitlines()
            if re.search(r"\bspsync (plan|apply)", x)
        ]

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
        self.server = server
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
    """spsync commands without the import cost of a new interpreter (support/docs_forkserver.py)."""
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


class GithubJobs:
    """The GitHub recipe's jobs run as the runner would: ``run`` steps in a clone, with the
    workflow's and the step's env, the expressions the test knows expanded."""

    def __init__(self, pipeline: Pipeline, labels: str = "", path: Path = GITHUB) -> None:
        self.pipeline = pipeline
        self.doc = _github(path)
        self.context = {
            "github.event.pull_request.base.ref": "main",
            "github.event.pull_request.number": "42",
            "join(github.event.pull_request.labels.*.name, ' ')": labels,
            **{f"secrets.{k}": v for k, v in SECRETS.items()},
        }

    def env(self, *blocks: dict[str, Any], matrix: str = "") -> dict[str, str]:
        context = {**self.context, "matrix.tenant": matrix}
        out: dict[str, str] = {}
        for block in (self.doc["env"], *blocks):
            out.update({k: _expand(str(v), context) for k, v in block.items()})
        return out

    def run(
        self, job: str, cwd: Path, *, matrix: str = "", extra: dict[str, str] | None = None
    ) -> dict[str, subprocess.CompletedProcess[str]]:
        results = {}
        skipped, simulated = [], []
        spec = self.doc["jobs"][job]
        for step in spec["steps"]:
            if "uses" in step and not step["uses"].startswith("actions/github-script@"):
                simulated.append(step["id"])  # checkout (the clone), setup-python, artifacts
                continue
            if "uses" in step or step["id"] == "install" or re.search(r"\bgh ", step["run"]):
                skipped.append(step["id"])
                continue
            env = {**self.env(spec.get("env", {}), step.get("env", {}), matrix=matrix)}
            results[step["id"]] = self.pipeline.run(step["run"], cwd, {**env, **(extra or {})})
        assert (job, skipped, simulated) in (
            ("plan", ["install", "comment"], ["checkout", "python", "upload"]),
            ("tenants", ["download"], []),
            ("apply", ["install", "download"], ["checkout", "python"]),
            ("drift", ["install", "issues"], ["checkout", "python"]),  # issues: run apart
        ), (job, skipped, simulated)
        return results

    def apply_all(self, pr: Path, tenants: list[str]) -> dict[str, dict[str, Any]]:
        """The matrix: one apply job per tenant, all at once, each in its own clone."""
        clones = {t: self.pipeline.clone(f"apply-{t}-{len(list(self.pipeline.root.iterdir()))}")
                  for t in tenants}  # fmt: skip
        for clone in clones.values():
            shutil.copytree(pr / "plans", clone / "plans")  # the artifact
        with ThreadPoolExecutor(len(tenants)) as pool:
            futures = {t: pool.submit(self.run, "apply", c, matrix=t) for t, c in clones.items()}
            return {t: f.result() for t, f in futures.items()}


def test_the_github_recipe_runs(pipeline: Pipeline) -> None:
    jobs = GithubJobs(pipeline)

    # a pull request: plan every tenant, a markdown comment and a plan file each
    pr = pipeline.clone("pr")
    planned = jobs.run("plan", pr)["plan"]
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert _summaries(planned.stdout) == {"acme": "2", "globex": "2"}
    assert sorted(p.name for p in (pr / "plans").iterdir()) == [
        "acme.json", "acme.log", "acme.md", "globex.json", "globex.log", "globex.md",
    ]  # fmt: skip
    comment = (pr / "plans" / "acme.md").read_text()
    assert comment.startswith("### spsync plan\n")
    assert re.search(r"#### `acme` — Plan: 27 to create, 8 to assign, 7 to schedule;", comment)
    assert SECRETS["SPSYNC_ACME_CERT_PASSWORD"] not in comment
    assert "Destruction allowed" not in comment

    # merged: which tenants to apply, from the plans reviewed
    listed = pipeline.root / "tenants"
    shutil.copytree(pr / "plans", listed / "plans")
    output = pipeline.root / "github-output"
    got = jobs.run("tenants", listed, extra={"GITHUB_OUTPUT": str(output)})
    assert got["list"].returncode == 0, got["list"].stderr
    assert output.read_text() == 'list=["acme","globex"]\n'

    # the tenants apply at once, in fresh checkouts; each pushes its own state file
    pipeline.push_unrelated()
    applied = jobs.apply_all(pr, ["acme", "globex"])
    for results in applied.values():
        assert results["apply"].returncode == 0, results["apply"].stdout + results["apply"].stderr
        assert results["apply"].stdout.count("Apply complete.") == 1
        assert results["commit-state"].returncode == 0, results["commit-state"].stderr
    history = pipeline.history()
    assert sorted(history[:2]) == [
        "spsync: state of acme after applying #42",
        "spsync: state of globex after applying #42",
    ]
    assert history[2:] == ["notes", "seed"]
    assert pipeline.committed_state()[1] == [
        "state/.gitignore", "state/acme.json", "state/globex.json",
    ]  # fmt: skip

    # the next pull request (touching both tenants) starts from that state: nothing to do
    again = pipeline.clone("next")
    for tenant in ("acme", "globex"):
        with (again / "manifests" / tenant / "tenant.yaml").open("a") as f:
            f.write("# reviewed\n")
    _commit(again, pipeline, "a comment in each tenant")
    replanned = jobs.run("plan", again)["plan"]
    assert replanned.returncode == 0, replanned.stderr
    assert _summaries(replanned.stdout) == {"acme": "0", "globex": "0"}
    assert "No changes. acme matches its manifests" in (again / "plans" / "acme.md").read_text()


def _commit(clone: Path, pipeline: Pipeline, message: str) -> None:
    git(clone, "add", "-A", env=pipeline.env)
    git(clone, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", message,
        env=pipeline.env)  # fmt: skip


def test_a_pull_request_plans_only_the_tenants_it_touches(pipeline: Pipeline) -> None:
    jobs = GithubJobs(pipeline)
    pr = pipeline.clone("pr")
    roster = pr / "manifests" / "acme" / "roster.yaml"
    roster.write_text(roster.read_text().replace("lastName: Smith", "lastName: Smith-Jones"))
    _commit(pr, pipeline, "acme: Jane's new name")
    planned = jobs.run("plan", pr)["plan"]
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert _summaries(planned.stdout) == {"acme": "2"}
    assert sorted(p.name for p in (pr / "plans").iterdir()) == ["acme.json", "acme.log", "acme.md"]

    # a file shared by every tenant: all of them
    (pr / "manifests" / "README.md").write_text("how we manage tenants\n")
    _commit(pr, pipeline, "notes for all tenants")
    planned = jobs.run("plan", pr)["plan"]
    assert _summaries(planned.stdout) == {"acme": "2", "globex": "2"}

    # nothing under manifests/ or state/: nothing to plan
    (pr / "NOTES.md").write_text("x\n")
    _commit(pr, pipeline, "notes")
    shutil.rmtree(pr / "plans")
    planned = jobs.run("plan", pr)["plan"]
    assert planned.returncode == 0
    assert "no tenant changed: nothing to plan" in planned.stdout
    assert list((pr / "plans").iterdir()) == []


def _destructive_change(pipeline: Pipeline, env: dict[str, str]) -> Path:
    """Everything applied and its state on main, then a change (in a new clone) that
    destroys more of acme than its policy allows."""
    first = pipeline.clone("first")
    r = pipeline.run("spsync apply manifests --auto-approve", first, env)
    assert r.returncode == 0, r.stdout + r.stderr
    git(first, "add", "state", env=pipeline.env)
    git(first, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "state",
        env=pipeline.env)  # fmt: skip
    git(first, "push", "-q", "origin", "main", env=pipeline.env)

    pr = pipeline.clone("pr")
    # another test centre for the sessions that use the default one: each is booked again
    # (a replace: destructive), more than the policy allows
    tenant = pr / "manifests" / "acme" / "tenant.yaml"
    text = tenant.read_text().replace("maxDestroy: 10", "maxDestroy: 1")
    tenant.write_text(text.replace("PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d", "PL" + "0a" * 16))
    _commit(pr, pipeline, "acme: the new test centre")
    return pr


def test_the_allow_destroy_label_is_for_its_tenant_only(pipeline: Pipeline) -> None:
    pr = _destructive_change(pipeline, GithubJobs(pipeline).env())
    refused = GithubJobs(pipeline).run("plan", pr)["plan"]
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert _summaries(refused.stdout) == {"acme": "1"}, refused.stdout + refused.stderr
    assert "refused" in (pr / "plans" / "acme.md").read_text()

    # a reviewer adds the label for acme (another tenant's label allows nothing here)
    jobs = GithubJobs(pipeline, labels="bug spsync:allow-destroy:globex spsync:allow-destroy:acme")
    shutil.rmtree(pr / "plans")
    allowed = jobs.run("plan", pr)["plan"]
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert _summaries(allowed.stdout) == {"acme": "2"}
    comment = (pr / "plans" / "acme.md").read_text()
    assert comment.endswith(
        "\n> **Destruction allowed** for `acme` by the label `spsync:allow-destroy:acme`.\n"
    )
    git(pr, "push", "-q", "origin", "HEAD:main", env=pipeline.env)  # merged
    applied = jobs.apply_all(pr, ["acme"])["acme"]
    assert applied["apply"].returncode == 0, applied["apply"].stdout + applied["apply"].stderr
    assert applied["commit-state"].returncode == 0, applied["commit-state"].stderr
    assert pipeline.history()[0] == "spsync: state of acme after applying #42"


FAKE_GH = """#!/usr/bin/env python3
# A stand-in for GitHub's `gh issue` commands, keeping issues in $GH_FAKE_ISSUES.
import json, os, sys
path = os.environ["GH_FAKE_ISSUES"]
issues = json.load(open(path)) if os.path.exists(path) else []
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1] if name in args else None
assert args[0] == "issue", args
if args[1] == "list":
    assert opt("--label") == "spsync-drift" and opt("--state") == "open", args
    print(json.dumps([{"number": i["number"], "title": i["title"]} for i in issues
                      if i["state"] == "open" and opt("--label") in i["labels"]]))
elif args[1] == "create":
    issues.append({"number": len(issues) + 1, "title": opt("--title"), "state": "open",
                   "labels": [opt("--label")], "body": open(opt("--body-file")).read()})
elif args[1] == "edit":
    issue = issues[int(args[2]) - 1]
    issue["body"] = open(opt("--body-file")).read()
    issue["edits"] = issue.get("edits", 0) + 1
elif args[1] == "close":
    issue = issues[int(args[2]) - 1]
    issue["state"] = "closed"
    issue["comment"] = opt("--comment")
else:
    sys.exit("unknown: " + " ".join(args))
json.dump(issues, open(path, "w"))
"""


def edit_user(server: ThreadedServer, external: str, first_name: str) -> None:
    """Someone edits a user in the SmarterProctoring UI (the simulator's world, directly)."""
    with server.world._lock:
        for install in server.world._installs.values():
            for user in install.users.values():
                if user.ids.get("external") == external:
                    user.first_name = first_name
                    return
    raise AssertionError(f"no user {external}")


def test_the_drift_job_keeps_one_issue_per_tenant(pipeline: Pipeline) -> None:
    doc = _github(DRIFT)
    write_exe(pipeline.root / "bin" / "gh", FAKE_GH)
    db = pipeline.root / "issues.json"
    jobs = GithubJobs(pipeline, path=DRIFT)
    extra = {"GH_FAKE_ISSUES": str(db)}
    issues_step = next(s for s in doc["jobs"]["drift"]["steps"] if s["id"] == "issues")
    context = {
        "github.token": "gh-token",
        "github.repository": "example/config",
        "github.server_url": "https://github.example",
        "github.run_id": "7",
    }
    issues_env = {k: _expand(str(v), context) for k, v in issues_step["env"].items()}

    def drift(clone: Path) -> list[dict[str, Any]]:
        shutil.rmtree(clone / "drift", ignore_errors=True)
        planned = jobs.run("drift", clone)["plan"]
        assert planned.returncode == 0, planned.stdout + planned.stderr
        r = pipeline.run(issues_step["run"], clone, {**jobs.env(), **issues_env, **extra})
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(db.read_text())

    # nothing applied yet: both tenants differ from their manifests
    repo = pipeline.clone("repo")
    issues = drift(repo)
    assert [(i["title"], i["state"]) for i in issues] == [
        ("spsync drift: acme", "open"), ("spsync drift: globex", "open"),
    ]  # fmt: skip
    assert "#### `acme` — Plan: 27 to create" in issues[0]["body"]
    assert "_Planned by https://github.example/example/config/actions/runs/7." in issues[0]["body"]

    # applied: no drift any more, both closed
    r = pipeline.run("spsync apply manifests --auto-approve", repo, jobs.env())
    assert r.returncode == 0, r.stdout + r.stderr
    issues = drift(repo)
    assert [i["state"] for i in issues] == ["closed", "closed"]
    assert issues[0]["comment"].startswith("No drift any more: acme matches its manifests")

    # someone edits a user in the SmarterProctoring UI: acme drifts, one new issue, kept
    # up to date while the drift lasts
    edit_user(pipeline.server, "user-789", "Janet")
    issues = drift(repo)
    assert [(i["title"], i["state"]) for i in issues[2:]] == [("spsync drift: acme", "open")]
    assert "firstName" in issues[2]["body"]
    issues = drift(repo)
    assert len(issues) == 3 and issues[2].get("edits") == 1
    edit_user(pipeline.server, "user-789", "Jane")
    issues = drift(repo)
    assert [i["state"] for i in issues] == ["closed", "closed", "closed"]


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
    env = _gitlab_env()
    _gitlab_remote(pipeline, env)
    plan, apply = doc["spsync-plan"], doc["spsync-apply"]

    mr = pipeline.clone("mr")
    for tenant in ("acme", "globex"):  # a merge request touching both tenants
        with (mr / "manifests" / tenant / "tenant.yaml").open("a") as f:
            f.write("# reviewed\n")
    _commit(mr, pipeline, "a comment in each tenant")
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
        f"spsync: state of globex after {sha[:8]} [skip ci]",
        ["state/.gitignore", "state/acme.json", "state/globex.json"],
    )
    assert pipeline.history() == [
        f"spsync: state of globex after {sha[:8]} [skip ci]",
        f"spsync: state of acme after {sha[:8]} [skip ci]",
        "notes",
        "seed",
    ]


class FakeGitlabIssues:
    """GitLab's issues API as the drift job calls it (list, create, edit or close, note),
    served on 127.0.0.1 with the issues in memory; any other call is a 404, a wrong token
    a 401, so curl -f fails the job."""

    def __init__(self, token: str, project: str) -> None:
        self.issues: list[dict[str, Any]] = []
        self.calls: list[str] = []
        fake = self
        base = f"/api/v4/projects/{project}/issues"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                if self.headers.get("PRIVATE-TOKEN") != token:
                    return self._answer(401, {"message": "401 Unauthorized"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                url = urlsplit(self.path)
                fake.calls.append(f"{method} {url.path.removeprefix(base) or '/'}")
                status, payload = fake.handle(method, url.path, parse_qs(url.query), body, base)
                self._answer(status, payload)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PUT(self) -> None:
                self._route("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, base: str
    ) -> tuple[int, Any]:
        """One API call: (status, JSON answer)."""
        m = re.fullmatch(re.escape(base) + r"(?:/(\d+)(/notes)?)?", path)
        if m is None:
            return 404, {"message": "404 Not Found"}
        iid, notes = m.group(1), m.group(2)
        if iid is None and method == "GET":
            labels = set(query.get("labels", [""])[0].split(","))
            state = query.get("state", ["all"])[0]
            return 200, [
                i for i in self.issues
                if labels <= set(i["labels"]) and state in ("all", i["state"])
            ]  # fmt: skip
        if iid is None and method == "POST":
            issue = {
                "iid": len(self.issues) + 1,
                "title": body["title"],
                "labels": body["labels"].split(","),
                "description": body["description"],
                "state": "opened",
                "notes": [],
                "edits": 0,
            }
            self.issues.append(issue)
            return 201, issue
        if iid is None or not 1 <= int(iid) <= len(self.issues):
            return 404, {"message": "404 Not Found"}
        issue = self.issues[int(iid) - 1]
        if notes and method == "POST":
            issue["notes"].append(body["body"])
            return 201, {"body": body["body"]}
        if not notes and method == "PUT":
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            if "description" in body:
                issue["description"] = body["description"]
                issue["edits"] += 1
            return 200, issue
        return 404, {"message": "404 Not Found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _gitlab_env() -> dict[str, str]:
    """The variables GitLab sets that the recipe's scripts read, and the recipe's own."""
    host, project = "gitlab.example.com", "example/spsync-config"
    return {
        **{k: str(v) for k, v in _gitlab()["variables"].items()},
        "SPSYNC_BOT_TOKEN": "glpat-ci-bot-token",
        "CI_SERVER_HOST": host,
        "CI_PROJECT_PATH": project,
        "CI_API_V4_URL": f"https://{host}/api/v4",
        "CI_PROJECT_ID": "7",
        "CI_DEFAULT_BRANCH": "main",
    }


def _gitlab_remote(pipeline: Pipeline, env: dict[str, str]) -> None:
    """The recipe's push URL, sent to the bare repository instead."""
    remote = (
        f"https://oauth2:{env['SPSYNC_BOT_TOKEN']}@{env['CI_SERVER_HOST']}/"
        f"{env['CI_PROJECT_PATH']}.git"
    )
    git(pipeline.root, "config", "--global", f"url.{pipeline.origin}.insteadOf", remote,
        env=pipeline.env)  # fmt: skip


def test_the_gitlab_drift_job_keeps_one_issue_per_tenant(pipeline: Pipeline) -> None:
    job = _gitlab()["spsync-drift"]
    env = _gitlab_env()
    api = FakeGitlabIssues(env["SPSYNC_BOT_TOKEN"], env["CI_PROJECT_ID"])
    env.update({
        "CI_API_V4_URL": api.url,
        "CI_PIPELINE_SOURCE": "schedule",
        "CI_PIPELINE_URL": "https://gitlab.example.com/example/spsync-config/-/pipelines/9",
    })  # fmt: skip
    repo = pipeline.clone("repo")

    def drift() -> list[dict[str, Any]]:
        shutil.rmtree(repo / "drift", ignore_errors=True)
        planned = pipeline.run(job["script"][0], repo, env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        r = pipeline.run(job["script"][1], repo, env)
        assert r.returncode == 0, r.stdout + r.stderr
        return api.issues

    try:
        # nothing applied yet: both tenants differ from their manifests, an issue each
        issues = drift()
        assert [(i["title"], i["state"], i["labels"]) for i in issues] == [
            ("spsync drift: acme", "opened", ["spsync-drift"]),
            ("spsync drift: globex", "opened", ["spsync-drift"]),
        ]
        assert "#### `acme` — Plan: 27 to create" in issues[0]["description"]
        assert issues[0]["description"].endswith(
            "\n_Planned by https://gitlab.example.com/example/spsync-config/-/pipelines/9. "
            "Apply the manifests (a merge request), or change them to what the install "
            "holds._\n"
        )
        assert SECRETS["SPSYNC_ACME_CERT_PASSWORD"] not in issues[0]["description"]

        # applied: no drift any more, both closed with a note
        r = pipeline.run("spsync apply manifests --auto-approve", repo, env)
        assert r.returncode == 0, r.stdout + r.stderr
        issues = drift()
        assert [i["state"] for i in issues] == ["closed", "closed"]
        assert issues[0]["notes"] == [
            "No drift any more: acme matches its manifests "
            "(https://gitlab.example.com/example/spsync-config/-/pipelines/9)."
        ]

        # someone edits a user in the SmarterProctoring UI: acme drifts, one new issue,
        # its description kept up to date while the drift lasts
        edit_user(pipeline.server, "user-789", "Janet")
        issues = drift()
        assert [(i["title"], i["state"]) for i in issues[2:]] == [("spsync drift: acme", "opened")]
        assert "firstName" in issues[2]["description"]
        api.calls.clear()
        issues = drift()
        assert len(issues) == 3 and issues[2]["edits"] == 1
        assert api.calls == ["GET /", "PUT /3"]
        edit_user(pipeline.server, "user-789", "Jane")
        issues = drift()
        assert [i["state"] for i in issues] == ["closed", "closed", "closed"]
        assert issues[2]["notes"][0].startswith("No drift any more: acme matches its manifests")
    finally:
        api.close()


def test_the_gitlab_drift_job_fails_on_invalid_manifests(pipeline: Pipeline) -> None:
    repo = pipeline.clone("repo")
    exams = repo / "manifests" / "acme" / "exams.yaml"
    exams.write_text(exams.read_text().replace("duration: 120", 'duration: "two hours"'))
    r = pipeline.run(_gitlab()["spsync-drift"]["script"][0], repo, _gitlab_env())
    assert r.returncode == 1, r.stdout + r.stderr
    assert list((repo / "drift").iterdir()) == []


def test_the_github_drift_job_fails_on_invalid_manifests(pipeline: Pipeline) -> None:
    repo = pipeline.clone("repo")
    exams = repo / "manifests" / "acme" / "exams.yaml"
    exams.write_text(exams.read_text().replace("duration: 120", 'duration: "two hours"'))
    step = next(s for s in _github(DRIFT)["jobs"]["drift"]["steps"] if s["id"] == "plan")
    r = pipeline.run(step["run"], repo, GithubJobs(pipeline, path=DRIFT).env())
    assert r.returncode == 1, r.stdout + r.stderr
    assert list((repo / "drift").iterdir()) == []


def test_the_gitlab_drift_job_fails_on_a_wrong_token(pipeline: Pipeline) -> None:
    job = _gitlab()["spsync-drift"]
    env = _gitlab_env()
    api = FakeGitlabIssues("another-token", env["CI_PROJECT_ID"])
    env["CI_API_V4_URL"] = api.url
    env["CI_PIPELINE_URL"] = "https://gitlab.example.com/p/9"
    repo = pipeline.clone("repo")
    try:
        assert pipeline.run(job["script"][0], repo, env).returncode == 0
        r = pipeline.run(job["script"][1], repo, env)
        assert r.returncode != 0
        assert api.issues == []
    finally:
        api.close()


def test_the_gitlab_allow_destroy_label_is_for_its_tenant_only(pipeline: Pipeline) -> None:
    doc = _gitlab()
    env = {**_gitlab_env(), "CI_PIPELINE_SOURCE": "merge_request_event"}
    _gitlab_remote(pipeline, env)
    mr = _destructive_change(pipeline, env)
    plan = doc["spsync-plan"]["script"][0]
    refused = pipeline.run(plan, mr, env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert _summaries(refused.stdout) == {"acme": "1"}
    assert "refused" in (mr / "plans" / "acme.md").read_text()

    # GitLab passes the labels comma-separated; another tenant's label allows nothing here
    labels = "bug,spsync:allow-destroy:globex,spsync:allow-destroy:acme"
    shutil.rmtree(mr / "plans")
    allowed = pipeline.run(plan, mr, {**env, "CI_MERGE_REQUEST_LABELS": labels})
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert _summaries(allowed.stdout) == {"acme": "2"}
    note = (mr / "plans" / "acme.md").read_text()
    assert note.endswith(
        "\n> **Destruction allowed** for `acme` by the label `spsync:allow-destroy:acme`.\n"
    )

    # merged: the apply job reads the merge request's labels (labels.txt, from the API call
    # skipped here) and applies the reviewed plan with --allow-destroy for acme
    git(mr, "push", "-q", "origin", "HEAD:main", env=pipeline.env)
    merged = pipeline.clone("merged")
    git(merged, "checkout", "-q", "--detach", env=pipeline.env)
    sha = git(merged, "rev-parse", "HEAD", env=pipeline.env).strip()
    shutil.copytree(mr / "plans", merged / "plans")
    (merged / "labels.txt").write_text(labels.replace(",", " ") + "\n")
    job_env = {**env, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
               "CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8]}  # fmt: skip
    r = pipeline.run(doc["spsync-apply"]["script"][1], merged, job_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Apply complete.") == 1
    assert pipeline.history()[0] == f"spsync: state of acme after {sha[:8]} [skip ci]"
