"""Pages served again (ADR 0043): a repeated search is answered without searching, and never
with a page the catalog has moved past, whoever changed it (the API, a raw writer such as the
tally, a seller's new name), one change at a time or racing the searches, on both databases.
"""

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.page_cache import Page, PageCache
from api.routes.discovery import _PAGE, search_listings
from core.db import read_only, unit_of_work
from domain.listings.discovery import Search
from models.agents import RegisteredAgent
from models.listings import CatalogVersion, DataListing, SearchSignal
from tests.api.helpers import register

DISCOVER = "/api/v1/discover"
LISTINGS = "/api/v1/listings"
PRICES = ("0.01", "0.2", "0.05", "0.7", "0.3")


def _searches(seller: str, word: str) -> list[dict[str, Any]]:
    return [
        {"seller_id": seller, "sort_by": "price_asc"},
        {"seller_id": seller, "sort_by": "freshness", "page_size": 2, "page": 2},
        {"seller_id": seller, "q": word, "sort_by": "quality"},
        {"q": word, "category": "web_search"},
    ]


def _search(params: dict[str, Any]) -> Search:
    return Search(
        q=params.get("q"),
        category=params.get("category"),
        seller_id=uuid.UUID(params["seller_id"]) if "seller_id" in params else None,
        sort_by=params.get("sort_by", "relevance"),
        page=params.get("page", 1),
        page_size=params.get("page_size", 20),
    )


async def _agrees(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], params: dict[str, Any]
) -> None:
    """The API's page is the page a search of the database reads now."""
    response = await api.get(DISCOVER, params=params)
    assert response.status_code == 200, response.text
    async with read_only(sessions) as session:
        fresh = json.loads(_PAGE.dump_json(await search_listings(session, _search(params))))
    assert response.json() == fresh, params


