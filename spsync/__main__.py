"""`python -m spsync`."""

from __future__ import annotations

from spsync.cli import run

if __name__ == "__main__":
    run()
