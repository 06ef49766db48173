"""The marketplace's MCP tools. Each one calls the function its REST route calls and answers
the REST route's response model as structured output; refusals are tool errors carrying the
REST problem (api/mcp/calls.py)."""

import time
from decimal import Decimal
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from api.deps import IDEMPOTENCY_KEY
from api.flows import purchases as purchase_flow
from api.mcp.calls import agent_of, state_of, tool
from api.routes.discovery import log_search, search_listings
from api.routes.listings import publish
from api.routes.proofs import verify_listing
from api.routes.purchases import express_result
from api.routes.reputation import Reputation, reputation_of
from api.routes.wallet import balance_of
from api.schemas.common import Count, JsonObject, text
from api.schemas.listings import (
    Base64,
    Category,
    Content,
    ContentType,
    Description,
    ListingCreate,
    ListingList,
    ListingResponse,
    ProofVerdict,
    ProofVerifyRequest,
    Quality,
    Tags,
    Title,
)
from api.schemas.money import MAX_PRICE_USDC, Exact, PriceIn
from api.schemas.purchases import ExpressResult
from api.schemas.wallet import WalletBalance
from core.db import read_only
from core.errors import NotFound
from core.ids import parse_id
from core.money import UNITS_PER_USDC, USDC_SCALE, units_to_usdc
from domain.demand import signals
from domain.listings import discovery

ListingId = Annotated[str, Field(max_length=64, description="The listing's id (a UUID)")]
AgentIdArg = Annotated[str, Field(max_length=64, description="The agent's id (a UUID)")]
UsdcBound = Annotated[
    int, Exact(USDC_SCALE, MAX_PRICE_USDC, positive=False, units=UNITS_PER_USDC, example="0.01")
]
"""A price bound in USDC (a decimal string or a number), as integer units."""
Words = Annotated[list[Annotated[str, text(100)]], Field(max_length=50)]


@tool
async def marketplace_discover(
    ctx: Context,
    q: Annotated[str | None, Field(max_length=500, description="Words to search for")] = None,
    category: Category | None = None,
    min_price: UsdcBound | None = None,
    max_price: UsdcBound | None = None,
    min_quality: Quality | None = None,
    max_age_hours: Annotated[int | None, Field(ge=1, le=24 * 365)] = None,
    seller_id: Annotated[str | None, Field(max_length=64)] = None,
    sort_by: discovery.Sort = "relevance",
    page: Annotated[int, Field(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Field(ge=1, le=100)] = 20,
) -> ListingList:
    """Search the active listings (the same search as GET /api/v1/discover)."""
    seller = None
    if seller_id is not None and (seller := parse_id(seller_id)) is None:
        raise NotFound(f"Agent {seller_id} not found", code="agent_not_found")
    search = discovery.Search(
        q=q,
        category=category,
        min_price_units=min_price,
        max_price_units=max_price,
        min_quality=min_quality,
        max_age_hours=max_age_hours,
        seller_id=seller,
        sort_by=sort_by,
        page=page,
        page_size=page_size,
    )
    state = state_of(ctx)
    async with read_only(state.sessions) as session:
        found = await search_listings(session, search)
    await log_search(state.sessions, search, signals.agent_requester(agent_of(ctx)), found["total"])
    return ListingList.model_validate(found)


@tool
async def marketplace_express_buy(
    ctx: Context,
    listing_id: ListingId,
    idempotency_key: Annotated[
        str | None,
        Field(
            pattern=IDEMPOTENCY_KEY,
            description="Like the Idempotency-Key header: the same key again answers the same "
            "purchase without charging twice",
        ),
    ] = None,
) -> ExpressResult:
    """Buy a listing in one call: pay, receive the content, verified and settled (the same
    purchase as POST /api/v1/express/{listing_id}, paid with ARD credits)."""
    started = time.perf_counter()
    receipt = await purchase_flow.express_buy(
        state_of(ctx), agent_of(ctx), listing_id, idempotency_key
    )
    return express_result(receipt, int((time.perf_counter() - started) * 1000))


@tool
async def marketplace_sell(
    ctx: Context,
    title: Title,
    category: Category,
    price_usdc: PriceIn,
    content: Annotated[Content | None, Field(description="The content as text")] = None,
    content_base64: Annotated[Base64 | None, Field(description="Or as base64")] = None,
    content_type: ContentType = "text/plain",
    description: Description = "",
    metadata: JsonObject | None = None,
    tags: Tags | None = None,
    quality_score: Quality = Decimal("0.5"),
) -> ListingResponse:
    """Publish a listing with its content and quality proofs (POST /api/v1/listings); give
    exactly one of `content` and `content_base64`."""
    body = ListingCreate.model_validate(
        {
            "title": title,
            "category": category,
            "price_usdc": units_to_usdc(price_usdc),
            "content": content,
            "content_base64": content_base64,
            "content_type": content_type,
            "description": description,
            "metadata": metadata or {},
            "tags": tags or [],
            "quality_score": quality_score,
        }
    )
    state = state_of(ctx)
    async with state.sessions() as session, session.begin():
        return await publish(session, state, agent_of(ctx), body)


@tool
async def marketplace_reputation(ctx: Context, agent_id: AgentIdArg) -> Reputation:
    """An agent's composite reputation (the same figures as GET /api/v1/reputation/{id})."""
    async with read_only(state_of(ctx).sessions) as session:
        return await reputation_of(session, agent_id)


@tool
async def marketplace_verify_zkp(
    ctx: Context,
    listing_id: ListingId,
    keywords: Words | None = None,
    schema_has_fields: Words | None = None,
    min_size: Count | None = None,
    min_quality: Quality | None = None,
) -> ProofVerdict:
    """Check a listing's quality proofs against requirements before buying
    (POST /api/v1/zkp/{listing_id}/verify)."""
    body = ProofVerifyRequest(
        keywords=keywords or [],
        schema_has_fields=schema_has_fields or [],
        min_size=min_size,
        min_quality=min_quality,
    )
    async with read_only(state_of(ctx).sessions) as session:
        return await verify_listing(session, listing_id, body)


@tool
async def marketplace_wallet_balance(ctx: Context) -> WalletBalance:
    """The calling agent's ARD wallet (GET /api/v1/wallet/balance)."""
    state = state_of(ctx)
    async with read_only(state.sessions, snapshot=True) as session:
        return await balance_of(session, agent_of(ctx), state.settings)


TOOLS = (
    marketplace_discover,
    marketplace_express_buy,
    marketplace_sell,
    marketplace_reputation,
    marketplace_verify_zkp,
    marketplace_wallet_balance,
)


def register(server: MCPServer) -> None:
    for fn in TOOLS:
        server.tool(structured_output=True)(fn)
