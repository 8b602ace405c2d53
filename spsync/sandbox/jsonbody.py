"""Request bodies as strict JSON (RFC 8259): what the simulator accepts before validation.

Python's reader is lenient where a service must not be: it takes ``NaN`` and
``Infinity``, escaped lone surrogates (``"\\ud800"``) and any nesting depth its stack allows.
Each of those, once stored, made later answers unrenderable; here they are refused up
front with a located ``400``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from spsync.sandbox.errors import ApiFault, invalid

#: Deepest nesting of objects and arrays accepted. The contract's deepest body (provision:
#: exam → configuration → proctorTypes → TS… → options → option → value) needs about 8.
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def parse_body(raw: bytes) -> Any:
    """The parsed body (``None`` when blank); ``ApiFault`` 400 at path ``body`` otherwise."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"request body is not valid JSON: {e}", "body") from None
    _check_tree(data)
    return data


def _too_deep() -> ApiFault:
    return invalid(f"request body is nested more than {MAX_DEPTH} levels deep", "body")


def _check_tree(data: Any) -> None:
    """Depth and string checks, iteratively (a recursive walk would hit the stack limit)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if not text.isascii() and _SURROGATE.search(text):
        raise invalid(
            "request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
            "which is not a character",
            "body",
        )
