import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import Count, Request, label, text
from api.schemas.listings import Category, PriceOut, Quality
from api.schemas.money import PriceIn
from api.schemas.purchases import ExpressResult
from domain.routing import Strategy

Region = Annotated[str, label(50), Field(examples=["eu-west"])]


class AutoMatchRequest(Request):
    """`auto_buy`: buy the chosen match (the best by score, or the one `routing_strategy` picks
    among the eligible) when its price is at most `auto_buy_max_price` (default 0.05) and its
    score at least 0.3: an express purchase, idempotent with `Idempotency-Key`."""

    description: Annotated[str, text(1000, min_length=1)]
    category: Category | None = None
    max_price: PriceIn | None = None
    auto_buy: bool = False
    auto_buy_max_price: PriceIn | None = None
    routing_strategy: Strategy | None = None
    buyer_region: Region | None = None


class MatchOut(BaseModel):
    listing_id: uuid.UUID
    title: str
    category: str
    seller_id: uuid.UUID
    price_usdc: PriceOut
    quality_score: Decimal
    freshness_at: datetime
    match_score: Decimal
    estimated_fresh_cost: PriceOut
    savings_usdc: PriceOut
    savings_percent: Decimal
    avg_response_ms: int | None
    region: str | None


class AutoMatchResult(BaseModel):
    description: str
    category: str | None
    matches: list[MatchOut]
    routing_strategy: Strategy | None
    auto_bought: bool
    purchase: ExpressResult | None
    auto_buy_skipped: str | None = Field(
        None, description="Why nothing was bought although auto_buy was asked"
    )


class RouteCandidate(Request):
    id: Annotated[str, label(100)]
    price_usdc: PriceIn
    quality_score: Quality
    avg_response_ms: Count | None = None
    region: Region | None = None


class RouteRequest(Request):
    strategy: Strategy
    candidates: Annotated[list[RouteCandidate], Field(min_length=1, max_length=100)]
    buyer_region: Region | None = None


class RoutedCandidate(BaseModel):
    id: str
    price_usdc: PriceOut
    quality_score: Decimal
    avg_response_ms: int | None
    region: str | None
    proximity: Decimal | None = None


class RouteResult(BaseModel):
    strategy: Strategy
    selected: RoutedCandidate
    ranked: list[RoutedCandidate]


class StrategyOut(BaseModel):
    name: Strategy
    description: str


class Strategies(BaseModel):
    strategies: list[StrategyOut]
    regions: dict[str, list[str]] = Field(description="Each region and its adjacent regions")
    proximity: dict[str, Decimal]
