"""The MCP tools and resource on the capability catalog and auto-match, from the functions the
catalog and matching routes answer with."""

from typing import Annotated

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from pydantic import ConfigDict, Field

from api.deps import IDEMPOTENCY_KEY
from api.mcp.calls import agent_of, resource, state_of, tool
from api.routes.catalog import declare
from api.routes.matching import auto_match_result
from api.schemas.catalog import CatalogCreate, CatalogList, CatalogResponse, Name, PriceFloor
from api.schemas.common import JsonObject, text
from api.schemas.listings import Category, Description
from api.schemas.matching import AutoMatchRequest, AutoMatchResult, Region
from api.schemas.money import PriceIn
from api.state import AppState
from core.db import read_only
from core.money import units_to_usdc
from domain import catalog
from domain.routing import Strategy

JSON = "application/json"
SHOWN = 100


class CatalogEntry(CatalogResponse):
    """A catalog entry as REST serializes it (the output schema in serialization mode: the REST
    model reads the prices from the domain's `*_units` attributes)."""

    model_config = ConfigDict(json_schema_mode_override="serialization")


def _usdc(units: int | None) -> str | None:
    return None if units is None else units_to_usdc(units)


@tool
async def marketplace_auto_match(
    ctx: Context,
    description: Annotated[str, text(1000, min_length=1)],
    category: Category | None = None,
    max_price: PriceIn | None = None,
    auto_buy: bool = False,
    auto_buy_max_price: PriceIn | None = None,
    routing_strategy: Strategy | None = None,
    buyer_region: Region | None = None,
    idempotency_key: Annotated[
        str | None,
        Field(
            pattern=IDEMPOTENCY_KEY,
            description="Like the Idempotency-Key header: the same key again answers the same "
            "purchase without charging twice",
        ),
    ] = None,
) -> AutoMatchResult:
    """The best listings for a description, with savings; with `auto_buy`, the chosen one is
    bought at once as the express purchase buys (POST /api/v1/agents/auto-match)."""
    body = AutoMatchRequest.model_validate(
        {
            "description": description,
            "category": category,
            "max_price": _usdc(max_price),
            "auto_buy": auto_buy,
            "auto_buy_max_price": _usdc(auto_buy_max_price),
            "routing_strategy": routing_strategy,
            "buyer_region": buyer_region,
        }
    )
    answer, _ = await auto_match_result(state_of(ctx), agent_of(ctx), body, idempotency_key)
    return answer


@tool
async def marketplace_register_catalog(
    ctx: Context,
    namespace: Name,
    topic: Name,
    price_range_min: PriceFloor,
    price_range_max: PriceIn,
    description: Description = "",
    category: Category | None = None,
    schema_json: JsonObject | None = None,
) -> CatalogEntry:
    """Declare what the calling agent can produce (POST /api/v1/catalog); subscribers whose
    interests match are told."""
    body = CatalogCreate.model_validate(
        {
            "namespace": namespace,
            "topic": topic,
            "price_range_min": units_to_usdc(price_range_min),
            "price_range_max": units_to_usdc(price_range_max),
            "description": description,
            "category": category,
            "schema_json": schema_json or {},
        }
    )
    state = state_of(ctx)
    async with state.sessions() as session, session.begin():
        entry = await declare(session, agent_of(ctx), body)
    return CatalogEntry.model_construct(**dict(entry))


async def _catalog(state: AppState) -> str:
    async with read_only(state.sessions, snapshot=True) as session:
        total, rows = await catalog.search(session, catalog.Search(page_size=SHOWN))
        page = CatalogList(
            total=total,
            page=1,
            page_size=SHOWN,
            entries=[CatalogResponse.model_validate(row) for row in rows],
        )
    return page.model_dump_json()


def register(server: MCPServer, app: FastAPI) -> None:
    for fn in (marketplace_auto_match, marketplace_register_catalog):
        server.tool(structured_output=True)(fn)

    @resource
    async def capability_catalog() -> str:
        """The active catalog entries (the first 100 of GET /api/v1/catalog/search)."""
        return await _catalog(app.state.services)

    server.resource("marketplace://catalog", title="Capability catalog", mime_type=JSON)(
        capability_catalog
    )
