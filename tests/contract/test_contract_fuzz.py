"""Fuzz of ``spsync sandbox serve`` over HTTP: whatever a client sends (wrong JSON types,
huge numbers, nulls, arrays for objects, empty or non-UTF-8 bodies, odd query strings), the
answer is a success or a well-formed 4xx error body, never a 5xx or a broken answer.

Bodies are mostly shaped like the contract's requests, with any field swapped for an odd
value, so that the fuzz reaches the checks behind the first layer of validation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.sandbox_probe import (
    HEX32,
    NOW,
    SESSION_TYPES,
    TS_AUTO,
    TS_LIVE,
    Api,
    Served,
    assert_error,
    config_body,
    course_body,
    exam_body,
    schedule_body,
    serving,
    sid,
    user_body,
)

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- odd JSON values ------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, 2**53 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-07-01T14:00:00.123456789Z",
            "PL" + HEX32,
            "EN" + HEX32,
            "TS" + HEX32,
            "é" * 3,
            "\ud800",
        ]
    ),
)
odd = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=6,
)


def _scramble(base: Any) -> st.SearchStrategy[Any]:
    """``base`` with any of its fields (at any depth) replaced by odd values or removed."""
    if isinstance(base, dict) and base:
        fields = {
            key: st.one_of(st.just(value), _scramble(value), odd) for key, value in base.items()
        }
        return st.one_of(
            odd,
            st.fixed_dictionaries({}, optional=fields),
            st.fixed_dictionaries(fields),
        )
    if isinstance(base, list) and base:
        return st.one_of(odd, st.lists(st.one_of(*(_scramble(v) for v in base)), max_size=3))
    return st.one_of(st.just(base), odd)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, v in value.items():
            found += _paths(v, (*prefix, key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


_GONE = object()


def _replace(base: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(base))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    if new is _GONE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return copy


def _one_field_off(base: Any) -> st.SearchStrategy[Any]:
    """``base`` with one or two fields replaced by an odd value (or removed): the rest stays
    valid, so the request gets past the checks of its other fields."""
    paths = _paths(base)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        body = base
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True)):
            try:
                body = _replace(body, path, draw(st.one_of(odd, st.just(_GONE))))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier replacement removed this field's parent
        return body

    return build()


def mutate(base: Any) -> st.SearchStrategy[Any]:
    """Requests shaped like ``base``: one field off, or scrambled all over."""
    return st.one_of(_one_field_off(base), _one_field_off(base), _scramble(base))


def encode(body: Any) -> bytes:
    """JSON text; NaN and infinities go out as the non-standard tokens a sloppy client sends,
    lone surrogates as escapes."""
    return json.dumps(body, allow_nan=True).encode()


def strict_json(text: str) -> Any:
    """Parse an answer as strict JSON (no NaN/Infinity tokens)."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"answer holds a non-JSON token {token}: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def check(r: httpx.Response) -> None:
    """A success with a strict-JSON body, or a well-formed 4xx error."""
    assert r.status_code < 500, (r.status_code, r.request.method, r.request.url, r.text)
    if r.status_code >= 400:
        assert_error(r, r.status_code)
        return
    body = strict_json(r.text)
    assert isinstance(body, dict), body
    for value in _walk(body):
        assert not (isinstance(value, float) and not math.isfinite(value)), body


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


# --- the world the fuzz runs against -------------------------------------------------------


