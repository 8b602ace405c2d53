"""A secret echoed by the server in an encoding is masked in that encoding too.

A hostile API answers with the token (``plan``) or the exam password (``apply``) written
in each common encoding, each after a label. Every form is computed here, with the
standard library, and looked for in everything spsync printed or wrote: none may appear,
and each label must be followed by the mask.
"""

from __future__ import annotations

import base64
import html
import json
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from support.hostile import (
    OTHER_PASSWORD,
    OTHER_TOKEN,
    Reply,
    Request,
    environment,
    json_reply,
    repo,
    serving,
    spsync,
)

from spsync.secrets import forget_known, scrub

TOKEN = "tok/SECRET+abc=XYZ12345"
PASSWORD = 'pw-Sekr3t-Pässwörd&<x> "ok"'


def _lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def _b64(raw: bytes, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def encodings(secret: str) -> dict[str, str]:
    """Each encoding a server may echo ``secret`` in, by name: those that show it otherwise
    than as it is, each once."""
    raw = secret.encode()
    most = -(-2 * len(secret) // 3)  # two thirds, rounded up: the shortest piece masked
    every = {
        "url-lower": _lower_hex(quote(secret, safe="")),
        "url-plus-lower": _lower_hex(quote_plus(secret, safe="")),
        "url-js": quote(secret, safe="!~*'()"),
        "html": html.escape(secret),
        "html-noquote": html.escape(secret, quote=False),
        "html-numeric": "".join(
            c if c.isascii() else f"&#{ord(c)};" for c in html.escape(secret, quote=False)
        ),
        "b64": _b64(raw),
        "b64-nopad": _b64(raw).rstrip("="),
        "b64-url": _b64(raw, urlsafe=True),
        "b64-url-nopad": _b64(raw, urlsafe=True).rstrip("="),
        "b64-inside-1": _b64(b"{" + raw + b"}"),
        "b64-inside-2": _b64(b'{"' + raw + b'"}'),
        "json-slash": json.dumps(secret).replace("/", "\\/")[1:-1],
        "nfd": unicodedata.normalize("NFD", secret),
        "mojibake": raw.decode("latin-1"),
        "first-piece": secret[:most],
        "last-piece": secret[-most:],
        "middle": secret[1 : 1 + most],
    }
    out: dict[str, str] = {}
    for name, form in every.items():
        if form != secret and form not in out.values():
            out[name] = form
    return out


def _echo(secret: str) -> str:
    return " ".join(f"{name}=[{form}]" for name, form in encodings(secret).items())


def _found(text: str, secret: str) -> list[str]:
    """The encodings of ``secret`` (and the secret itself) that ``text`` shows."""
    shown = [name for name, form in encodings(secret).items() if form in text]
    return shown + (["as-is"] if secret in text else [])


def _masked_each(text: str, secret: str) -> list[str]:
    """The encodings of ``secret`` not shown as the mask in ``text``: all of it, but for
    base64 inside a longer base64 text, whose first and last 4 characters (each a group of
    3 bytes shared with the bytes around the secret) are left."""
    left = []
    for name in encodings(secret):
        edge = "[A-Za-z0-9+/=]{4}" if name.startswith("b64-inside") else ""
        if not re.search(rf"{name}=\[{edge}\(sensitive\){edge}\]", text):
            left.append(name)
    return left


def _written(root: Path) -> str:
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts]
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files)


def test_the_echo_holds_every_encoding_that_changes_the_secret() -> None:
    assert list(encodings(TOKEN)) == [
        "url-lower",
        "url-js",
        "b64",
        "b64-nopad",
        "b64-inside-1",
        "b64-inside-2",
        "json-slash",
        "first-piece",
        "last-piece",
        "middle",
    ]
    assert len(encodings(PASSWORD)) == 18  # all of them


@pytest.mark.parametrize("command", ["plan", "doctor"])
def test_a_token_echoed_in_every_encoding_is_masked_in_each(tmp_path: Path, command: str) -> None:
    def refuse(request: Request) -> Reply:
        message = f"bad token {_echo(request.headers['token'])}"
        return json_reply({"code": "AUTHENTICATIONFAILED", "message": message}, 403)

    env = environment(SPSYNC_T1_TOKEN=TOKEN)
    with serving(refuse) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(root, command, "manifests", "--tenant", "t1", env=env)
        assert {r.headers["token"] for r in srv.requests} == {TOKEN}
    assert result.code == 1
    shown = result.stdout + result.stderr + _written(root)
    assert _found(shown, TOKEN) == []
    assert _masked_each(result.stderr, TOKEN) == []
    assert "AUTHENTICATIONFAILED: bad token url-lower=[(sensitive)] " in result.stderr


def _apply_server(request: Request) -> Reply:
    """Lists are empty and provisioning works, until the exam: its password is echoed, in
    the error's code too (which the audit log keeps)."""
    if request.method == "GET":
        return json_reply({"total": 0, "count": 0, "offset": 0, "next": None, "results": []})
    body = json.loads(request.body)
    if "exam" not in body:
        created = {"course": {"sid": "CU" + "a" * 32, "result": "Created"}}
        if "user" in body:
            created["user"] = {"sid": "US" + "b" * 32, "result": "Created"}
            created["enrollment"] = {"sid": "EN" + "c" * 32, "result": "Created"}
        return json_reply(created)
    password = body["exam"]["configuration"]["password"]
    message = f"weak password {_echo(password)}"
    return json_reply({"code": encodings(password)["url-lower"], "message": message}, 400)


def test_an_exam_password_echoed_in_every_encoding_is_masked_in_each(tmp_path: Path) -> None:
    env = environment(SPSYNC_T1_PASSWORD=PASSWORD)
    with serving(_apply_server) as srv:
        root = repo(tmp_path, url=srv.url)
        result = spsync(root, "apply", "manifests", "--tenant", "t1", "--auto-approve", env=env)
        sent = [json.loads(r.body) for r in srv.requests if r.method == "POST"]
        assert [b["exam"]["configuration"]["password"] for b in sent if "exam" in b] == [PASSWORD]
    assert result.code == 1
    audit = (root / ".spsync" / "audit" / "t1.jsonl").read_text()
    shown = result.stdout + result.stderr + _written(root)
    assert _found(shown, PASSWORD) == []
    assert _masked_each(result.stderr, PASSWORD) == []
    assert "400 (sensitive): weak password url-lower=[(sensitive)] " in result.stderr
    assert '"code": "(sensitive)"' in audit
    for other in (OTHER_TOKEN, OTHER_PASSWORD):
        assert _found(shown, other) == []


@pytest.fixture
def known() -> object:
    forget_known()
    yield
    forget_known()


@pytest.mark.parametrize(
    "text",
    [
        "Passwords must be 12 characters or more",
        "tok/SE and SECRET and abc=XYZ1 and tok/SECRET+ab",  # under two thirds of the token
        "jane.smith@example.com 2027-01-01T00:00:00Z",
        "USa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 dG9rL1NF",
    ],
)
def test_short_pieces_and_ordinary_text_are_left_alone(known: object, text: str) -> None:
    assert scrub(text, [TOKEN, PASSWORD]) == text


def test_a_run_is_masked_whole_and_only_it(known: object) -> None:
    assert scrub("x tok/SECRET+abc=X y", [TOKEN]) == "x (sensitive) y"
    assert scrub("[CRET+abc=XYZ1234]", [TOKEN]) == "[(sensitive)]"
    assert scrub(f"{TOKEN}{TOKEN}", [TOKEN]) == "(sensitive)(sensitive)"
    assert scrub("a b" * 3, [TOKEN]) == "a ba ba b"
