"""Reputation: composite = 0.4 x delivery rate + 0.3 x verification rate + 0.2 x response score
+ 0.1 x min(transactions / 100, 1), to 3 decimals; 0.500 until an agent has sold.

The response score is 1.0 for an average delivery within a second, falling linearly to 0 at
the delivery window. Records follow the purchases that closed, folded in from the outbox
(ADR 0038); a fold holds its parties' rows (in id order) until its commit, so these
read-modify-writes never race.
"""

import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import held_rows
from models.agents import RegisteredAgent
from models.purchases import Transaction
from models.reputation import AgentStats
from workflows.contracts.purchase import PurchaseStatus

NEW_AGENT = Decimal("0.500")


def _fresh(agent_id: uuid.UUID) -> AgentStats:
    return AgentStats(
        agent_id=agent_id,
        sales_paid=0,
        sales_delivered=0,
        sales_completed=0,
        sales_disputed=0,
        purchases=0,
        delivery_ms_total=0,
        volume_units=0,
        composite=NEW_AGENT,
        updated_at=utcnow(),
    )


async def current(session: AsyncSession, agent_id: uuid.UUID) -> AgentStats:
    """The agent's record as stored; an agent without one reads as new (nothing is written,
    so concurrent readers never race to create it)."""
    return await session.get(AgentStats, agent_id) or _fresh(agent_id)


def composite(stats: AgentStats, window_seconds: int) -> Decimal:
    if stats.sales_paid == 0:
        return NEW_AGENT
    delivery_rate = Decimal(stats.sales_delivered) / stats.sales_paid
    verification_rate = (
        Decimal(stats.sales_completed) / stats.sales_delivered
        if stats.sales_delivered
        else Decimal(0)
    )
    response = Decimal(0)
    if stats.sales_delivered:
        average_s = Decimal(stats.delivery_ms_total) / stats.sales_delivered / 1000
        span = max(Decimal(window_seconds) - 1, Decimal(1))
        response = min(Decimal(1), max(Decimal(0), 1 - (average_s - 1) / span))
    activity = min(Decimal(stats.sales_paid + stats.purchases) / 100, Decimal(1))
    score = (
        Decimal("0.4") * delivery_rate
        + Decimal("0.3") * verification_rate
        + Decimal("0.2") * response
        + Decimal("0.1") * activity
    )
    return score.quantize(Decimal("0.001"), ROUND_HALF_UP)


async def record_closed(
    session: AsyncSession, closed: Sequence[Transaction], window_seconds: int
) -> None:
    """Fold purchases that closed into both parties' records (the tally, ADR 0038): every
    party's row is held once, however many of the purchases it took part in."""
    parties = {agent for tx in closed for agent in (tx.seller_id, tx.buyer_id)}
    async with held_rows(session, AgentStats, parties) as held:
        for tx in closed:
            seller, buyer = held[tx.seller_id], held[tx.buyer_id]
            completed = tx.status == PurchaseStatus.COMPLETED
            if tx.paid_at is not None:
                seller.sales_paid += 1
            if tx.delivered_at is not None and tx.paid_at is not None:
                seller.sales_delivered += 1
                latency = tx.delivered_at - tx.paid_at
                seller.delivery_ms_total += int(latency.total_seconds() * 1000)
            seller.sales_completed += int(completed)
            seller.sales_disputed += int(tx.status == PurchaseStatus.DISPUTED)
            buyer.purchases += int(tx.paid_at is not None)
            for party in (seller, buyer):
                party.volume_units += tx.amount_units if completed else 0
        for party in held.values():
            party.composite = composite(party, window_seconds)
            party.updated_at = utcnow()


async def leaderboard(session: AsyncSession, limit: int) -> list[tuple[AgentStats, str]]:
    rows = await session.execute(
        select(AgentStats, RegisteredAgent.name)
        .join(RegisteredAgent, RegisteredAgent.id == AgentStats.agent_id)
        .order_by(AgentStats.composite.desc(), AgentStats.volume_units.desc(), AgentStats.agent_id)
        .limit(limit)
    )
    return [(stats, name) for stats, name in rows]
