"""Counters behind the analytics routes, kept as purchases settle (never recomputed on read)."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from models.base import Base
from models.ledger import Units


class AgentTrade(Base):
    """One agent's settled trading: sales and purchases, what it earned and spent, how many
    distinct buyers it served, how often its listings were bought, and its helpfulness."""

    __tablename__ = "agent_trade"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_agents.id"), primary_key=True
    )
    sales: Mapped[int] = mapped_column(default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    earned_units: Mapped[int] = mapped_column(Units, default=0, index=True)
    spent_units: Mapped[int] = mapped_column(Units, default=0)
    unique_buyers: Mapped[int] = mapped_column(default=0)
    listing_accesses: Mapped[int] = mapped_column(default=0, index=True)
    active_listings: Mapped[int] = mapped_column(default=0)
    avg_quality: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal(0))
    helpfulness: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal(0), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TradePair(Base):
    """A seller has served this buyer at least once (how unique buyers are counted)."""

    __tablename__ = "trade_pairs"

    seller_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    buyer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
