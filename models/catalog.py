"""The capability catalog ("I can produce X"), buyers' subscriptions to it, and where each
round-robin route stands."""

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey
from models.ledger import Units

CATALOG_STATUSES = ("active", "retired")
NOTIFY_VIA = ("websocket", "webhook")


class CatalogEntry(UUIDKey, Timestamps, Base):
    """A seller's declaration of what it can produce, with the price range it asks (USDC units)
    and the average quality of its active listings in the entry's category."""

    __tablename__ = "data_catalog"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        CheckConstraint(
            "price_range_min_units >= 0 AND price_range_min_units <= price_range_max_units",
            name="price_range",
        ),
        Index("ix_data_catalog_status_namespace", "status", "namespace"),
        Index("ix_data_catalog_agent_status", "agent_id", "status"),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    namespace: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(32))
    schema_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_range_min_units: Mapped[int] = mapped_column(Units)
    price_range_max_units: Mapped[int] = mapped_column(Units)
    quality_avg: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal("0.5"))
    active_listings_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default="active")


class CatalogSubscription(UUIDKey, Timestamps, Base):
    """A buyer's standing interest: entries matching every filter are sent to it as
    `catalog_update`, on its live feed, or to `webhook_endpoint_id` when by webhook."""

    __tablename__ = "catalog_subscriptions"
    __table_args__ = (
        CheckConstraint("notify_via IN ('websocket', 'webhook')", name="notify_via"),
        Index("ix_catalog_subscriptions_subscriber", "subscriber_id"),
    )

    subscriber_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    namespace_pattern: Mapped[str] = mapped_column(String(200))
    topic_pattern: Mapped[str] = mapped_column(String(200), default="*")
    # The patterns as SQL LIKE patterns (escape `\`), so the database narrows the candidates;
    # NULL for a pattern LIKE cannot say (a `[...]` class): checked in Python only.
    namespace_like: Mapped[str | None] = mapped_column(String(400))
    topic_like: Mapped[str | None] = mapped_column(String(400))
    category_filter: Mapped[str | None] = mapped_column(String(32))
    max_price_units: Mapped[int | None] = mapped_column(Units)
    min_quality: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    notify_via: Mapped[str] = mapped_column(String(10))
    webhook_endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="SET NULL")
    )


class RouteCursor(Base):
    """How many times a round-robin route over one set of candidates has been taken."""

    __tablename__ = "route_cursors"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
