"""One sanitiser for every string spsync shows that it did not write itself.

Text from the API (error messages and codes, statuses, URLs, names) and from manifests
(keys, values, file names) may hold terminal escape sequences (ESC, CSI ``U+009B``, OSC 8
links), bidirectional overrides that make a line read differently from what it says, or
line breaks that start a new line of output: a forged CI annotation (``::error …``) or a
fake line of a plan. Before such text reaches a terminal, a markdown plan, a JSON-lines
log or a CI annotation it goes through :func:`clean` (one line) or :func:`clean_lines`
(several lines), which escape those characters visibly (``\\x1b``, ``\\u202e``, ``\\n``)
rather than drop them, so what was sent can still be seen.

Pure functions, no I/O.
"""

from __future__ import annotations

import re

#: bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), and the
#: marks and separators that reorder or break a line without looking like it
_BIDI = "\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\u2028\u2029"

#: C0 controls (tab and newline included: a single-line field has none), DEL, C1 controls
#: (U+0080–U+009F, U+009B the one-character CSI among them), bidi controls
_UNSAFE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
#: the same, but a newline is kept (text that is several lines by design)
_UNSAFE_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(text: object) -> str:
    """``text`` as one line: every control, bidi and line-break character escaped."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE_ONE_LINE.sub(_escape, s)


def clean_lines(text: object) -> str:
    """``text`` with its line breaks kept and every other control or bidi character escaped."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE_LINES.sub(_escape, s)


def is_clean(text: str) -> bool:
    """Whether ``text`` holds no character :func:`clean` would escape."""
    return _UNSAFE_ONE_LINE.search(text) is None


#: what JSON text may carry raw but a terminal or a review page would act on: DEL, the C1
#: controls and the bidi controls (C0 controls are always escaped by the JSON encoder)
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")


def json_text(text: str) -> str:
    """JSON text with DEL, C1 and bidi characters written as ``\\uXXXX`` escapes: the same
    document to a parser, inert on a terminal or in a pull-request page."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
