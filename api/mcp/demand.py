"""The MCP tool and resources on demand intelligence: trending patterns and opportunities, from
the functions the analytics routes answer with."""

from typing import Annotated

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from api.mcp.calls import resource, state_of, tool
from api.routes.analytics import opportunities_of, trending_of
from api.schemas.analytics import DemandList
from api.schemas.listings import Category
from api.state import AppState
from core.db import read_only

JSON = "application/json"
SHOWN = 100


@tool
async def marketplace_trending(
    ctx: Context, limit: Annotated[int, Field(ge=1, le=100)] = 20, category: Category | None = None
) -> DemandList:
    """The patterns searched most over the last 24 h (GET /api/v1/analytics/trending)."""
    async with read_only(state_of(ctx).sessions, snapshot=True) as session:
        return await trending_of(session, limit, category)


async def _trending(state: AppState) -> str:
    async with read_only(state.sessions, snapshot=True) as session:
        return (await trending_of(session, SHOWN, None)).model_dump_json()


async def _opportunities(state: AppState) -> str:
    async with read_only(state.sessions, snapshot=True) as session:
        return (await opportunities_of(session, SHOWN, None)).model_dump_json()


def register(server: MCPServer, app: FastAPI) -> None:
    server.tool(structured_output=True)(marketplace_trending)

    @resource
    async def trending() -> str:
        """The 100 patterns searched most over the last 24 h (GET /api/v1/analytics/trending)."""
        return await _trending(app.state.services)

    @resource
    async def opportunities() -> str:
        """Open opportunities, most urgent first (GET /api/v1/analytics/opportunities)."""
        return await _opportunities(app.state.services)

    server.resource("marketplace://trending", title="Trending demand", mime_type=JSON)(trending)
    server.resource("marketplace://opportunities", title="Demand opportunities", mime_type=JSON)(
        opportunities
    )
