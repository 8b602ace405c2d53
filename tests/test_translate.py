"""The request bodies translate builds from the manifests' models, as the client sends them
(``wire.request_json``): exact bytes, so that a change of a body is a visible change here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from support.plan import PL, TS_AUTO, course, exam, session, sid, user

from spsync.api.wire import Exam as WireExam
from spsync.api.wire import Request, request_json
from spsync.model import Ids, PermittedItemConfig, Window
from spsync.translate import (
    course_request,
    enrollment_request,
    exam_request,
    left_out,
    live_optional,
    schedule_request,
    user_request,
)

CU = sid("CU", "main")
US = sid("US", "jane")


def _sent(body: Request) -> tuple[str, list[str]]:
    data, revealed = request_json(body)
    return data.decode(), revealed


def test_a_course_is_sent_with_its_one_identifier_and_its_managed_fields() -> None:
    assert _sent(course_request(course())) == (
        '{"course":{"ids":{"external":"c-main"},"title":"Course main","code":"MAIN"}}',
        [],
    )
    # a field the manifest leaves out is not managed: not sent
    assert _sent(course_request(course(title=None, ids=Ids(api="main-api")))) == (
        '{"course":{"ids":{"api":"main-api"},"code":"MAIN"}}',
        [],
    )


def test_an_exam_carries_its_whole_configuration_and_reveals_only_its_password() -> None:
    e = exam(
        scheduling=Window(open="2026-12-01T00:00:00Z", close="2027-12-30T00:00:00Z"),
        attempts=2,
        permittedItems={"calculator": PermittedItemConfig(notes="Basic"), "earplugs": {}},
    )
    data, revealed = _sent(exam_request(e.model_copy(update={"description": ""}), CU))
    assert data == (
        f'{{"course":{{"ids":{{"sid":"{CU}"}}}},"exam":{{"ids":{{"external":"e-cert"}},'
        '"title":"Exam cert","limitedScope":true,"configuration":{'
        '"url":"https://exams.example.com/cert",'
        '"access":{"open":"2027-01-01T00:00:00Z","close":"2027-12-31T23:59:59Z"},'
        '"scheduling":{"open":"2026-12-01T00:00:00Z","close":"2027-12-30T00:00:00Z"},'
        '"duration":120,"password":"pw-1","attempts":2,'
        f'"proctorTypes":{{"{TS_AUTO}":{{"options":{{"recordScreen":{{}}}}}}}},'
        '"notes":{"student":"Have your ID ready."},'
        '"permittedItems":{"calculator":{"notes":"Basic"},"earplugs":{}}}}}'
    )
    # the empty description is left out (the service refuses "" for it)
    assert revealed == ["pw-1"]
    # every other rendering of the body masks the password
    assert "pw-1" not in repr(exam_request(e, CU))


def test_an_exam_update_keeps_the_live_parts_its_manifest_leaves_out() -> None:
    e = exam()  # manages notes.student only; no scheduling, attempts or permitted items
    assert e.configuration is not None
    assert left_out(e.configuration) == [
        "scheduling",
        "attempts",
        "permittedItems",
        "notes.proctor",
    ]
    live = {
        "attempts": 3,
        "scheduling": {"open": "2027-01-20T00:00:00Z", "close": "2027-11-01T00:00:00Z"},
        "notes": {"student": "Old.", "proctor": "Check the desk."},
        "permittedItems": {"earplugs": {}},
    }
    data, _ = _sent(exam_request(e, CU, live=live))
    assert data.endswith(
        '"scheduling":{"open":"2027-01-20T00:00:00Z","close":"2027-11-01T00:00:00Z"},'
        '"duration":120,"password":"pw-1","attempts":3,'
        f'"proctorTypes":{{"{TS_AUTO}":{{"options":{{"recordScreen":{{}}}}}}}},'
        '"notes":{"student":"Have your ID ready.","proctor":"Check the desk."},'
        '"permittedItems":{"earplugs":{}}}}}'
    )
    # an update that changes none of the configuration does not send it
    data, revealed = _sent(exam_request(e, CU, configuration=False))
    assert '"configuration"' not in data and revealed == []


def _read(configuration: dict[str, object]) -> WireExam:
    return WireExam.model_validate({"sid": sid("EX", "x"), "configuration": configuration})


V1_ITEMS = {f"permitted{i}": False for i in ("BathroomBreak", "Calculator", "Dictionary",
            "Earplugs", "FormulaSheet", "Notes", "Textbook", "Websites")}  # fmt: skip
V1_ITEMS.update({f"{k}Information": "" for k in list(V1_ITEMS)})


@pytest.mark.parametrize(
    ("configuration", "parts", "unknown"),
    [
        # the contract's form: a part left out is not set; null is unknown
        ({"attempts": 2}, {"attempts": 2}, []),
        ({}, {}, ["attempts"]),
        ({"attempts": None, "scheduling": None, "notes": None, "permittedItems": None}, {},
         ["attempts", "scheduling", "notes", "permittedItems"]),
        ({"attempts": 1, "scheduling": {"open": "2027-01-20T00:00:00Z"}}, {"attempts": 1},
         ["scheduling"]),
        ({"attempts": 1, "permittedItems": {"blankPaper": {}}}, {"attempts": 1},
         ["permittedItems"]),
        # the v1 form: nulls are "not set", keys left out unknown
        ({"proctorTypes": [TS_AUTO], "attempts": 1, "scheduleOpenDate": None,
          "scheduleCloseDate": None, "studentNotes": None, "proctorNotes": "Desk.",
          **V1_ITEMS, "permittedEarplugs": True},
         {"attempts": 1, "notes": {"proctor": "Desk."}, "permittedItems": {"earplugs": {}}}, []),
        ({"proctorTypes": [TS_AUTO], "attempts": 1}, {"attempts": 1},
         ["scheduling", "notes", "permittedItems"]),
    ],
)  # fmt: skip
def test_what_a_read_shows_of_the_parts_a_manifest_may_leave_out(
    configuration: dict[str, object], parts: dict[str, object], unknown: list[str]
) -> None:
    assert live_optional(_read(configuration)) == (parts, unknown)


def test_a_user_is_provisioned_with_a_course_and_enrolled_only_when_asked() -> None:
    u = user("jane")
    assert _sent(user_request(u, CU))[0] == (
        f'{{"course":{{"ids":{{"sid":"{CU}"}}}},"user":{{"ids":{{"external":"u-jane"}},'
        '"firstName":"Jane","lastName":"Smith","email":"jane@example.com",'
        '"timeZone":"America/New_York"}}'
    )
    assert _sent(user_request(u, CU, "instructor"))[0].endswith(
        '"timeZone":"America/New_York"},"enrollment":{"role":"instructor"}}'
    )
    assert _sent(enrollment_request(CU, US, "learner"))[0] == (
        f'{{"course":{{"ids":{{"sid":"{CU}"}}}},"user":{{"ids":{{"sid":"{US}"}}}},'
        '"enrollment":{"role":"learner"}}'
    )


def test_a_schedule_body_names_the_wire_fields_and_drops_empty_notes() -> None:
    s = session("cert", "jane", amount=25, notes="", proctorTypeSubCategory=TS_AUTO)
    assert _sent(schedule_request(s))[0] == (
        f'{{"type":"automated","proctorLocationSid":"{PL}",'
        '"appointmentDateTime":"2027-03-01T14:00:00Z","amount":25.0,"currency":"USD",'
        f'"externalAppointmentId":"appt-jane","proctorTypeSubCategorySid":"{TS_AUTO}"}}'
    )


def test_the_wire_models_still_check_what_they_are_given() -> None:
    with pytest.raises(ValidationError, match="sid must be CU"):
        course_request(course(ids=Ids(sid="XX" + "0" * 32)))
    with pytest.raises(ValidationError, match="proctorLocationSid"):
        schedule_request(session("cert", "jane", proctorLocation="PT" + "0" * 32))
