"""What the analytics routes read: the aggregation's output, never the raw signals (but for a
seller's own searches, which are taken out of the demand shown to it)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.demand import window_start
from domain.demand.signals import agent_requester
from models.demand import Demand, DemandOpportunity, DemandRun
from models.listings import DataListing, SearchSignal

__all__ = ["Demand", "DemandOpportunity", "as_of", "category_searches", "for_seller", "gaps"]


async def as_of(session: AsyncSession) -> datetime | None:
    """When the figures were last brought up to date (the last run's end)."""
    run = await session.get(DemandRun, 1)
    return run.watermark if run else None


async def trending(session: AsyncSession, limit: int, category: str | None = None) -> list[Demand]:
    query = select(Demand).where(Demand.searches > 0)
    if category:
        query = query.where(Demand.category == category)
    ordered = query.order_by(
        Demand.velocity.desc(), Demand.requesters.desc(), Demand.pattern.desc()
    )
    return list(await session.scalars(ordered.limit(limit)))


async def gaps(session: AsyncSession, limit: int, category: str | None = None) -> list[Demand]:
    query = select(Demand).where(Demand.is_gap.is_(True))
    if category:
        query = query.where(Demand.category == category)
    ordered = query.order_by(
        Demand.velocity.desc(), Demand.requesters.desc(), Demand.pattern.desc()
    )
    return list(await session.scalars(ordered.limit(limit)))


async def opportunities(
    session: AsyncSession, limit: int, now: datetime, category: str | None = None
) -> list[DemandOpportunity]:
    query = select(DemandOpportunity).where(DemandOpportunity.expires_at > now)
    if category:
        query = query.where(DemandOpportunity.category == category)
    ordered = query.order_by(DemandOpportunity.urgency.desc(), DemandOpportunity.pattern)
    return list(await session.scalars(ordered.limit(limit)))


async def _own_searches(
    session: AsyncSession, seller: uuid.UUID, until: datetime
) -> dict[str, int]:
    """The seller's own searches per pattern among those the figures hold."""
    rows = await session.execute(
        select(SearchSignal.pattern, func.count())
        .where(
            SearchSignal.requester == agent_requester(seller),
            SearchSignal.created_at >= window_start(until),
            SearchSignal.created_at <= until,
        )
        .group_by(SearchSignal.pattern)
    )
    return {pattern: int(n) for pattern, n in rows}


async def _seller_categories(session: AsyncSession, seller: uuid.UUID) -> Sequence[str]:
    rows = await session.scalars(
        select(DataListing.category)
        .where(DataListing.seller_id == seller, DataListing.status == "active")
        .distinct()
    )
    return list(rows)


async def for_seller(
    session: AsyncSession, seller: uuid.UUID, limit: int
) -> list[tuple[Demand, int, int]]:
    """Demand in the seller's categories, each as (row, searches, requesters) with the seller's
    own searches taken out: an agent never raises demand for its own listings."""
    categories = await _seller_categories(session, seller)
    if not categories:
        return []
    watermark = await as_of(session)
    own = await _own_searches(session, seller, watermark) if watermark else {}
    rows = await session.scalars(
        select(Demand)
        .where(Demand.category.in_(categories), Demand.searches > 0)
        .order_by(Demand.velocity.desc(), Demand.pattern)
        .limit(limit + len(own))
    )
    shown = []
    for row in rows:
        mine = own.get(row.pattern, 0)
        searches, requesters = row.searches - mine, row.requesters - (1 if mine else 0)
        if searches > 0:
            shown.append((row, searches, max(requesters, 0)))
    shown.sort(key=lambda item: (-item[1], item[0].pattern))
    return shown[:limit]


async def category_searches(
    session: AsyncSession, category: str, seller: uuid.UUID | None = None
) -> int:
    """Searches in a category over the window, from the demand figures, less the seller's own."""
    total = int(
        await session.scalar(
            select(func.coalesce(func.sum(Demand.searches), 0)).where(Demand.category == category)
        )
        or 0
    )
    watermark = await as_of(session)
    if seller is None or watermark is None:
        return total
    own = await session.scalar(
        select(func.count(SearchSignal.id)).where(
            SearchSignal.requester == agent_requester(seller),
            SearchSignal.category == category,
            SearchSignal.created_at >= window_start(watermark),
            SearchSignal.created_at <= watermark,
            SearchSignal.pattern != "",
        )
    )
    return max(total - int(own or 0), 0)
