"""Auto-match and routing over HTTP: scores by the rule of rules.md on a fixture, own listings
skipped, savings against the fresh-cost estimates; auto-buy through the express purchase (real
worker and Temporal dev server) charges once under retries and concurrent identical requests;
each routing strategy picks what its rule says."""

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.clock import utcnow
from models.listings import DataListing, SearchSignal
from models.purchases import Transaction
from tests.api.helpers import assert_problem, register
from tests.ledger_helpers import assert_invariants, balances

API = "/api/v1"
Sessions = async_sessionmaker[AsyncSession]
Agent = dict[str, Any]


async def _list(api: httpx.AsyncClient, seller: Agent, title: str, **fields: Any) -> str:
    body = {
        "title": title,
        "category": "web_search",
        "content": f"{title} {uuid.uuid4()}",
        "price_usdc": "0.005",
        "quality_score": "0.5",
        **fields,
    }
    response = await api.post(f"{API}/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _age(sessions: Sessions, listing_id: str, hours: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(DataListing)
            .where(DataListing.id == uuid.UUID(listing_id))
            .values(freshness_at=utcnow() - timedelta(hours=hours))
        )


def _words() -> tuple[str, str]:
    return f"zq{uuid.uuid4().hex[:8]}", f"zv{uuid.uuid4().hex[:8]}"


async def test_matches_are_scored_by_the_rule(api: httpx.AsyncClient, sessions: Sessions) -> None:
    seller, buyer = await register(api), await register(api)
    one, two = _words()
    both = await _list(
        api, seller, f"{one} {two} tutorial", price_usdc="0.004", quality_score="0.8"
    )
    half = await _list(
        api,
        seller,
        f"{one} django",
        category="code_analysis",
        price_usdc="0.03",
        quality_score="0.6",
    )
    own = await _list(api, buyer, f"{one} {two} mine", quality_score="1")
    await _list(api, seller, "weather report", category="computation", quality_score="1")
    await _age(sessions, both, 12)
    body = {"description": f"{one} {two}", "category": "web_search"}
    response = await api.post(f"{API}/agents/auto-match", headers=buyer["headers"], json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    matches = result["matches"]
    assert len(matches) <= 5 and own not in {m["listing_id"] for m in matches}
    first, second = matches[0], matches[1]
    assert (first["listing_id"], second["listing_id"]) == (both, half)
    # 0.5 x 1 + 0.3 x 0.8 + 0.2 x 0.5 (12 h old) + 0.1 (web_search asked) = 0.94
    assert abs(Decimal(first["match_score"]) - Decimal("0.94")) <= Decimal("0.001")
    # 0.5 x 1/2 + 0.3 x 0.6 + 0.2 x 1 (new) + 0 (code_analysis) = 0.63
    assert abs(Decimal(second["match_score"]) - Decimal("0.63")) <= Decimal("0.001")
    assert [m["match_score"] for m in matches] == sorted(
        (m["match_score"] for m in matches), key=Decimal, reverse=True
    )
    # Fresh cost: web_search 0.01, code_analysis 0.02; savings never negative.
    assert (first["estimated_fresh_cost"], first["savings_usdc"]) == ("0.010000", "0.006000")
    assert Decimal(first["savings_percent"]) == Decimal("60.0")
    assert (second["estimated_fresh_cost"], second["savings_usdc"]) == ("0.020000", "0.000000")
    assert result["auto_bought"] is False and result["purchase"] is None
    async with sessions() as session:  # each auto-match is a search signal of its asker's
        logged = (
            await session.scalars(
                select(SearchSignal).where(SearchSignal.requester == f"agent:{buyer['id']}")
            )
        ).all()
    assert [(s.source, s.query, s.category, s.matched_count) for s in logged] == [
        ("auto_match", body["description"], "web_search", len(matches))
    ]

    cheap = {**body, "max_price": "0.01"}
    capped = await api.post(f"{API}/agents/auto-match", headers=buyer["headers"], json=cheap)
    assert half not in {m["listing_id"] for m in capped.json()["matches"]}
    # The seller asking finds its own listings skipped, the buyer's found instead.
    theirs = await api.post(f"{API}/agents/auto-match", headers=seller["headers"], json=body)
    ids = {m["listing_id"] for m in theirs.json()["matches"]}
    assert own in ids and both not in ids and half not in ids
    assert_problem(await api.post(f"{API}/agents/auto-match", json=body), 401)
    bad = {**body, "routing_strategy": "fastest_please"}
    response = await api.post(f"{API}/agents/auto-match", headers=buyer["headers"], json=bad)
    assert_problem(response, 422)


@pytest.mark.temporal
async def test_auto_buy_charges_once_under_retries_and_concurrency(
    live: httpx.AsyncClient, sessions: Sessions, temporal_dev: WorkflowEnvironment
) -> None:
    seller, buyer = await register(live), await register(live)
    one, two = _words()
    await _list(live, seller, f"{one} {two} best", price_usdc="0.005", quality_score="0.9")
    cheapest = await _list(live, seller, f"{one} {two} cheap", price_usdc="0.002")
    body = {
        "description": f"{one} {two}",
        "auto_buy": True,
        "routing_strategy": "cheapest",  # among the eligible: the cheaper, not the best score
    }
    headers = {**buyer["headers"], "Idempotency-Key": f"auto-{uuid.uuid4()}"}
    url = f"{API}/agents/auto-match"
    together = await asyncio.gather(*(live.post(url, headers=headers, json=body) for _ in range(6)))
    retried = [await live.post(url, headers=headers, json=body) for _ in range(2)]
    responses = [*together, *retried]
    assert {r.status_code for r in responses} == {200}, {r.text for r in responses}
    purchases = [r.json()["purchase"] for r in responses]
    assert all(r.json()["auto_bought"] for r in responses)
    assert len({p["transaction_id"] for p in purchases}) == 1
    assert {p["listing_id"] for p in purchases} == {cheapest}
    assert purchases[0]["content"].startswith(f"{one} {two} cheap")
    assert retried[-1].headers["Idempotent-Replayed"] == "true"
    assert (await balances(sessions))[buyer["id"]] == 100_000 - 2_000
    async with sessions() as session:
        rows = list(
            await session.scalars(
                select(Transaction).where(Transaction.buyer_id == uuid.UUID(buyer["id"]))
            )
        )
    assert len(rows) == 1 and rows[0].express and rows[0].status == "completed"
    runs = temporal_dev.client.list_workflows(f"WorkflowId = '{rows[0].workflow_id}'")
    assert len([r async for r in runs]) == 1  # one express workflow, never started again

    # Nothing eligible (over the auto-buy limit): matches, and nothing bought.
    limited = {**body, "auto_buy_max_price": "0.001"}
    skipped = await live.post(url, headers=buyer["headers"], json=limited)
    assert skipped.status_code == 200 and skipped.json()["auto_bought"] is False
    assert skipped.json()["auto_buy_skipped"] and skipped.json()["matches"]
    assert (await balances(sessions))[buyer["id"]] == 98_000
    await assert_invariants(sessions)


# --- Routing ------------------------------------------------------------------------------


def _candidates(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{tag}-a",
            "price_usdc": "0.010",
            "quality_score": "0.9",
            "avg_response_ms": 300,
            "region": "eu-west",
        },
        {
            "id": f"{tag}-b",
            "price_usdc": "0.004",
            "quality_score": "0.5",
            "avg_response_ms": 900,
            "region": "us-east",
        },
        {
            "id": f"{tag}-c",
            "price_usdc": "0.006",
            "quality_score": "0.8",
            "avg_response_ms": 100,
            "region": "ap-south",
        },
        {"id": f"{tag}-d", "price_usdc": "0.004", "quality_score": "0.7", "region": "eu-central"},
    ]


