"""Discovery against a plain model of its rules: every filter and sort, on both databases.

The model is the fallback a reader can check by eye: a listing matches when every query word
is one of the words of its title, description or tags; sorts order by their key, then by id.
The full-text index (PostgreSQL tsvector, SQLite FTS5) must agree with it, and each result must
be exactly what `GET /listings/{id}` says about that listing.
"""

import itertools
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.listings import SearchSignal
from tests.api.helpers import register

DISCOVER = "/api/v1/discover"
LISTINGS = "/api/v1/listings"
CATEGORIES = ("web_search", "code_analysis", "document_summary")
PRICES = ("0.01", "0.02", "0.02", "0.5", "0.9", "0.3", "0.3", "0.05", "0.7", "0.7", "0.1", "0.2")
QUALITIES = ("0.1", "0.9", "0.5", "0.5", "0.3", "0.9", "0.7", "0.2", "0.5", "0.8", "0.4", "0.6")
SORTS = ("relevance", "price_asc", "price_desc", "freshness", "quality")


def _words(listing: dict[str, Any]) -> set[str]:
    text = " ".join([listing["title"], listing["description"], *listing["tags"]])
    return set(re.findall(r"\w+", text.lower()))


async def _fixture(api: httpx.AsyncClient) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Twelve listings of one seller (one of them paused), and a word only they use."""
    seller = await register(api)
    m = seller["id"][:8]
    alpha, beta, gamma, delta = (f"{w}{m}x" for w in ("alpha", "beta", "gamma", "delta"))
    listings = []
    for i, (price, quality) in enumerate(zip(PRICES, QUALITIES, strict=True)):
        body = {
            "title": f"{alpha} {beta if i % 2 == 0 else 'plain'} item {i}",
            "description": f"{gamma if i % 3 == 0 else 'nothing'} here",
            "category": CATEGORIES[i % 3],
            "content": json.dumps({"i": i}),
            "content_type": "application/json",
            "price_usdc": price,
            "tags": [delta] if i % 4 == 0 else ["other"],
            "quality_score": quality,
        }
        response = await api.post(LISTINGS, headers=seller["headers"], json=body)
        assert response.status_code == 201, response.text
        listings.append(response.json())
    paused = listings.pop(5)
    response = await api.put(
        f"{LISTINGS}/{paused['id']}", headers=seller["headers"], json={"status": "paused"}
    )
    assert response.status_code == 200, response.text
    return seller, listings, m


def _model(listings: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """What discovery must answer, by the rules written out."""
    words = set(re.findall(r"\w+", (params.get("q") or "").lower()))
    found = [
        x
        for x in listings
        if words <= _words(x)
        and params.get("category", x["category"]) == x["category"]
        and Decimal(x["price_usdc"]) >= Decimal(params.get("min_price", "0"))
        and Decimal(x["price_usdc"]) <= Decimal(params.get("max_price", "1000"))
        and Decimal(x["quality_score"]) >= Decimal(params.get("min_quality", "0"))
    ]
    sort = params.get("sort_by", "relevance")
    if sort == "relevance" and not words:
        sort = "freshness"
    keys = {
        "relevance": lambda x: (0, x["id"]),  # compared as a set: the engines rank differently
        "price_asc": lambda x: (Decimal(x["price_usdc"]), x["id"]),
        "price_desc": lambda x: (-Decimal(x["price_usdc"]), x["id"]),
        "freshness": lambda x: (-datetime.fromisoformat(x["freshness_at"]).timestamp(), x["id"]),
        "quality": lambda x: (-Decimal(x["quality_score"]), x["id"]),
    }
    return sorted(found, key=keys[sort])


async def _discover(api: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
    response = await api.get(DISCOVER, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_filter_and_sort_agrees_with_the_model(api: httpx.AsyncClient) -> None:
    seller, listings, m = await _fixture(api)
    by_id = {x["id"]: x for x in listings}
    shown = {x["id"]: (await api.get(f"{LISTINGS}/{x['id']}")).json() for x in listings}
    alpha, beta, gamma, delta = (f"{w}{m}x" for w in ("alpha", "beta", "gamma", "delta"))
    queries = [None, alpha, beta, f"{alpha} {beta}", gamma, delta, f"{beta} {gamma}", "nomatch"]
    filters: list[dict[str, str]] = [
        {},
        {"category": "code_analysis"},
        {"min_price": "0.2"},
        {"max_price": "0.3"},
        {"min_quality": "0.5"},
        {"category": "web_search", "max_price": "0.7", "min_quality": "0.2"},
        {"max_age_hours": "1"},
    ]
    for q, sort, extra in itertools.product(queries, SORTS, filters):
        params = {"seller_id": seller["id"], "sort_by": sort, "page_size": 100, **extra}
        if q:
            params["q"] = q
        body = await _discover(api, params)
        expected = [x["id"] for x in _model(listings, params)]
        got = [r["id"] for r in body["results"]]
        assert body["total"] == len(expected), params
        if sort == "relevance" and q:
            assert sorted(got) == sorted(expected), params
        else:
            assert got == expected, params
        for result in body["results"]:  # the same listing, field for field, as GET shows it
            assert result == shown[result["id"]], params
            assert result["id"] in by_id


async def test_full_text_matches_the_plain_word_model_without_a_seller_filter(
    api: httpx.AsyncClient,
) -> None:
    _, listings, m = await _fixture(api)
    other = await register(api)
    body = {
        "title": f"alpha{m}x from someone else",
        "category": "document_summary",
        "content": "x",
        "price_usdc": "0.04",
    }
    response = await api.post(LISTINGS, headers=other["headers"], json=body)
    assert response.status_code == 201, response.text
    everyone = [*listings, response.json()]
    for q in (f"alpha{m}x", f"ALPHA{m}X!", f"beta{m}x alpha{m}x", f"delta{m}x"):
        params = {"q": q, "sort_by": "price_asc", "page_size": 100}
        got = [r["id"] for r in (await _discover(api, params))["results"]]
        assert got == [x["id"] for x in _model(everyone, params)], q
        ranked = (await _discover(api, {"q": q, "page_size": 100}))["results"]
        assert {r["id"] for r in ranked} == set(got), q


async def test_pages_split_the_same_order(api: httpx.AsyncClient) -> None:
    seller, listings, m = await _fixture(api)
    for sort in SORTS:
        params: dict[str, Any] = {"seller_id": seller["id"], "q": f"alpha{m}x", "sort_by": sort}
        whole = await _discover(api, {**params, "page_size": 100})
        pages = [await _discover(api, {**params, "page_size": 4, "page": n}) for n in (1, 2, 3)]
        assert [r["id"] for p in pages for r in p["results"]] == [
            r["id"] for r in whole["results"]
        ], sort
        assert {p["total"] for p in pages} == {whole["total"]} == {len(listings)}
        past = await _discover(api, {**params, "page_size": 4, "page": 9})
        assert past["results"] == [] and past["total"] == len(listings)


async def test_each_search_leaves_a_demand_signal(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, listings, m = await _fixture(api)
    q = f"Beta{m}x  ALPHA{m}x"
    params = {"q": q, "category": "web_search", "max_price": "0.5"}
    body = await _discover(api, params)
    async with sessions() as session:
        signals = (await session.scalars(select(SearchSignal).where(SearchSignal.query == q))).all()
    assert len(signals) == 1
    signal = signals[0]
    assert signal.pattern == f"alpha{m}x beta{m}x"
    assert signal.category == "web_search" and signal.max_price_units == 500_000
    assert signal.matched_count == body["total"] == len(_model(listings, params))
    assert signal.requester.startswith("client:") and signal.source == "discover"
