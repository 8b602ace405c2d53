"""Did-you-mean: the closest known word to a mistyped one, for error messages.

One implementation for every message that offers one (manifest checks, targets, addresses
on the command line). ``Suggester`` keeps a budget of comparisons across one run, so that a
roster with thousands of dangling references does not spend minutes in difflib; ``Vocab``
prepares a vocabulary once. Pure: no I/O; deterministic.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Vocab:
    """Words a did-you-mean may offer, prepared once: a case-insensitive index, a cache of
    answers (a roster repeats the same typo many times) and, for large vocabularies, an
    index of one-character deletions so that a lookup does not compare against every word.
    """

    __slots__ = ("_deletions", "cache", "lower", "words")

    #: above this many words, candidates come from the deletion index, not a full scan
    SCAN_LIMIT = 1000
    #: words kept per deletion key (short names share keys heavily)
    BUCKET = 32

    def __init__(self, words: Iterable[str]) -> None:
        self.words = list(words)
        self.lower = {w.lower(): w for w in self.words}
        self.cache: dict[str, str | None] = {}
        self._deletions: dict[str, list[str]] | None = None

    def candidates(self, word: str) -> list[str]:
        """Words worth comparing with ``word``: all of them, or for a large vocabulary
        those within about two edits (sharing a one-character deletion)."""
        if len(self.words) <= self.SCAN_LIMIT:
            return self.words
        if self._deletions is None:
            index: dict[str, list[str]] = {}
            for w in self.words:
                for d in _deletions(w):
                    bucket = index.setdefault(d, [])
                    if len(bucket) < self.BUCKET:
                        bucket.append(w)
            self._deletions = index
        found: set[str] = set()
        for d in _deletions(word):
            found.update(self._deletions.get(d, ()))
        return sorted(found)


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


class Suggester:
    """``; did you mean "x"?`` suffixes, within a budget of string comparisons.

    A roster with thousands of dangling references must not spend minutes in difflib:
    large vocabularies are narrowed first (``Vocab.candidates``), answers are cached, and
    once the budget is spent messages simply carry no suggestion (case slips are still
    found: that is a dictionary lookup). All of it is deterministic."""

    def __init__(self, budget: int = 500_000) -> None:
        self.budget = budget

    def __call__(self, word: str, vocab: Vocab | Iterable[str]) -> str:
        """``; did you mean "x"?`` (quoted, as manifest problems show words), or ``""``."""
        return did_you_mean(word, vocab, quoted=True, suggester=self)

    def best(self, word: str, vocab: Vocab | Iterable[str]) -> str | None:
        """The closest word, if one is close enough."""
        if not isinstance(vocab, Vocab):
            vocab = Vocab(dict.fromkeys(vocab))
        if not word or not vocab.words:
            return None
        if word in vocab.cache:
            return vocab.cache[word]
        found = vocab.lower.get(word.lower())
        if found is None:
            pool = vocab.candidates(word)
            if pool and self.budget >= len(pool):
                self.budget -= len(pool)
                close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
                found = close[0] if close else None
        if found == word:
            found = None
        vocab.cache[word] = found
        return found


def did_you_mean(
    word: str,
    vocab: Vocab | Iterable[str],
    *,
    quoted: bool,
    suggester: Suggester | None = None,
) -> str:
    """``"; did you mean X?"`` for the closest word of ``vocab`` to ``word``, or ``""``.

    ``quoted``: the word in double quotes (manifest problems quote what the file says) or
    bare (addresses on the command line). ``suggester``: one whose budget and caches the
    caller shares; a fresh one otherwise.
    """
    best = (suggester or Suggester()).best(word, vocab)
    if best is None:
        return ""
    return f'; did you mean "{best}"?' if quoted else f"; did you mean {best}?"
