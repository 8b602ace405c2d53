"""Did-you-mean (``spsync.suggest``): one implementation, quoted or bare."""

from __future__ import annotations

from spsync.suggest import Suggester, Vocab, did_you_mean


def test_suggestions() -> None:
    s = Suggester()
    fields = Vocab(["firstName", "lastName", "email", "timeZone"])
    assert s("frstName", fields) == '; did you mean "firstName"?'
    assert s("timezone", fields) == '; did you mean "timeZone"?'  # a case slip
    assert s("colour", fields) == ""
    assert s("email", fields) == ""  # the word itself is no suggestion
    assert fields.cache == {
        "frstName": "firstName",
        "timezone": "timeZone",
        "colour": None,
        "email": None,
    }


def test_large_vocabularies_use_the_deletion_index() -> None:
    users = Vocab(f"user-{i:05d}" for i in range(20_000))
    s = Suggester()
    assert s.best("usr-01234", users) == "user-01234"  # a missing letter
    assert s.best("user-10234", users) is None  # the name itself
    assert s.best("uesr-01234", users) == "user-01234"  # a transposition
    assert s.best("someone-else", users) is None
    assert len(users.candidates("usr-01234")) <= 2 * Vocab.BUCKET * 10


def test_budget_bounds_comparisons_but_not_case_slips() -> None:
    s = Suggester(budget=5)
    words = Vocab(["alpha", "beta", "gamma", "delta"])
    assert s.best("alpah", words) == "alpha"  # 4 comparisons
    assert s.best("gama", words) is None  # budget left (1) is below the pool size
    assert s.best("BETA", words) == "beta"


def test_did_you_mean_quotes_as_asked() -> None:
    """Manifest problems quote the word as the file says it; command-line addresses are
    shown bare."""
    pool = ["user.jane", "user.bob", "exam.cert"]
    assert did_you_mean("user.jnae", pool, quoted=True) == '; did you mean "user.jane"?'
    assert did_you_mean("user.jnae", pool, quoted=False) == "; did you mean user.jane?"
    assert did_you_mean("colour", pool, quoted=False) == ""
    assert did_you_mean("user.jane", pool, quoted=False) == ""  # the word itself
    assert did_you_mean("USER.BOB", pool, quoted=False) == "; did you mean user.bob?"


def test_did_you_mean_shares_a_suggester_budget() -> None:
    s = Suggester(budget=3)
    pool = ["alpha", "beta", "gamma"]
    assert did_you_mean("alpah", pool * 2, quoted=False, suggester=s) == "; did you mean alpha?"
    assert s.budget == 0  # the repeated words were compared once
    assert did_you_mean("gama", pool, quoted=False, suggester=s) == ""
