"""The official MCP client against a live app, and what the MCP tests check its answers with."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.test_listings import listing
from tests.conftest import (
    bearer,
)

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


async def sell(live: Live, seller: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = listing(**{"content": CONTENT, "price_usdc": "0.005", **fields})
    response = await live.rest.post("/api/v1/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def refused(result: CallToolResult, code: str) -> dict[str, Any]:
    assert result.is_error, result.structured_content
    problem = result.structured_content
    assert problem is not None and problem["code"] == code, problem
    return problem