async def _listing(api: httpx.AsyncClient, seller: dict[str, Any], word: str, i: int) -> str:
    body = {
        "title": f"{word} item {i}",
        "category": ("web_search", "code_analysis")[i % 2],
        "content": f"result {i}",
        "price_usdc": PRICES[i % len(PRICES)],
        "quality_score": str(Decimal(i % 10) / 10),
    }
    response = await api.post(LISTINGS, headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _seller_with(
    api: httpx.AsyncClient, listings: int
) -> tuple[dict[str, Any], str, list[str]]:
    """A new seller, a word only its listings use, and that many listings' ids."""
    seller = await register(api)
    word = f"w{seller['id'][:8]}"
    return seller, word, [await _listing(api, seller, word, i) for i in range(listings)]


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement any engine of this process runs meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_a_repeated_search_is_answered_without_searching(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, word, _ = await _seller_with(api, 3)
    params = {"q": word, "sort_by": "price_asc"}
    first = await api.get(DISCOVER, params=params)
    with _statements() as seen:
        again = await api.get(DISCOVER, params=params)
    assert again.json() == first.json() and first.json()["total"] == 3
    searched = [s for s in seen if "data_listings" in s]
    assert searched == [], searched
    assert any("catalog_version" in s for s in seen)
    signals = select(func.count()).where(SearchSignal.query == word)
    async with read_only(sessions) as session:
        assert await session.scalar(signals) == 2  # the demand signal is still written


async def test_every_kind_of_change_shows_at_once(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seller, word, ids = await _seller_with(api, 4)
    searches = _searches(seller["id"], word)

    async def everywhere() -> None:
        for params in searches:
            await _agrees(api, sessions, params)

    async def put(listing: str, **fields: Any) -> None:
        response = await api.put(f"{LISTINGS}/{listing}", headers=seller["headers"], json=fields)
        assert response.status_code == 200, response.text

    await everywhere()
    await _listing(api, seller, word, 4)
    await everywhere()
    await put(ids[0], price_usdc="0.9")
    await everywhere()
    await put(ids[1], status="paused")
    await everywhere()
    await put(ids[1], status="active", title=f"{word} renamed")
    await everywhere()
    response = await api.delete(f"{LISTINGS}/{ids[2]}", headers=seller["headers"])
    assert response.status_code in (200, 204), response.text
    await everywhere()
    # Writers outside the API: the tally's counters, an operator renaming the seller.
    await _counted(sessions, ids[3])
    await everywhere()
    async with unit_of_work(sessions) as session:
        renamed = update(RegisteredAgent).where(RegisteredAgent.id == uuid.UUID(seller["id"]))
        await session.execute(renamed.values(name=f"renamed-{word}"))
    await everywhere()


async def test_without_its_counter_the_catalog_is_searched_every_time(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seller, _, ids = await _seller_with(api, 2)
    params = {"seller_id": seller["id"], "sort_by": "price_asc"}
    async with unit_of_work(sessions) as session:
        version = await session.scalar(select(CatalogVersion.version))
        await session.execute(delete(CatalogVersion))
    try:
        await _agrees(api, sessions, params)
        await _counted(sessions, ids[0])  # counted by nothing now
        await _agrees(api, sessions, params)
    finally:
        async with unit_of_work(sessions) as session:
            session.add(CatalogVersion(id=1, version=(version or 0) + 1))


async def _counted(sessions: async_sessionmaker[AsyncSession], listing: str) -> None:
    """A sale folded into the listing's counter, as the tally writes it (`domain.analytics`)."""
    counted = update(DataListing).where(DataListing.id == uuid.UUID(listing))
    async with unit_of_work(sessions) as session:
        await session.execute(counted.values(access_count=DataListing.access_count + 1))


async def test_searches_racing_changes_are_left_with_the_last_page(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seller, word, ids = await _seller_with(api, 6)
    searches = _searches(seller["id"], word)

    async def change(n: int) -> None:
        fields = {"price_usdc": PRICES[n % len(PRICES)], "status": ("active", "paused")[n % 2]}
        url = f"{LISTINGS}/{ids[n % len(ids)]}"
        response = await api.put(url, headers=seller["headers"], json=fields)
        assert response.status_code == 200, response.text

    async def search(n: int) -> None:
        response = await api.get(DISCOVER, params=searches[n % len(searches)])
        assert response.status_code == 200, response.text

    await asyncio.gather(*(f(n) for n in range(40) for f in (change, search, search)))
    for params in searches:
        await _agrees(api, sessions, params)


# Hypothesis: any sequence of changes, each followed by every search twice (a page read, then
# a page served again), leaves the API answering what the database holds.
changes = st.lists(
    st.tuples(st.sampled_from(["add", "price", "pause", "resume", "counted"]), st.integers(0, 9)),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=changes)
async def test_any_changes_leave_every_page_current(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], steps: list[Any]
) -> None:
    seller, word, ids = await _seller_with(api, 1)
    for kind, n in steps:
        listing = ids[n % len(ids)]
        if kind == "add":
            ids.append(await _listing(api, seller, word, n))
        elif kind == "counted":
            await _counted(sessions, listing)
        else:
            fields = {
                "price": {"price_usdc": PRICES[n % len(PRICES)]},
                "pause": {"status": "paused"},
                "resume": {"status": "active"},
            }[kind]
            response = await api.put(
                f"{LISTINGS}/{listing}", headers=seller["headers"], json=fields
            )
            assert response.status_code == 200, response.text
        for params in _searches(seller["id"], word) * 2:
            await _agrees(api, sessions, params)


def test_the_cache_keeps_the_newest_page_and_forgets_the_least_used() -> None:
    pages = PageCache(capacity=20)
    a, b, c = Search(q="a"), Search(q="b"), Search(q="c")
    pages.put(a, 5, Page(total=1, body=b"a" * 8))
    pages.put(a, 4, Page(total=1, body=b"x" * 8))  # a search that read before a commit
    assert pages.get(a, 5) == Page(1, b"a" * 8) and pages.get(a, 4) is None
    assert pages.size == 8
    pages.put(b, 5, Page(2, b"b" * 8))
    assert pages.get(a, 5) is not None  # a is now the most recently used
    pages.put(c, 5, Page(3, b"c" * 8))  # 24 bytes: b, the least recently used, goes
    assert pages.get(b, 5) is None and pages.get(a, 5) is not None and pages.get(c, 5)
    assert len(pages) == 2 and pages.size == 16
    pages.put(b, 5, Page(2, b"b" * 21))  # larger than the whole cache
    assert pages.get(b, 5) is None and len(pages) == 2
    clocked = Search(q="a", max_age_hours=1)
    pages.put(clocked, 5, Page(1, b"x"))
    assert pages.get(clocked, 5) is None
    off = PageCache(capacity=0)
    off.put(a, 5, Page(1, b"a"))
    assert off.get(a, 5) is None and not off.keeps(a)
