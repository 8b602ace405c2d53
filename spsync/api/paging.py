"""Paged lists: every item of a list in about ``total/100`` calls, within bounds.

``Pager._paged`` reads the first page, then the rest concurrently when the paging is plain
offsets (by ``max_in_flight`` workers, ``Pager._pooled``), then follows ``next`` links to
the end; items are de-duplicated by SID (a row given again with other contents is noted
in ``Pager.contradicted``). ``Pager._each`` hands them on a page at a time,
in the list's order, so that a caller keeping less than the answer models never holds the
whole list of them (the peak memory of observing a large tenant). An item is an answer
model, or a row of the fields observation reads (``wire.SessionRow``...: a dict, cheaper
to read). A list past one of the bounds below is refused whole, named by its route
(docs/api-client.md#bounds).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import httpx

from spsync.api import wire
from spsync.api.calls import Caller
from spsync.api.routes import Query
from spsync.errors import InvalidInputError, ResponseError

T = TypeVar("T")
A = TypeVar("A")
#: a list's item: an answer model (``wire.Response``) or a row (``wire.SessionRow``...)
R = TypeVar("R")

#: page size asked for (the contract's maximum); a page with more items is refused
PAGE_LIMIT = 100
#: page sizes tried, in turn, when the service refuses a page of ``PAGE_LIMIT`` (a size its
#: refusal names, as "from 1 to 30", is tried first)
SMALLER_PAGES = (50, 25, 10, 5, 2, 1)
#: a whole number in a refusal's message (a few digits: it is the server's text)
_NUMBER = re.compile(r"(?<![0-9])[0-9]{1,4}(?![0-9])")

# Bounds on what one list may cost (docs/api-client.md#bounds).
#: most items read from one list (the largest tenants have tens of thousands)
MAX_LIST_ITEMS = 1_000_000
#: most pages read from one list
MAX_LIST_PAGES = 20_000
#: most pages read from a list that announces no ``total`` (the contract always gives one)
MAX_PAGES_WITHOUT_TOTAL = 1_000
#: pages read past those ``total`` announced (items added while reading) before paging is
#: taken for endless
PAGE_SLACK = 10


def _merge_query(base: Query, override: Query) -> Query:
    keys = {k for k, _ in override}
    return [(k, v) for k, v in base if k not in keys] + list(override)


def _next_query(next_url: str, route: str) -> Query:
    """The query of a ``next`` link: only its parameters are used, sent to the API's own
    host and route (a link to another host, scheme or port is never followed there), and
    only those the list's own query does not set."""
    try:
        return list(httpx.URL(next_url).params.multi_items())
    except httpx.InvalidURL:  # a NUL, a link of more than 64 KiB...
        raise ResponseError(
            "a next link that is not a URL (refused)", method="GET", path=route
        ) from None


def _more_unlinked(first: wire.Page[Any], step: int, limit: int) -> bool:
    """Whether a list whose first page has no ``next`` link still has more: its ``total``
    says so, or it announces none and the page is full."""
    if first.total is not None:
        return first.total > step
    return step >= limit


