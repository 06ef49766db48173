"""Price suggestions from the competition and the demand in a category."""

import statistics
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.demand import views as demand_views
from models.listings import DataListing, ListingStatus

DEFAULT_PRICE_UNITS = 5_000  # 0.005 USDC with no competitors
FLOOR_UNITS = 1_000  # 0.001 USDC
HOT_CATEGORY_SEARCHES = 100
HOT_PREMIUM = Decimal("1.15")


@dataclass(frozen=True)
class Suggestion:
    suggested_units: int
    competitors: int
    median_units: int | None
    min_units: int | None
    max_units: int | None
    demand_searches: int
    strategy: str


async def suggest(
    session: AsyncSession, category: str, quality: Decimal, seller: uuid.UUID | None = None
) -> Suggestion:
    """From the active competition and the category's searches over the demand window (the
    seller's own searches never count)."""
    prices_and_quality = (
        await session.execute(
            select(DataListing.price_units, DataListing.quality_score).where(
                DataListing.status == ListingStatus.ACTIVE, DataListing.category == category
            )
        )
    ).all()
    searches = await demand_views.category_searches(session, category, seller)
    if not prices_and_quality:
        return Suggestion(DEFAULT_PRICE_UNITS, 0, None, None, None, searches, "default")
    prices = [p for p, _ in prices_and_quality]
    average_quality = sum((q for _, q in prices_and_quality), Decimal(0)) / len(prices)
    median = Decimal(statistics.median(prices))
    price = median * (quality / average_quality if average_quality else Decimal(1))
    strategy = "quality_adjusted_median"
    if searches > HOT_CATEGORY_SEARCHES:
        price, strategy = price * HOT_PREMIUM, "high_demand_premium"
    ceiling = Decimal(max(prices)) * Decimal("1.5")
    price = min(max(price, Decimal(FLOOR_UNITS)), ceiling)
    units = int(price.quantize(Decimal(1), ROUND_HALF_UP))
    return Suggestion(units, len(prices), int(median), min(prices), max(prices), searches, strategy)
