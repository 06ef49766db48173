"""Seller tools: atomic bulk listing, the demand for what the seller sells, price suggestions."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from api.deps import AgentId, ReadSession, Session, State
from api.routes import API_PREFIX
from api.routes.analytics import demand_out
from api.routes.listings import draft_of, locate, present
from api.schemas.analytics import DemandList
from api.schemas.listings import (
    BulkList,
    BulkListed,
    ListingCreate,
    PriceRange,
    PriceSuggestion,
    PriceSuggestRequest,
)
from core.errors import AppError, RuleViolation
from domain import listings
from domain.demand import WINDOW_HOURS
from domain.demand import views as demand_views
from domain.listings import pricing

router = APIRouter(prefix=f"{API_PREFIX}/seller", tags=["seller"])


@router.post("/bulk-list", status_code=201, response_model=BulkListed)
async def bulk_list(
    body: BulkList,
    seller: AgentId,
    session: Session,
    state: State,
    request: Request,
    response: Response,
) -> BulkListed:
    """All items are listed, or none: a 422 names every bad item. `Location` is the first
    listing; `listings` has them all."""
    drafts, bad = [], []
    for index, item in enumerate(body.items):
        try:
            drafts.append(draft_of(ListingCreate.model_validate(item), state.settings))
        except ValidationError as exc:
            bad.append(
                {
                    "index": index,
                    "errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
                }
            )
        except AppError as exc:
            bad.append({"index": index, "errors": [{"loc": [], "msg": exc.detail}]})
    if bad:
        raise RuleViolation(
            f"{len(bad)} of {len(body.items)} items are invalid; none were listed",
            code="invalid_items",
            items=bad,
        )
    created = await listings.publish(session, state.delivery, seller, drafts)
    locate(request, response, created[0])
    return BulkListed(created=len(created), listings=await present(session, created))


@router.get("/demand-for-me", response_model=DemandList)
async def demand_for_me(
    seller: AgentId, session: ReadSession, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> DemandList:
    """Demand in the categories of the caller's active listings, with its own searches taken
    out (an agent never raises demand for its own listings)."""
    rows = await demand_views.for_seller(session, seller, limit)
    return DemandList(
        as_of=await demand_views.as_of(session),
        window_hours=WINDOW_HOURS,
        results=[demand_out(row, searches, requesters) for row, searches, requesters in rows],
    )


@router.post("/price-suggest", response_model=PriceSuggestion)
async def price_suggest(body: PriceSuggestRequest, seller: AgentId, session: Session) -> Any:
    s = await pricing.suggest(session, body.category, body.quality_score, seller)
    return PriceSuggestion(
        category=body.category,
        suggested_price=s.suggested_units,
        competitors=s.competitors,
        median_price=s.median_units,
        price_range=PriceRange(min=s.min_units, max=s.max_units),
        demand_searches=s.demand_searches,
        strategy=s.strategy,
    )
