"""The MCP server at /mcp, driven by the official `mcp` client over real HTTP against the app
served by uvicorn (with a real Temporal server and this code's worker for express buys)."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextResourceContents
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.api.test_listings import listing
from tests.conftest import (
    StartWorker,
    bearer,
    make_settings,
    serve,
    temporal_address,
    token,
)
from tests.ledger_helpers import assert_invariants, balances
from tests.local_server import LocalServer

TOOLS = {
    "marketplace_discover",
    "marketplace_express_buy",
    "marketplace_sell",
    "marketplace_reputation",
    "marketplace_verify_zkp",
    "marketplace_wallet_balance",
    "marketplace_trending",
    "marketplace_auto_match",
    "marketplace_register_catalog",
}
CONTENT = '{"query": "python asyncio", "results": ["docs", "blog"]}'
UNKNOWN = str(uuid.UUID(int=7))
Sessions = async_sessionmaker[AsyncSession]


class Live:
    def __init__(self, url: str, rest: httpx.AsyncClient) -> None:
        self.url, self.rest = url, rest

    @asynccontextmanager
    async def mcp(self, jwt: str | None, *, fresh: bool = False) -> AsyncIterator[ClientSession]:
        """An initialized session of the official client, sending `jwt` as its bearer token
        (`fresh`: each request on a new connection, so that any API process may accept it)."""
        limits = httpx2.Limits(max_keepalive_connections=0 if fresh else None)
        headers = bearer(jwt) if jwt else {}
        async with (
            httpx2.AsyncClient(headers=headers, limits=limits, timeout=60) as http,
            streamable_http_client(f"{self.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, mcp_enabled=True)


@pytest.fixture
async def live_mcp(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> AsyncIterator[Live]:
    settings.temporal_address = temporal_address(temporal_dev.client)
    await start_worker(temporal_dev.client)
    async with (
        LocalServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as rest,
    ):
        yield Live(server.url, rest)


async def _sell(live: Live, seller: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = listing(**{"content": CONTENT, "price_usdc": "0.005", **fields})
    response = await live.rest.post("/api/v1/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def _refused(result: CallToolResult, code: str) -> dict[str, Any]:
    assert result.is_error, result.structured_content
    problem = result.structured_content
    assert problem is not None and problem["code"] == code, problem
    return problem


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
    item = await _sell(live_mcp, seller)
    before = await balances(sessions)
    key = f"mcp-{uuid.uuid4()}"
    arguments = {"listing_id": item["id"], "idempotency_key": key}
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        bought = _ok(await mcp.call_tool("marketplace_express_buy", arguments))
        again = _ok(await mcp.call_tool("marketplace_express_buy", arguments))
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
    dear = await _sell(live_mcp, seller, price_usdc="0.5")  # 500 ARD > the 100 ARD bonus
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        poor = await mcp.call_tool("marketplace_express_buy", {"listing_id": dear["id"]})
        own = await mcp.call_tool("marketplace_express_buy", {"listing_id": UNKNOWN})
        nobody = await mcp.call_tool("marketplace_reputation", {"agent_id": UNKNOWN})
        unproven = await mcp.call_tool("marketplace_verify_zkp", {"listing_id": UNKNOWN})
        no_seller = await mcp.call_tool("marketplace_discover", {"seller_id": "nope"})
    rest = await live_mcp.rest.post(f"/api/v1/express/{dear['id']}", headers=buyer["headers"])
    assert _refused(poor, "insufficient_credits")["status"] == 402
    assert_problem(rest, 402, "insufficient_credits")
    missing = await live_mcp.rest.post(f"/api/v1/express/{UNKNOWN}", headers=buyer["headers"])
    assert _refused(own, assert_problem(missing, 404)["code"])["status"] == 404
    assert _refused(nobody, "agent_not_found")["status"] == 404
    assert _refused(unproven, "listing_not_found")["status"] == 404
    _refused(no_seller, "agent_not_found")
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
        assert _refused(typo, "validation_error")["errors"][0]["loc"] == ["sort"]
        # both contents or neither: the REST request model's rule, the REST code
        both = {"content": "a", "content_base64": "YQ=="}
        for contents in (both, {}):
            fields = {"title": "t", "category": "web_search", "price_usdc": "1", **contents}
            _refused(await mcp.call_tool("marketplace_sell", fields), "validation_error")


async def test_answers_equal_the_rest_answers(live_mcp: Live) -> None:
    seller, buyer = await register(live_mcp.rest), await register(live_mcp.rest)
    word = f"w{uuid.uuid4().hex[:12]}"  # other tests share the database: a word of this one's
    item = await _sell(live_mcp, seller, title=f"asyncio {word}")
    await live_mcp.rest.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"])
    rest = live_mcp.rest
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        search: dict[str, Any] = {"q": f"asyncio {word}", "sort_by": "price_asc", "page_size": 5}
        found = _ok(await mcp.call_tool("marketplace_discover", search))
        reputation = _ok(await mcp.call_tool("marketplace_reputation", {"agent_id": seller["id"]}))
        wallet = _ok(await mcp.call_tool("marketplace_wallet_balance", {}))
        checks = {"listing_id": item["id"], "keywords": ["asyncio"], "min_quality": "0.5"}
        verdict = _ok(await mcp.call_tool("marketplace_verify_zkp", checks))
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
        sold = _ok(await mcp.call_tool("marketplace_sell", fields))
    assert sold["seller_id"] == seller["id"] and sold["price_usdc"] == "0.002000"
    served = (await live_mcp.rest.get(f"/api/v1/listings/{sold['id']}")).json()
    assert Decimal(sold.pop("quality_score")) == Decimal(served.pop("quality_score")) == 0.5
    assert sold == served


async def test_every_resource_reads(live_mcp: Live) -> None:
    seller = await register(live_mcp.rest)
    item = await _sell(live_mcp, seller)
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


async def _post_initialize(live: Live, headers: dict[str, str]) -> httpx.Response:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    return await live.rest.post("/mcp", json=message, headers={**accept, **headers})


async def _post_call(live: Live, headers: dict[str, str]) -> httpx.Response:
    message = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "marketplace_wallet_balance", "arguments": {}},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    return await live.rest.post("/mcp", json=message, headers={**accept, **headers})


async def test_missing_invalid_creator_and_deactivated_tokens_are_refused(
    live_mcp: Live, operator_token: str
) -> None:
    creator = await register_creator(live_mcp.rest)
    gone = await register(live_mcp.rest)
    deleted = await live_mcp.rest.delete(f"/api/v1/agents/{gone['id']}", headers=gone["headers"])
    assert deleted.status_code == 200
    forged = token(TokenKind.AGENT, uuid.uuid4())
    cases = [
        (None, 401, "unauthorized"),
        ("not-a-jwt", 401, "invalid_token"),
        (forged, 401, "invalid_token"),  # a well-signed token of no agent
        (gone["jwt_token"], 401, "invalid_token"),
        (creator["token"], 403, "wrong_token_kind"),
        (operator_token, 403, "wrong_token_kind"),
    ]
    for jwt, status, code in cases:
        response = await _post_initialize(live_mcp, bearer(jwt) if jwt else {})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["data"]["code"] == code and error["data"]["status"] == status
        assert ("www-authenticate" in response.headers) == (status == 401)
        assert (await _refusal(live_mcp, jwt)).data["code"] == code


async def _refusal(live: Live, jwt: str | None) -> MCPError:
    """The error the official client raises when the session cannot even start."""
    raised: BaseException | None = None
    try:
        async with live.mcp(jwt):
            pass
    except* MCPError as group:
        raised = group
    while isinstance(raised, BaseExceptionGroup):
        raised = raised.exceptions[0]
    assert isinstance(raised, MCPError)
    return raised


async def test_identity_is_taken_per_request(live_mcp: Live) -> None:
    first, second = await register(live_mcp.rest), await register(live_mcp.rest)
    await _sell(live_mcp, first)  # nothing changes the balances; the holders differ
    async with (
        httpx2.AsyncClient(headers=bearer(first["jwt_token"]), timeout=60) as http,
        streamable_http_client(f"{live_mcp.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        searched = _ok(await mcp.call_tool("marketplace_discover", {"q": "asyncio"}))
        assert searched["total"] >= 1
        http.headers["Authorization"] = f"Bearer {second['jwt_token']}"
        sold = _ok(await mcp.call_tool("marketplace_sell", _listing_arguments()))
        assert sold["seller_id"] == second["id"]
        await live_mcp.rest.delete(f"/api/v1/agents/{second['id']}", headers=second["headers"])
        with pytest.raises(MCPError) as refused:
            await mcp.call_tool("marketplace_wallet_balance", {})
        assert refused.value.data["code"] == "invalid_token"


def _listing_arguments() -> dict[str, Any]:
    return {"title": "t", "category": "web_search", "price_usdc": "0.001", "content": "x"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_calls_past_the_limit_are_429(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    settings.mcp_rate_limit_per_minute = 4
    settings.temporal_address = temporal_address(temporal_dev.client)
    async with (
        LocalServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url) as rest,
    ):
        live = Live(server.url, rest)
        agent, other = await register(rest), await register(rest)
        async with live.mcp(agent["jwt_token"]) as mcp:  # the handshake and lists: not calls
            for _ in range(3):
                _ok(await mcp.call_tool("marketplace_wallet_balance", {}))
            await mcp.read_resource("marketplace://listings/active")  # the 4th call
            with pytest.raises(MCPError) as limited:
                await mcp.call_tool("marketplace_wallet_balance", {})
            await mcp.list_tools()  # other messages still pass
        assert limited.value.data["code"] == "rate_limited"
        response = await _post_call(live, agent["headers"])
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
        assert response.headers["RateLimit-Limit"] == "4"
        assert response.json()["error"]["data"]["code"] == "rate_limited"
        async with live.mcp(other["jwt_token"]) as mcp:  # per agent: another is not limited
            _ok(await mcp.call_tool("marketplace_wallet_balance", {}))
        rest_balance = await rest.get("/api/v1/wallet/balance", headers=agent["headers"])
        assert rest_balance.status_code == 200  # the REST budget is a separate one


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_mcp_enabled_false_switches_it_off(settings: Settings) -> None:
    settings.mcp_enabled = False
    async with serve(settings) as api:
        agent = await register(api)
        assert (await api.get("/mcp/health")).status_code == 404
        assert_problem(await api.post("/mcp", json={}, headers=agent["headers"]), 404)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_session_works_whichever_process_answers(api_processes: Any) -> None:
    async with (
        api_processes(2, mcp_rate_limit_per_minute=1_000_000) as api,
        httpx.AsyncClient(base_url=api.url, timeout=60) as rest,
    ):
        live = Live(api.url, rest)
        agent = await register(rest)
        async with live.mcp(agent["jwt_token"], fresh=True) as mcp:
            served: dict[int, int] = {}
            for attempt in range(200):
                if attempt % 2:
                    fields = {**_listing_arguments(), "title": f"item {attempt}"}
                    _ok(await mcp.call_tool("marketplace_sell", fields))
                else:
                    wallet = _ok(await mcp.call_tool("marketplace_wallet_balance", {}))
                    assert wallet["available"] == "100.000"
                served = api.requests_per_process("/mcp")
                if attempt >= 10 and len([n for n in served.values() if n]) == 2:
                    break
            found = _ok(await mcp.call_tool("marketplace_discover", {"seller_id": agent["id"]}))
        assert len([n for n in served.values() if n]) == 2, served  # both processes answered
        assert found["total"] == (attempt + 1) // 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_other_methods_and_unreadable_messages_are_refused(live_mcp: Live) -> None:
    agent = await register(live_mcp.rest)
    headers = {**agent["headers"], "Accept": "application/json, text/event-stream"}
    for method in ("GET", "DELETE", "PUT"):  # no session: nothing to stream or to end
        refused = await live_mcp.rest.request(method, "/mcp", headers=headers)
        assert_problem(refused, 405, "method_not_allowed")
    unreadable = await live_mcp.rest.post(
        "/mcp", content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400 and unreadable.json()["error"]["code"] == -32700


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_trending_and_opportunities_equal_the_analytics_routes(live_mcp: Live) -> None:
    agent = await register(live_mcp.rest)
    async with live_mcp.mcp(agent["jwt_token"]) as mcp:
        trending = _ok(await mcp.call_tool("marketplace_trending", {"limit": 5}))
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
    item = await _sell(live_mcp, seller, title=f"{word} python asyncio tutorial")
    declared = {
        "namespace": "web_search.python",
        "topic": "asyncio tutorials",
        "price_range_min": "0.001",
        "price_range_max": 0.01,
    }
    wanted = {"description": f"{word} python asyncio tutorial", "max_price": "0.01"}
    async with live_mcp.mcp(seller["jwt_token"]) as mcp:
        entry = _ok(await mcp.call_tool("marketplace_register_catalog", declared))
        inverted = {**declared, "price_range_min": "0.02"}
        refused = await mcp.call_tool("marketplace_register_catalog", inverted)
        listed = await mcp.read_resource("marketplace://catalog")
    async with live_mcp.mcp(buyer["jwt_token"]) as mcp:
        matched = _ok(await mcp.call_tool("marketplace_auto_match", wanted))
        assert (await mcp.call_tool("marketplace_auto_match", {"description": ""})).is_error
    rest = live_mcp.rest
    assert entry["agent_id"] == seller["id"] and entry["price_range_max"] == "0.010000"
    assert entry == (await rest.get(f"/api/v1/catalog/{entry['id']}")).json()
    inverted_rest = await rest.post("/api/v1/catalog", json=inverted, headers=seller["headers"])
    assert _refused(refused, assert_problem(inverted_rest, 422)["code"])["status"] == 422
    [page] = listed.contents
    assert isinstance(page, TextResourceContents)
    assert entry["id"] in {e["id"] for e in httpx.Response(200, text=page.text).json()["entries"]}
    auto = await rest.post("/api/v1/agents/auto-match", json=wanted, headers=buyer["headers"])
    assert matched["matches"][0]["listing_id"] == item["id"]
    assert matched == auto.json()
