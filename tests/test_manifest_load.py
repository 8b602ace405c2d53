"""``manifest.load()``: what the planner receives (defaults, normal forms, implied entries)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from spsync.errors import ManifestError, Problem, UsageError
from spsync.manifest import load
from spsync.model import Location
from spsync.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
VALID = FIXTURES / "valid"
SCHOOL = VALID / "school"
ENV = {
    "SPSYNC_ACME_TOKEN": "acme-token",
    "SPSYNC_ACME_CERT_456_PASSWORD": "cert-pw",
    "SPSYNC_ACME_PRACTICE_PASSWORD": "practice-pw",
    "SPSYNC_SCHOOL_TOKEN": "school-token",
    "SPSYNC_SCHOOL_PASSWORD": "school-pw",
}


def _tenant(tmp_path: Path, extra: dict[str, str], *, main: str | None = None) -> Path:
    """The school tenant copied to tmp_path, with extra (or replaced) files."""
    d = tmp_path / "school"
    d.mkdir()
    (d / "tenant.yaml").write_text((SCHOOL / "tenant.yaml").read_text())
    (d / "main.yaml").write_text(main if main is not None else (SCHOOL / "main.yaml").read_text())
    for name, text in extra.items():
        (d / name).write_text(text)
    return d


def _problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ManifestError) as e:
        load(path, env=ENV, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in e.value.problems]


def test_directory_of_tenants_in_name_order() -> None:
    assert [d.tenant.tenant for d in load(VALID, env=ENV)] == ["acme", "globex", "school"]


def test_tenants_narrow() -> None:
    assert [d.tenant.tenant for d in load(VALID, env=ENV, tenants=["school", "acme"])] == [
        "acme",
        "school",
    ]


def test_unknown_tenant_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as e:
        load(VALID, env=ENV, tenants=["acme", "initech"])
    assert str(e.value) == f"unknown tenant 'initech' in {VALID} (known: acme, globex, school)"


def test_a_single_tenant_directory_and_its_tenant_file() -> None:
    assert [d.tenant.tenant for d in load(SCHOOL, env=ENV)] == ["school"]
    assert [d.tenant.tenant for d in load(SCHOOL / "tenant.yaml", env=ENV)] == ["school"]
    with pytest.raises(UsageError):
        load(SCHOOL, env=ENV, tenants=["acme"])


def test_tenants_are_ordered_by_name_not_directory(tmp_path: Path) -> None:
    env = dict(ENV)
    for directory, name in (("a-dir", "zulu"), ("b-dir", "alpha")):
        d = tmp_path / directory
        d.mkdir()
        own = f"SPSYNC_{name.upper()}_"  # each tenant reads its own variables only
        tenant = (SCHOOL / "tenant.yaml").read_text().replace("school", name)
        (d / "tenant.yaml").write_text(tenant.replace("SPSYNC_SCHOOL_", own))
        (d / "main.yaml").write_text(
            (SCHOOL / "main.yaml").read_text().replace("SPSYNC_SCHOOL_", own)
        )
        env.update({own + "TOKEN": "tok-" + name, own + "PASSWORD": "pw-" + name})
    assert [d.tenant.tenant for d in load(tmp_path, env=env)] == ["alpha", "zulu"]
    assert [d.tenant.tenant for d in load(tmp_path, env=env, tenants=["zulu"])] == ["zulu"]


def test_narrowing_hides_other_tenants_problems(tmp_path: Path) -> None:
    _tenant(tmp_path, {})
    bad = tmp_path / "other"
    bad.mkdir()
    (bad / "tenant.yaml").write_text("tenant: other\ninstall: nope\n")
    assert [d.tenant.tenant for d in load(tmp_path, env=ENV, tenants=["school"])] == ["school"]
    assert _problems(tmp_path) == [
        f"{bad}/tenant.yaml:1:1: api.token: missing: give the API token as "
        "{env: VARIABLE} or {file: path} (not needed with --sandbox)",
        f'{bad}/tenant.yaml:2:10: install: must be an install SID ("AI" + 32 lowercase hex '
        'characters), got "nope"',
    ]


def test_normal_forms_and_defaults() -> None:
    (acme,) = load(VALID, env=ENV, tenants=["acme"])
    jane, omar, prof = (acme.users[f"user.{n}"] for n in ("jane", "omar", "prof"))
    # e-mail trimmed and lower-cased; own time zone wins over defaults.user
    assert (jane.email, jane.timeZone, jane.currencyCode) == (
        "jane.smith@example.com",
        "America/Chicago",
        "USD",
    )
    assert (omar.timeZone, omar.currencyCode) == ("America/New_York", "USD")
    # a reference by sid gets no defaults: only what it writes is managed
    assert (prof.timeZone, prof.currencyCode, prof.ids.wire()) == (
        None,
        None,
        {"sid": "US0123456789abcdef0123456789abcdef"},
    )
    practice = acme.exams["exam.practice"]
    assert (practice.type, practice.limitedScope) == ("written", True)
    assert practice.configuration is not None
    # +01:00 converted to UTC
    assert practice.configuration.access.open == "2027-02-01T08:00:00Z"
    assert practice.configuration.scheduling is None
    session = acme.sessions["session.cert-456.jane"]
    assert session.model_dump(mode="json") == {
        "exam": "cert-456",
        "user": "jane",
        "appointment": "2027-03-01T14:00:00Z",  # written as 09:00:00-05:00
        "type": "automated",
        "proctorLocation": "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
        "amount": 0.0,
        "currency": "USD",
        "externalAppointmentId": "acme-appt-0001",
        "notes": None,
        "proctorTypeSubCategory": None,
    }
    assert acme.tenant.policy.model_dump() == {"maxDestroy": 10, "maxDestroyPercent": 20.0}
    assert acme.tenant.signon is not None
    assert acme.tenant.api.url == "https://api.smarterproctoring.com"


def test_implied_entries_and_their_locations() -> None:
    (acme,) = load(VALID, env=ENV, tenants=["acme"])
    roster = str(VALID / "acme" / "roster.yaml")
    assert {a: (e.role, e.implied) for a, e in acme.enrollments.items()} == {
        "enrollment.acme-main.jane": ("learner", True),
        "enrollment.acme-main.omar": ("learner", True),
        "enrollment.acme-main.prof": ("instructor", False),
    }
    assert {a: x.implied for a, x in acme.assignments.items()} == {
        "assignment.cert-456.jane": True,
        "assignment.practice.omar": False,
    }
    loc = acme.locations
    session_at = Location(file=roster, line=20, col=5)
    assert loc["session.cert-456.jane"] == session_at
    assert loc["assignment.cert-456.jane"] == session_at
    assert loc["enrollment.acme-main.jane"] == session_at
    assert loc["assignment.practice.omar"] == Location(file=roster, line=18, col=14)
    assert loc["enrollment.acme-main.omar"] == Location(file=roster, line=18, col=14)
    assert loc["user.jane"] == Location(file=roster, line=2, col=3)
    assert sorted(loc) == sorted(acme.addresses())


def test_explicit_entries_win_over_implied_ones(tmp_path: Path) -> None:
    d = _tenant(
        tmp_path,
        {
            "extra.yaml": "assignments:\n  final: [jane]\n"
            "enrollments:\n  - {user: jane, course: main, role: learner}\n"
        },
    )
    (school,) = load(d, env=ENV)
    extra = str(d / "extra.yaml")
    assert school.assignments["assignment.final.jane"].implied is False
    assert school.enrollments["enrollment.main.jane"].implied is False
    assert school.locations["assignment.final.jane"] == Location(file=extra, line=2, col=11)
    assert school.locations["enrollment.main.jane"] == Location(file=extra, line=4, col=5)


def test_same_world_split_differently_is_equal(tmp_path: Path) -> None:
    text = (SCHOOL / "main.yaml").read_text()
    head, sep, tail = text.partition("users:\n")
    (a,) = load(SCHOOL, env=ENV)
    (b,) = load(_tenant(tmp_path, {"z-users.yaml": sep + tail}, main=head), env=ENV)
    assert a.model_copy(update={"locations": {}, "tenant": b.tenant}) == b.model_copy(
        update={"locations": {}}
    )
    assert list(a.users) == list(b.users)


def test_secrets_from_env_and_files() -> None:
    acme, globex, _ = load(VALID, env=ENV)
    assert acme.tenant.api.token == Secret("acme-token")
    assert acme.tenant.api.token is not None
    assert acme.tenant.api.token.source == "env:SPSYNC_ACME_TOKEN"
    cert = acme.exams["exam.cert-456"].configuration
    assert cert is not None
    assert cert.password.reveal() == "cert-pw"
    # file secrets are relative to the tenant directory; one trailing newline dropped
    assert globex.tenant.api.token is not None
    assert globex.tenant.api.token.reveal() == "globex-token-value"
    assert globex.tenant.api.token.source == "file:secrets/token"
    assert globex.tenant.api.url == "http://127.0.0.1:8765"


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (school,) = load(SCHOOL)
    assert school.tenant.api.token == Secret("school-token")


def test_sandbox_reads_no_token_but_still_reads_passwords() -> None:
    env = {"SPSYNC_SCHOOL_PASSWORD": "pw"}
    (school,) = load(SCHOOL, env=env, sandbox=True)
    assert school.tenant.api.token is None
    config = school.exams["exam.final"].configuration
    assert config is not None
    assert config.password.reveal() == "pw"
    with pytest.raises(ManifestError) as e:
        load(SCHOOL, env={}, sandbox=True)
    assert [p.where for p in e.value.problems] == ["exams.final.configuration.password.env"]


def test_file_secret_problems(tmp_path: Path) -> None:
    d = _tenant(tmp_path, {})
    (d / "secrets").mkdir()
    (d / "empty.txt").write_text("\n")
    main = (SCHOOL / "main.yaml").read_text()
    for ref, message in (
        ("{file: secrets}", 'secret file "secrets" cannot be read: not a regular file'),
        ("{file: empty.txt}", 'secret file "empty.txt" is empty'),
        ("{file: nope.txt}", 'secret file "nope.txt" not found'),
    ):
        (d / "main.yaml").write_text(main.replace("{env: SPSYNC_SCHOOL_PASSWORD}", ref))
        assert _problems(d) == [
            f"{d}/main.yaml:17:24: exams.final.configuration.password.file: {message}"
        ]
    (d / "pw.bin").write_bytes(b"\xff\xfe secret bytes")
    (d / "main.yaml").write_text(main.replace("{env: SPSYNC_SCHOOL_PASSWORD}", "{file: pw.bin}"))
    assert _problems(d) == [
        f'{d}/main.yaml:17:24: exams.final.configuration.password.file: secret file "pw.bin" '
        "is not UTF-8 text"
    ]
    absolute = tmp_path / "abs-secret"
    absolute.write_text("s3cret\r\n")
    (d / "main.yaml").write_text(
        main.replace("{env: SPSYNC_SCHOOL_PASSWORD}", f"{{file: '{absolute}'}}")
    )
    (school,) = load(d, env=ENV)
    config = school.exams["exam.final"].configuration
    assert config is not None
    assert config.password.reveal() == "s3cret"


def test_secret_values_never_appear_in_problems(tmp_path: Path) -> None:
    literal = "sk-live-9f8e7d6c5b4a"
    d = _tenant(tmp_path, {})
    (d / "tenant.yaml").write_text(
        (SCHOOL / "tenant.yaml").read_text().replace("{env: SPSYNC_SCHOOL_TOKEN}", literal)
    )
    main = (SCHOOL / "main.yaml").read_text()
    (d / "main.yaml").write_text(
        main.replace("{env: SPSYNC_SCHOOL_PASSWORD}", f"{{file: pw.txt, env: {literal}}}")
    )
    (d / "pw.txt").write_text("password-in-file")
    with pytest.raises(ManifestError) as e:
        load(d, env={**ENV, literal: "x"})
    assert literal not in str(e.value)
    assert "password-in-file" not in str(e.value)
    assert len(e.value.problems) == 2


def test_problems_are_sorted_by_file_then_line(tmp_path: Path) -> None:
    d = _tenant(
        tmp_path,
        {
            "b.yaml": "users:\n  x:\n    ids: {sid: bad}\n",
            "a.yaml": "courses:\n  c:\n    ids: {sid: bad}\n  d:\n    idz: {}\n",
        },
    )
    with pytest.raises(ManifestError) as e:
        load(d, env=ENV)
    assert [(Path(p.file).name, p.line, p.where) for p in e.value.problems] == [
        ("a.yaml", 3, "courses.c.ids.sid"),
        ("a.yaml", 5, "courses.d.idz"),  # "ids" missing is not repeated: the typo says it
        ("b.yaml", 2, "users.x"),  # no enrollment
        ("b.yaml", 3, "users.x.ids.sid"),
    ]
    assert all(isinstance(p, Problem) for p in e.value.problems)
    assert str(e.value).endswith("\n4 problems found")


def test_names_with_dots_cannot_collide(tmp_path: Path) -> None:
    d = _tenant(
        tmp_path,
        {
            "dots.yaml": "courses:\n"
            "  a.b: {ids: {external: c-ab}, title: AB, code: AB}\n"
            "  a: {ids: {external: c-a}, title: A, code: A}\n"
            "users:\n"
            "  c: {ids: {external: u-c}, firstName: C, lastName: C, email: c@example.com}\n"
            "  b.c: {ids: {external: u-bc}, firstName: B, lastName: C, email: bc@example.com}\n"
            "enrollments:\n"
            "  - {user: c, course: a.b}\n"
            "  - {user: b.c, course: a}\n"
        },
    )
    assert _problems(d) == [
        f"{d}/dots.yaml:9:5: enrollment.a.b.c: this address also names the enrollment of "
        "a.b and c: rename one of them (names containing dots can collide)"
    ]


def test_an_assignment_of_an_instructor_conflicts(tmp_path: Path) -> None:
    d = _tenant(tmp_path, {"extra.yaml": "assignments:\n  final: [omar]\n"})
    assert _problems(d) == [
        f'{d}/extra.yaml:2:11: assignment.final.omar: this assignment needs user "omar" to be '
        f'a learner in course "main", but they are enrolled as instructor at {d}/main.yaml:32:5'
    ]


def test_defaults_fill_sessions_and_users(tmp_path: Path) -> None:
    d = _tenant(tmp_path, {})
    (d / "tenant.yaml").write_text(
        (SCHOOL / "tenant.yaml").read_text() + "defaults:\n"
        "  user: {timeZone: Europe/Paris, currencyCode: EUR}\n"
        "  exam: {type: written, limitedScope: false}\n"
        "  session: {type: vtc, proctorLocation: PL0123456789abcdef0123456789abcdef,"
        " amount: 12.5, currency: EUR}\n"
    )
    main = (SCHOOL / "main.yaml").read_text()
    main = main.replace(
        "    type: automated\n    proctorLocation: PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d\n", ""
    )
    (d / "main.yaml").write_text(main)
    (school,) = load(d, env=ENV)
    s = school.sessions["session.final.jane"]
    assert (s.type, s.proctorLocation, s.amount, s.currency) == (
        "vtc",
        "PL0123456789abcdef0123456789abcdef",
        12.5,
        "EUR",
    )
    exam = school.exams["exam.final"]
    assert (exam.type, exam.limitedScope) == ("written", True)  # its own limitedScope wins
    jane = school.users["user.jane"]
    assert (jane.timeZone, jane.currencyCode) == ("America/New_York", "EUR")


def test_empty_sections_are_allowed(tmp_path: Path) -> None:
    d = _tenant(tmp_path, {"later.yaml": "users:\nsessions:\n# to come\n"})
    (school,) = load(d, env=ENV)
    assert len(school.users) == 2


def test_loading_twice_gives_equal_results() -> None:
    assert load(VALID, env=ENV) == load(VALID, env=ENV)


def test_oversized_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spsync import manifest_tenant

    d = _tenant(tmp_path, {"big.yaml": "users:\n" + "# padding\n" * 200})
    monkeypatch.setattr(manifest_tenant, "MAX_FILE_BYTES", 1100)  # main.yaml is about 1,000 bytes
    assert _problems(d) == [f"{d}/big.yaml: file too large (2,007 bytes; at most 1,100)"]


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.symlink_to(p.parent / "gone.yaml"), "No such file or directory"),
        (lambda p: p.mkdir(), "not a regular file (a directory)"),
        (lambda p: os.mkfifo(p), "not a regular file (a pipe)"),
    ],
    ids=["link-to-nothing", "directory", "pipe"],
)
def test_a_resource_file_that_is_no_file_is_a_problem_not_skipped(
    tmp_path: Path, make: Callable[[Path], object], why: str
) -> None:
    # skipped, its resources would vanish from the manifests and the plan would remove them
    d = _tenant(tmp_path, {})
    make(d / "roster.yaml")
    assert _problems(d) == [f"{d}/roster.yaml: cannot be read: {why}"]


def test_odd_secret_paths_are_problems_not_crashes(tmp_path: Path) -> None:
    main = (SCHOOL / "main.yaml").read_text()
    d = _tenant(tmp_path, {}, main=main.replace("{env: SPSYNC_SCHOOL_PASSWORD}", '{file: "a\\0b"}'))
    problems = _problems(d)
    assert len(problems) == 1
    assert problems[0].startswith(f"{d}/main.yaml:17:24: exams.final.configuration.password.file:")
    assert problems[0].endswith("cannot be read: invalid path")


def test_extreme_numbers_and_times_are_problems_not_crashes(tmp_path: Path) -> None:
    main = (SCHOOL / "main.yaml").read_text()
    main = main.replace("duration: 120", "duration: 999999999999")
    main = main.replace('close: "2027-12-31T23:59:59Z"', 'close: "9999-12-31T23:59:59Z"')
    d = _tenant(tmp_path, {}, main=main)
    assert _problems(d) == [
        f"{d}/main.yaml:14:53: exams.final.configuration.access.close: is out of range "
        '(years 1970 to 9000), got "9999-12-31T23:59:59Z"',
        f"{d}/main.yaml:16:17: exams.final.configuration.duration: must be at most 525,600, "
        "got 999999999999",
    ]


def test_a_file_that_cannot_be_read_is_the_one_problem_not_every_reference_to_it(
    tmp_path: Path,
) -> None:
    """What an unreadable file defines is unknown: references to it are not reported as
    "not defined" (one syntax error in a roster gave hundreds of them, the real one last);
    the other files' own problems still are. An empty file defines nothing: references to
    what it does not define are problems."""
    main = (SCHOOL / "main.yaml").read_text()
    users = main[main.index("users:") : main.index("enrollments:")]
    rest = main.replace(users, "")
    extra = "sessions:\n  - {exam: final, user: omar, appointment: 2027-03-02T14:00:00Z, typo: 1}\n"
    broken = users.replace("firstName: Jane", "firstName: Jane: Ann", 1)
    d = _tenant(tmp_path, {"users.yaml": broken, "z.yaml": extra}, main=rest)
    assert _problems(d) == [
        f"{d}/users.yaml:4:20: YAML syntax error: mapping values are not allowed in this context",
        f'{d}/z.yaml:2:66: sessions[0].typo: unknown field "typo"; did you mean "type"?',
    ]
    (d / "users.yaml").write_text("")
    assert _problems(d) == [
        f'{d}/main.yaml:20:12: enrollments[0].user: user "omar" is not defined',
        f'{d}/main.yaml:23:11: sessions[0].user: user "jane" is not defined',
        f"{d}/users.yaml:1:1: the file is empty (expected a mapping)",
        f'{d}/z.yaml:2:5: sessions[0]: missing required field "proctorLocation" (or set '
        "defaults.session.proctorLocation in tenant.yaml)",
        f'{d}/z.yaml:2:25: sessions[0].user: user "omar" is not defined',
        f'{d}/z.yaml:2:66: sessions[0].typo: unknown field "typo"; did you mean "type"?',
    ]
