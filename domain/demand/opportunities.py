"""Opportunities for the top 50 gaps (rules.md), each expiring 24 h after it was created:

competing = active listings matching the pattern's words; estimated_revenue = velocity x
avg_max_price; urgency = 0.4 x velocity / max_velocity + 0.3 x (1 - fulfillment)
+ 0.3 x requesters / max_requesters, the maxima taken over the top gaps. Gaps rank by velocity,
then unique requesters. `opportunity_created` is announced when urgency crosses 0.7.
"""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import units_to_usdc
from domain import events
from domain.demand import WINDOW
from domain.demand.figures import FOUR
from domain.events import EventType
from domain.listings.discovery import count_matching, words_of
from models.demand import Demand, DemandOpportunity

TOP_GAPS = 50
URGENT = Decimal("0.7")


def urgency(row: Demand, max_velocity: Decimal, max_requesters: int) -> Decimal:
    speed = row.velocity / max_velocity if max_velocity else Decimal(0)
    reach = Decimal(row.requesters) / max_requesters if max_requesters else Decimal(0)
    score = (
        Decimal("0.4") * speed
        + Decimal("0.3") * (1 - row.fulfillment_rate)
        + Decimal("0.3") * reach
    )
    return score.quantize(FOUR, ROUND_HALF_UP)


def revenue_units(row: Demand) -> int:
    return int((row.velocity * row.avg_max_price_units).quantize(Decimal(1), ROUND_HALF_UP))


async def refresh(session: AsyncSession, now: datetime) -> int:
    """Expire old opportunities, then create or update one per top gap; the number of gaps."""
    await session.execute(delete(DemandOpportunity).where(DemandOpportunity.expires_at <= now))
    gaps = list(
        await session.scalars(
            select(Demand)
            .where(Demand.is_gap.is_(True), Demand.dirty.is_(False))
            .order_by(Demand.velocity.desc(), Demand.requesters.desc(), Demand.pattern)
            .limit(TOP_GAPS)
        )
    )
    if not gaps:
        return 0
    max_velocity = max(g.velocity for g in gaps)
    max_requesters = max(g.requesters for g in gaps)
    existing = {
        o.pattern: o
        for o in await session.scalars(
            select(DemandOpportunity).where(
                DemandOpportunity.pattern.in_([g.pattern for g in gaps])
            )
        )
    }
    for gap in gaps:
        figures = {
            "category": gap.category,
            "searches": gap.searches,
            "requesters": gap.requesters,
            "velocity": gap.velocity,
            "fulfillment_rate": gap.fulfillment_rate,
            "competing_listings": await count_matching(session, words_of(gap.pattern)),
            "estimated_revenue_units": revenue_units(gap),
            "urgency": urgency(gap, max_velocity, max_requesters),
        }
        opportunity = existing.get(gap.pattern)
        if opportunity is None:
            opportunity = DemandOpportunity(
                pattern=gap.pattern, urgent=False, created_at=now, expires_at=now + WINDOW
            )
            session.add(opportunity)
        for name, value in figures.items():
            if getattr(opportunity, name, None) != value:  # unchanged figures are not rewritten
                setattr(opportunity, name, value)
        urgent = opportunity.urgency > URGENT
        if urgent and not opportunity.urgent:
            await session.flush()
            events.emit(session, EventType.OPPORTUNITY_CREATED, announcement(opportunity))
        if opportunity.urgent != urgent:
            opportunity.urgent = urgent
    return len(gaps)


def announcement(o: DemandOpportunity) -> dict[str, object]:
    return {
        "opportunity_id": str(o.id),
        "pattern": o.pattern,
        "category": o.category,
        "urgency_score": str(o.urgency),
        "estimated_revenue_usdc": units_to_usdc(o.estimated_revenue_units),
        "competing_listings": o.competing_listings,
        "expires_at": o.expires_at.isoformat(),
    }
