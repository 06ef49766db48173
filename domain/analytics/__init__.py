"""Analytics counters, kept as purchases settle (never recomputed on read).

helpfulness = min(0.3 x min(unique_buyers / 10, 1) + 0.3 x min(active_listings / 20, 1)
              + 0.2 x avg_quality + 0.2 x min(access_count / 50, 1), 1)   (rules.md)

`access_count` is how often the seller's listings were bought (each listing keeps its own
`access_count` too). A seller's figures are refreshed when its settled sales are folded in from
the outbox (ADR 0038); a fold holds its parties' rows (in id order) until its commit, so these
read-modify-writes never race.
"""

import functools
import uuid
from collections import Counter
from collections.abc import Sequence
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
_THOUSANDTH = Decimal("0.001")


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


def helpfulness(row: AgentTrade) -> Decimal:
    score = (
        Decimal("0.3") * min(Decimal(row.unique_buyers) / 10, _ONE)
        + Decimal("0.3") * min(Decimal(row.active_listings) / 20, _ONE)
        + Decimal("0.2") * Decimal(row.avg_quality)
        + Decimal("0.2") * min(Decimal(row.listing_accesses) / 50, _ONE)
    )
    return min(score, _ONE).quantize(_THOUSANDTH, ROUND_HALF_UP)


async def record_sales(session: AsyncSession, sold: Sequence[Transaction]) -> None:
    """Fold settled purchases into both parties' counters and their listings' access counts
    (the tally, ADR 0038). Everything is read first and the counters changed last, so each
    party's row is written once, however many of the sales it took part in."""
    if not sold:
        return
    parties = {agent for tx in sold for agent in (tx.seller_id, tx.buyer_id)}
    async with held_rows(session, AgentTrade, parties) as held:
        first_sales = await _new_pairs(session, {(tx.seller_id, tx.buyer_id) for tx in sold})
        accessed = Counter(tx.listing_id for tx in sold)
        await session.execute(_ACCESSED, [{"listing": k, "times": n} for k, n in accessed.items()])
        offered = await _offered(session, {tx.seller_id for tx in sold})
        for tx in sold:
            seller, buyer = held[tx.seller_id], held[tx.buyer_id]
            seller.sales += 1
            seller.earned_units += tx.amount_units - tx.fee_units  # its proceeds before royalty
            seller.listing_accesses += 1
            buyer.purchases += 1
            buyer.spent_units += tx.amount_units
        for seller_id, _ in first_sales:
            held[seller_id].unique_buyers += 1
        for seller_id, (count, quality) in offered.items():
            seller = held[seller_id]
            seller.active_listings, seller.avg_quality = count, quality
            seller.helpfulness = helpfulness(seller)
        for party in held.values():
            party.updated_at = utcnow()


async def _new_pairs(
    session: AsyncSession, pairs: set[tuple[uuid.UUID, uuid.UUID]]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Record the (seller, buyer) pairs; those that are new (one statement, no savepoint)."""
    rows = [{"seller_id": seller, "buyer_id": buyer} for seller, buyer in sorted(pairs)]
    added = await session.execute(_pairs(session.get_bind().dialect.name), rows)
    return [(row.seller_id, row.buyer_id) for row in added]


@functools.cache
def _pairs(dialect: str) -> Any:
    table = TradePair.metadata.tables["trade_pairs"]
    returning = table.c.seller_id, table.c.buyer_id
    return inserting(dialect, table).on_conflict_do_nothing().returning(*returning)


async def _offered(
    session: AsyncSession, sellers: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, Decimal]]:
    """Per seller, how many listings it offers and their average quality, to 3 decimals."""
    rows = await session.execute(_OFFERED, {"sellers": sorted(sellers)})
    found = {seller: (int(count), quality) for seller, count, quality in rows}
    offered = {}
    for seller in sellers:
        count, quality = found.get(seller, (0, 0))
        offered[seller] = count, Decimal(str(quality or 0)).quantize(_THOUSANDTH, ROUND_HALF_UP)
    return offered


_listings = DataListing.metadata.tables["data_listings"]
_ACCESSED = (
    update(_listings)
    .where(_listings.c.id == bindparam("listing"))
    .values(access_count=_listings.c.access_count + bindparam("times"))
)
_OFFERED = (
    select(
        _listings.c.seller_id,
        func.count(_listings.c.id),
        func.avg(_listings.c.quality_score),
    )
    .where(
        _listings.c.seller_id.in_(bindparam("sellers", expanding=True)),
        _listings.c.status == "active",
    )
    .group_by(_listings.c.seller_id)
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
