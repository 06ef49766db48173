"""Purchases: the transactions row mirrors its PurchaseWorkflow; verifications are evidence."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from models.base import Base, UUIDKey, one_of
from models.ledger import Units
from workflows.contracts.purchase import PaymentMethod, PurchaseStatus, VerificationStatus


class Transaction(UUIDKey, Base):
    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(PurchaseStatus)}", name="status"),
        CheckConstraint("amount_units > 0", name="amount_positive"),
        Index("ix_transactions_buyer_status", "buyer_id", "status"),
        Index("ix_transactions_seller_status", "seller_id", "status"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_listings.id"))
    buyer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    seller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    amount_units: Mapped[int] = mapped_column(Units)
    fee_units: Mapped[int] = mapped_column(Units, default=0)
    status: Mapped[str] = mapped_column(String(20), default=PurchaseStatus.PAYMENT_PENDING)
    payment_method: Mapped[str] = mapped_column(String(10), default=PaymentMethod.TOKEN)
    payment_tx_hash: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(71))
    delivered_hash: Mapped[str | None] = mapped_column(String(71))
    verification_status: Mapped[str] = mapped_column(String(10), default=VerificationStatus.PENDING)
    error_message: Mapped[str | None] = mapped_column(String(500))
    express: Mapped[bool] = mapped_column(default=False)
    initiated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    workflow_id: Mapped[str] = mapped_column(String(80))


class VerificationRecord(UUIDKey, Base):
    __tablename__ = "verification_records"

    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"), index=True)
    expected_hash: Mapped[str] = mapped_column(String(71))
    actual_hash: Mapped[str] = mapped_column(String(71))
    matched: Mapped[bool]
    merkle_matched: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
