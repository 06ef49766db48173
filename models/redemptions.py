"""Redemptions (a creator cashing credits out) and the monthly payout runs that open them."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey, one_of, utcnow
from models.ledger import Units
from workflows.contracts.payout import PayoutRunStatus
from workflows.contracts.redemption import RedemptionStatus


class Redemption(UUIDKey, Timestamps, Base):
    """Mirrors its RedemptionWorkflow for listings; the credits sit in payout clearing while open.

    `period` is set for monthly payouts: one per creator per month, enforced by the database.
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(RedemptionStatus)}", name="status"),
        CheckConstraint("amount_units > 0", name="amount_positive"),
        UniqueConstraint("creator_id", "period", name="one_payout_per_month"),
        Index("ix_redemptions_creator_created", "creator_id", "created_at"),
    )

    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id"))
    redemption_type: Mapped[str] = mapped_column(String(20))
    amount_units: Mapped[int] = mapped_column(Units)
    currency: Mapped[str] = mapped_column(String(3))
    payout_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=RedemptionStatus.PENDING)
    workflow_id: Mapped[str] = mapped_column(String(120), unique=True)
    period: Mapped[str | None] = mapped_column(String(7))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_reference: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]


class PayoutRun(Base):
    """One monthly payout run: which month, how many creators it paid, and how much."""

    __tablename__ = "payout_runs"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default=PayoutRunStatus.RUNNING)
    creators_paid: Mapped[int] = mapped_column(default=0)
    total_units: Mapped[int] = mapped_column(Units, default=0)
    run_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # each run counted once

    @property
    def runs(self) -> int:
        return len(self.run_ids)

    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
