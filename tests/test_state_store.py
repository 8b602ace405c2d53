"""The state store: fresh states, atomic pretty saves, refusals with clear messages, locks."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from support.plan import INSTALL, tenant

from spsync.errors import LockError, StateError
from spsync.model import Api
from spsync.state import ResourceState, State
from spsync.store import StateStore


def test_absent_state_is_fresh(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    st = store.load(tenant())
    assert (st.version, st.serial, st.tenant, st.install) == (1, 0, "acme", INSTALL)
    assert st.api_url == "http://127.0.0.1:8765"
    assert st.resources == {}
    assert str(uuid.UUID(st.lineage)) == st.lineage
    assert store.load(tenant()).lineage != st.lineage  # a new lineage each time until saved
    assert not (tmp_path / "state").exists()  # loading writes nothing


def test_save_bumps_serial_and_writes_sorted_pretty_json(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    st = store.load(tenant())
    st.resources["user.jane"] = ResourceState(
        sid="US" + "1" * 32, applied={"lastName": "Smith", "firstName": "Jane"}
    )
    saved = store.save(st)
    assert saved.serial == 1 and st.serial == 0
    text = store.path("acme").read_text()
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    assert text.index('"firstName"') < text.index('"lastName"')
    again = store.load(tenant())
    assert again == saved
    assert store.save(again).serial == 2
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["acme.json"]


def _write(store: StateStore, text: str) -> None:
    store.directory.mkdir(parents=True, exist_ok=True)
    store.path("acme").write_text(text)


def test_corrupt_json_names_file_and_position(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    _write(store, '{"version": 1,\n  "lineage": }')
    with pytest.raises(StateError) as e:
        store.load(tenant())
    assert str(e.value) == (
        f"{tmp_path}/acme.json: not a valid state file: bad JSON at line 2 column 14: "
        "Expecting value"
    )


def test_wrong_version_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    _write(store, json.dumps({"version": 2, "lineage": "x", "tenant": "acme"}))
    with pytest.raises(StateError, match=r"acme.json: state version 2 is not supported \(this"):
        store.load(tenant())


def test_bad_shape_names_the_field(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    good = State(lineage="l", tenant="acme", install=INSTALL, api_url="http://127.0.0.1:8765")
    doc = good.model_dump(mode="json")
    doc["resources"] = {"user.jane": {"sid": 5}}
    _write(store, json.dumps(doc))
    with pytest.raises(StateError) as e:
        store.load(tenant())
    assert "acme.json: not a valid state file: resources.user.jane.sid: Input should be" in str(
        e.value
    )


def test_other_install_or_api_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(store.load(tenant()))
    other = tenant().model_copy(update={"install": "AI" + "f" * 32})
    with pytest.raises(StateError) as e:
        store.load(other)
    assert f"written for install {INSTALL}, but the manifests" in str(e.value)
    assert "never mix" in str(e.value)
    moved = tenant().model_copy(update={"api": Api(url="https://api.smarterproctoring.com")})
    with pytest.raises(
        StateError, match=re.escape("written for API http://127.0.0.1:8765, but the")
    ):
        store.load(moved)


def test_state_of_another_tenant_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    st = State(lineage="l", tenant="globex", install=INSTALL, api_url="u")
    _write(store, json.dumps(st.model_dump(mode="json")))
    with pytest.raises(StateError, match="holds the state of tenant 'globex', not 'acme'"):
        store.read("acme")


# --- locks -----------------------------------------------------------------------------------


def test_lock_records_holder_and_blocks_others(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with store.lock("acme", "apply") as info:
        assert info.pid == os.getpid() and info.operation == "apply"
        assert info.host == socket.gethostname()
        assert store.holder("acme") == info
        with pytest.raises(LockError) as e, store.lock("acme", "plan", unlock_hint="m/acme"):
            pass
        msg = str(e.value)
        since = info.since.split("T", 1)[1]
        assert msg == (
            f"state of acme is locked by pid {os.getpid()} on {info.host} since {since} "
            f"(apply); if that process is gone: spsync unlock m/acme {info.id}"
        )
        with store.lock("globex", "apply"):  # other tenants are independent
            pass
    assert store.holder("acme") is None
    with store.lock("acme", "apply"):  # released
        pass


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from spsync.store import StateStore
    with StateStore(Path(sys.argv[1])).lock("acme", "apply"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _holder(tmp_path: Path, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "locked\n"
    return p


def _kill(p: subprocess.Popen[str]) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.stdout is not None
    p.stdout.close()


def test_a_killed_holder_never_blocks_the_next_run(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    p = _holder(tmp_path, 60)
    with pytest.raises(LockError, match=f"locked by pid {p.pid} on "), store.lock("acme", "x"):
        pass
    _kill(p)
    assert store.holder("acme") is not None  # its record stays behind ...
    with store.lock("acme", "apply") as info:  # ... but the kernel released the lock
        assert store.holder("acme") == info


def test_lock_waits_up_to_timeout(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    p = _holder(tmp_path, 0.3)
    with store.lock("acme", "apply", timeout=30) as info:
        assert info.pid == os.getpid()
    p.wait()
    p.stdout.close()  # type: ignore[union-attr]


def test_unlock_releases_a_stale_record_only(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    p = _holder(tmp_path, 60)
    held = store.holder("acme")
    assert held is not None
    with pytest.raises(
        StateError, match=f"lock id nope does not match the lock of acme \\({held.id}"
    ):
        store.unlock("acme", "nope")
    with pytest.raises(LockError, match=f"pid {p.pid} on .* which is still running"):
        store.unlock("acme", held.id)
    _kill(p)
    store.unlock("acme", held.id)
    assert store.holder("acme") is None
    with pytest.raises(StateError, match="state of acme is not locked"):
        store.unlock("acme", held.id)


def test_unknown_address_in_state_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    st = State(lineage="l", tenant="acme", install=INSTALL, api_url="http://127.0.0.1:8765")
    doc = st.model_dump(mode="json")
    doc["resources"] = {"gadget.x": {}}
    _write(store, json.dumps(doc))
    with pytest.raises(StateError) as e:
        store.load(tenant())
    assert (
        str(e.value) == f"{tmp_path}/acme.json: not a valid state file: not an address: 'gadget.x'"
    )
