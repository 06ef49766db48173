"""Demand: hourly rollups of search signals, who searched each pattern last, the demand per
pattern over 24 h with its derived figures, the opportunities for the top gaps, and where the
aggregation stands (ADR 0025)."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from models.base import Base, UUIDKey
from models.ledger import Units

Rate = Numeric(5, 4)
Velocity = Numeric(14, 4)


class DemandHour(Base):
    """One pattern's searches in one hour (the hour's start, UTC)."""

    __tablename__ = "demand_hours"

    pattern: Mapped[str] = mapped_column(String(500), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    searches: Mapped[int] = mapped_column(default=0)
    fulfilled: Mapped[int] = mapped_column(default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    price_total: Mapped[int] = mapped_column(Units, default=0)  # of the searches with a max_price
    priced: Mapped[int] = mapped_column(default=0)


class DemandRequester(Base):
    """When a requester (an agent, or an anonymous client) last searched a pattern: one row per
    pair however many searches, so unique requesters are a count of rows within the window."""

    __tablename__ = "demand_requesters"

    pattern: Mapped[str] = mapped_column(String(500), primary_key=True)
    requester: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(index=True)
    previous_seen: Mapped[datetime | None]  # before the last sighting (how a fold counts)


class Demand(Base):
    """A pattern's demand over the 24 h window, kept up to date by each aggregation run."""

    __tablename__ = "demand"
    __table_args__ = (
        Index("ix_demand_trending", "velocity", "requesters", "pattern"),
        Index("ix_demand_gap_velocity", "is_gap", "velocity"),
        Index("ix_demand_category_velocity", "category", "velocity"),
        Index("ix_demand_dirty", "dirty"),
    )

    pattern: Mapped[str] = mapped_column(String(500), primary_key=True)
    category: Mapped[str | None] = mapped_column(String(32))
    searches: Mapped[int] = mapped_column(default=0)
    fulfilled: Mapped[int] = mapped_column(default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    price_total: Mapped[int] = mapped_column(Units, default=0)
    priced: Mapped[int] = mapped_column(default=0)
    requesters: Mapped[int] = mapped_column(default=0)
    velocity: Mapped[Decimal] = mapped_column(Velocity, default=Decimal(0))
    fulfillment_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    conversion_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    avg_max_price_units: Mapped[int] = mapped_column(Units, default=0)
    is_gap: Mapped[bool] = mapped_column(default=False)
    spiking: Mapped[bool] = mapped_column(default=False)  # velocity above the spike line
    dirty: Mapped[bool] = mapped_column(default=True)  # totals changed since figures were derived
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DemandOpportunity(UUIDKey, Base):
    """An opportunity for one of the top gaps; it expires 24 h after it was created."""

    __tablename__ = "demand_opportunities"
    __table_args__ = (Index("ix_demand_opportunities_urgency", "urgency"),)

    pattern: Mapped[str] = mapped_column(String(500), unique=True)
    category: Mapped[str | None] = mapped_column(String(32))
    searches: Mapped[int]
    requesters: Mapped[int]
    velocity: Mapped[Decimal] = mapped_column(Velocity)
    fulfillment_rate: Mapped[Decimal] = mapped_column(Rate)
    competing_listings: Mapped[int]
    estimated_revenue_units: Mapped[int] = mapped_column(Units)
    urgency: Mapped[Decimal] = mapped_column(Rate)
    urgent: Mapped[bool] = mapped_column(default=False)  # urgency above the announcement line
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DemandRun(Base):
    """Where the aggregation stands (one row): signals up to `watermark` are folded in; a run
    in progress has its `until` and folds from (`cursor_at`, `cursor_id`)."""

    __tablename__ = "demand_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    watermark: Mapped[datetime | None]
    window_start: Mapped[datetime | None]
    until: Mapped[datetime | None]
    cursor_at: Mapped[datetime | None]
    cursor_id: Mapped[uuid.UUID | None]
    conversions_done: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
