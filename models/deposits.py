import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UUIDKey, one_of, utcnow
from models.ledger import Units
from workflows.contracts.deposit import DepositStatus


class Deposit(UUIDKey, Base):
    """Fiat paid in for credits; credited only when an operator or the provider confirms it."""

    __tablename__ = "deposits"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(DepositStatus)}", name="status"),
        CheckConstraint("amount_units > 0", name="amount_positive"),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"), index=True)
    amount_fiat: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    currency: Mapped[str] = mapped_column(String(3))
    amount_units: Mapped[int] = mapped_column(Units)
    status: Mapped[str] = mapped_column(String(10), default=DepositStatus.PENDING)
    payment_reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(80))


class DepositCallback(Base):
    """A provider callback that was acted on, by its `webhook-id`: one id, one use."""

    __tablename__ = "deposit_callbacks"

    webhook_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    deposit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deposits.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
