"""The credit ledger: accounts, movements (one per idempotency key), chained entries, holds."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UUIDKey, utcnow

Units = BigInteger().with_variant(Integer, "sqlite")


class LedgerAccount(UUIDKey, Base):
    """An agent's, a creator's, or one of the system accounts (issuance, treasury, burn, ...).

    Only the issuance account goes negative: minting moves credits out of it, so the sum over all
    accounts is always zero.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner_kind", "owner_id"),
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
        CheckConstraint("owner_kind IN ('agent', 'creator', 'system')", name="owner_kind"),
    )

    owner_kind: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[str] = mapped_column(String(64))  # agent/creator uuid, or system name
    balance: Mapped[int] = mapped_column(Units, default=0)
    allow_negative: Mapped[bool] = mapped_column(default=False)
    total_earned: Mapped[int] = mapped_column(Units, default=0)
    total_spent: Mapped[int] = mapped_column(Units, default=0)
    total_deposited: Mapped[int] = mapped_column(Units, default=0)
    total_fees_paid: Mapped[int] = mapped_column(Units, default=0)
    tier: Mapped[str] = mapped_column(String(10), default="bronze")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerMovement(UUIDKey, Base):
    """One business movement (a transfer, a mint, a hold, ...), made of one or more entries.

    `idempotency_key` is derived from the business id (`signup:{agent}`, `purchase:{tx}:settle`);
    `request_hash` fingerprints the payload so a reused key with other terms is refused.
    """

    __tablename__ = "ledger_movements"

    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    tx_type: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(Units)
    fee_amount: Mapped[int] = mapped_column(Units, default=0)
    burn_amount: Mapped[int] = mapped_column(Units, default=0)
    reference_type: Mapped[str | None] = mapped_column(String(32))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One leg: `amount` leaves `from_account` and arrives in `to_account`. Append-only, chained."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("from_account_id <> to_account_id", name="distinct_accounts"),
        Index("ix_ledger_entries_from_sequence", "from_account_id", "sequence"),
        Index("ix_ledger_entries_to_sequence", "to_account_id", "sequence"),
    )

    sequence: Mapped[int] = mapped_column(Units, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    movement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_movements.id"), index=True)
    from_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    to_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(Units)
    tx_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerChainHead(Base):
    """The single row every append locks first: it serializes appends so the chain never forks."""

    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Units, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class LedgerHold(UUIDKey, Base):
    """A pending movement into escrow, later posted (settled) or voided (released) exactly once."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'posted', 'voided')", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_ledger_holds_account_status", "account_id", "status"),
    )

    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(Units)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reference_type: Mapped[str | None] = mapped_column(String(32))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
