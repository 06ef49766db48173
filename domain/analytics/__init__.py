"""Analytics counters, kept as purchases settle (never recomputed on read).

helpfulness = min(0.3 x min(unique_buyers / 10, 1) + 0.3 x min(active_listings / 20, 1)
              + 0.2 x avg_quality + 0.2 x min(access_count / 50, 1), 1)   (rules.md)

`access_count` is how often the seller's listings were bought (each listing keeps its own
`access_count` too). A seller's figures are refreshed when one of its sales settles; the rows of
both parties are held (in id order) until the commit, so these read-modify-writes never race.
"""

import functools
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import held_rows, inserting
from models.agents import RegisteredAgent
from models.analytics import AgentTrade, TradePair
from models.listings import DataListing
from models.purchases import Transaction

Board = Literal["helpfulness", "earnings", "contributors"]
_ONE = Decimal(1)


def _fresh(agent_id: uuid.UUID) -> AgentTrade:
    return AgentTrade(
        agent_id=agent_id,
        sales=0,
        purchases=0,
        earned_units=0,
        spent_units=0,
        unique_buyers=0,
        listing_accesses=0,
        active_listings=0,
        avg_quality=Decimal(0),
        helpfulness=Decimal(0),
        updated_at=utcnow(),
    )


async def current(session: AsyncSession, agent_id: uuid.UUID) -> AgentTrade:
    """The agent's counters as stored; an agent that never traded reads as zeros."""
    return await session.get(AgentTrade, agent_id) or _fresh(agent_id)


async def _first_sale_between(session: AsyncSession, seller: uuid.UUID, buyer: uuid.UUID) -> bool:
    """Record the pair; whether it is new (one statement, no savepoint)."""
    pair = {"seller_id": seller, "buyer_id": buyer}
    added = await session.execute(_new_pair(session.get_bind().dialect.name), pair)
    return added.first() is not None


@functools.cache
def _new_pair(dialect: str) -> Any:
    pairs = TradePair.metadata.tables["trade_pairs"]
    return inserting(dialect, pairs).on_conflict_do_nothing().returning(pairs.c.seller_id)


def helpfulness(row: AgentTrade) -> Decimal:
    score = (
        Decimal("0.3") * min(Decimal(row.unique_buyers) / 10, _ONE)
        + Decimal("0.3") * min(Decimal(row.active_listings) / 20, _ONE)
        + Decimal("0.2") * Decimal(row.avg_quality)
        + Decimal("0.2") * min(Decimal(row.listing_accesses) / 50, _ONE)
    )
    return min(score, _ONE).quantize(Decimal("0.001"), ROUND_HALF_UP)


async def record_sale(session: AsyncSession, tx: Transaction, seller_earned_units: int) -> None:
    """Fold a settled purchase into both parties' counters and the listing's access count.
    Everything is read first and the counters changed last, so both rows are written once."""
    async with held_rows(session, AgentTrade, {tx.seller_id, tx.buyer_id}) as held:
        seller, buyer = held[tx.seller_id], held[tx.buyer_id]
        first_sale = await _first_sale_between(session, tx.seller_id, tx.buyer_id)
        await session.execute(_ACCESSED, {"listing": tx.listing_id})
        count, quality = (await session.execute(_OFFERED, {"seller": tx.seller_id})).one()
        seller.sales += 1
        seller.earned_units += seller_earned_units
        seller.listing_accesses += 1
        seller.unique_buyers += first_sale
        buyer.purchases += 1
        buyer.spent_units += tx.amount_units
        seller.active_listings = int(count)
        seller.avg_quality = Decimal(str(quality or 0)).quantize(Decimal("0.001"), ROUND_HALF_UP)
        seller.helpfulness = helpfulness(seller)
        for party in (seller, buyer):
            party.updated_at = utcnow()


_listings = DataListing.metadata.tables["data_listings"]
_ACCESSED = (
    update(_listings)
    .where(_listings.c.id == bindparam("listing"))
    .values(access_count=_listings.c.access_count + 1)
)
_OFFERED = select(func.count(_listings.c.id), func.avg(_listings.c.quality_score)).where(
    _listings.c.seller_id == bindparam("seller"), _listings.c.status == "active"
)


_ORDER: dict[str, tuple[ColumnElement[Any], ...]] = {
    "helpfulness": (AgentTrade.helpfulness.desc(), AgentTrade.earned_units.desc()),
    "earnings": (AgentTrade.earned_units.desc(), AgentTrade.sales.desc()),
    "contributors": (AgentTrade.listing_accesses.desc(), AgentTrade.unique_buyers.desc()),
}


async def leaderboard(
    session: AsyncSession, board: Board, limit: int
) -> list[tuple[AgentTrade, str]]:
    rows = await session.execute(
        select(AgentTrade, RegisteredAgent.name)
        .join(RegisteredAgent, RegisteredAgent.id == AgentTrade.agent_id)
        .where(AgentTrade.sales > 0)
        .order_by(*_ORDER[board], AgentTrade.agent_id)
        .limit(limit)
    )
    return [(row, name) for row, name in rows]
