"""Memory freed by a large parse goes back to the operating system between phases
(``spsync.memory.give_back``, called once the state file is read)."""

from __future__ import annotations

import subprocess
import sys

#: a state-like JSON document read through pydantic (whose parse tree lives in C memory),
#: the result dropped: how much resident memory give_back then returns
PROBE = r"""
import json, re
from pydantic import BaseModel
from spsync.memory import give_back

def rss():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1))

class Entry(BaseModel):
    sid: str
    refs: dict[str, str]

class Doc(BaseModel):
    resources: dict[str, Entry]

course = "CU" + "0" * 32
entries = {f"a{i}": {"sid": f"US{i:032x}", "refs": {"course": course}} for i in range(200_000)}
parsed = Doc.model_validate_json(json.dumps({"resources": entries}))
del parsed, entries
held = rss()
print(give_back(), held - rss())
"""


def test_give_back_returns_what_a_large_parse_freed() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    returned, released_kib = out[0], int(out[1])
    assert returned == "True"
    # the parse held tens of MB of C memory after it was freed; give_back returns them
    assert released_kib > 20_000, released_kib
