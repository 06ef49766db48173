"""The MCP tools and resources, driven by the official `mcp` client over real HTTP: each answers
what its REST route answers, and refuses with the REST codes."""

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import TextResourceContents

from tests.api.helpers import assert_problem, json_of, once, register
from tests.api.mcp_server.helpers import CONTENT, TOOLS, UNKNOWN, Live, Sessions, ok, refused, sell
from tests.ledger_helpers import assert_invariants, balances


async def test_initialize_lists_every_tool_and_resource(live_mcp: Live) -> None:
    agent = await register(live_mcp.rest)
    async with live_mcp.mcp(agent["jwt_token"]) as mcp:
        tools = (await mcp.list_tools()).tools
        resources = (await mcp.list_resources()).resources
        templates = (await mcp.list_resource_templates()).resource_templates
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        assert tool.input_schema["type"] == "object" and tool.output_schema, tool.name
        assert tool.description
    assert {str(r.uri) for r in resources} == {
        "marketplace://listings/active",
        "marketplace://trending",
        "marketplace://opportunities",
        "marketplace://catalog",
    }
    assert [t.uri_template for t in templates] == ["marketplace://agent/{agent_id}"]
    health = (await live_mcp.rest.get("/mcp/health")).json()
    assert health["status"] == "ok" and health["protocol_version"]
    assert (health["tools"], health["resources"], health["resource_templates"]) == (9, 4, 1)


async def test_express_buy_moves_the_price_once_and_shows_in_rest(
    live_mcp: Live, sessions: Sessions
) -> None:
    seller, buyer = await register(live_mcp.rest), await register(live_mcp.rest)
    item = await sell(live_mcp, seller)
    before = await balances(sessions)
    key = f"mcp-{uuid.uuid4()}"
    arguments = {"listing_id": item["id"], "idempotency_key": key}
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        bought = ok(await mcp.call_tool("marketplace_express_buy", arguments))
        again = ok(await mcp.call_tool("marketplace_express_buy", arguments))
    assert bought["content"] == CONTENT and bought["content_hash"] == item["content_hash"]
    assert bought["buyer_balance"] == "95.000" and bought["price_usdc"] == "0.005000"
    assert again["transaction_id"] == bought["transaction_id"]  # the same key: one charge
    after = await balances(sessions)
    assert before[buyer["id"]] - after[buyer["id"]] == 5_000
    history = await live_mcp.rest.get("/api/v1/transactions", headers=buyer["headers"])
    listed = [t["id"] for t in history.json()["transactions"]]
    assert listed == [bought["transaction_id"]]
    wallet = await live_mcp.rest.get("/api/v1/wallet/balance", headers=buyer["headers"])
    assert wallet.json()["available"] == "95.000"
    await assert_invariants(sessions)


async def test_business_refusals_carry_the_rest_codes(live_mcp: Live) -> None:
    seller, buyer = await register(live_mcp.rest), await register(live_mcp.rest)
    dear = await sell(live_mcp, seller, price_usdc="0.5")  # 500 ARD > the 100 ARD bonus
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        poor = await mcp.call_tool("marketplace_express_buy", {"listing_id": dear["id"]})
        own = await mcp.call_tool("marketplace_express_buy", {"listing_id": UNKNOWN})
        nobody = await mcp.call_tool("marketplace_reputation", {"agent_id": UNKNOWN})
        unproven = await mcp.call_tool("marketplace_verify_zkp", {"listing_id": UNKNOWN})
        no_seller = await mcp.call_tool("marketplace_discover", {"seller_id": "nope"})
    rest = await live_mcp.rest.post(f"/api/v1/express/{dear['id']}", headers=buyer["headers"])
    assert refused(poor, "insufficient_credits")["status"] == 402
    assert_problem(rest, 402, "insufficient_credits")
    missing = await live_mcp.rest.post(f"/api/v1/express/{UNKNOWN}", headers=buyer["headers"])
    assert refused(own, assert_problem(missing, 404)["code"])["status"] == 404
    assert refused(nobody, "agent_not_found")["status"] == 404
    assert refused(unproven, "listing_not_found")["status"] == 404
    refused(no_seller, "agent_not_found")
    wallet = await live_mcp.rest.get("/api/v1/wallet/balance", headers=buyer["headers"])
    assert (wallet.json()["available"], wallet.json()["held"]) == ("100.000", "0.000")


