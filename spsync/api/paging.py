"""Paged lists: every item of a list in about ``total/100`` calls, within bounds.

``Pager._paged`` reads the first page, then the rest concurrently when the paging is plain
offsets (by ``max_in_flight`` workers, ``Pager._pooled``), then follows ``next`` links to
the end; items are de-duplicated by SID. A list past one of the bounds below is refused
whole, named by its route (docs/api-client.md#bounds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import httpx

from spsync.api import wire
from spsync.api.calls import Caller
from spsync.api.routes import Query
from spsync.errors import InvalidInputError, ResponseError

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R", bound=wire.Response)

#: page size asked for (the contract's maximum); a page with more items is refused
PAGE_LIMIT = 100
#: page sizes tried, in turn, when the service refuses a page of ``PAGE_LIMIT``
SMALLER_PAGES = (50, 25, 10, 5)

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


def _next_query(next_url: str) -> Query:
    return list(httpx.URL(next_url).params.multi_items())


def _more_unlinked(first: wire.Page[Any], step: int, limit: int) -> bool:
    """Whether a list whose first page has no ``next`` link still has more: its ``total``
    says so, or it announces none and the page is full."""
    if first.total is not None:
        return first.total > step
    return step >= limit


def _dedupe(items: Iterable[R]) -> list[R]:
    """Drop repeats by SID (offset paging over a changing list can repeat an item)."""
    seen: set[str] = set()
    out: list[R] = []
    for item in items:
        sid = getattr(item, "sid", None)
        if isinstance(sid, str):
            if sid in seen:
                continue
            seen.add(sid)
        out.append(item)
    return out


class Pager(Caller):
    """The paged reads of a ``Client`` (``page_limit`` and ``_workers`` set by its
    ``__init__``)."""

    #: the page size asked for (smaller once the service refused ``PAGE_LIMIT``)
    page_limit: int
    #: how many pages are read at once (the window's ceiling)
    _workers: int

    async def _paged(
        self,
        route: str,
        params: dict[str, str],
        item: type[R],
        query: Sequence[tuple[str, str]] = (),
    ) -> list[R]:
        """Every item of a paged list: ~total/100 calls.

        After the first page gives ``total``, the remaining pages are read concurrently
        (bounded by ``max_in_flight``); then ``next`` is followed from the last page to the
        end, so items added meanwhile are not missed. Items are de-duplicated by SID.
        """
        first = await self._page(route, params, item, list(query), 0)
        return await self._rest(route, params, item, list(query), first)

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
                smaller = [n for n in SMALLER_PAGES if n < size]
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
        items: list[R] = list(first.results)
        cursor = first.next
        step = len(first.results)
        pages_read = 1
        # how many pages the list may take: what ``total`` announces and a little more (items
        # added while reading), or the overall cap when it announces nothing
        most = MAX_PAGES_WITHOUT_TOTAL
        if first.total is not None and step > 0:
            most = min(MAX_LIST_PAGES, -(-first.total // step) + PAGE_SLACK)
        if cursor and first.total is not None and step > 0:
            nxt = dict(_next_query(cursor))
            if nxt.get("offset") == str(step):  # plain offset paging: pages are predictable
                offsets = range(step, first.total, step)
                if len(offsets) + 1 > MAX_LIST_PAGES:
                    raise self._bound(
                        route,
                        f"the list announces {first.total} items in pages "
                        f"of {step}: more than {MAX_LIST_PAGES} pages",
                    )
                pages = await self._pooled(
                    lambda off: self._page(route, params, item, query, off, step), offsets
                )
                for page in pages:
                    items.extend(page.results)
                pages_read += len(pages)
                cursor = pages[-1].next if pages else first.next
        seen: set[tuple[tuple[str, str], ...]] = set()
        while cursor:
            if pages_read >= most:
                raise self._bound(route, f"paging did not end after {pages_read} pages")
            q = _merge_query(query, _next_query(cursor))
            key = tuple(sorted(q))
            if key in seen:
                raise ResponseError(
                    "paging does not advance (a next link seen before)", method="GET", path=route
                )
            seen.add(key)
            page = await self._list_page(route, params, item, q)
            pages_read += 1
            items.extend(page.results)
            if len(items) > MAX_LIST_ITEMS:
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
                items.extend(page.results)
                if len(items) > MAX_LIST_ITEMS:
                    raise self._bound(route, f"more than {MAX_LIST_ITEMS} items in one list")
                if len(page.results) < step:
                    break
                offset += step
        return _dedupe(items)

    async def _pooled(self, fetch: Callable[[A], Awaitable[T]], args: Iterable[A]) -> list[T]:
        """``fetch(arg)`` for every arg, in order, by ``max_in_flight`` workers: as many
        coroutines as workers, however many pages there are. The first failure stops the
        workers taking more and is raised once they are done."""
        todo = list(enumerate(args))
        results: list[Any] = [None] * len(todo)
        queue = iter(todo)
        failed: list[BaseException] = []

        async def worker() -> None:
            for i, arg in queue:
                if failed:
                    return
                try:
                    results[i] = await fetch(arg)
                except BaseException as exc:
                    failed.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(min(self._workers, len(todo)))))
        if failed:
            raise failed[0]
        return results
