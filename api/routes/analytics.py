"""Analytics: demand from the aggregation workflow's output, earnings and helpfulness from the
counters kept as purchases settle. Nothing here is recomputed from raw records."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AgentId, ReadSession
from api.routes import API_PREFIX
from api.schemas.analytics import (
    Board,
    BoardEntry,
    DemandList,
    DemandOut,
    Earnings,
    OpportunityList,
    OpportunityOut,
    Stats,
)
from api.schemas.listings import Category
from core.clock import utcnow
from domain import agents, analytics, reputation
from domain.demand import WINDOW_HOURS, views

router = APIRouter(prefix=f"{API_PREFIX}/analytics", tags=["analytics"])
Limit = Annotated[int, Query(ge=1, le=100)]


def demand_out(
    row: views.Demand, searches: int | None = None, requesters: int | None = None
) -> DemandOut:
    return DemandOut(
        pattern=row.pattern,
        category=row.category,
        search_count=row.searches if searches is None else searches,
        unique_requesters=row.requesters if requesters is None else requesters,
        velocity=row.velocity,
        fulfillment_rate=row.fulfillment_rate,
        conversion_rate=row.conversion_rate,
        avg_max_price=row.avg_max_price_units,
        is_gap=row.is_gap,
    )


def opportunity_out(o: views.DemandOpportunity) -> OpportunityOut:
    return OpportunityOut(
        id=o.id,
        pattern=o.pattern,
        category=o.category,
        search_count=o.searches,
        unique_requesters=o.requesters,
        velocity=o.velocity,
        fulfillment_rate=o.fulfillment_rate,
        competing_listings=o.competing_listings,
        estimated_revenue_usdc=o.estimated_revenue_units,
        urgency_score=o.urgency,
        created_at=o.created_at,
        expires_at=o.expires_at,
    )


@router.get("/trending", response_model=DemandList)
async def trending(
    session: ReadSession, limit: Limit = 20, category: Category | None = None
) -> DemandList:
    """Patterns searched most over the last 24 h (by velocity)."""
    return await trending_of(session, limit, category)


async def trending_of(session: AsyncSession, limit: int, category: str | None) -> DemandList:
    """The trending patterns (REST and the MCP tool and resource)."""
    rows = await views.trending(session, limit, category)
    return DemandList(
        as_of=await views.as_of(session),
        window_hours=WINDOW_HOURS,
        results=[demand_out(r) for r in rows],
    )


@router.get("/demand-gaps", response_model=DemandList)
async def demand_gaps(
    session: ReadSession, limit: Limit = 20, category: Category | None = None
) -> DemandList:
    """Patterns searched by at least 3 requesters that under 20% of searches found."""
    rows = await views.gaps(session, limit, category)
    return DemandList(
        as_of=await views.as_of(session),
        window_hours=WINDOW_HOURS,
        results=[demand_out(r) for r in rows],
    )


@router.get("/opportunities", response_model=OpportunityList)
async def opportunities(
    session: ReadSession, limit: Limit = 20, category: Category | None = None
) -> OpportunityList:
    """Opportunities for the top gaps, most urgent first, until they expire (24 h)."""
    return await opportunities_of(session, limit, category)


async def opportunities_of(
    session: AsyncSession, limit: int, category: str | None
) -> OpportunityList:
    """The open opportunities (REST and the MCP resource)."""
    rows = await views.opportunities(session, limit, utcnow(), category)
    return OpportunityList(
        as_of=await views.as_of(session), results=[opportunity_out(o) for o in rows]
    )


@router.get("/my-earnings", response_model=Earnings)
async def my_earnings(agent: AgentId, session: ReadSession) -> Earnings:
    trade = await analytics.current(session, agent)
    return Earnings(
        agent_id=agent,
        total_earned=trade.earned_units,
        total_spent=trade.spent_units,
        sales=trade.sales,
        purchases=trade.purchases,
    )


async def _stats(session: ReadSession, agent_id: str) -> Stats:
    agent = await agents.get(session, agent_id)
    trade = await analytics.current(session, agent.id)
    composite = (await reputation.current(session, agent.id)).composite
    return Stats(
        agent_id=agent.id,
        agent_name=agent.name,
        sales=trade.sales,
        purchases=trade.purchases,
        unique_buyers_served=trade.unique_buyers,
        listing_accesses=trade.listing_accesses,
        active_listings=trade.active_listings,
        avg_quality=trade.avg_quality,
        helpfulness_score=trade.helpfulness,
        composite_score=composite,
        total_earned=trade.earned_units,
    )


@router.get("/my-stats", response_model=Stats)
async def my_stats(agent: AgentId, session: ReadSession) -> Stats:
    return await _stats(session, str(agent))


@router.get("/agent/{agent_id}/profile", response_model=Stats)
async def profile(agent_id: str, session: ReadSession) -> Stats:
    return await _stats(session, agent_id)


@router.get("/leaderboard/{board_type}", response_model=Board)
async def leaderboard(
    board_type: analytics.Board, session: ReadSession, limit: Limit = 20
) -> Board:
    """helpfulness (rules.md), earnings (total earned), contributors (times their listings
    were bought)."""
    rows = await analytics.leaderboard(session, board_type, limit)
    return Board(
        board_type=board_type,
        entries=[
            BoardEntry(
                rank=rank,
                agent_id=trade.agent_id,
                agent_name=name,
                helpfulness_score=trade.helpfulness,
                total_earned=trade.earned_units,
                listing_accesses=trade.listing_accesses,
                unique_buyers_served=trade.unique_buyers,
                sales=trade.sales,
            )
            for rank, (trade, name) in enumerate(rows, start=1)
        ],
    )
