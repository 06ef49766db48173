"""Auto-match (rules.md, "Matching and routing"): the listings that best answer a buyer's
description, scored

    0.5 * word overlap + 0.3 * quality + 0.2 * freshness(24 h) + 0.1 specialization, capped at 1

- word overlap: the share of the description's words found in the listing's title,
  description and tags;
- freshness: 1 for a listing made now, falling linearly to 0 at 24 hours;
- specialization: 0.1 when the listing is in the category asked for.

The top 5, the buyer's own listings skipped, each with what it saves against computing the
result afresh (the fresh-cost estimate of its category).
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from domain.listings.discovery import words_of
from models.listings import DataListing
from models.reputation import AgentStats

TOP = 5
CANDIDATES = 1_000  # listings scored per request at most: the freshest that can match
FRESH_HOURS = Decimal(24)
SCALE = Decimal("0.0001")
# What computing a result afresh costs, per category (USDC units; rules.md).
FRESH_COST_UNITS: dict[str, int] = {
    "web_search": 10_000,
    "code_analysis": 20_000,
    "document_summary": 10_000,
    "api_response": 15_000,
    "computation": 25_000,
}
AUTO_BUY_MAX_UNITS = 50_000  # 0.05 USDC: the default auto_buy limit
AUTO_BUY_MIN_SCORE = Decimal("0.3")
_WORD = re.compile(r"\w+", re.UNICODE)


class Scored(Protocol):
    """What a listing's score is made of (a full listing, or the row of these columns)."""

    search_text: str
    quality_score: Decimal
    freshness_at: datetime
    category: str


_SCORED = (
    DataListing.id,
    DataListing.price_units,
    DataListing.search_text,
    DataListing.quality_score,
    DataListing.freshness_at,
    DataListing.category,
)


def overlap(wanted: list[str], listing: Scored) -> Decimal:
    if not wanted:
        return Decimal(0)
    offered = set(_WORD.findall(listing.search_text.lower()))
    unique = set(wanted)
    return Decimal(len(unique & offered)) / Decimal(len(unique))


def freshness(made: datetime, now: datetime) -> Decimal:
    hours = Decimal((now - made).total_seconds()) / Decimal(3600)
    return max(Decimal(0), Decimal(1) - hours / FRESH_HOURS) if hours > 0 else Decimal(1)


def score(wanted: list[str], category: str | None, listing: Scored, now: datetime) -> Decimal:
    total = (
        Decimal("0.5") * overlap(wanted, listing)
        + Decimal("0.3") * Decimal(listing.quality_score)
        + Decimal("0.2") * freshness(listing.freshness_at, now)
        + (Decimal("0.1") if category and listing.category == category else Decimal(0))
    )
    return min(Decimal(1), total).quantize(SCALE, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Match:
    listing: DataListing
    score: Decimal
    fresh_cost_units: int
    savings_units: int  # never below 0
    savings_percent: Decimal
    avg_response_ms: int | None


def savings(listing: DataListing) -> tuple[int, int, Decimal]:
    fresh = FRESH_COST_UNITS[listing.category]
    saved = max(0, fresh - listing.price_units)
    percent = (Decimal(saved * 100) / Decimal(fresh)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return fresh, saved, percent


@dataclass(frozen=True)
class Wanted:
    description: str
    category: str | None = None
    max_price_units: int | None = None


async def find(session: AsyncSession, buyer: uuid.UUID, wanted: Wanted) -> list[Match]:
    """The best `TOP` active listings of other sellers for the description, best first."""
    words = words_of(wanted.description)
    query = select(*_SCORED).where(DataListing.status == "active", DataListing.seller_id != buyer)
    if wanted.max_price_units is not None:
        query = query.where(DataListing.price_units <= wanted.max_price_units)
    relevant: list[ColumnElement[bool]] = []
    if words:
        relevant.append(_any_word(words, session.get_bind().dialect.name))
    if wanted.category:
        relevant.append(DataListing.category == wanted.category)
    if relevant:
        query = query.where(or_(*relevant))
    # Only the columns the score needs; the whole listing for the few that win.
    candidates = await session.execute(
        query.order_by(DataListing.freshness_at.desc(), DataListing.id).limit(CANDIDATES)
    )
    now = utcnow()
    best = sorted(
        ((score(words, wanted.category, row, now), row) for row in candidates),
        key=lambda pair: (-pair[0], pair[1].price_units, str(pair[1].id)),
    )[:TOP]
    listings = {
        row.id: row
        for row in await session.scalars(
            select(DataListing).where(DataListing.id.in_([row.id for _, row in best]))
        )
    }
    scored = [(value, listings[row.id]) for value, row in best]
    speeds = await response_times(session, {row.seller_id for _, row in scored})
    matches = []
    for value, row in scored:
        fresh, saved, percent = savings(row)
        matches.append(Match(row, value, fresh, saved, percent, speeds.get(row.seller_id)))
    return matches


def _any_word(words: list[str], dialect: str) -> ColumnElement[bool]:
    """Listings whose text holds any of the words, through the full-text index discovery keeps
    (PostgreSQL: GIN over `search_vector`; SQLite: the `listings_fts` FTS5 table). Words are
    `\\w+` only, so nothing in them is query syntax."""
    if dialect == "postgresql":
        vector: ColumnElement[Any] = literal_column("data_listings.search_vector")
        tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        return vector.op("@@")(tsquery)
    match = " OR ".join(f'"{w}"' for w in words)
    found: Select[Any] = select(literal_column("rowid")).select_from(text("listings_fts"))
    found = found.where(text("listings_fts MATCH :match").bindparams(match=match))
    return literal_column("data_listings.rowid").in_(found.scalar_subquery())


async def response_times(session: AsyncSession, sellers: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each seller's average delivery time so far (sellers without deliveries are absent)."""
    if not sellers:
        return {}
    rows = await session.execute(
        select(AgentStats.agent_id, AgentStats.delivery_ms_total, AgentStats.sales_delivered).where(
            AgentStats.agent_id.in_(sellers), AgentStats.sales_delivered > 0
        )
    )
    return {agent: total // count for agent, total, count in rows}
