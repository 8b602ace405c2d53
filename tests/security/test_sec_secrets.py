"""Secrets are inert, and a pull request cannot redirect them (issue 14, points 1 and 2).

Each case is an attack reproduced with a real ``spsync`` process in a configuration
repository whose CI job holds two tenants' tokens and passwords; afterwards every form of
every secret is looked for in stdout, stderr and every file spsync wrote.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.hostile import (
    INSTALL,
    OTHER_PASSWORD,
    OTHER_TOKEN,
    PASSWORD,
    TOKEN,
    Reply,
    Request,
    environment,
    json_reply,
    leaks,
    repo,
    serving,
    spsync,
)

from spsync.sandbox.server import ThreadedServer

_ALL = (TOKEN, OTHER_TOKEN, PASSWORD, OTHER_PASSWORD)
SANDBOX_NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
T1 = "manifests/t1/tenant.yaml"
MAIN = "manifests/t1/main.yaml"


def _nothing_sent(request: Request) -> Reply:
    raise AssertionError(f"no request was expected: {request.method} {request.target}")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (TOKEN + "\n", "has leading or trailing whitespace (value not shown); remove it"),
        (" " + TOKEN, "has leading or trailing whitespace (value not shown); remove it"),
        (TOKEN + "\x1b[2J", "holds a control or other unprintable character (value not shown)"),
        (
            TOKEN + "é",
            "holds a character outside ASCII (value not shown): an API token is sent as an "
            "HTTP header",
        ),
    ],
)
def test_a_token_that_cannot_be_a_header_is_refused_before_anything_is_sent(
    tmp_path: Path, value: str, problem: str
) -> None:
    with serving(_nothing_sent) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(
            root, "plan", "manifests", "--tenant", "t1", env=environment(SPSYNC_T1_TOKEN=value)
        )
        assert srv.requests == []
    assert result.code == 1
    assert result.stderr == (
        f"{T1}:5:16: api.token.env: environment variable SPSYNC_T1_TOKEN {problem}\n"
        "1 problem found\n"
    )
    assert leaks(root, result, (value.strip(), OTHER_TOKEN, PASSWORD, OTHER_PASSWORD)) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proc/self/environ", "outside the configuration repository (proc)"),
        ("/dev/stdin", "outside the configuration repository (dev)"),
        ("/etc/hostname", "outside the configuration repository {root}"),
        ("../../../../../../../../etc/hostname", "outside the configuration repository {root}"),
        ("../../.git", "not a regular file"),
    ],
)
def test_a_token_file_outside_the_repository_is_refused(
    tmp_path: Path, path: str, reason: str
) -> None:
    if path == "/etc/hostname" and not Path(path).exists():
        Path(path).write_text("host\n")  # pragma: no cover - containers without one
    with serving(_nothing_sent) as srv:
        root = repo(tmp_path, url=srv.url, token=f"{{file: '{path}'}}")
        result = spsync(root, "plan", "manifests", "--tenant", "t1")
    assert result.code == 1
    assert result.stderr == (
        f'{T1}:5:17: api.token.file: secret file "{path}" cannot be read: '
        f"{reason.format(root=root.resolve())}\n1 problem found\n"
    )
    assert leaks(root, result) == []


@pytest.mark.parametrize(
    "path",
    [
        "/etc/hostname",
        "/etc/spsync-no-such-file",
        "../../../../../../../../etc/hostname",
        "../../../../../../../../etc/spsync-no-such-file",
        "../../../outside/pw",
        "../../../outside/no-such-file",
        "secrets/out/pw",
        "secrets/out/no-such-file",
    ],
)
def test_whether_a_file_out_of_the_repository_exists_is_not_told(tmp_path: Path, path: str) -> None:
    """A manifest of a pull request cannot probe the runner's files: a path out of the
    repository, as written or through a symlink of the repository, is refused with the
    same words whether its file exists or not."""
    if path.endswith("hostname") and not Path("/etc/hostname").exists():
        Path("/etc/hostname").write_text("host\n")  # pragma: no cover - containers without one
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pw").write_text("runner-private-value\n")
    root = repo(tmp_path / "repo", password=f"{{file: '{path}'}}")
    (root / "manifests" / "t1" / "secrets").mkdir()
    (root / "manifests" / "t1" / "secrets" / "out").symlink_to(outside)
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert result.stderr == (
        f'{MAIN}:15:24: exams.final.configuration.password.file: secret file "{path}" '
        f"cannot be read: outside the configuration repository {root.resolve()}\n"
        "1 problem found\n"
    )
    assert leaks(root, result, (*_ALL, "runner-private-value")) == []


def test_a_missing_secret_file_in_the_repository_is_told(tmp_path: Path) -> None:
    root = repo(tmp_path, password="{file: ../../secrets/final}")
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert result.stderr == (
        f"{MAIN}:15:24: exams.final.configuration.password.file: secret file "
        '"../../secrets/final" not found\n1 problem found\n'
    )


def test_a_symlink_out_of_the_repository_is_refused_as_a_password(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pw").write_text("runner-private-value\n")
    root = repo(tmp_path / "repo", password="{file: secrets/pw}")
    (root / "manifests" / "t1" / "secrets").mkdir()
    (root / "manifests" / "t1" / "secrets" / "pw").symlink_to(outside / "pw")
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert result.stderr == (
        f'{MAIN}:15:24: exams.final.configuration.password.file: secret file "secrets/pw" '
        f"cannot be read: outside the configuration repository {root.resolve()}\n"
        "1 problem found\n"
    )
    assert leaks(root, result, (*_ALL, "runner-private-value")) == []


def test_a_secret_file_inside_the_repository_is_read(tmp_path: Path) -> None:
    root = repo(tmp_path, password="{file: ../../secrets/final}")
    (root / "secrets").mkdir()
    (root / "secrets" / "final").write_text(PASSWORD + "\n")
    result = spsync(root, "validate", "manifests")
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.startswith("t1: ok (1 course, 1 exam, 1 user, 1 enrollment")


@pytest.mark.parametrize(
    ("where", "name", "problem"),
    [
        (
            "token",
            "SPSYNC_T2_TOKEN",
            "is not one of tenant t1's: a tenant reads only variables named SPSYNC_T1_…",
        ),
        (
            "password",
            "SPSYNC_T2_PASSWORD",
            "is not one of tenant t1's: a tenant reads only variables named SPSYNC_T1_…",
        ),
        (
            "password",
            "GITHUB_TOKEN",
            "is not one of tenant t1's: a tenant reads only variables named SPSYNC_T1_…",
        ),
    ],
)
def test_a_tenant_reads_only_its_own_variables(
    tmp_path: Path, where: str, name: str, problem: str
) -> None:
    ref = f"{{env: {name}}}"
    with serving(_nothing_sent) as srv:
        root = repo(tmp_path, url=srv.url, **{where: ref})  # type: ignore[arg-type]
        env = environment(GITHUB_TOKEN="ghs-runner-token-0001")
        result = spsync(root, "plan", "manifests", "--tenant", "t1", env=env)
    located = (
        f"{T1}:5:16: api.token.env"
        if where == "token"
        else f"{MAIN}:15:23: exams.final.configuration.password.env"
    )
    assert result.code == 1
    assert result.stderr == (f"{located}: environment variable {name} {problem}\n1 problem found\n")
    assert leaks(root, result, (*_ALL, "ghs-runner-token-0001")) == []


def test_a_longer_tenant_prefix_belongs_to_that_tenant(tmp_path: Path) -> None:
    root = repo(tmp_path, password="{env: SPSYNC_T1_X_PASSWORD}")
    other = root / "manifests" / "t1-x"
    other.mkdir()
    (other / "tenant.yaml").write_text(
        (root / "manifests" / "t2" / "tenant.yaml")
        .read_text()
        .replace("t2", "t1-x")
        .replace("SPSYNC_T2_", "SPSYNC_T1_X_")
    )
    env = environment(SPSYNC_T1_X_TOKEN="tok-t1x-0001", SPSYNC_T1_X_PASSWORD="pw-t1x-0001")
    result = spsync(root, "validate", "manifests", env=env)
    assert result.code == 1
    assert result.stderr == (
        f"{MAIN}:15:23: exams.final.configuration.password.env: environment variable "
        "SPSYNC_T1_X_PASSWORD belongs to tenant t1-x (SPSYNC_T1_X_…)\n1 problem found\n"
    )


def test_the_api_host_is_allowed_from_outside_the_manifests(tmp_path: Path) -> None:
    root = repo(tmp_path, url="https://attacker.example")
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert result.stderr == (
        f"{T1}:4:8: api.url: API host attacker.example is not allowed: the token is sent "
        "only to api.smarterproctoring.com or a loopback host; the operator allows more in "
        "SPSYNC_ALLOWED_API_HOSTS, outside the manifests (docs/security.md)\n1 problem found\n"
    )
    allowed = spsync(
        root,
        "validate",
        "manifests",
        env=environment(SPSYNC_ALLOWED_API_HOSTS="staging.example, attacker.example"),
    )
    assert (allowed.code, allowed.stderr) == (0, "")


def _echo(request: Request) -> Reply:
    """An API that puts the token it got in every field of its error, in every form."""
    token = request.headers.get("token", "")
    raw = token.encode()
    return json_reply(
        {
            "code": token,
            "message": f"bad {token} {raw!r} {token.replace('-', '%2D')} \\u{ord(token[0]):04x}",
            "details": [{"path": token, "message": repr(token)}],
        },
        400,
    )


def test_an_api_echoing_the_token_in_its_error_code_leaks_nothing(tmp_path: Path) -> None:
    with serving(_echo) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(root, "apply", "manifests", "--tenant", "t1", "--auto-approve", "-v")
        assert [r.headers["token"] for r in srv.requests] == [TOKEN]
    assert result.code == 1
    assert "400 (sensitive): bad (sensitive) b'(sensitive)'" in result.stderr
    audit = (root / ".spsync" / "audit" / "t1.jsonl").read_text()
    assert '"code": "(sensitive)"' in audit
    assert leaks(root, result) == []


def test_transport_failures_show_no_text_of_the_http_stack(tmp_path: Path) -> None:
    def broken(request: Request) -> Reply:
        # an answer no HTTP client can read: its error would quote the line
        return Reply(200, b"", {"x" * 3: TOKEN + "\x00\r\nbroken"})

    with serving(broken) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(
            root, "plan", "manifests", "--tenant", "t1", env=environment(SPSYNC_CALL_TIMEOUT="5")
        )
    assert result.code == 1
    # a notice per retry (t1: …), then the error: none quotes the HTTP stack
    assert result.stderr.splitlines()[-1].startswith("error: GET /v1/installs/")
    assert "Traceback" not in result.stderr
    assert leaks(root, result) == []


def test_a_server_echoing_a_secret_into_a_field_leaks_nothing_into_plans(
    tmp_path: Path,
) -> None:
    """A field value that holds a secret (a hostile or broken API wrote the token into a
    user's name) is masked in every plan document: text, JSON and the --out file."""
    with ThreadedServer(token=TOKEN, seed=5, now=SANDBOX_NOW) as srv:
        root = repo(tmp_path, url=srv.url)
        applied = spsync(root, "apply", "manifests", "--tenant", "t1", "--auto-approve")
        assert applied.code == 0, applied.stderr
        assert "user.jane" in json.loads((root / "state" / "t1.json").read_text())["resources"]
        # the live user now carries the other tenant's token and this tenant's password
        body = {
            "course": {"ids": {"external": "course-1"}, "title": "Main course"},
            "user": {
                "ids": {"external": "user-1"},
                "firstName": "Jane",
                "lastName": f"Smith {OTHER_TOKEN} {PASSWORD}",
                "email": "jane@example.com",
            },
        }
        answer = httpx.post(
            f"{srv.url}/v2/installs/{INSTALL}/provision", json=body, headers={"token": TOKEN}
        )
        assert answer.status_code == 200, answer.text
        results = [
            spsync(root, "plan", "manifests", "--tenant", "t1", "--format", fmt, "--out", "p.json")
            for fmt in ("text", "json", "markdown")
        ]
    for result in results:
        assert result.code == 0, result.stderr
        assert "lastName" in result.stdout and "(sensitive)" in result.stdout
        assert leaks(root, result) == []
