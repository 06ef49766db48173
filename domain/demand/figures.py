"""Each pattern's figures over the 24 h window, derived from its totals (rules.md):

velocity = searches / 24 (per hour); fulfillment_rate = share of searches with matches;
conversion_rate = share that led to a purchase; avg_max_price = mean of the max prices given
(0.005 when none was); is_gap = fulfillment_rate < 0.2 and unique requesters >= 3.
A pattern whose velocity rises above 10 is announced (`demand_spike`) once per crossing.
"""

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from domain import events
from domain.demand import WINDOW_HOURS
from domain.events import EventType
from models.demand import Demand

DEFAULT_PRICE_UNITS = 5_000  # 0.005 USDC
GAP_FULFILLMENT = Decimal("0.2")
GAP_REQUESTERS = 3
SPIKE_VELOCITY = Decimal(10)
FOUR = Decimal("0.0001")


def ratio(part: int, whole: int) -> Decimal:
    return (Decimal(part) / whole).quantize(FOUR, ROUND_HALF_UP) if whole else Decimal(0)


def derive(row: Demand) -> None:
    row.velocity = (Decimal(row.searches) / WINDOW_HOURS).quantize(FOUR, ROUND_HALF_UP)
    row.fulfillment_rate = ratio(row.fulfilled, row.searches)
    row.conversion_rate = ratio(row.purchases, row.searches)
    row.avg_max_price_units = (
        int((Decimal(row.price_total) / row.priced).quantize(Decimal(1), ROUND_HALF_UP))
        if row.priced
        else DEFAULT_PRICE_UNITS
    )
    row.is_gap = row.fulfillment_rate < GAP_FULFILLMENT and row.requesters >= GAP_REQUESTERS


async def refresh(session: AsyncSession, limit: int) -> int:
    """Derive the figures of up to `limit` patterns whose totals changed; the number done.
    A pattern with no searches left in the window is dropped."""
    rows = list(
        await session.scalars(
            select(Demand).where(Demand.dirty.is_(True)).order_by(Demand.pattern).limit(limit)
        )
    )
    for row in rows:
        if row.searches <= 0:
            await session.delete(row)
            continue
        derive(row)
        spiking = row.velocity > SPIKE_VELOCITY
        if spiking and not row.spiking:
            events.emit(session, EventType.DEMAND_SPIKE, spike_of(row))
        row.spiking, row.dirty, row.updated_at = spiking, False, utcnow()
    return len(rows)


def spike_of(row: Demand) -> dict[str, object]:
    return {
        "pattern": row.pattern,
        "category": row.category,
        "velocity": str(row.velocity),
        "search_count": row.searches,
        "unique_requesters": row.requesters,
    }