class World:
    """A fixed install with a course, an unlimited and a limited exam, and a learner."""

    def __init__(self, api: Api) -> None:
        self.api = api
        out = api.provision_ok(
            {
                "course": course_body("fz-course"),
                "exam": exam_body("fz-unlimited", limited=False),
                "user": user_body("fz-user"),
                "enrollment": {},
            }
        )
        self.course = out["course"]["sid"]
        self.exam = out["exam"]["sid"]
        self.user = out["user"]["sid"]
        self.enrollment = out["enrollment"]["sid"]
        limited = api.exam(self.course, limited=True, proctorTypes={TS_LIVE: {}, TS_AUTO: {}})
        self.limited = limited["exam"]["sid"]

    def fresh_session(self, scheduled: bool = False) -> str:
        """A new learner's Needs Proctor (or Scheduled) session of the unlimited exam."""
        en = self.api.learner(self.course)["enrollment"]["sid"]
        es = self.api.only_active(en, self.exam)
        if scheduled:
            r = self.api.schedule(self.exam, es, schedule_body())
            assert r.status_code == 200, r.text
        return es


@pytest.fixture(scope="module")
def world(srv: Served) -> World:
    """The fuzz's install."""
    return World(srv.client())


def post(api: Api, method: str, path: str, content: bytes) -> httpx.Response:
    """Send raw ``content`` as a JSON body."""
    return api.http.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )


def read_back(api: Api, out: dict[str, Any]) -> None:
    """Read every entity a successful provision answer names: stored values must render."""
    course = out.get("course", {}).get("sid")
    if course:
        check(api.get(f"{api.v1}/courses/{course}"))
        check(api.get(f"{api.v1}/courses/{course}/exams"))
        check(api.get(f"{api.v1}/courses/{course}/enrollments"))
    if course and "exam" in out:
        check(api.get(f"{api.v1}/courses/{course}/exams/{out['exam']['sid']}"))
    if "user" in out:
        check(api.get(f"{api.v1}/users/{out['user']['sid']}/profile"))


# --- bodies ---------------------------------------------------------------------------------

_provision_base = {
    "course": course_body("fz-course"),
    "exam": {
        **exam_body("fz-new-exam"),
        "type": "online",
        "description": "d",
        "configuration": config_body(
            scheduling={"open": "2026-06-10T00:00:00Z", "close": "2026-09-01T00:00:00Z"},
            attempts=2,
            notes={"student": "s", "proctor": "p"},
            permittedItems={"calculator": {"notes": "n"}},
            proctorTypes={TS_LIVE: {"options": {"recordScreen": {}}}},
        ),
    },
    "user": user_body("fz-new-user", timeZone="Europe/Paris", currencyCode="EUR"),
    "enrollment": {"role": "learner"},
    "signon": {"integrationSid": "II" + HEX32},
}


@FUZZ
@given(body=mutate(_provision_base))
def test_fuzz_provision(world: World, body: Any) -> None:
    r = post(world.api, "POST", f"/v2/installs/{world.api.install}/provision", encode(body))
    check(r)
    if r.status_code == 200:
        read_back(world.api, r.json())


@FUZZ
@given(
    body=mutate({"course": {"ids": {"sid": "CU" + HEX32}}, "exam": {"ids": {"sid": "EX" + HEX32}}}),
    kind=st.sampled_from(["course", "exam", "both"]),
)
def test_fuzz_provision_matching_existing(world: World, body: Any, kind: str) -> None:
    # Point the sids at existing entities so matching and updating run.
    if isinstance(body, dict):
        for key, real in (("course", world.course), ("exam", world.exam)):
            part = body.get(key)
            if (
                kind in (key, "both")
                and isinstance(part, dict)
                and isinstance(part.get("ids"), dict)
            ):
                part["ids"] = {"sid": real}
    r = post(world.api, "POST", f"/v2/installs/{world.api.install}/provision", encode(body))
    check(r)
    if r.status_code == 200:
        read_back(world.api, r.json())


@FUZZ
@given(
    body=mutate(schedule_body(type="proctoru", notes="n", proctorTypeSubCategorySid=TS_LIVE)),
    alias=st.booleans(),
)
def test_fuzz_schedule(world: World, body: Any, alias: bool) -> None:
    es = world.fresh_session()
    if alias and isinstance(body, dict) and "currency" in body:
        body["currencyCode"] = body.pop("currency")
    r = post(world.api, "POST", world.api.session_path(world.exam, es), encode(body))
    check(r)
    check(world.api.get(world.api.session_path(world.exam, es)))
    check(world.api.report(examSid=world.exam, status="Scheduled", limit=1))


