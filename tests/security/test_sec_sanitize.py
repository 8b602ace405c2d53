"""One sanitiser for everything shown (issue 14, point 3): escape sequences, CSI, bidi
overrides and line breaks from the API or the manifests reach no terminal, plan, log or CI
annotation as themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.hostile import Reply, Request, json_reply, leaks, repo, serving, spsync
from support.plan import hand_change, hand_plan

from spsync.errors import ApiError, Problem
from spsync.plan import make_plan
from spsync.render import fmt_value, render_markdown, render_text
from spsync.sanitize import clean, clean_lines, is_clean

#: what must never come out raw: C0 controls but the line break, DEL, C1, bidi controls
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        (
            "\x1b]8;;https://evil\x07link\x1b]8;;\x07",
            "\\x1b]8;;https://evil\\x07link\\x1b]8;;\\x07",
        ),
        ("a\u009b2Jb", "a\\x9b2Jb"),
        ("abc\u202eexe.pdf", "abc\\u202eexe.pdf"),
        ("x\u2066y\u2069", "x\\u2066y\\u2069"),
        ("one\ntwo\r\n::error ::x", "one\\ntwo\\r\\n::error ::x"),
        ("tab\there\x00\x7f", "tab\\there\\x00\\x7f"),
        ("café ✓", "café ✓"),
    ],
)
def test_clean_escapes_visibly(text: str, shown: str) -> None:
    assert clean(text) == shown
    assert clean_lines(text) == shown.replace("\\n", "\n")


def test_api_errors_are_one_safe_line_whoever_builds_them() -> None:
    e = ApiError(
        "bad\n::error file=x,line=1::PWNED\x1b[2J", method="GET", path="/p", code="C\u202e"
    )
    assert str(e) == "GET /p: C\\u202e: bad\\n::error file=x,line=1::PWNED\\x1b[2J"


def test_a_problem_is_one_line_whatever_its_key() -> None:
    p = Problem("m.yaml", 3, 1, "users.x\n::error file=x,line=1::PWNED", "unknown field")
    assert str(p) == "m.yaml:3:1: users.x\\n::error file=x,line=1::PWNED: unknown field"


def test_plan_values_show_no_control_character() -> None:
    assert fmt_value("Intro\u009b31m \u202etxt.exe") == '"Intro\\x9b31m \\u202etxt.exe"'


def test_a_yaml_key_cannot_forge_a_ci_annotation(tmp_path: Path) -> None:
    root = repo(tmp_path)
    main = root / "manifests" / "t1" / "main.yaml"
    main.write_text(
        main.read_text().replace(
            "    firstName: Jane\n",
            '    firstName: Jane\n    "x\\n::error file=x,line=1::PWNED\\e[2J": 1\n',
        )
    )
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert not any(line.startswith("::") for line in result.stderr.splitlines())
    assert not RAW_CONTROL.search(result.stderr)
    assert "x\\n::error file=x,line=1::PWNED\\x1b[2J" in result.stderr


def test_manifest_values_in_messages_are_escaped(tmp_path: Path) -> None:
    root = repo(tmp_path)
    main = root / "manifests" / "t1" / "main.yaml"
    main.write_text(
        main.read_text().replace("role: learner", 'role: "\\e]8;;https://evil\\alearner\\u202e"')
    )
    result = spsync(root, "validate", "manifests")
    assert result.code == 1
    assert not RAW_CONTROL.search(result.stderr)
    assert "\\x1b]8;;https://evil\\x07learner\\u202e" in result.stderr


def _hostile_message(request: Request) -> Reply:
    return json_reply(
        {
            "code": "BAD\x1b[2J",
            "message": "see \x1b]8;;https://evil.example\x07here\x1b]8;;\x07 \u009b31m"
            "\u202e\n::error file=a,line=1::PWNED\r",
        },
        400,
    )


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_api_messages_reach_the_terminal_escaped(tmp_path: Path, verbose: list[str]) -> None:
    with serving(_hostile_message) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(root, *verbose, "plan", "manifests", "--tenant", "t1")
    assert result.code == 1
    assert not RAW_CONTROL.search(result.stderr + result.stdout)
    assert not any(line.startswith("::") for line in result.stderr.splitlines())
    assert result.stderr.endswith(
        "400 BAD\\x1b[2J: see \\x1b]8;;https://evil.example\\x07here\\x1b]8;;\\x07 \\x9b31m"
        "\\u202e ::error file=a,line=1::PWNED\n"  # its whitespace is made single spaces
    )
    assert leaks(root, result) == []


def test_json_plans_write_c1_and_bidi_characters_as_escapes() -> None:
    from spsync.plan import Change, TenantPlan, make_plan, summarize
    from spsync.render import render_json

    hostile = "Smith\u009b31m\u202egnp.exe"
    tp = TenantPlan(
        tenant="t1",
        install="AI" + "a" * 32,
        api_url="https://api.smarterproctoring.com",
        state_serial=1,
        state_lineage="l",
        summary=summarize(["update"]),
        changes=(
            Change(
                address="user.jane",
                action="update",
                reason="drift",
                destructive=False,
                before={"lastName": hostile},
                after={"lastName": "Smith"},
            ),
        ),
    )
    text = render_json(make_plan([tp]))
    assert "\u009b" not in text and "\u202e" not in text
    assert '"lastName": "Smith\\u009b31m\\u202egnp.exe"' in text
    assert json.loads(text)["tenants"][0]["changes"][0]["before"]["lastName"] == hostile


def test_a_servers_keys_and_words_in_a_plan_are_shown_escaped() -> None:
    """An option's name is the server's as much as its value: a field path shows it escaped
    in text and markdown; a warning (which may quote an answer) is literal text in the
    pull-request comment, not markup."""
    hostile_key = "calc\x1b]8;;https://evil.example\x07\r# x"
    change = hand_change(
        "exam.cert",
        "update",
        "drift",
        before={"configuration": {"permittedItems": {hostile_key: {}}}},
        after={"configuration": {"permittedItems": {}}},
    )
    warning = "session.cert.kim: status Closed [click](https://evil.example) <img src=x> `x`"
    plan = make_plan([hand_plan("acme", [change], warnings=(warning,))])
    text = render_text(plan)
    assert (
        "      - configuration.permittedItems.calc\\x1b]8;;https://evil.example\\x07\\r# x: {}"
    ) in text.splitlines()
    markdown = render_markdown(plan)
    assert (
        "- :warning: session.cert.kim: status Closed \\[click\\](https://evil.example) "
        "\\<img src=x\\> \\`x\\`"
    ) in markdown.splitlines()
    for shown in (text, markdown):
        assert is_clean(shown.replace("\n", "")), shown