INVALID_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("marketplace_discover", {"page": 0}),
    ("marketplace_discover", {"min_price": "0.0000001"}),  # finer than the unit
    ("marketplace_express_buy", {}),
    ("marketplace_express_buy", {"listing_id": UNKNOWN, "idempotency_key": "has space"}),
    ("marketplace_sell", {"title": "t", "category": "web_search", "price_usdc": "0"}),
    ("marketplace_sell", {"title": "t", "category": "nope", "price_usdc": "1", "content": "x"}),
    ("marketplace_reputation", {"agent_id": 12}),
    ("marketplace_verify_zkp", {"listing_id": UNKNOWN, "min_size": -1}),
    ("marketplace_wallet_balance", {"unexpected": [1, 2]}),
    ("marketplace_discover", {"qq": "typo"}),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_invalid_arguments_are_tool_errors(live_mcp: Live) -> None:
    agent = await register(live_mcp.rest)
    async with live_mcp.mcp(agent["jwt_token"]) as mcp:
        for name, arguments in INVALID_ARGUMENTS:
            result = await mcp.call_tool(name, arguments)
            assert result.is_error, (name, arguments, result.structured_content)
        typo = await mcp.call_tool("marketplace_discover", {"q": "x", "sort": "price_asc"})
        assert refused(typo, "validation_error")["errors"][0]["loc"] == ["sort"]
        # both contents or neither: the REST request model's rule, the REST code
        both = {"content": "a", "content_base64": "YQ=="}
        for contents in (both, {}):
            fields = {"title": "t", "category": "web_search", "price_usdc": "1", **contents}
            refused(await mcp.call_tool("marketplace_sell", fields), "validation_error")


async def test_answers_equal_the_rest_answers(live_mcp: Live) -> None:
    seller, buyer = await register(live_mcp.rest), await register(live_mcp.rest)
    word = f"w{uuid.uuid4().hex[:12]}"  # other tests share the database: a word of this one's
    item = await sell(live_mcp, seller, title=f"asyncio {word}")
    await live_mcp.rest.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"])
    rest = live_mcp.rest
    of_seller = json_of(rest, f"/api/v1/reputation/{seller['id']}")
    await once(of_seller, lambda r: r["sales_completed"] == 1)  # folded in by the tally
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        search: dict[str, Any] = {"q": f"asyncio {word}", "sort_by": "price_asc", "page_size": 5}
        found = ok(await mcp.call_tool("marketplace_discover", search))
        reputation = ok(await mcp.call_tool("marketplace_reputation", {"agent_id": seller["id"]}))
        wallet = ok(await mcp.call_tool("marketplace_wallet_balance", {}))
        checks = {"listing_id": item["id"], "keywords": ["asyncio"], "min_quality": "0.5"}
        verdict = ok(await mcp.call_tool("marketplace_verify_zkp", checks))
    headers = buyer["headers"]
    assert found == (await rest.get("/api/v1/discover", params=search, headers=headers)).json()
    assert found["total"] >= 1 and item["id"] in {r["id"] for r in found["results"]}
    assert reputation == (await rest.get(f"/api/v1/reputation/{seller['id']}")).json()
    assert reputation["sales_completed"] == 1
    assert wallet == (await rest.get("/api/v1/wallet/balance", headers=headers)).json()
    body = {k: v for k, v in checks.items() if k != "listing_id"}
    rest_verdict = await rest.post(f"/api/v1/zkp/{item['id']}/verify", json=body)
    assert verdict == rest_verdict.json() and verdict["verified"] is True


async def test_sell_publishes_a_listing_rest_serves(live_mcp: Live) -> None:
    seller = await register(live_mcp.rest)
    fields = {
        "title": "Rust borrow checker notes",
        "category": "document_summary",
        "price_usdc": 0.002,
        "content": "lifetimes, borrows, moves",
        "tags": ["rust"],
    }
    async with live_mcp.mcp(seller["jwt_token"]) as mcp:
        sold = ok(await mcp.call_tool("marketplace_sell", fields))
    assert sold["seller_id"] == seller["id"] and sold["price_usdc"] == "0.002000"
    served = (await live_mcp.rest.get(f"/api/v1/listings/{sold['id']}")).json()
    assert Decimal(sold.pop("quality_score")) == Decimal(served.pop("quality_score")) == 0.5
    assert sold == served


