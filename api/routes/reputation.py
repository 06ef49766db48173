"""Reputation: kept current by the purchase workflow as purchases close, never recomputed here."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Session
from api.routes import API_PREFIX
from api.schemas.listings import PriceOut
from domain import agents, reputation

router = APIRouter(prefix=f"{API_PREFIX}/reputation", tags=["reputation"])


class LeaderboardEntry(BaseModel):
    rank: int
    agent_id: str
    agent_name: str
    composite_score: Decimal
    total_transactions: int
    total_volume_usdc: PriceOut


class Leaderboard(BaseModel):
    entries: list[LeaderboardEntry]


class Reputation(BaseModel):
    agent_id: str
    agent_name: str
    composite_score: Decimal
    total_transactions: int
    sales_paid: int
    sales_delivered: int
    sales_completed: int
    sales_disputed: int
    purchases: int
    average_delivery_ms: int | None
    total_volume_usdc: PriceOut


@router.get("/leaderboard", response_model=Leaderboard)
async def leaderboard(
    session: Session, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> Leaderboard:
    rows = await reputation.leaderboard(session, limit)
    return Leaderboard(
        entries=[
            LeaderboardEntry(
                rank=rank,
                agent_id=str(stats.agent_id),
                agent_name=name,
                composite_score=stats.composite,
                total_transactions=stats.sales_paid + stats.purchases,
                total_volume_usdc=stats.volume_units,
            )
            for rank, (stats, name) in enumerate(rows, start=1)
        ]
    )


@router.get("/{agent_id}", response_model=Reputation)
async def of_agent(agent_id: str, session: Session) -> Reputation:
    return await reputation_of(session, agent_id)


async def reputation_of(session: AsyncSession, agent_id: str) -> Reputation:
    """The composite reputation of one agent (the REST route and the MCP tool answer this)."""
    agent = await agents.get(session, agent_id)
    stats = await reputation.current(session, agent.id)
    delivered = stats.sales_delivered
    return Reputation(
        agent_id=str(agent.id),
        agent_name=agent.name,
        composite_score=stats.composite,
        total_transactions=stats.sales_paid + stats.purchases,
        sales_paid=stats.sales_paid,
        sales_delivered=delivered,
        sales_completed=stats.sales_completed,
        sales_disputed=stats.sales_disputed,
        purchases=stats.purchases,
        average_delivery_ms=stats.delivery_ms_total // delivered if delivered else None,
        total_volume_usdc=stats.volume_units,
    )
