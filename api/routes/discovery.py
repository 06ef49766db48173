"""Discovery: search active listings; every search is logged as a demand signal."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import OptionalAgentId, Session
from api.rate_limits import client_address
from api.routes.listings import present
from api.schemas.common import PageNumber, PageSize
from api.schemas.listings import Category, ListingList, QualityFilter
from api.schemas.money import UsdcFilter
from core.errors import NotFound
from core.ids import parse_id
from domain.demand import signals
from domain.listings import discovery

router = APIRouter(tags=["discovery"])


@router.get("/discover", response_model=ListingList)
async def discover(
    request: Request,
    session: Session,
    agent: OptionalAgentId,
    q: Annotated[str | None, Query(max_length=500)] = None,
    category: Category | None = None,
    min_price: Annotated[UsdcFilter | None, Query()] = None,
    max_price: Annotated[UsdcFilter | None, Query()] = None,
    min_quality: Annotated[QualityFilter | None, Query()] = None,
    max_age_hours: Annotated[int | None, Query(ge=1, le=24 * 365)] = None,
    seller_id: Annotated[str | None, Query(max_length=64)] = None,
    sort_by: discovery.Sort = "relevance",
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> Response:
    seller: uuid.UUID | None = None
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
    requester = signals.requester_of(agent, client_address(request.scope))
    page_of = await search_listings(session, search, requester, max_price)
    return Response(page_of.model_dump_json(), media_type="application/json")


async def search_listings(
    session: AsyncSession, search: discovery.Search, requester: str, max_price: int | None
) -> ListingList:
    """One search, recorded as a demand signal of `requester` (REST and the MCP tool)."""
    total, rows = await discovery.discover(session, search)
    signals.record(
        session,
        query=search.q,
        category=search.category,
        requester=requester,
        matched_count=total,
        max_price_units=max_price,
    )
    return ListingList(
        total=total,
        page=search.page,
        page_size=search.page_size,
        results=await present(session, rows),
    )
