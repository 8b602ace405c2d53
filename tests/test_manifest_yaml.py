"""The YAML layer: located nodes, duplicate keys, tags, limits, encodings."""

from __future__ import annotations

import pytest
import yaml

from spsync import yamlload
from spsync.yamlload import Map, Scalar, Seq, YamlProblem, decode, parse, plain_value


def _plain(text: str) -> object:
    root, problems = parse(text)
    assert problems == []
    assert root is not None
    return plain_value(root)


def test_uses_the_c_parser_when_available() -> None:
    assert yamlload.Loader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_nodes_carry_one_based_line_and_column() -> None:
    root, problems = parse("users:\n  jane:\n    email: j@example.com\n    tags: [a, b]\n")
    assert problems == []
    assert isinstance(root, Map)
    users = root.items["users"][1]
    assert isinstance(users, Map)
    key, jane = users.items["jane"]
    assert (key.line, key.col) == (2, 3)
    assert isinstance(jane, Map)
    email = jane.items["email"][1]
    assert isinstance(email, Scalar)
    assert (email.line, email.col, email.value, email.plain) == (3, 12, "j@example.com", True)
    tags = jane.items["tags"][1]
    assert isinstance(tags, Seq)
    assert [(n.line, n.col) for n in tags.items] == [(4, 12), (4, 15)]


def test_scalars_keep_their_text() -> None:
    root, _ = parse("a: 0123\nb: No\nc: '12'\nd: 1.50\ne: 2027-03-01T14:00:00Z\n")
    assert isinstance(root, Map)
    values = {k: (v.value, v.plain) for k, (_k, v) in root.items.items()}  # type: ignore[union-attr]
    assert values == {
        "a": ("0123", True),
        "b": ("No", True),
        "c": ("12", False),
        "d": ("1.50", True),
        "e": ("2027-03-01T14:00:00Z", True),
    }


def test_plain_value_follows_yaml_for_schemaless_settings() -> None:
    assert _plain("a: 1\nb: true\nc: ~\nd: 1.5\ne: text\nf: '1'\ng: [1, {h: no}]\n") == {
        "a": 1,
        "b": True,
        "c": None,
        "d": 1.5,
        "e": "text",
        "f": "1",
        "g": [1, {"h": False}],
    }


def test_duplicate_keys_are_reported_and_the_first_kept() -> None:
    root, problems = parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert problems == [
        YamlProblem(4, 3, "b.c", 'duplicate key "c" (first at line 3, col 3)'),
        YamlProblem(5, 1, "a", 'duplicate key "a" (first at line 1, col 1)'),
    ]
    assert root is not None
    assert plain_value(root) == {"a": 1, "b": {"c": 1}}


def test_duplicate_key_path_through_lists() -> None:
    _, problems = parse("sessions:\n  - {exam: a}\n  - {exam: a, exam: b}\n")
    assert problems == [
        YamlProblem(3, 15, "sessions[1].exam", 'duplicate key "exam" (first at line 3, col 6)')
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo]\n",
        "a: !!python/name:os.system\n",
        "a: !custom x\n",
        "a: !!map {b: 1}\nc: !!set {d}\n",
    ],
)
def test_only_standard_tags(text: str) -> None:
    root, problems = parse(text)
    assert root is None
    assert len(problems) == 1
    assert problems[0].message.startswith("unsupported tag ")


def test_standard_tags_are_accepted() -> None:
    assert _plain("a: !!str 12\nb: !!int '7'\nc: !!map {d: !!seq [1]}\n") == {
        "a": "12",
        "b": 7,
        "c": {"d": [1]},
    }


def test_billion_laughs_fails_fast_at_the_alias() -> None:
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10)
    )
    root, problems = parse(text)  # returns at once: nothing is expanded to be counted
    assert root is None
    assert problems == [
        YamlProblem(
            6,
            45,
            "",
            "aliases expand to more than 1,000,000 nodes "
            "(refusing a possible 'billion laughs' document)",
        )
    ]


def test_aliases_and_merge_keys() -> None:
    text = (
        "base: &cfg {duration: 60, attempts: 1}\n"
        "exam:\n  <<: *cfg\n  attempts: 2\n"
        "both:\n  <<: [*cfg, {extra: x}]\n"
        "copy: *cfg\n"
    )
    assert _plain(text) == {
        "base": {"duration": 60, "attempts": 1},
        "exam": {"attempts": 2, "duration": 60},
        "both": {"duration": 60, "attempts": 1, "extra": "x"},
        "copy": {"duration": 60, "attempts": 1},
    }


