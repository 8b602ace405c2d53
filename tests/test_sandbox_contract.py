"""Contract tests of the simulator over real HTTP: every endpoint of api-contract §4–§8."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sandbox_payloads as pl
from conftest import SANDBOX_INSTALL as AI

V1 = f"/v1/installs/{AI}"


class Flow:
    """Thin helpers over the HTTP client for the common steps."""

    def __init__(self, client: httpx.Client) -> None:
        self.c = client

    def provision(self, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        r = self.c.post(f"/v2/installs/{AI}/provision", json=body)
        assert r.status_code == status, r.text
        return r.json()

    def assign(self, course: str, exam: str, add=(), remove=(), status: int = 200) -> dict:
        body: dict[str, Any] = {}
        if add:
            body["add"] = [{"enrollmentSid": e} for e in add]
        if remove:
            body["remove"] = [{"enrollmentSid": e} for e in remove]
        r = self.c.put(f"{V1}/courses/{course}/exams/{exam}/assignments", json=body)
        assert r.status_code == status, r.text
        return r.json()

    def sessions(self, en: str, ex: str, **params: Any) -> dict[str, Any]:
        r = self.c.get(f"{V1}/enrollments/{en}/exams/{ex}/sessions", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def active(self, en: str, ex: str) -> dict[str, Any]:
        rows = [
            s
            for s in self.sessions(en, ex, includeActive="true")["results"]
            if s["status"] in ("Needs Proctor", "Scheduled")
        ]
        assert len(rows) == 1, rows
        return rows[0]

    def setup(self) -> tuple[str, str, str, str]:
        """Provision the full example and assign the user: (course, exam, enrollment, session)."""
        r = self.provision(pl.full())
        cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
        self.assign(cu, ex, add=[en])
        return cu, ex, en, self.active(en, ex)["sid"]


@pytest.fixture
def flow(sandbox_client: httpx.Client) -> Flow:
    return Flow(sandbox_client)


def test_provision_creates_then_finds_existing_with_same_sids(flow: Flow) -> None:
    first = flow.provision(pl.full())
    assert set(first) == {"course", "exam", "configuration", "user", "enrollment"}
    assert {k: v["result"] for k, v in first.items()} == dict.fromkeys(first, "Created")
    prefixes = {"course": "CU", "exam": "EX", "configuration": "EC", "user": "US"}
    for key, prefix in {**prefixes, "enrollment": "EN"}.items():
        sid = first[key]["sid"]
        assert sid[:2] == prefix and len(sid) == 34 and sid[2:] == sid[2:].lower()
    again = flow.provision(pl.full())
    assert again == {k: {"sid": v["sid"], "result": "Found Existing"} for k, v in first.items()}


def test_changed_title_is_updated(flow: Flow) -> None:
    first = flow.provision(pl.full())
    body = pl.full()
    body["course"]["title"] = "Renamed"
    r = flow.provision(body)
    assert r["course"] == {"sid": first["course"]["sid"], "result": "Updated"}
    assert r["exam"]["result"] == "Found Existing"
    got = flow.c.get(f"{V1}/courses/{first['course']['sid']}").json()
    assert got["title"] == "Renamed"


def test_assign_gives_needs_proctor_session_visible_only_with_include_active(flow: Flow) -> None:
    r = flow.provision(pl.full())
    cu, ex, en = r["course"]["sid"], r["exam"]["sid"], r["enrollment"]["sid"]
    assert flow.sessions(en, ex, includeActive="true")["total"] == 0
    assert flow.assign(cu, ex, add=[en]) == {"examSid": ex, "assigned": [en]}
    assert flow.sessions(en, ex)["results"] == []
    listed = flow.sessions(en, ex, includeActive="true")
    assert listed["total"] == 1
    assert listed["results"][0]["status"] == "Needs Proctor"
    assert listed["results"][0]["sid"].startswith("ES")


def test_schedule_twice_is_400_and_onboard_gives_fresh_urls(flow: Flow) -> None:
    _, ex, _, es = flow.setup()
    r = flow.c.post(f"{V1}/exams/{ex}/sessions/{es}", json=pl.schedule())
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "Scheduled"
    assert s["appointmentDate"] == "2027-03-01T14:00:00Z"
    assert s["appointmentEndDate"] == "2027-03-01T16:00:00Z"
    again = flow.c.post(f"{V1}/exams/{ex}/sessions/{es}", json=pl.schedule())
    assert again.status_code == 400
    assert again.json()["code"] == "INVALIDINPUT"
    assert "already scheduled, use reschedule" in again.json()["message"]
    u1 = flow.c.get(f"{V1}/exams/{ex}/sessions/{es}/onboard").json()["url"]
    u2 = flow.c.get(f"{V1}/exams/{ex}/sessions/{es}/onboard").json()["url"]
    assert u1.startswith("https://") and u2.startswith("https://") and u1 != u2
