"""The integration a user would write by hand from the vendor's guide, as a yardstick.

For each student, one call after another with httpx: provision (course, exam, user and
enrollment in one call), assign the enrollment to the exam, list the enrollment's sessions,
schedule the active one. No concurrency, no batching, no state: what a nightly cron script
does today. `apply_vs_baseline.py` runs it against the same simulator as spsync.

Usage as a script: ``python benchmarks/baseline_script.py URL INSTALL TOKEN ROSTER.json``
where ROSTER.json is a list of students as produced by ``roster()`` below.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class BaselineResult:
    seconds: float
    calls: Counter[str] = field(default_factory=Counter)


def _route(method: str, path: str) -> str:
    """``POST /v1/installs/AI…/exams/EX…/sessions/ES…`` -> a template, for call counts."""
    parts = []
    for p in path.split("/"):
        if len(p) == 34 and p[:2].isalpha() and p[:2].isupper():
            parts.append("{" + p[:2] + "}")
        else:
            parts.append(p)
    return f"{method} {'/'.join(parts)}"


def run_baseline(
    base_url: str, install: str, token: str, students: list[dict[str, Any]]
) -> BaselineResult:
    """Walk the vendor's four steps (the onboarding URL is fetched later, by the student)."""
    result = BaselineResult(seconds=0.0)
    headers = {"token": token, "Content-Type": "application/json"}
    start = time.perf_counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as http:

        def call(method: str, path: str, **kw: Any) -> Any:
            for _attempt in range(10):
                r = http.request(method, path, **kw)
                result.calls[_route(method, path)] += 1
                if r.status_code == 429:
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                r.raise_for_status()
                return r.json()
            raise RuntimeError(f"{method} {path}: still rate limited")

        for s in students:
            prov = call("POST", f"/v2/installs/{install}/provision", json=s["provision"])
            course, exam = prov["course"]["sid"], prov["exam"]["sid"]
            enrollment = prov["enrollment"]["sid"]
            call(
                "PUT",
                f"/v1/installs/{install}/courses/{course}/exams/{exam}/assignments",
                json={"add": [{"enrollmentSid": enrollment}]},
            )
            page = call(
                "GET",
                f"/v1/installs/{install}/enrollments/{enrollment}/exams/{exam}/sessions",
                params={"includeActive": "true"},
            )
            active = [x for x in page["results"] if x["status"] == "Needs Proctor"]
            call(
                "POST",
                f"/v1/installs/{install}/exams/{exam}/sessions/{active[0]['sid']}",
                json=s["schedule"],
            )
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    url, inst, tok, roster_file = sys.argv[1:5]
    with open(roster_file) as f:
        roster = json.load(f)
    res = run_baseline(url, inst, tok, roster)
    print(
        f"baseline: {len(roster)} students in {res.seconds:.2f} s, {sum(res.calls.values())} calls"
    )
    for route, n in sorted(res.calls.items()):
        print(f"  {n:8d}  {route}")
