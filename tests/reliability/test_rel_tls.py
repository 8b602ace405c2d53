"""Transport security: plain HTTP to anything but loopback is refused before any connection;
a ``--require-tls`` simulator with a certificate from a private CA (made with the ``openssl``
binary at test time) works when the CA is supplied through ``SSL_CERT_FILE`` and fails
clearly when it is not (or when another CA is supplied); plain HTTP to that kind of server is
answered ``INVALIDPROTOCOL`` and reported as such."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.reliability import (
    NOW,
    RUN_TIMEOUT,
    TOKEN,
    Workspace,
    base_env,
    booking_problems,
    no_traceback,
    requests_seen,
    simulator,
)

from spsync.sandbox.server import ThreadedServer


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    """``<name>.key`` / ``<name>.pem``: a throw-away CA (EC P-256, valid two days)."""
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=spsync reliability {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate it signed for 127.0.0.1 and localhost, and another CA."""
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=d,
    )  # fmt: skip
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=d,
    )  # fmt: skip
    return d


@pytest.fixture(scope="module")
def https_server(pki: Path) -> Iterator[str]:
    """``spsync sandbox serve --require-tls`` with the test certificate; yields its URL."""
    argv = [
        sys.executable, "-m", "spsync", "sandbox", "serve", "--port", "0", "--token", TOKEN,
        "--now", NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "--seed", "81", "--require-tls",
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
    ]  # fmt: skip
    with subprocess.Popen(
        argv, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.fullmatch(r"spsync sandbox listening on (https://127\.0\.0\.1:\d+)\n", line)
            assert found, line
            yield found.group(1)
        finally:
            proc.terminate()
            proc.communicate(timeout=RUN_TIMEOUT)


def _control(url: str, path: str, ca: Path) -> dict:
    context = ssl.create_default_context(cafile=str(ca))
    response = httpx.get(f"{url}{path}", headers={"token": TOKEN}, verify=context, timeout=30)
    response.raise_for_status()
    return response.json()


def test_rel_private_ca_required_and_sufficient(
    tmp_path: Path, pki: Path, https_server: str
) -> None:
    ws = Workspace(tmp_path, https_server, learners=2)
    url = https_server
    # no CA: verification fails, clearly, on the first call; nothing is written
    for run in (ws.plan(), ws.apply()):
        no_traceback(run)
        assert run.code == 1, str(run)
        assert re.fullmatch(
            r"error: GET /v1/installs/\w+/users: TLS certificate verification failed "
            r"\(ConnectError\); if the server uses a private CA, point SSL_CERT_FILE \(or the "
            r"client's verify option\) at its CA bundle\n",
            run.err,
        ), run.err
    # another CA: the same
    other = ws.run("plan", str(ws.tenant_dir()), env={"SSL_CERT_FILE": str(pki / "other-ca.pem")})
    assert other.code == 1 and "TLS certificate verification failed" in other.err, str(other)
    # a CA file that does not exist: said so
    missing = ws.run("plan", str(ws.tenant_dir()), env={"SSL_CERT_FILE": str(pki / "nope.pem")})
    no_traceback(missing)
    assert missing.code == 1 and "SSL_CERT_FILE" in missing.err, str(missing)
    assert set(ws.state_bytes()) <= {"rel.lock"}
    assert _control(url, "/_sandbox/requests", pki / "ca.pem")["total"] == 0

    # the right CA: apply works, and a plan has nothing left to do
    ws.env["SSL_CERT_FILE"] = str(pki / "ca.pem")
    applied = ws.apply()
    assert applied.code == 0, str(applied)
    assert ws.plan(None, "--detailed-exitcode").code == 0
    world = _control(url, "/_sandbox/world", pki / "ca.pem")
    (inst,) = [i for i in world["installs"] if i["sid"] == ws.installs["rel"]]
    assert sum(s["status"] == "Scheduled" for s in inst["sessions"]) == len(ws.desired().sessions)
    assert booking_problems(world) == []
    # every request it served came over TLS: none was refused as plain HTTP
    assert "400" not in _control(url, "/_sandbox/requests", pki / "ca.pem")["statuses"]


def test_rel_plain_http_to_a_tls_only_server_is_reported(tmp_path: Path) -> None:
    with simulator(seed=82, require_tls=True) as srv:
        ws = Workspace(tmp_path, srv.url, learners=2)
        run = ws.plan()
        no_traceback(run)
        assert run.code == 1
        assert re.fullmatch(
            r"error: GET /v1/installs/\w+/users: 400 INVALIDPROTOCOL: .+\n", run.err
        )
        # every call it made was answered INVALIDPROTOCOL (the first lookups go out at once)
        assert set(requests_seen(srv.url)["statuses"]) == {"400"}


def test_rel_client_refuses_plain_http_to_other_hosts() -> None:
    """The client's own check, behind the manifests' (for callers of the Python API)."""
    from spsync.api.client import check_base_url
    from spsync.errors import UsageError

    for url in (f"http://{outward_address()}:8765", "http://api.smarterproctoring.com"):
        with pytest.raises(UsageError, match=r"^refusing plain-HTTP API URL http://"):
            check_base_url(url)


def outward_address() -> str:
    """An address of this machine that is not loopback (the interface of the default route,
    found without sending anything), or a documentation address nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: no packet is sent
            address = s.getsockname()[0]
        except OSError:
            return "192.0.2.1"
    return "192.0.2.1" if address.startswith("127.") else address


@pytest.mark.parametrize("host", ["outward", "api.smarterproctoring.com", "[2001:db8::1]"])
def test_rel_plain_http_to_other_hosts_is_refused_before_connecting(
    tmp_path: Path, host: str
) -> None:
    # a simulator listening on every interface: a connection attempt would reach it
    with ThreadedServer(token=TOKEN, now=NOW, host="0.0.0.0") as srv:
        port = srv.url.rsplit(":", 1)[1]
        target = outward_address() if host == "outward" else host
        ws = Workspace(tmp_path, f"http://{target}:{port}", learners=2)
        # refused as soon as the manifests are read, offline: validate says it too
        tenant_yaml = ws.tenant_dir() / "tenant.yaml"
        runs = [ws.plan()]
        if host == "outward":  # the other commands once (each run costs a process)
            runs += [ws.run("validate", str(ws.tenant_dir())), ws.apply()]
        for run in runs:
            no_traceback(run)
            assert run.code == 1, str(run)
            assert run.err == (
                f"{tenant_yaml}:4:8: api.url: must use https:// (plain http:// is allowed only "
                "for a loopback host such as 127.0.0.1 or localhost)\n1 problem found\n"
            ), run.err
        loopback = f"http://127.0.0.1:{port}"
        assert requests_seen(loopback)["total"] == 0
        assert set(ws.state_bytes()) <= {"rel.lock"}
        assert not (tmp_path / ".spsync" / "audit" / "rel.jsonl").exists()