@FUZZ
@given(body=mutate({"appointmentDateTime": "2026-07-02T09:00:00Z", "notes": "n"}))
def test_fuzz_reschedule(world: World, body: Any) -> None:
    es = world.fresh_session(scheduled=True)
    check(post(world.api, "PUT", world.api.session_path(world.exam, es), encode(body)))
    check(world.api.get(world.api.session_path(world.exam, es)))


@FUZZ
@given(
    body=mutate({"cancellationMemo": "m", "reason": "no-show"}),
    scheduled=st.booleans(),
)
def test_fuzz_cancel(world: World, body: Any, scheduled: bool) -> None:
    es = world.fresh_session(scheduled=scheduled)
    check(post(world.api, "DELETE", world.api.session_path(world.exam, es), encode(body)))


@FUZZ
@given(
    body=mutate(
        {
            "add": [{"enrollmentSid": "EN" + HEX32}],
            "remove": [{"enrollmentSid": "EN" + HEX32}],
            "added": ["EN" + HEX32],
            "removed": ["EN" + HEX32],
        }
    ),
    form=st.sampled_from(["course", "exam"]),
    real=st.booleans(),
)
def test_fuzz_assignments(world: World, body: Any, form: str, real: bool) -> None:
    if real:  # use the real enrollment wherever an enrollment SID is expected
        body = json.loads(json.dumps(body, allow_nan=True).replace("EN" + HEX32, world.enrollment))
    api = world.api
    path = (
        f"{api.v1}/courses/{world.course}/exams/{world.limited}/assignments"
        if form == "course"
        else f"{api.v1}/exams/{world.limited}/assignment"
    )
    check(post(api, "PUT", path, encode(body)))


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"", b"\xff", b"{", b"[1,2", b"NaN", b"1e999", b'{"a":1}{"b":2}']),
        st.text(max_size=40).map(lambda t: t.encode("utf-16")),
    ),
    target=st.sampled_from(["provision", "schedule", "reschedule", "cancel", "assign", "assign2"]),
)
def test_fuzz_raw_bodies(world: World, content: bytes, target: str) -> None:
    api = world.api
    es = sid("ES")
    method, path = {
        "provision": ("POST", f"/v2/installs/{api.install}/provision"),
        "schedule": ("POST", api.session_path(world.exam, es)),
        "reschedule": ("PUT", api.session_path(world.exam, es)),
        "cancel": ("DELETE", api.session_path(world.exam, es)),
        "assign": ("PUT", f"{api.v1}/courses/{world.course}/exams/{world.limited}/assignments"),
        "assign2": ("PUT", f"{api.v1}/exams/{world.limited}/assignment"),
    }[target]
    check(post(api, method, path, content))


_query_values = st.one_of(
    st.text(max_size=10),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(
        [
            *("", "1e3", "NaN", "inf", "0x10", "1.5", "true", "null", "[]", "%", "9" * 400),
            *("CU" + HEX32, "Needs Proctor", "active", "2026-07-01T00:00:00Z", "ASC", "DESC"),
        ]
    ),
)
_query_keys = st.sampled_from(
    [
        "offset",
        "limit",
        "status",
        "includeActive",
        "sortKeys",
        "sortOrder",
        "courseSid",
        "examSid",
        "learnerSid",
        "appointmentAfter",
        "appointmentBefore",
        "externalId",
        "apiId",
        "lmsId",
        "email",
    ]
)


