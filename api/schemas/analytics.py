"""Analytics: demand figures from the aggregation, and counters kept as purchases settle."""

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from api.schemas.listings import PriceOut
from api.schemas.money import ArdOut


class DemandOut(BaseModel):
    """A pattern's demand over the last 24 h (as of the last aggregation run)."""

    pattern: str
    category: str | None
    search_count: int
    unique_requesters: int
    velocity: Decimal  # searches per hour
    fulfillment_rate: Decimal
    conversion_rate: Decimal
    avg_max_price: PriceOut
    is_gap: bool


class DemandList(BaseModel):
    as_of: datetime | None  # the end of the last aggregation run; null before the first
    window_hours: int
    results: list[DemandOut]


class OpportunityOut(BaseModel):
    id: uuid.UUID
    pattern: str
    category: str | None
    search_count: int
    unique_requesters: int
    velocity: Decimal
    fulfillment_rate: Decimal
    competing_listings: int
    estimated_revenue_usdc: PriceOut
    urgency_score: Decimal
    created_at: datetime
    expires_at: datetime


class OpportunityList(BaseModel):
    as_of: datetime | None
    results: list[OpportunityOut]


class Earnings(BaseModel):
    agent_id: uuid.UUID
    total_earned: ArdOut
    total_spent: ArdOut
    sales: int
    purchases: int


class Stats(BaseModel):
    agent_id: uuid.UUID
    agent_name: str
    sales: int
    purchases: int
    unique_buyers_served: int
    listing_accesses: int
    active_listings: int
    avg_quality: Decimal
    helpfulness_score: Decimal
    composite_score: Decimal
    total_earned: ArdOut


class BoardEntry(BaseModel):
    rank: int
    agent_id: uuid.UUID
    agent_name: str
    helpfulness_score: Decimal
    total_earned: ArdOut
    listing_accesses: int
    unique_buyers_served: int
    sales: int


class Board(BaseModel):
    board_type: str
    entries: list[BoardEntry]
