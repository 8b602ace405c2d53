"""Wire models: strict requests, tolerant responses, secrets revealed only when sent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from spsync.api import wire, wire_types
from spsync.secrets import MASK, Secret

PASSWORD = "pw-very-secret-4711"
TS = "TS63dda27a6ba54c218449b934b7bb1ba8"
SID = {
    p: p + "0123456789abcdef0123456789abcdef" for p in ("AI", "CU", "EX", "EC", "US", "EN", "ES")
}


def provision_request() -> wire.ProvisionRequest:
    return wire.ProvisionRequest.model_validate(
        {
            "course": {"ids": {"external": "acct-1"}, "title": "Acme", "code": "ACME-1"},
            "exam": {
                "ids": {"external": "exam-1"},
                "title": "Final",
                "limitedScope": True,
                "configuration": {
                    "url": "https://exams.example.com/1",
                    "access": {"open": "2027-01-01T00:00:00Z", "close": "2027-12-31T23:59:59Z"},
                    "duration": 90,
                    "password": Secret(PASSWORD, "env:PW"),
                    "proctorTypes": {TS: {"options": {"recordScreen": {}}}},
                    "permittedItems": {"calculator": {"notes": "basic"}},
                },
            },
            "user": {"ids": {"external": "u-1"}, "firstName": "Jane", "lastName": "Smith",
                     "email": "jane@example.com"},
            "enrollment": {"role": "learner"},
        }
    )  # fmt: skip


def test_password_is_revealed_only_by_request_json() -> None:
    req = provision_request()
    assert PASSWORD not in repr(req)
    assert PASSWORD not in str(req)
    assert PASSWORD not in req.model_dump_json()
    assert req.model_dump(mode="json")["exam"]["configuration"]["password"] == MASK
    body, revealed = wire.request_json(req)
    assert revealed == [PASSWORD]
    sent = json.loads(body)
    assert sent == {
        "course": {"ids": {"external": "acct-1"}, "title": "Acme", "code": "ACME-1"},
        "exam": {
            "ids": {"external": "exam-1"},
            "title": "Final",
            "limitedScope": True,
            "configuration": {
                "url": "https://exams.example.com/1",
                "access": {"open": "2027-01-01T00:00:00Z", "close": "2027-12-31T23:59:59Z"},
                "duration": 90,
                "password": PASSWORD,
                "proctorTypes": {TS: {"options": {"recordScreen": {}}}},
                "permittedItems": {"calculator": {"notes": "basic"}},
            },
        },
        "user": {"ids": {"external": "u-1"}, "firstName": "Jane", "lastName": "Smith",
                 "email": "jane@example.com"},
        "enrollment": {"role": "learner"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"course": {"ids": {"external": "a", "api": "b"}}}, "course.ids"),
        ({"course": {"ids": {}}}, "course.ids"),
        ({"course": {"ids": {"sid": "EX0123456789abcdef0123456789abcdef"}}}, "course.ids"),
        ({"course": {"ids": {"external": "a"}, "colour": "red"}}, "course.colour"),
        ({"course": {"ids": {"external": "a"}}, "enrollment": {"role": "learner"}}, ""),
        ({"course": {"ids": {"external": "a"}}, "exam": {"ids": {"lms": "x"}}}, "exam.ids"),
        ({"course": {"ids": {"external": "a"}}, "user": {"ids": {"api": "u"},
          "currencyCode": "usd"}}, "user.currencyCode"),
    ],
)  # fmt: skip
def test_requests_are_strict(patch: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        wire.ProvisionRequest.model_validate(patch)
    locs = {".".join(str(x) for x in e["loc"]) for e in info.value.errors()}
    assert where in locs or any(loc.startswith(where) for loc in locs)


def test_schedule_request_checks_types_and_times() -> None:
    ok = wire.ScheduleRequest(
        type="automated",
        proctorLocationSid="PLc38d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
        appointmentDateTime="2027-03-01T14:00:00Z",
        amount=0,
        currency="USD",
    )
    assert json.loads(wire.request_json(ok)[0]) == {
        "type": "automated",
        "proctorLocationSid": "PLc38d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
        "appointmentDateTime": "2027-03-01T14:00:00Z",
        "amount": 0,
        "currency": "USD",
    }
    for bad in (
        {"appointmentDateTime": "2027-03-01 14:00"},
        {"appointmentDateTime": "2027-03-01T14:00:00+01:00"},
        {"type": "carrier-pigeon"},
        {"proctorLocationSid": "XX" + "a" * 32},
        {"amount": -1},
    ):
        fields = {
            "type": "automated",
            "proctorLocationSid": "PL" + "a" * 32,
            "appointmentDateTime": "2027-03-01T14:00:00Z",
            **bad,
        }
        with pytest.raises(ValidationError):
            wire.ScheduleRequest.model_validate(fields)


def test_responses_tolerate_extra_fields_and_normalise_times() -> None:
    session = wire.Session.model_validate(
        {
            "sid": SID["ES"],
            "status": "Some Future Status",
            "appointmentDate": "2027-03-01T15:00:00.000+01:00",
            "createdDate": "2027-01-01T00:00:00+00:00",
            "brandNewField": {"nested": [1, 2]},
            "notes": None,
        }
    )
    assert session.status == "Some Future Status"
    assert session.appointmentDate == "2027-03-01T14:00:00Z"
    assert session.createdDate == "2027-01-01T00:00:00Z"
    assert session.notes is None
    assert not session.active


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("Scheduled", "Scheduled"),
        ("SCHEDULED", "Scheduled"),
        ("needs_proctor", "Needs Proctor"),
        ("NEEDS-PROCTOR", "Needs Proctor"),
        ("  needs   proctor ", "Needs Proctor"),
        ("in-progress", "In Progress"),
        ("Canceled", "Cancelled"),
        ("CANCELLED", "Cancelled"),
        ("pending_approval", "Pending Approval"),
        ("Some Future Status", "Some Future Status"),
        ("", ""),
    ],
)
def test_a_session_status_is_read_in_the_documents_spelling(sent: str, read: str) -> None:
    # read once where answers are read: an answer model and a listed row alike
    session = wire.Session.model_validate({"sid": SID["ES"], "status": sent})
    assert session.status == read
    assert session.active is (read in ("Scheduled", "Needs Proctor", "Pending Approval"))
    rows = wire.Page[wire.SessionRow].model_validate_json(
        json.dumps({"results": [{"sid": SID["ES"], "status": sent}]})
    )
    assert rows.results == [{"sid": SID["ES"], "status": read}]


def test_a_response_time_without_a_zone_is_refused_not_taken_for_utc() -> None:
    with pytest.raises(ValidationError) as refused:
        wire.Session.model_validate(
            {"sid": SID["ES"], "status": "Scheduled", "createdDate": "2027-01-01T00:00:00"}
        )
    (error,) = refused.value.errors(include_input=False, include_url=False)
    assert error["loc"] == ("createdDate",)
    assert error["msg"] == f"Value error, {wire_types.NAIVE_TIME}"


def test_responses_check_sid_prefixes() -> None:
    with pytest.raises(ValidationError):
        wire.Session.model_validate({"sid": SID["EX"], "status": "Scheduled"})
    with pytest.raises(ValidationError):
        wire.ProvisionResponse.model_validate({"course": {"sid": SID["US"], "result": "Created"}})
    ok = wire.ProvisionResponse.model_validate(
        {
            "course": {"sid": SID["CU"], "result": "Created"},
            "exam": {"sid": SID["EX"], "result": "Found Existing", "extra": True},
            "configuration": {"sid": SID["EC"], "result": "Updated"},
        }
    )
    assert ok.course.created and ok.exam is not None and not ok.exam.created
    assert ok.user is None


def test_exam_read_keeps_password_secret() -> None:
    exam = wire.Exam.model_validate(
        {
            "sid": SID["EX"],
            "title": "Final",
            "limitedScope": True,
            "configuration": {"sid": SID["EC"], "password": PASSWORD, "proctorTypes": {TS: {}}},
        }
    )
    assert exam.configuration is not None and exam.configuration.password is not None
    assert exam.configuration.password.reveal() == PASSWORD
    assert PASSWORD not in repr(exam)
    assert PASSWORD not in exam.model_dump_json()


@pytest.mark.parametrize(
    "raw",
    [[TS], [{"sid": TS, "name": "Automated"}], {TS: {"enabled": True}}],
)
def test_settings_accept_proctor_type_shapes(raw: object) -> None:
    settings = wire.Settings.model_validate(
        {"defaultTimezone": "UTC", "defaultCurrencyCode": "USD", "proctorTypes": raw}
    )
    assert settings.proctorTypes == [TS]


def test_page_envelope() -> None:
    page = wire.Page[wire.Enrollment].model_validate(
        {
            "total": 1,
            "count": 1,
            "offset": 0,
            "next": None,
            "results": [{"sid": SID["EN"], "userSid": SID["US"], "role": "learner", "x": 1}],
        }
    )
    assert page.results[0].userSid == SID["US"]
    with pytest.raises(ValidationError):
        wire.Page[wire.Enrollment].model_validate({"total": 1})


def test_the_wire_models_load_without_the_http_stack() -> None:
    """``spsync.api`` imports nothing on its own: the wire models come without httpx or
    asyncio (a fresh interpreter), and the client is still importable from the package."""
    probe = (
        "import sys; import spsync.api.wire; "
        "print(sorted(m for m in ('httpx', 'httpcore', 'asyncio') if m in sys.modules)); "
        "from spsync.api import Client; print(Client.__module__, 'httpx' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["[]", "spsync.api.client True"]


def test_the_package_names_only_what_it_exports() -> None:
    import spsync.api

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        spsync.api.Nope  # noqa: B018
