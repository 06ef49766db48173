"""The marketplace's MCP resources: JSON documents built by the functions the REST routes use."""

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

from api.mcp.calls import resource, state_of
from api.routes.listings import present
from api.routes.reputation import Reputation, reputation_of
from api.schemas.agents import AgentResponse
from api.schemas.listings import ListingList
from api.state import AppState
from core.db import read_only
from domain import agents, listings

JSON = "application/json"
ACTIVE_LISTINGS_SHOWN = 100


class AgentProfile(BaseModel):
    agent: AgentResponse
    reputation: Reputation


async def _active_listings(state: AppState) -> str:
    """The newest active listings (GET /api/v1/listings?status=active, first 100)."""
    async with read_only(state.sessions, snapshot=True) as session:
        total, rows = await listings.page(
            session, category=None, status="active", page=1, page_size=ACTIVE_LISTINGS_SHOWN
        )
        page = ListingList(
            total=total,
            page=1,
            page_size=ACTIVE_LISTINGS_SHOWN,
            results=await present(session, rows),
        )
    return page.model_dump_json()


@resource
async def agent_profile(agent_id: str, ctx: Context) -> str:
    """An agent's public profile (GET /api/v1/agents/{id}) with its reputation."""
    async with read_only(state_of(ctx).sessions, snapshot=True) as session:
        agent = await agents.get(session, agent_id)
        profile = AgentProfile(
            agent=AgentResponse.model_validate(agent),
            reputation=await reputation_of(session, str(agent.id)),
        )
    return profile.model_dump_json()


def register(server: MCPServer, app: FastAPI) -> None:
    """The static resources take no request context (the SDK's rule): they read the app's
    state, and the endpoint has authenticated the request before they run."""

    @resource
    async def active_listings() -> str:
        """The newest active listings (the first 100 of GET /api/v1/listings?status=active)."""
        return await _active_listings(app.state.services)

    server.resource("marketplace://listings/active", title="Active listings", mime_type=JSON)(
        active_listings
    )
    server.resource(
        "marketplace://agent/{agent_id}",
        title="An agent's profile and reputation",
        mime_type=JSON,
    )(agent_profile)