def test_merge_of_a_scalar_is_an_error() -> None:
    assert parse("a: &x 1\nb:\n  <<: *x\n") == (
        None,
        [YamlProblem(3, 3, "", "a merge key (<<) takes a mapping or a list of mappings")],
    )


def test_unknown_alias() -> None:
    assert parse("a: *nope\n") == (None, [YamlProblem(1, 4, "", "unknown alias *nope")])


def test_self_referencing_anchor_cannot_loop() -> None:
    root, problems = parse("a: &x [1, *x]\n")
    assert root is None
    assert problems == [YamlProblem(1, 11, "", "unknown alias *x")]


def test_deep_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v: 1\n"
    root, problems = parse(text)
    assert root is None
    assert problems == [YamlProblem(65, 129, "", "nesting deeper than 64 levels")]


def test_deep_flow_nesting_is_refused_without_recursion() -> None:
    root, problems = parse("[" * 200_000)
    assert root is None
    assert len(problems) == 1
    assert problems[0].line == 1


def test_tab_indentation() -> None:
    assert parse("a:\n\tb: 1\n") == (
        None,
        [YamlProblem(2, 1, "", "YAML syntax error: tab character (indent with spaces)")],
    )


def test_syntax_error_is_located() -> None:
    assert parse("a: [1, 2\nb: 3\n") == (
        None,
        [
            YamlProblem(
                2,
                2,
                "",
                "YAML syntax error: did not find expected ',' or ']' "
                "(while parsing a flow sequence)",
            )
        ],
    )


def test_more_than_one_document() -> None:
    assert parse("a: 1\n---\nb: 2\n") == (
        None,
        [YamlProblem(2, 1, "", "more than one YAML document in the file")],
    )


def test_collection_as_a_key() -> None:
    assert parse("? [a, b]\n: 1\n") == (
        None,
        [YamlProblem(1, 3, "", "a mapping key must be a scalar, not a collection")],
    )


def test_empty_and_comment_only_documents_have_no_root() -> None:
    assert parse("") == (None, [])
    assert parse("# just a comment\n") == (None, [])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"a: b\nc: d\xff\n", YamlProblem(2, 5, "", "not valid UTF-8 (byte 0xff)")),
        (
            "a: é\nb: x\x00y\n".encode(),
            YamlProblem(2, 5, "", "control character U+0000 is not allowed in YAML"),
        ),
        (
            "é: \x1b\n".encode(),
            YamlProblem(1, 4, "", "control character U+001B is not allowed in YAML"),
        ),
    ],
)
def test_decode_problems_are_located(data: bytes, problem: YamlProblem) -> None:
    assert decode(data) == (None, problem)


def test_decode_drops_a_bom_and_keeps_unicode() -> None:
    assert decode("\ufeffname: Zoë\n".encode()) == ("name: Zoë\n", None)


@pytest.mark.parametrize(
    ("text", "plain", "problems"),
    [
        ("a: 1\nb: [x, 'y']\nc: {d: ~}\n", {"a": 1, "b": ["x", "y"], "c": {"d": None}}, []),
        (
            "a: 1\na: 2\n",
            {"a": 1},
            [YamlProblem(2, 1, "a", 'duplicate key "a" (first at line 1, col 1)')],
        ),
        (
            "a: !!python/object:x {}\n",
            None,
            [
                YamlProblem(
                    1,
                    4,
                    "",
                    "unsupported tag !!python/object:x (only the standard YAML tags are read)",
                )
            ],
        ),
        (
            "a:\n\tb: 1\n",
            None,
            [YamlProblem(2, 1, "", "YAML syntax error: tab character (indent with spaces)")],
        ),
    ],
)
def test_pure_python_parser_gives_the_same_nodes(
    text: str, plain: object, problems: list[YamlProblem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml the pure-Python parser is used, with the same results."""
    monkeypatch.setattr(yamlload, "Loader", yaml.SafeLoader)
    root, found = parse(text)
    assert found == problems
    assert (plain_value(root) if root is not None else None) == plain


@pytest.mark.parametrize("loader", [yamlload.Loader, yaml.SafeLoader])
def test_reserved_indicator_is_named(loader: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlload, "Loader", loader)
    assert parse("a: b\nc: @home\n") == (
        None,
        [
            YamlProblem(
                2, 4, "", "YAML syntax error: '@' cannot start a value (put the value in quotes)"
            )
        ],
    )
