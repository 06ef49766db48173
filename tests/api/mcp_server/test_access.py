"""Who may use /mcp and how often: tokens per request, the shared rate limit, the switch, any
API process answering, and the messages the endpoint refuses."""

import uuid
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.mcp_server.helpers import Live, ok, sell
from tests.api.test_creators import register_creator
from tests.conftest import (
    StartWorker,
    bearer,
    serve,
    temporal_address,
    token,
)
from tests.local_server import LocalServer


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
    await sell(live_mcp, first)  # nothing changes the balances; the holders differ
    async with (
        httpx2.AsyncClient(headers=bearer(first["jwt_token"]), timeout=60) as http,
        streamable_http_client(f"{live_mcp.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        searched = ok(await mcp.call_tool("marketplace_discover", {"q": "asyncio"}))
        assert searched["total"] >= 1
        http.headers["Authorization"] = f"Bearer {second['jwt_token']}"
        sold = ok(await mcp.call_tool("marketplace_sell", _listing_arguments()))
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
                ok(await mcp.call_tool("marketplace_wallet_balance", {}))
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
            ok(await mcp.call_tool("marketplace_wallet_balance", {}))
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
                    ok(await mcp.call_tool("marketplace_sell", fields))
                else:
                    wallet = ok(await mcp.call_tool("marketplace_wallet_balance", {}))
                    assert wallet["available"] == "100.000"
                served = api.requests_per_process("/mcp")
                if attempt >= 10 and len([n for n in served.values() if n]) == 2:
                    break
            found = ok(await mcp.call_tool("marketplace_discover", {"seller_id": agent["id"]}))
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