async def _route(api: httpx.AsyncClient, strategy: str, candidates: list[Any], **more: Any) -> Any:
    body = {"strategy": strategy, "candidates": candidates, **more}
    response = await api.post(f"{API}/route/select", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_strategy_picks_by_its_rule(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    fixture = _candidates(tag)

    async def picks(strategy: str, **more: Any) -> str:
        return str((await _route(api, strategy, fixture, **more))["selected"]["id"]).split("-")[1]

    assert await picks("cheapest") == "d"  # b and d cost 0.004: the better quality
    assert await picks("fastest") == "c"  # d has no record: last
    assert await picks("highest_quality") == "a"
    assert await picks("best_value") == "d"  # quality per price: a 90, b 125, c 133, d 175
    assert await picks("locality", buyer_region="eu-west") == "a"  # same region
    assert await picks("locality", buyer_region="us-west") == "b"  # adjacent to us-east
    assert await picks("locality", buyer_region="ap-south") == "c"
    assert await picks("locality") == "d"  # no region: all 0.2, then best value
    routed = await _route(api, "locality", fixture, buyer_region="eu-west")
    assert [c["proximity"] for c in routed["ranked"]] == ["1.0", "0.5", "0.5", "0.2"]
    # Round robin: one further each time the same candidates (in any order) are routed.
    turns = [await picks("round_robin") for _ in range(5)]
    assert turns == ["a", "b", "c", "d", "a"]
    reordered = await _route(api, "round_robin", list(reversed(fixture)))
    assert reordered["selected"]["id"] == f"{tag}-b"


async def test_weighted_random_draws_in_proportion_to_quality(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    fixture = [
        *_candidates(tag),
        {"id": f"{tag}-z", "price_usdc": "0.001", "quality_score": "0"},
    ]
    draws = 300
    counts: Counter[str] = Counter()
    for _ in range(draws):
        routed = await _route(api, "weighted_random", fixture)
        counts[str(routed["selected"]["id"]).split("-")[1]] += 1
    assert counts["z"] == 0  # quality 0 is never drawn
    total = Decimal("2.9")
    for name, quality in (("a", "0.9"), ("b", "0.5"), ("c", "0.8"), ("d", "0.7")):
        p = float(Decimal(quality) / total)
        expected, spread = draws * p, 6 * (draws * p * (1 - p)) ** 0.5  # six sigma
        assert abs(counts[name] - expected) <= spread, (name, counts)


async def test_route_refusals_and_strategies(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    twice = [_candidates(tag)[0], _candidates(tag)[0]]
    response = await api.post(
        f"{API}/route/select", json={"strategy": "cheapest", "candidates": twice}
    )
    assert_problem(response, 422, "duplicate_candidate")
    for bad in (
        {"strategy": "cheapest", "candidates": []},
        {"strategy": "nearest", "candidates": _candidates(tag)},
        {"strategy": "cheapest", "candidates": [{"id": "x", "price_usdc": "0"}]},
    ):
        assert_problem(await api.post(f"{API}/route/select", json=bad), 422)
    listed = (await api.get(f"{API}/route/strategies")).json()
    assert [s["name"] for s in listed["strategies"]] == [
        "cheapest",
        "fastest",
        "highest_quality",
        "best_value",
        "round_robin",
        "weighted_random",
        "locality",
    ]
    assert "us-west" in listed["regions"]["us-east"]
    assert listed["proximity"] == {"same": "1.0", "adjacent": "0.5", "elsewhere": "0.2"}