class Pager(Caller):
    """The paged reads of a ``Client`` (``page_limit`` and ``_workers`` set by its
    ``__init__``)."""

    #: the page size asked for (smaller once the service refused ``PAGE_LIMIT``)
    page_limit: int
    #: how many pages are read at once (the window's ceiling)
    _workers: int

    @property
    def contradicted(self) -> set[str]:
        """The SIDs some list read by this client gave twice with different contents (a
        row ``Cancelled``, then ``Scheduled``): only the first copy was handed on, and it
        is no more evidence than the other. A caller that must not guess reads them again."""
        found: set[str] | None = self.__dict__.get("_contradicted")
        if found is None:
            found = self.__dict__["_contradicted"] = set()
        return found

    async def _paged(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Sequence[tuple[str, str]] = (),
    ) -> list[R]:
        """Every item of a paged list: ~total/100 calls (see ``_each``)."""
        items: list[R] = []
        await self._each(route, params, item, items.extend, query)
        return items

    async def _each(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        take: Callable[[list[R]], object],
        query: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Every item of a paged list, given to ``take`` a page at a time, in the list's
        order, each item once: ~total/100 calls.

        After the first page gives ``total``, the remaining pages are read concurrently
        (bounded by ``max_in_flight``); then ``next`` is followed from the last page to the
        end, so items added meanwhile are not missed. Items are de-duplicated by SID. A page
        is let go once ``take`` has it: a caller that keeps less than the answer models holds
        one page of them at a time, not the whole list."""
        first = await self._page(route, params, item, list(query), 0)
        await self._rest_each(route, params, item, list(query), first, take)

    async def _page(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Query,
        offset: int,
        limit: int | None = None,
    ) -> wire.Page[R]:
        """One page. Without ``limit``, the run's page size: ``PAGE_LIMIT``, made smaller
        for good when the service refuses it (its largest page is not documented)."""
        while True:
            size = limit or self.page_limit
            q = _merge_query(query, [("offset", str(offset)), ("limit", str(size))])
            try:
                return await self._list_page(route, params, item, q)
            except InvalidInputError as exc:
                smaller = _smaller_pages(size, exc.api_message)
                # only a refusal that names the page size (as validation messages do)
                if limit is not None or not smaller or "limit" not in exc.api_message.lower():
                    raise
                if self.page_limit == size:
                    self._notice(f"the service refused pages of {size}; asking for {smaller[0]}")
                    self.page_limit = smaller[0]

    async def _list_page(
        self, route: str, params: dict[str, str], item: type[R], query: Query
    ) -> wire.Page[R]:
        # a generic model parametrised at run time, which a static checker cannot follow
        page_model: type[wire.Page[R]] = wire.Page[item]  # type: ignore[valid-type]
        page = await self._one("GET", route, params, page_model, safety="read", query=query)
        if len(page.results) > PAGE_LIMIT:
            raise self._bound(
                route, f"a page of {len(page.results)} items, more than the {PAGE_LIMIT} asked for"
            )
        if page.total is not None and page.total > MAX_LIST_ITEMS:
            raise self._bound(
                route,
                f"the list announces {page.total} items, more than the "
                f"{MAX_LIST_ITEMS} spsync reads from one list",
            )
        return page

    def _bound(self, route: str, what: str) -> ResponseError:
        """A list past one of the bounds: named by its route, refused whole."""
        return ResponseError(
            f"{what} (refused; see docs/api-client.md#bounds)", method="GET", path=route
        )

    async def _rest(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Query,
        first: wire.Page[R],
    ) -> list[R]:
        """Every item of a list whose first page was read: the rest of ``_paged``."""
        items: list[R] = []
        await self._rest_each(route, params, item, query, first, items.extend)
        return items

    async def _rest_each(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Query,
        first: wire.Page[R],
        take: Callable[[list[R]], object],
    ) -> None:
        if not first.results and not first.next and first.total:
            # one page contradicting itself (a duplicated key read last-wins can do it): an
            # empty list taken from it would plan creating what exists
            raise ResponseError(
                f"the list announces {first.total} items but its only page holds none",
                method="GET",
                path=route,
            )
        out = _Delivery(take, self.contradicted)
        out.give(first.results)
        cursor = first.next
        step = len(first.results)
        pages_read = 1
        # how many pages the list may take: what ``total`` announces and a little more (items
        # added while reading), or the overall cap when it announces nothing
        most = MAX_PAGES_WITHOUT_TOTAL
        if first.total is not None and step > 0:
            most = min(MAX_LIST_PAGES, -(-first.total // step) + PAGE_SLACK)
        if cursor and first.total is not None and step > 0:
            nxt = dict(_next_query(cursor, route))
            if nxt.get("offset") == str(step):  # plain offset paging: pages are predictable
                offsets = range(step, first.total, step)
                if len(offsets) + 1 > MAX_LIST_PAGES:
                    raise self._bound(
                        route,
                        f"the list announces {first.total} items in pages "
                        f"of {step}: more than {MAX_LIST_PAGES} pages",
                    )
                last = await self._pooled_in_order(
                    lambda off: self._page(route, params, item, query, off, step),
                    offsets,
                    lambda page: out.give(page.results),
                )
                pages_read += len(offsets)
                cursor = last.next if last is not None else first.next
        seen: set[tuple[tuple[str, str], ...]] = set()
        while cursor:
            if pages_read >= most:
                raise self._bound(route, f"paging did not end after {pages_read} pages")
            # the link gives the place in the list (offset, limit, a cursor); what was
            # asked for (a filter, includeActive) stays asked: a link cannot change it
            q = _merge_query(_next_query(cursor, route), query)
            key = tuple(sorted(q))
            if key in seen:
                raise ResponseError(
                    "paging does not advance (a next link seen before)", method="GET", path=route
                )
            seen.add(key)
            page = await self._list_page(route, params, item, q)
            pages_read += 1
            out.give(page.results)
            if out.count > MAX_LIST_ITEMS:
                raise self._bound(route, f"more than {MAX_LIST_ITEMS} items in one list")
            cursor = page.next
        if first.next is None and step > 0 and _more_unlinked(first, step, self.page_limit):
            # no links, yet the first page was full (or the total says there is more): the
            # vendor's advice is to raise the offset by the limit until a page comes back short
            offset = step
            while True:
                if pages_read >= most:
                    raise self._bound(route, f"paging did not end after {pages_read} pages")
                page = await self._page(route, params, item, query, offset, step)
                pages_read += 1
                out.give(page.results)
                if out.count > MAX_LIST_ITEMS:
                    raise self._bound(route, f"more than {MAX_LIST_ITEMS} items in one list")
                if len(page.results) < step:
                    break
                offset += step

    async def _pooled_in_order(
        self,
        fetch: Callable[[A], Awaitable[T]],
        args: Sequence[A],
        take: Callable[[T], object],
    ) -> T | None:
        """``fetch(arg)`` for every arg by ``max_in_flight`` workers (as ``_pooled``), each
        result given to ``take`` in the order of ``args`` as soon as those before it were:
        only results that came early wait, not all of them. Gives the last result (``None``
        when there are no args)."""
        early: dict[int, T] = {}
        given = 0
        last: T | None = None

        def arrived(i: int, result: T) -> None:
            nonlocal given, last
            early[i] = result
            while given in early:
                last = early.pop(given)
                take(last)
                given += 1

        await self._pool(fetch, args, arrived)
        return last

    async def _pooled(self, fetch: Callable[[A], Awaitable[T]], args: Iterable[A]) -> list[T]:
        """``fetch(arg)`` for every arg, in order, by ``max_in_flight`` workers: as many
        coroutines as workers, however many pages there are. The first failure stops the
        workers taking more and is raised once they are done."""
        todo = list(args)
        results: list[Any] = [None] * len(todo)
        await self._pool(fetch, todo, results.__setitem__)
        return results

    async def _pool(
        self,
        fetch: Callable[[A], Awaitable[T]],
        args: Sequence[A],
        arrived: Callable[[int, T], object],
    ) -> None:
        """``fetch(arg)`` for every arg by ``max_in_flight`` workers, ``arrived(index,
        result)`` as each comes back. The first failure stops the workers taking more and is
        raised once they are done."""
        queue = iter(enumerate(args))
        failed: list[BaseException] = []

        async def worker() -> None:
            for i, arg in queue:
                if failed:
                    return
                try:
                    arrived(i, await fetch(arg))
                except BaseException as exc:
                    failed.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(min(self._workers, len(args)))))
        if failed:
            raise failed[0]


class _Delivery:
    """Hands a list's items on a page at a time, each SID once (offset paging over a
    changing list can repeat an item), and counts what came (repeats included). A row
    (a dict) repeated with other contents is noted in ``contradicted``."""

    __slots__ = ("contradicted", "count", "seen", "take")

    def __init__(self, take: Callable[[list[Any]], object], contradicted: set[str]) -> None:
        self.take = take
        #: SID -> a digest of the row first given with it (0 for an answer model)
        self.seen: dict[str, int] = {}
        self.contradicted = contradicted
        self.count = 0

    def give(self, items: Sequence[Any]) -> None:
        """Hand on the items of one page not seen before."""
        self.count += len(items)
        fresh = []
        for item in items:
            row = type(item) is dict
            sid = item.get("sid") if row else getattr(item, "sid", None)
            if isinstance(sid, str):
                digest = _digest(item) if row else 0
                first = self.seen.get(sid)
                if first is not None:
                    if first != digest:
                        self.contradicted.add(sid)
                    continue
                self.seen[sid] = digest
            fresh.append(item)
        self.take(fresh)


def _digest(row: dict[str, Any]) -> int:
    """A digest of a row's contents (its fields are texts, numbers or ``null``)."""
    try:
        return hash(tuple(row.items()))
    except TypeError:  # a nested value: rows are flat, but a digest must never fail
        return hash(repr(sorted(row.items(), key=lambda kv: kv[0])))


def _smaller_pages(size: int, message: str) -> list[int]:
    """The page sizes to try, largest first, after a page of ``size`` was refused with
    ``message``: the largest size below ``size`` that the message names (its upper bound,
    as in "must be an integer from 1 to 30"), then ``SMALLER_PAGES`` down to one."""
    named = [n for n in map(int, _NUMBER.findall(message)) if 1 < n < size]
    first = [max(named)] if named else []
    return first + [n for n in SMALLER_PAGES if n < size and n not in first]
