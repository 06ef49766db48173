"""Each pattern's figures over the 24 h window, derived from its totals (rules.md):

velocity = searches / 24 (per hour); fulfillment_rate = share of searches with matches;
conversion_rate = share that led to a purchase; avg_max_price = mean of the max prices given
(0.005 when none was); is_gap = fulfillment_rate < 0.2 and unique requesters >= 3. Rates keep 4
decimals (half up). A pattern whose velocity rises above 10 (more than 240 searches) is
announced (`demand_spike`) once per crossing. Derived in the database, one statement a batch.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from domain import events
from domain.demand import WINDOW_HOURS
from domain.events import EventType
from models.demand import Demand

DEFAULT_PRICE_UNITS = 5_000  # 0.005 USDC
GAP_REQUESTERS = 3
SPIKE_SEARCHES = 10 * WINDOW_HOURS  # velocity > 10 per hour over the window
FOUR = Decimal("0.0001")


def _share(part: Any, whole: Any) -> ColumnElement[Any]:
    exact = part * literal_column("1.0") / whole
    return case((whole > 0, func.round(exact, 4)), else_=0)


VELOCITY = func.round(Demand.searches * literal_column("1.0") / WINDOW_HOURS, 4)
FULFILLMENT = _share(Demand.fulfilled, Demand.searches)
FIGURES: dict[str, Any] = {
    "velocity": VELOCITY,
    "fulfillment_rate": FULFILLMENT,
    "conversion_rate": _share(Demand.purchases, Demand.searches),
    "avg_max_price_units": case(
        (Demand.priced > 0, func.round(Demand.price_total * literal_column("1.0") / Demand.priced)),
        else_=DEFAULT_PRICE_UNITS,
    ),
    "is_gap": (literal_column("0.2") > FULFILLMENT) & (Demand.requesters >= GAP_REQUESTERS),
    "spiking": Demand.searches > SPIKE_SEARCHES,
    "dirty": False,
}


async def refresh(session: AsyncSession, limit: int) -> int:
    """Derive the figures of up to `limit` patterns whose totals changed; the number done.
    A pattern with no searches left in the window is dropped."""
    batch = list(
        await session.scalars(
            select(Demand.pattern)
            .where(Demand.dirty.is_(True))
            .order_by(Demand.pattern)
            .limit(limit)
        )
    )
    if not batch:
        return 0
    in_batch = Demand.pattern.in_(batch)
    crossing = await session.execute(
        select(Demand.pattern, Demand.category, Demand.searches, Demand.requesters).where(
            in_batch, Demand.searches > SPIKE_SEARCHES, Demand.spiking.is_(False)
        )
    )
    for pattern, category, searches, requesters in crossing:
        velocity = (Decimal(searches) / WINDOW_HOURS).quantize(FOUR, ROUND_HALF_UP)
        events.emit(
            session,
            EventType.DEMAND_SPIKE,
            {
                "pattern": pattern,
                "category": category,
                "velocity": str(velocity),
                "search_count": searches,
                "unique_requesters": requesters,
            },
        )
    await session.execute(delete(Demand).where(in_batch, Demand.searches <= 0))
    await session.execute(
        update(Demand).where(in_batch).values(**FIGURES, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return len(batch)
