# ruff: noqa: E501  (the expected messages are compared verbatim, so they stay unbroken)
"""The broken-manifest corpus: each case gives exactly the expected located problems.

Every directory under tests/fixtures/manifests/broken/ is the valid tenant of
tests/fixtures/manifests/valid/school with one thing broken (``many-problems`` breaks
many). Each is validated through the CLI from inside its directory, so file names in the
expected lines are relative to it, and must exit 1 with exactly these lines on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spsync.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
BROKEN = FIXTURES / "broken"
ENV = {"SPSYNC_SCHOOL_TOKEN": "test-token", "SPSYNC_SCHOOL_PASSWORD": "test-password"}

EXPECTED: dict[str, list[str]] = {
    "api-token-literal": [
        "tenant.yaml:4:10: api.token: an API token must not be written in a manifest: refer to it as {env: VARIABLE} or {file: path} (and rotate it if it was committed)",
    ],
    "api-token-missing": [
        "tenant.yaml:1:1: api.token: missing: give the API token as {env: VARIABLE} or {file: path} (not needed with --sandbox)",
    ],
    "api-url-plain-http": [
        "tenant.yaml:4:8: api.url: must use https:// (plain http:// is allowed only for a loopback host such as 127.0.0.1 or localhost)",
    ],
    "assigned-twice": [
        'main.yaml:32:17: assignment.final.jane: user "jane" is already assigned to exam "final" (at line 32, col 11)',
    ],
    "attempts-zero": [
        "main.yaml:17:17: exams.final.configuration.attempts: must be a positive integer, got 0",
    ],
    "dangling-course": [
        'main.yaml:8:13: exams.final.course: course "mian" is not defined; did you mean "main"?',
    ],
    "dangling-exam-assignment": [
        'extra.yaml:2:3: assignments.finals: exam "finals" is not defined; did you mean "final"?',
    ],
    "dangling-user": [
        'main.yaml:35:11: sessions[0].user: user "jnae" is not defined; did you mean "jane"?',
    ],
    "datetime-garbage": [
        'main.yaml:14:22: exams.final.configuration.access.open: must be a date-time like "2027-03-01T14:00:00Z", got "next monday"',
    ],
    "datetime-naive": [
        'main.yaml:36:18: sessions[0].appointment: has no time zone: write it in UTC with a Z, like "2027-03-01T14:00:00Z", got "2027-03-01T14:00:00"',
    ],
    "defaults-unknown-field": [
        'tenant.yaml:4:10: defaults.user.timezone: unknown field "timezone"; did you mean "timeZone"?',
    ],
    "duplicate-name-across-files": [
        'main.yaml:2:3: courses.main: course "main" is already defined at extra.yaml:2:3',
    ],
    "duration-not-integer": [
        'main.yaml:16:17: exams.final.configuration.duration: must be a positive integer, got "two hours"',
    ],
    "duration-quoted": [
        'main.yaml:16:17: exams.final.configuration.duration: must be a positive integer, got "120"',
    ],
    "email-invalid": [
        'main.yaml:30:12: users.omar.email: must be an e-mail address, got "omar(at)example.com"',
    ],
    "empty-title": [
        "main.yaml:10:12: exams.final.title: must be text, got an empty value",
    ],
    "enrolled-twice-different-roles": [
        'main.yaml:32:5: enrollment.main.omar: user "omar" is enrolled in course "main" twice with different roles: learner at extra.yaml:2:5 and instructor here',
    ],
    "enrolled-twice-same-role": [
        'main.yaml:33:5: enrollment.main.omar: user "omar" is already enrolled in course "main" (at line 32, col 5)',
    ],
    "exam-ids-api": [
        'main.yaml:9:11: exams.final.ids.api: unknown field "api" (exams are identified by sid | external)',
    ],
    "exam-type-unknown": [
        'main.yaml:12:11: exams.final.type: must be one of online, written; got "oral"',
    ],
    "field-typo": [
        'main.yaml:22:5: users.jane.frstName: unknown field "frstName"; did you mean "firstName"?',
    ],
    "ids-empty": [
        "main.yaml:27:10: users.omar.ids: must have exactly one of sid | api | external | lms, got none",
    ],
    "ids-two-kinds": [
        "main.yaml:3:10: courses.main.ids: must have exactly one of sid | api | external | lms, got external and api",
    ],
    "install-sid-pattern": [
        'tenant.yaml:2:10: install: must be an install SID ("AI" + 32 lowercase hex characters), got "AIA1B2C3"',
    ],
    "limited-scope-yes": [
        "main.yaml:11:19: exams.final.limitedScope: must be true or false, got yes",
    ],
    "local-name-pattern": [
        "main.yaml:26:3: users.omar haddad: must be a local name (letters, digits, '.', '_', '-'; starting with a letter or digit), got \"omar haddad\"",
    ],
    "many-problems": [
        'extra.yaml:2:3: courses.second: missing "code": required to create a course that is not identified by ids.sid',
        'extra.yaml:8:34: exams.midterm.ids.sid: must be an exam SID ("EX" + 32 lowercase hex characters), got "EX123"',
        'extra.yaml:11:12: exams.midterm.configuration.url: must be an absolute https:// URL, got "exams.example.com/midterm"',
        "extra.yaml:12:53: exams.midterm.configuration.access.close: must be after open (2027-05-01T00:00:00Z), got 2027-04-01T00:00:00Z",
        "extra.yaml:13:17: exams.midterm.configuration.duration: must be a positive integer, got 0",
        "extra.yaml:14:17: exams.midterm.configuration.password: a secret must not be written in a manifest: refer to it as {env: VARIABLE} or {file: path} (and rotate it if it was committed)",
        'extra.yaml:21:12: users.lee.email: must be an e-mail address, got "LEE@example"',
        'extra.yaml:25:18: sessions[0].appointment: must be a date-time like "2027-03-01T14:00:00Z", got "tomorrow"',
        'extra.yaml:29:11: sessions[1].user: user "leee" is not defined; did you mean "lee"?',
    ],
    "missing-fields-to-create": [
        'main.yaml:2:3: courses.main: missing "title" and "code": required to create a course that is not identified by ids.sid',
    ],
    "missing-required-field": [
        'main.yaml:8:5: exams.final: missing required field "course"',
    ],
    "permitted-item-unknown": [
        'main.yaml:17:24: exams.final.configuration.permittedItems.calculater: must be one of bathroomBreak, calculator, dictionary, earplugs, formulaSheet, notes, textbook, websites; got "calculater"; did you mean "calculator"?',
    ],
    "policy-percent-range": [
        "tenant.yaml:3:29: policy.maxDestroyPercent: must be a number from 0 to 100, got 150",
    ],
    "proctor-option-unknown": [
        'main.yaml:18:69: exams.final.configuration.proctorTypes.TS63dda27a6ba54c218449b934b7bb1ba8.options.recordScren: must be one of recordScreen, recordWebcam, recordAudio, forceFullScreen, onlyOneScreen, disableNewTabs, closeOpenTabs, disablePrinting, disableClipboard, disableRightClick, verifyId, roomScan; got "recordScren"; did you mean "recordScreen"?',
    ],
    "proctor-types-empty": [
        "main.yaml:18:21: exams.final.configuration.proctorTypes: must list at least one proctor type (by its TS SID)",
    ],
    "role-unknown": [
        'main.yaml:32:38: enrollments[0].role: must be one of learner, instructor; got "teacher"',
    ],
    "secret-env-and-file": [
        "main.yaml:17:17: exams.final.configuration.password: must be exactly one of {env: VARIABLE} or {file: path}",
    ],
    "secret-env-missing": [
        "main.yaml:17:23: exams.final.configuration.password.env: environment variable SPSYNC_SCHOOL_MISSING is not set",
    ],
    "secret-env-name-invalid": [
        "main.yaml:17:23: exams.final.configuration.password.env: env must name an environment variable (letters, digits and _, not starting with a digit)",
    ],
    "secret-file-missing": [
        'main.yaml:17:24: exams.final.configuration.password.file: secret file "secrets/final.txt" not found',
    ],
    "section-typo": [
        'extra.yaml:1:1: sesions: unknown field "sesions"; did you mean "sessions"?',
    ],
    "session-after-scheduling": [
        'main.yaml:36:18: sessions[0].appointment: 2027-12-30T09:00:00Z is after the scheduling window of exam "final" closes (scheduling.close 2027-12-30T00:00:00Z)',
    ],
    "session-amount-negative": [
        "main.yaml:38:13: sessions[0].amount: must be a number >= 0, got -5",
    ],
    "session-before-access": [
        'main.yaml:36:18: sessions[0].appointment: 2026-12-15T14:00:00Z is before exam "final" opens (access.open 2027-01-01T00:00:00Z)',
    ],
    "session-currency-lowercase": [
        'main.yaml:39:15: sessions[0].currency: must be a currency code of 3 capital letters like "USD", got "usd"',
    ],
    "session-ends-after-access": [
        'main.yaml:36:18: sessions[0].appointment: 2027-12-31T22:30:00Z + 120 minutes ends after exam "final" closes (access.close 2027-12-31T23:59:59Z)',
    ],
    "session-for-instructor": [
        'main.yaml:34:5: session.final.omar: this session needs user "omar" to be a learner in course "main", but they are enrolled as instructor at line 32, col 5',
    ],
    "session-missing-type": [
        'main.yaml:34:5: sessions[0]: missing required field "type" (or set defaults.session.type in tenant.yaml)',
    ],
    "session-proctor-location": [
        'main.yaml:38:22: sessions[0].proctorLocation: must be a proctor location SID ("PL" + 32 lowercase hex characters), got "PTa17h8i9j0k1l2m3n4o5b2c3d4e5f6g"',
    ],
    "session-subcategory-not-in-exam": [
        'main.yaml:38:29: sessions[0].proctorTypeSubCategory: TS4b894875d26194988853e490dfb9bc41 is not one of the proctorTypes of exam "final"',
    ],
    "session-type-unknown": [
        'main.yaml:37:11: sessions[0].type: must be one of automated, b-virtual, ad-hoc, instructor-as-proctor, messaging, register-blast, vtc, proctoru, examity, smarter-scheduling; got "automatic"; did you mean "automated"?',
    ],
    "sid-wrong-prefix": [
        'main.yaml:3:16: courses.main.ids.sid: must be a course SID ("CU" + 32 lowercase hex characters), got "EXa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"',
    ],
    "signon-sid-pattern": [
        'tenant.yaml:3:26: signon.integrationSid: must be an integration SID ("II" + 32 lowercase hex characters), got "IIf5a8dc0813"',
    ],
    "tenant-field-in-resource-file": [
        'extra.yaml:1:1: policy: unknown field "policy" (tenant settings belong in tenant.yaml)',
    ],
    "tenant-name-pattern": [
        "tenant.yaml:1:9: tenant: must be a tenant name (lowercase letters, digits and '-', starting with a letter or digit), got \"School_District\"",
    ],
    "tenants-duplicate-name": [
        'school-copy/tenant.yaml:1:9: tenant: tenant "school" is already defined in school/tenant.yaml; tenant names must be unique',
    ],
    "tenants-missing-tenant-file": [
        "college: has YAML files but no tenant.yaml (rename tenant.yml to tenant.yaml)",
    ],
    "time-zone-unknown": [
        'main.yaml:25:15: users.jane.timeZone: must be an IANA time zone name like "America/New_York", got "America/NewYork"; did you mean "America/New_York"?',
    ],
    "two-sessions-one-exam": [
        'main.yaml:34:5: session.final.jane: a second session for exam "final" and user "jane" (first at extra.yaml:2:5); a user has at most one session per exam',
    ],
    "user-without-enrollment": [
        'extra.yaml:2:3: users.ann: user "ann" has no enrollment: users are provisioned together with a course, so enroll them (enrollments: [{user: ann, course: COURSE}]) or assign them to an exam',
    ],
    "window-close-before-open": [
        "main.yaml:15:57: exams.final.configuration.scheduling.close: must be after open (2026-12-01T00:00:00Z), got 2026-11-30T00:00:00Z",
    ],
    "yaml-billion-laughs": [
        "laughs.yaml:6:47: aliases expand to more than 1,000,000 nodes (refusing a possible 'billion laughs' document)",
    ],
    "yaml-control-character": [
        "main.yaml:23:17: control character U+0007 is not allowed in YAML",
    ],
    "yaml-custom-tag": [
        "main.yaml:29:15: unsupported tag !secret (only the standard YAML tags are read)",
    ],
    "yaml-deep-nesting": [
        "deep.yaml:65:129: nesting deeper than 64 levels",
    ],
    "yaml-duplicate-key-flow": [
        'main.yaml:27:29: users.omar.ids.external: duplicate key "external" (first at line 27, col 11)',
    ],
    "yaml-duplicate-key": [
        'main.yaml:6:5: courses.main.title: duplicate key "title" (first at line 4, col 5)',
    ],
    "yaml-empty-file": [
        "extra.yaml:1:1: the file is empty (expected a mapping)",
    ],
    "yaml-empty-tenant-file": [
        "tenant.yaml:1:1: the file is empty (expected a mapping)",
    ],
    "yaml-not-utf8": [
        "extra.yaml:3:19: not valid UTF-8 (byte 0xe9)",
    ],
    "yaml-tab": [
        "main.yaml:4:1: YAML syntax error: tab character (indent with spaces)",
    ],
    "yaml-top-level-list": [
        "extra.yaml:1:1: the top level must be a mapping, got a list",
    ],
    "yaml-two-documents": [
        "extra.yaml:2:1: more than one YAML document in the file",
    ],
    "yaml-unclosed-flow": [
        "main.yaml:15:7: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping)",
    ],
    "yaml-unknown-alias": [
        "main.yaml:5:11: unknown alias *code",
    ],
    "yaml-unknown-tag": [
        "main.yaml:10:12: unsupported tag !!python/object/apply:os.system (only the standard YAML tags are read)",
    ],
}


def _validate(where: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(where)
    for name in ("SPSYNC_SCHOOL_MISSING", "SPSYNC_SCHOOL_TOKEN", "SPSYNC_SCHOOL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    r = CliRunner(env=ENV).invoke(main, ["validate", ".", *args])
    return r.exit_code, r.stdout, r.stderr


def test_corpus_is_complete() -> None:
    cases = sorted(p.name for p in BROKEN.iterdir() if p.is_dir())
    assert cases == sorted(EXPECTED)
    assert len(cases) >= 40


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_manifest(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, stderr = _validate(BROKEN / case, monkeypatch)
    lines = EXPECTED[case]
    n = len(lines)
    assert (code, stdout) == (1, "")
    assert stderr == "\n".join([*lines, f"{n} problem{'s' if n != 1 else ''} found"]) + "\n"


def test_base_of_the_corpus_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, stderr = _validate(FIXTURES / "valid" / "school", monkeypatch)
    assert (code, stderr) == (0, "")
    assert stdout == (
        "school: ok (1 course, 1 exam, 2 users, 2 enrollments, 1 assignment, 1 session)\n"
    )


def test_json_format_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, stderr = _validate(BROKEN / "many-problems", monkeypatch, "--format", "json")
    assert (code, stderr) == (1, "")
    doc = json.loads(stdout)
    assert doc["valid"] is False
    assert doc["problems"][0] == {
        "file": "extra.yaml",
        "line": 2,
        "col": 3,
        "where": "courses.second",
        "message": 'missing "code": required to create a course that is not identified by ids.sid',
    }
    shown = [
        f"{p['file']}:{p['line']}:{p['col']}: {p['where']}: {p['message']}" for p in doc["problems"]
    ]
    assert shown == EXPECTED["many-problems"]


def test_json_format_for_a_whole_directory_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, _ = _validate(
        BROKEN / "tenants-missing-tenant-file", monkeypatch, "--format", "json"
    )
    assert code == 1
    assert json.loads(stdout) == {
        "valid": False,
        "problems": [
            {
                "file": "college",
                "line": 0,
                "col": 0,
                "where": "",
                "message": "has YAML files but no tenant.yaml (rename tenant.yml to tenant.yaml)",
            }
        ],
    }


def test_sandbox_does_not_need_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BROKEN / "api-token-missing")
    monkeypatch.delenv("SPSYNC_SCHOOL_TOKEN", raising=False)
    r = CliRunner(env={"SPSYNC_SCHOOL_PASSWORD": "pw"}).invoke(main, ["--sandbox", "validate", "."])
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.startswith("school: ok (")


def test_sandbox_still_needs_exam_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, stderr = _validate(BROKEN / "secret-env-missing", monkeypatch, "--sandbox")
    assert code == 1
    assert stderr.splitlines()[0] == EXPECTED["secret-env-missing"][0]


def test_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["validate", "manifests/nope"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == "manifests/nope: no such file or directory\n1 problem found\n"


def test_directory_without_tenants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["validate", "empty"])
    assert r.exit_code == 1
    assert r.stderr == (
        "empty: no tenant.yaml here or in its sub-directories: give a tenant directory "
        "(holding tenant.yaml) or a directory of them\n1 problem found\n"
    )


def test_unknown_tenant_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    r = CliRunner(env=ENV).invoke(main, ["validate", "valid", "--tenant", "initech"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == "error: unknown tenant 'initech' in valid (known: acme, globex, school)\n"


def test_json_format_when_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, stderr = _validate(FIXTURES / "valid" / "school", monkeypatch, "--format", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout) == {
        "valid": True,
        "problems": [],
        "tenants": [
            {
                "tenant": "school",
                "counts": {
                    "courses": 1,
                    "exams": 1,
                    "users": 2,
                    "enrollments": 2,
                    "assignments": 1,
                    "sessions": 1,
                },
            }
        ],
    }


def test_summary_lines_for_a_directory_of_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    env = {
        **ENV,
        "SPSYNC_ACME_TOKEN": "t",
        "SPSYNC_ACME_CERT_456_PASSWORD": "p1",
        "SPSYNC_ACME_PRACTICE_PASSWORD": "p2",
    }
    r = CliRunner(env=env).invoke(
        main, ["validate", "valid", "--tenant", "globex", "--tenant", "acme"]
    )
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == (
        "acme: ok (1 course, 2 exams, 3 users, 3 enrollments, 2 assignments, 1 session)\n"
        "globex: ok (1 course, 1 exam, 1 user, 1 enrollment, 0 assignments, 0 sessions)\n"
    )