@FUZZ
@given(
    params=st.lists(st.tuples(_query_keys, _query_values), max_size=5),
    target=st.sampled_from(["sessions", "report", "users", "exams", "enrollments", "session"]),
)
def test_fuzz_query_strings(world: World, params: list[tuple[str, str]], target: str) -> None:
    api = world.api
    path = {
        "sessions": f"{api.v1}/enrollments/{world.enrollment}/exams/{world.exam}/sessions",
        "report": f"{api.v1}/reports/appointments",
        "users": f"{api.v1}/users",
        "exams": f"{api.v1}/courses/{world.course}/exams",
        "enrollments": f"{api.v1}/courses/{world.course}/enrollments",
        "session": api.session_path(world.exam, sid("ES")),
    }[target]
    r = api.http.get(path, params=params)
    check(r)
    if r.status_code == 200 and "results" in r.json() and r.json()["next"]:
        check(api.http.get(r.json()["next"]))


@FUZZ
@given(
    segment=st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40).map(
            lambda t: quote(t, safe="")
        ),
        st.sampled_from(["%00", "%ff", "..", "%2F", "ES" + HEX32 + "%20", "ES" + "0" * 3000]),
    ),
    slot=st.sampled_from(["install", "exam", "session", "course", "user", "enrollment"]),
)
def test_fuzz_path_segments(world: World, segment: str, slot: str) -> None:
    api = world.api
    seg = segment
    path = {
        "install": f"/v1/installs/{seg}/settings",
        "exam": f"{api.v1}/courses/{world.course}/exams/{seg}",
        "session": f"{api.v1}/exams/{world.exam}/sessions/{seg}",
        "course": f"{api.v1}/courses/{seg}/enrollments",
        "user": f"{api.v1}/users/{seg}/profile",
        "enrollment": f"{api.v1}/enrollments/{seg}/exams/{world.exam}/sessions",
    }[slot]
    check(api.http.get(path))


def test_every_session_type_survives_the_schedule_fuzz_setup(world: World) -> None:
    # The fuzz's fresh sessions accept each documented type, so the fuzz reaches past them.
    for kind in SESSION_TYPES[:3]:
        es = world.fresh_session()
        r = world.api.schedule(world.exam, es, schedule_body(type=kind))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "Scheduled"


@pytest.fixture(scope="module")
def control_api() -> Iterator[Api]:
    """A server of its own for the control fuzz (clock and config changes stay there)."""
    for served in serving():
        yield served.client(install="AI" + HEX32)


@FUZZ
@given(
    target=st.sampled_from(["clock", "config", "settings", "status"]),
    body=st.one_of(
        odd,
        mutate({"now": "2026-06-01T00:00:00Z"}),
        mutate({"faultRate": 0, "faultKinds": ["500"], "latencyMs": 0, "rateLimit": None}),
        mutate({"defaultTimezone": "UTC", "defaultCurrencyCode": "EUR", "proctorTypes": [TS_LIVE]}),
        mutate({"status": "Onboarding"}),
    ),
)
def test_fuzz_sandbox_controls(control_api: Api, target: str, body: Any) -> None:
    api = control_api
    method, path = {
        "clock": ("PUT", "/_sandbox/clock"),
        "config": ("PUT", "/_sandbox/config"),
        "settings": ("PUT", f"/_sandbox/installs/{api.install}/settings"),
        "status": ("POST", f"/_sandbox/installs/{api.install}/sessions/{sid('ES')}/status"),
    }[target]
    check(post(api, method, path, encode(body)))
    # Whatever was accepted leaves the controls' views renderable ...
    for view in ("/_sandbox/config", "/_sandbox/clock", "/_sandbox/requests"):
        check(api.http.get(view))
    # ... and, once faults, delay and rate limit are off again, the API answering.
    reset = {"faultRate": 0, "latencyMs": 0, "rateLimit": None}
    assert api.http.put("/_sandbox/config", json=reset).status_code == 200
    check(api.get(f"{api.v1}/settings"))
    assert api.http.put("/_sandbox/clock", json={"now": NOW}).status_code == 200