async def test_every_resource_reads(live_mcp: Live) -> None:
    seller = await register(live_mcp.rest)
    item = await sell(live_mcp, seller)
    async with live_mcp.mcp(seller["jwt_token"]) as mcp:
        active = await mcp.read_resource("marketplace://listings/active")
        profile = await mcp.read_resource(f"marketplace://agent/{seller['id']}")
        with pytest.raises(MCPError) as unknown:
            await mcp.read_resource(f"marketplace://agent/{UNKNOWN}")
    [page] = active.contents
    assert isinstance(page, TextResourceContents) and page.mime_type == "application/json"
    assert item["id"] in {r["id"] for r in httpx.Response(200, text=page.text).json()["results"]}
    [document] = profile.contents
    assert isinstance(document, TextResourceContents)
    read = httpx.Response(200, text=document.text).json()
    assert read["agent"] == (await live_mcp.rest.get(f"/api/v1/agents/{seller['id']}")).json()
    reputation = await live_mcp.rest.get(f"/api/v1/reputation/{seller['id']}")
    assert read["reputation"] == reputation.json()
    assert unknown.value.code == -32002 and unknown.value.data["code"] == "agent_not_found"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_trending_and_opportunities_equal_the_analytics_routes(live_mcp: Live) -> None:
    agent = await register(live_mcp.rest)
    async with live_mcp.mcp(agent["jwt_token"]) as mcp:
        trending = ok(await mcp.call_tool("marketplace_trending", {"limit": 5}))
        listed = await mcp.read_resource("marketplace://trending")
        opened = await mcp.read_resource("marketplace://opportunities")
        assert (await mcp.call_tool("marketplace_trending", {"limit": 0})).is_error
    rest = live_mcp.rest
    assert trending == (await rest.get("/api/v1/analytics/trending?limit=5")).json()
    [page] = listed.contents
    assert isinstance(page, TextResourceContents)
    rest_trending = (await rest.get("/api/v1/analytics/trending?limit=100")).json()
    assert httpx.Response(200, text=page.text).json() == rest_trending
    [opportunities] = opened.contents
    assert isinstance(opportunities, TextResourceContents)
    rest_opportunities = (await rest.get("/api/v1/analytics/opportunities?limit=100")).json()
    assert httpx.Response(200, text=opportunities.text).json() == rest_opportunities


async def test_catalog_and_auto_match_equal_the_rest_answers(live_mcp: Live) -> None:
    seller, buyer = await register(live_mcp.rest), await register(live_mcp.rest)
    word = f"zq{uuid.uuid4().hex[:10]}"  # this test's listing, whatever else the database holds
    item = await sell(live_mcp, seller, title=f"{word} python asyncio tutorial")
    declared = {
        "namespace": "web_search.python",
        "topic": "asyncio tutorials",
        "price_range_min": "0.001",
        "price_range_max": 0.01,
    }
    wanted = {"description": f"{word} python asyncio tutorial", "max_price": "0.01"}
    async with live_mcp.mcp(seller["jwt_token"]) as mcp:
        entry = ok(await mcp.call_tool("marketplace_register_catalog", declared))
        inverted = {**declared, "price_range_min": "0.02"}
        inverted_answer = await mcp.call_tool("marketplace_register_catalog", inverted)
        listed = await mcp.read_resource("marketplace://catalog")
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        matched = ok(await mcp.call_tool("marketplace_auto_match", wanted))
        assert (await mcp.call_tool("marketplace_auto_match", {"description": ""})).is_error
    rest = live_mcp.rest
    assert entry["agent_id"] == seller["id"] and entry["price_range_max"] == "0.010000"
    assert entry == (await rest.get(f"/api/v1/catalog/{entry['id']}")).json()
    inverted_rest = await rest.post("/api/v1/catalog", json=inverted, headers=seller["headers"])
    assert refused(inverted_answer, assert_problem(inverted_rest, 422)["code"])["status"] == 422
    [page] = listed.contents
    assert isinstance(page, TextResourceContents)
    assert entry["id"] in {e["id"] for e in httpx.Response(200, text=page.text).json()["entries"]}
    auto = await rest.post("/api/v1/agents/auto-match", json=wanted, headers=buyer["headers"])
    assert matched["matches"][0]["listing_id"] == item["id"]
    assert timeless(matched) == timeless(auto.json())
    for ours, theirs in zip(matched["matches"], auto.json()["matches"], strict=True):
        assert abs(Decimal(ours["match_score"]) - Decimal(theirs["match_score"])) <= STEP


STEP = Decimal("0.0001")


def timeless(answer: dict[str, Any]) -> dict[str, Any]:
    """An auto-match answer without what moves with the clock: a match score's freshness share
    drops one step (0.0001) every ~43 s, and the two answers are asked a moment apart."""
    matches = [{k: v for k, v in m.items() if k != "match_score"} for m in answer["matches"]]
    return {**answer, "matches": matches}
