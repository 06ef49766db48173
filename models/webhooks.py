"""Webhook endpoints (seller webhooks and OpenClaw gateways) and their deliveries."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey, one_of, utcnow
from workflows.contracts.webhooks import DeliveryStatus, EndpointKind, EndpointStatus


class WebhookEndpoint(UUIDKey, Timestamps, Base):
    """An agent's endpoint. `secret` (the signing secret, or an OpenClaw gateway's bearer token)
    is sealed by `core.vault`; `previous_secret` still signs until `previous_secret_until`.
    `awake` is true while a delivery workflow owns its queue (ADR 0023)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(f"kind IN {one_of(EndpointKind)}", name="kind"),
        CheckConstraint(f"status IN {one_of(EndpointStatus)}", name="status"),
        Index("ix_webhook_endpoints_owner_kind", "owner_id", "kind"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[str] = mapped_column(String(1024))
    previous_secret: Mapped[str | None] = mapped_column(String(1024))
    previous_secret_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default=EndpointStatus.ACTIVE, index=True)
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    awake: Mapped[bool] = mapped_column(default=False)


class WebhookDelivery(UUIDKey, Base):
    """One event for one endpoint: the exact body sent on every attempt (its `webhook-id` is the
    event's id), and the outcome of the last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(DeliveryStatus)}", name="status"),
        UniqueConstraint("endpoint_id", "event_id", name="one_delivery_per_event"),
        Index("ix_webhook_deliveries_due", "endpoint_id", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    response_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
