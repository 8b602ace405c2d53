"""TLS: a private CA given as a bundle path or through SSL_CERT_FILE, verification failures
reported (not retried), and the simulator's INVALIDPROTOCOL for plain HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from support.api import TOKEN, FakeTime, fast_policy, http_client, new_world, sandbox_app, served

from spsync.api import Client
from spsync.api.client import R_SETTINGS
from spsync.api.h1 import H1Transport
from spsync.errors import InvalidInputError, TransportError, UsageError
from spsync.sandbox.server import bind
from spsync.secrets import Secret

INSTALL = "AI" + "0123456789abcdef" * 2

# A throw-away test CA and a server certificate it signed, for 127.0.0.1 and localhost only
# (EC P-256, valid for a century). They protect nothing: the tests need a CA that is not in
# any system trust store.
CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBmjCCAT+gAwIBAgIUTk79cDrSPyw3YPOxMzn4QQN/ymcwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc3BzeW5jIHRlc3QgQ0EwIBcNMjYxMTI2MTYwOTQwWhgPMjEy
NjExMDIxNjA5NDBaMBkxFzAVBgNVBAMMDnNwc3luYyB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE0PgxxbdzT9L8q+PlJo7Rs8l9VI3tY8sbl31iit3X
jEUKhxjWlzJBFTdIVn1UtkX+uGd6q2BeDrHB0Y2T6UHNDaNjMGEwHQYDVR0OBBYE
FIcvksgkL3xoRI2/IxqcwwjCpSHiMB8GA1UdIwQYMBaAFIcvksgkL3xoRI2/Ixqc
wwjCpSHiMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
BAMCA0kAMEYCIQDMbMrQltykj8FC2M3C08ViU6yYpXr51OEPijMvhka//QIhANYA
3Rww3LLF47zacfiIdkGgDWEYxrW3UGgroFlpXNMw
-----END CERTIFICATE-----
"""
SERVER_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBwjCCAWegAwIBAgIUZNmv4JfGxmYJdFjT7/DV4DPvRwMwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc3BzeW5jIHRlc3QgQ0EwIBcNMjYxMTI2MTYwOTQwWhgPMjEy
NjExMDIxNjA5NDBaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABISDE2RcwY6d4kwrj9ggi3RHha0KK9stbcaSFoBA87yFPhKm
vuFk46hPrGTNkCeNRPscIVEKTXWwX2nENgzY6+ajgY8wgYwwGgYDVR0RBBMwEYcE
fwAAAYIJbG9jYWxob3N0MAkGA1UdEwQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1Ud
JQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBShrLoebReGnSaf/RDUVClSxGKpNTAf
BgNVHSMEGDAWgBSHL5LIJC98aESNvyManMMIwqUh4jAKBggqhkjOPQQDAgNJADBG
AiEApqbgMgYJQHCDx9e4g6aOiEhk7n/gu1UKEaXNIpU7INcCIQD7wfHzuLFFVIAO
3lUBqt7kpOHfXzmVmCAAVgf6Qa3BTg==
-----END CERTIFICATE-----
"""
SERVER_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1DJNorph/1J0d6SJ
6qc8UBZ707Cghn9YBwL0do6WkOShRANCAASEgxNkXMGOneJMK4/YIIt0R4WtCivb
LW3GkhaAQPO8hT4Spr7hZOOoT6xkzZAnjUT7HCFRCk11sF9pxDYM2Ovm
-----END PRIVATE KEY-----
"""


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls")
    files = {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}
    files["ca"].write_text(CA_PEM)
    files["cert"].write_text(SERVER_PEM)
    files["key"].write_text(SERVER_KEY)
    return files


@pytest.fixture(scope="module")
def https_url(tls_files: dict[str, Path]) -> Iterator[str]:
    """The simulator served over HTTPS on 127.0.0.1 with the test certificate."""
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        sandbox_app(new_world()),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls_files["cert"]),
        ssl_keyfile=str(tls_files["key"]),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.005)
    yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def _settings(api: Client) -> str | None:
    async def go() -> str | None:
        async with api:
            return (await api.settings()).defaultTimezone

    return asyncio.run(go())


def test_a_ca_bundle_path_is_trusted(https_url: str, tls_files: dict[str, Path]) -> None:
    api = Client(https_url, INSTALL, Secret(TOKEN), verify=str(tls_files["ca"]))
    assert _settings(api) == "America/New_York"


def test_ssl_cert_file_is_honoured_by_default(
    https_url: str, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    assert _settings(Client(https_url, INSTALL, Secret(TOKEN))) == "America/New_York"


@pytest.mark.parametrize("stack", ["spsync", "httpx"])
def test_ssl_cert_file_is_honoured_by_every_connection(
    https_url: str, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    """Many in flight: every connection (spsync's transport), or every one of several
    httpx clients, uses the one TLS context built from it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    api = Client(
        https_url, INSTALL, Secret(TOKEN), max_in_flight=24, start_in_flight=24, http_stack=stack
    )

    async def go() -> list[str]:
        async with api:
            found = await asyncio.gather(*(api.settings() for _ in range(48)))
            if stack == "httpx":
                assert len(api._pools._clients) > 1
            else:
                direct = api._pools.direct
                assert isinstance(direct, H1Transport) and len(direct._all) > 1
            return [s.defaultTimezone for s in found]

    assert set(asyncio.run(go())) == {"America/New_York"}
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"].with_name("missing.pem")))
    with pytest.raises(UsageError, match="check SSL_CERT_FILE"):
        Client(https_url, INSTALL, Secret(TOKEN), max_in_flight=24)


def test_an_unknown_ca_fails_once_with_advice(
    https_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    fake = FakeTime()
    api = Client(https_url, INSTALL, Secret(TOKEN), retry=fast_policy(fake))
    with pytest.raises(TransportError) as info:
        _settings(api)
    assert api.calls == {f"GET {R_SETTINGS}": 1} and fake.sleeps == []
    message = info.value.api_message
    assert message.startswith("TLS certificate verification failed (ConnectError)")
    assert "SSL_CERT_FILE" in message


def test_unusable_ca_settings_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="cannot use CA bundle"):
        Client("https://127.0.0.1", INSTALL, Secret(TOKEN), verify=str(tmp_path / "none.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match="check SSL_CERT_FILE"):
        Client("https://127.0.0.1", INSTALL, Secret(TOKEN))


def test_plain_http_to_a_tls_only_service_is_invalidprotocol() -> None:
    with served(new_world(), require_tls=True) as (srv, _front):
        api = http_client(srv, FakeTime())
        with pytest.raises(InvalidInputError) as info:
            _settings(api)
    assert (info.value.status, info.value.code) == (400, "INVALIDPROTOCOL")
    assert info.value.api_message == "requests must be made over HTTPS"
    assert api.calls.total() == 1
