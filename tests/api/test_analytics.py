"""Demand and analytics driven as agents would: searches over HTTP (as agents and anonymously),
an express buy, one aggregation run on the dev server, then the analytics routes."""

import uuid
from decimal import Decimal
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.api.helpers import assert_problem, json_of, once, register
from tests.api.test_listings import listing
from workflows.contracts.demand import DemandTerms
from workflows.demand import DemandAggregationWorkflow

A = "/api/v1/analytics"


async def _aggregate(env: WorkflowEnvironment, settings: Settings) -> None:
    await env.client.execute_workflow(
        DemandAggregationWorkflow.run,
        DemandTerms(settle_seconds=0),
        id=f"demand-api-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal_task_queue,
    )


async def _search(api: httpx.AsyncClient, q: str, agent: dict[str, Any] | None = None) -> int:
    headers = agent["headers"] if agent else {}
    params = {"q": q, "category": "code_analysis"}
    response = await api.get("/api/v1/discover", params=params, headers=headers)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def _row(body: dict[str, Any], pattern: str) -> dict[str, Any] | None:
    return next((r for r in body["results"] if r["pattern"] == pattern), None)


async def _suggested(api: httpx.AsyncClient, agent: dict[str, Any]) -> int:
    body = {"category": "code_analysis", "quality_score": "0.5"}
    response = await api.post("/api/v1/seller/price-suggest", headers=agent["headers"], json=body)
    assert response.status_code == 200, response.text
    searches: int = response.json()["demand_searches"]
    return searches


async def test_demand_and_analytics_end_to_end(
    live: httpx.AsyncClient, settings: Settings, temporal_dev: WorkflowEnvironment
) -> None:
    tag = uuid.uuid4().hex[:10]
    sold, missing = f"{tag} parser", f"{tag} missing"
    seller, buyer, third = await register(live), await register(live), await register(live)
    item = (
        await live.post(
            "/api/v1/listings",
            headers=seller["headers"],
            json=listing(title=sold, category="code_analysis", quality_score="0.85"),
        )
    ).json()
    assert await _search(live, sold, buyer) == 1
    for _ in range(5):  # the seller's own searches never raise demand for its own listing
        await _search(live, sold, seller)
    for _ in range(20):  # one anonymous client: one requester, however many searches
        assert await _search(live, missing) == 0
    for agent in (buyer, third):
        await _search(live, missing, agent)
    bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert bought.status_code == 200, bought.text
    await _aggregate(temporal_dev, settings)

    trending = (await live.get(f"{A}/trending", params={"limit": 100})).json()
    assert trending["window_hours"] == 24 and trending["as_of"]
    row = _row(trending, f"{tag} parser")
    assert row is not None
    # 1 discover + 5 own searches by the seller + the express buy; 1 of 7 led to a purchase
    assert (row["search_count"], row["unique_requesters"]) == (7, 2)
    assert Decimal(row["conversion_rate"]) == Decimal("0.1429")  # 1/7
    assert row["fulfillment_rate"] == "1.0000" and not row["is_gap"]
    gap = _row(trending, f"{tag} missing")
    assert gap is not None and (gap["search_count"], gap["unique_requesters"]) == (22, 3)
    assert gap["velocity"] == "0.9167" and gap["is_gap"]  # 22 / 24

    gaps = (await live.get(f"{A}/demand-gaps", params={"limit": 100})).json()
    assert _row(gaps, f"{tag} missing") is not None and _row(gaps, f"{tag} parser") is None
    opportunities = (await live.get(f"{A}/opportunities", params={"limit": 100})).json()
    opportunity = _row(opportunities, f"{tag} missing")
    assert opportunity is not None and opportunity["competing_listings"] == 0
    assert opportunity["estimated_revenue_usdc"] == "0.004584"  # 0.9167 x 0.005

    mine = (await live.get("/api/v1/seller/demand-for-me", headers=seller["headers"])).json()
    own = _row(mine, f"{tag} parser")
    assert own is not None and (own["search_count"], own["unique_requesters"]) == (2, 1)
    # The seller's 5 searches in the category count for the buyer, never for the seller;
    # the buyer's 3 (discover, express, the missing words) the other way round.
    assert await _suggested(live, seller) == await _suggested(live, buyer) - 5 + 3

    my_stats = json_of(live, f"{A}/my-stats", seller["headers"])
    stats = await once(my_stats, lambda s: s["sales"] == 1)  # the tally folds the sale in
    assert (stats["sales"], stats["unique_buyers_served"], stats["listing_accesses"]) == (1, 1, 1)
    assert stats["active_listings"] == 1 and stats["avg_quality"] == "0.850"
    # 0.3 x 1/10 + 0.3 x 1/20 + 0.2 x 0.85 + 0.2 x 1/50
    assert stats["helpfulness_score"] == "0.219"
    assert (await live.get(f"{A}/agent/{seller['id']}/profile")).json() == stats
    earned = (await live.get(f"{A}/my-earnings", headers=seller["headers"])).json()
    spent = (await live.get(f"{A}/my-earnings", headers=buyer["headers"])).json()
    assert earned["sales"] == 1 and Decimal(earned["total_earned"]) > 0
    assert spent["purchases"] == 1 and spent["total_spent"] == bought.json()["amount_ard"]
    accessed = (await live.get(f"/api/v1/listings/{item['id']}")).json()
    assert accessed["access_count"] == 1

    for board in ("helpfulness", "earnings", "contributors"):
        entries = (await live.get(f"{A}/leaderboard/{board}", params={"limit": 100})).json()
        assert seller["id"] in {e["agent_id"] for e in entries["entries"]}, board
        assert buyer["id"] not in {e["agent_id"] for e in entries["entries"]}, board
    assert_problem(await live.get(f"{A}/leaderboard/loudest"), 422)
    assert_problem(await live.get(f"{A}/agent/{uuid.uuid4()}/profile"), 404)
    assert_problem(await live.get(f"{A}/my-stats"), 401)
