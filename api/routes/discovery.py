"""Discovery: search active listings; every search is logged as a demand signal.

The search reads in a read-only transaction (on SQLite it takes no write lock), and the signal
is written after the response has left, in a unit of work of its own (ADR 0016). A page is
served again, without searching, while the catalog's version has not moved (ADR 0043).
"""

import uuid
from operator import itemgetter
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import OptionalAgentId, SingleReadSession, State
from api.page_cache import Page
from api.rate_limits import client_address
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize, plain
from api.schemas.listings import Category, ListingList, ListingResponse, QualityFilter
from api.schemas.money import UsdcFilter
from api.state import AppState
from core.db import unit_of_work
from core.errors import NotFound
from core.ids import parse_id
from domain.demand import signals
from domain.listings import discovery

router = APIRouter(prefix=API_PREFIX, tags=["discovery"])


@router.get("/discover", response_model=ListingList)
async def discover(
    request: Request,
    session: SingleReadSession,
    state: State,
    background: BackgroundTasks,
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
    answer = await _page_of(state, session, search)
    requester = signals.requester_of(agent, client_address(request.scope))
    background.add_task(log_search, state.sessions, search, requester, answer.total)
    return Response(answer.body, media_type="application/json")


async def _page_of(state: AppState, session: AsyncSession, search: discovery.Search) -> Page:
    """The search's page: the one kept at the catalog's current version, or a new search's."""
    version = await discovery.catalog_version(session) if state.pages.keeps(search) else None
    if version is not None and (kept := state.pages.get(search, version)) is not None:
        return kept
    found = await search_listings(session, search)
    answer = Page(found["total"], _PAGE.dump_json(found))
    if version is not None:
        state.pages.put(search, version, answer)
    return answer


async def search_listings(session: AsyncSession, search: discovery.Search) -> dict[str, Any]:
    """One search's page, a `ListingList` as plain dicts (REST and the MCP tool); its signal is
    `log_search`'s."""
    total, rows = await discovery.discover(session, search)
    return {
        "total": total,
        "page": search.page,
        "page_size": search.page_size,
        "results": _present(rows),
    }


_PAGE = plain(ListingList)
_NAMES = tuple(ListingResponse.model_fields)
# A field read from a column of another name ("seller" is rebuilt after).
_COLUMN = {"price_usdc": "price_units", "seller": "seller_id"}


def _present(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows of `discovery.COLUMNS`, already of the response's types, as `ListingResponse`s'
    fields in its order. Read by position: a row read by name costs ~1 µs a field."""
    if not rows:
        return []
    columns = rows[0]._fields
    pick = itemgetter(*(columns.index(_COLUMN.get(name, name)) for name in _NAMES))
    listings = []
    for row in rows:
        listing = dict(zip(_NAMES, pick(row), strict=True))
        listing["seller"] = {"id": row.seller_id, "name": row.seller_name}
        listings.append(listing)
    return listings


async def log_search(
    sessions: async_sessionmaker[AsyncSession], search: discovery.Search, requester: str, total: int
) -> None:
    """The search's demand signal, in a unit of work of its own (after the response, on REST)."""
    async with unit_of_work(sessions) as session:
        signals.record(
            session,
            query=search.q,
            category=search.category,
            requester=requester,
            matched_count=total,
            max_price_units=search.max_price_units,
        )
