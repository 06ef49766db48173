"""Listings, discovery, quality proofs and seller tools, driven as an agent would."""

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.api.helpers import assert_problem, register

LISTINGS = "/api/v1/listings"


def listing(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Python asyncio tutorial search results",
        "description": "Top 10 results for python asyncio",
        "category": "web_search",
        "content": json.dumps({"query": "python asyncio", "results": ["docs", "blog"]}),
        "content_type": "application/json",
        "price_usdc": "0.005",
        "tags": ["python", "asyncio"],
        "quality_score": "0.85",
        **fields,
    }


async def _create(api: httpx.AsyncClient, seller: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = await api.post(LISTINGS, headers=seller["headers"], json=listing(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_get_update_delist(api: httpx.AsyncClient) -> None:
    seller, other = await register(api), await register(api)
    created = await _create(api, seller)
    assert created["content_hash"].startswith("sha256:") and len(created["content_hash"]) == 71
    assert created["price_usdc"] == "0.005000" and created["currency"] == "USDC"
    assert created["seller"] == {"id": seller["id"], "name": seller["name"]}
    assert created["status"] == "active" and "content" not in created

    fetched = (await api.get(f"{LISTINGS}/{created['id']}")).json()
    assert fetched["content_hash"] == created["content_hash"]

    paused = await api.put(
        f"{LISTINGS}/{created['id']}",
        headers=seller["headers"],
        json={"status": "paused", "price_usdc": "0.01"},
    )
    assert paused.json()["status"] == "paused" and paused.json()["price_usdc"] == "0.010000"
    assert_problem(
        await api.put(
            f"{LISTINGS}/{created['id']}", headers=seller["headers"], json={"status": "delisted"}
        ),
        422,
    )
    assert_problem(
        await api.put(f"{LISTINGS}/{created['id']}", headers=other["headers"], json={"title": "x"}),
        403,
        "not_owner",
    )
    gone = await api.delete(f"{LISTINGS}/{created['id']}", headers=seller["headers"])
    assert gone.json()["status"] == "delisted"
    assert_problem(await api.get(f"{LISTINGS}/not-a-uuid"), 404, "listing_not_found")


async def test_bytes_round_trip_through_the_store(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    seller = await register(api)
    raw = os.urandom(4096)
    created = await _create(
        api,
        seller,
        content=None,
        content_base64=base64.b64encode(raw).decode(),
        content_type="application/octet-stream",
    )
    assert created["content_size"] == 4096
    digest = created["content_hash"].removeprefix("sha256:")
    stored = Path(settings.content_store_path) / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == raw


@pytest.mark.parametrize(
    "fields",
    [
        {"category": "astrology"},
        {"price_usdc": "0"},
        {"price_usdc": "-1"},
        {"price_usdc": "1000.000001"},
        {"price_usdc": "0.0000001"},
        {"price_usdc": "abc"},
        {"quality_score": "1.5"},
        {"quality_score": "0.1234"},
        {"title": ""},
        {"content_base64": "AAAA"},  # both content and content_base64
        {"content": None},  # neither
        {"content": None, "content_base64": "not base64!"},
        {"content_type": "not a type"},
        {"tags": ["x" * 51]},
        {"owner": "me"},
    ],
)
async def test_bad_listings_are_422(api: httpx.AsyncClient, fields: dict[str, Any]) -> None:
    seller = await register(api)
    before = (await api.get(LISTINGS)).json()["total"]
    assert_problem(await api.post(LISTINGS, headers=seller["headers"], json=listing(**fields)), 422)
    assert (await api.get(LISTINGS)).json()["total"] == before


async def test_oversize_content_is_refused_before_the_disk(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    seller = await register(api)
    # Within the schema's character limit, over the byte limit once encoded as UTF-8.
    huge = "é" * (settings.listing_max_content_bytes // 2 + 1)
    response = await api.post(
        LISTINGS, headers=seller["headers"], json=listing(content=huge, content_type="text/plain")
    )
    assert_problem(response, 422, "content_too_large")
    too_many_characters = "x" * (settings.listing_max_content_bytes + 1)
    response = await api.post(
        LISTINGS, headers=seller["headers"], json=listing(content=too_many_characters)
    )
    assert_problem(response, 422, "validation_error")
    assert _largest_file(Path(settings.content_store_path)) <= settings.listing_max_content_bytes


def _largest_file(root: Path) -> int:
    return max((p.stat().st_size for p in root.rglob("*") if p.is_file()), default=0)


async def test_discover_searches_filters_and_sorts(api: httpx.AsyncClient) -> None:
    seller = await register(api)
    marker = seller["id"][:8]
    cheap = await _create(
        api, seller, title=f"zebra{marker} cheap", price_usdc="0.001", quality_score="0.3"
    )
    dear = await _create(
        api,
        seller,
        title=f"zebra{marker} dear",
        price_usdc="0.9",
        quality_score="0.95",
        category="code_analysis",
    )
    await _create(api, seller, title="unrelated thing")

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/api/v1/discover", params={"q": f"zebra{marker}", **params})
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["results"]]

    assert set(await ids()) == {cheap["id"], dear["id"]}
    assert await ids(sort_by="price_asc") == [cheap["id"], dear["id"]]
    assert await ids(sort_by="price_desc") == [dear["id"], cheap["id"]]
    assert await ids(sort_by="quality") == [dear["id"], cheap["id"]]
    assert await ids(category="code_analysis") == [dear["id"]]
    assert await ids(min_price="0.5") == [dear["id"]]
    assert await ids(max_price="0.01") == [cheap["id"]]
    assert await ids(min_quality="0.9") == [dear["id"]]
    assert await ids(seller_id=seller["id"], max_age_hours=1) != []
    tagged = await api.get("/api/v1/discover", params={"q": "asyncio", "seller_id": seller["id"]})
    assert tagged.json()["total"] == 3  # tags and description are searched too


@pytest.mark.parametrize(
    "q",
    [
        "'",
        '"',
        "*",
        ":",
        "&",
        "!",
        "a' OR 1=1 --",
        "zebra:* & !x",
        '"unterminated',
        "NEAR(a b)",
        "\\",
        "%",
        "(",
        ")",
    ],
)
async def test_query_syntax_is_never_an_error(api: httpx.AsyncClient, q: str) -> None:
    response = await api.get("/api/v1/discover", params={"q": q})
    assert response.status_code == 200, response.text


async def test_discover_rejects_bad_filters(api: httpx.AsyncClient) -> None:
    for params in (
        {"sort_by": "random"},
        {"min_price": "abc"},
        {"min_quality": "2"},
        {"page_size": "1000"},
        {"category": "nope"},
    ):
        assert_problem(await api.get("/api/v1/discover", params=params), 422)
    assert_problem(await api.get("/api/v1/discover", params={"seller_id": "x"}), 404)


async def test_quality_proofs_verify_truth_and_refuse_lies(api: httpx.AsyncClient) -> None:
    seller = await register(api)
    created = await _create(api, seller)
    proofs = (await api.get(f"/api/v1/zkp/{created['id']}/proofs")).json()["proofs"]
    assert {p["proof_type"] for p in proofs} == {
        "merkle_root",
        "schema",
        "bloom_filter",
        "metadata",
    }

    verify = f"/api/v1/zkp/{created['id']}/verify"
    true = await api.post(
        verify,
        json={
            "keywords": ["python", "asyncio"],
            "schema_has_fields": ["query", "results"],
            "min_size": 10,
            "min_quality": "0.8",
        },
    )
    assert true.json()["verified"] is True, true.json()
    for lie in (
        {"keywords": ["kubernetes"]},
        {"schema_has_fields": ["password"]},
        {"min_size": 10**9},
        {"min_quality": "0.9"},
    ):
        assert (await api.post(verify, json=lie)).json()["verified"] is False, lie
    bloom = f"/api/v1/zkp/{created['id']}/bloom-check"
    assert (await api.get(bloom, params={"word": "asyncio"})).json()["probably_present"] is True
    assert (await api.get(bloom, params={"word": "kubernetes"})).json()["probably_present"] is False


async def test_bulk_list_is_all_or_nothing(api: httpx.AsyncClient) -> None:
    seller = await register(api)
    before = (await api.get(LISTINGS)).json()["total"]
    bad = await api.post(
        "/api/v1/seller/bulk-list",
        headers=seller["headers"],
        json={"items": [listing(), listing(price_usdc="0"), listing(category="x")]},
    )
    body = assert_problem(bad, 422, "invalid_items")
    assert [item["index"] for item in body["items"]] == [1, 2]
    assert (await api.get(LISTINGS)).json()["total"] == before
    good = await api.post(
        "/api/v1/seller/bulk-list",
        headers=seller["headers"],
        json={"items": [listing(title=f"item {i}") for i in range(3)]},
    )
    assert good.status_code == 201 and good.json()["created"] == 3
    assert (await api.get(LISTINGS)).json()["total"] == before + 3


async def test_price_suggestion(api: httpx.AsyncClient) -> None:
    seller = await register(api)
    suggest = "/api/v1/seller/price-suggest"
    empty = await api.post(
        suggest, headers=seller["headers"], json={"category": "computation", "quality_score": "0.5"}
    )
    assert (empty.json()["competitors"], empty.json()["suggested_price"]) == (0, "0.005000")
    await _create(api, seller, category="api_response", price_usdc="0.01", quality_score="0.5")
    suggestion = (
        await api.post(
            suggest,
            headers=seller["headers"],
            json={"category": "api_response", "quality_score": "0.5"},
        )
    ).json()
    assert (suggestion["competitors"], suggestion["suggested_price"]) == (1, "0.010000")
    assert suggestion["strategy"] == "quality_adjusted_median"
