"""Creators: the people who own agents and collect their earnings; and their login throttle."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey, one_of, utcnow


class CreatorStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # may not log in or be paid


class Creator(UUIDKey, Timestamps, Base):
    """A human account. `email` is stored lowercased, so uniqueness ignores case.

    `password_hash` is bcrypt over a SHA-256 pre-hash (see `core.security`); the credit balance
    lives in the creator's ledger account (owner_kind 'creator'), never on this row.
    """

    __tablename__ = "creators"
    __table_args__ = (
        CheckConstraint(f"status IN {one_of(CreatorStatus)}", name="status"),
        CheckConstraint(
            "payout_method IS NULL OR payout_method IN "
            "('api_credits', 'gift_card', 'bank_withdrawal', 'upi')",
            name="payout_method",
        ),
    )

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str | None] = mapped_column(String(2))
    payout_method: Mapped[str | None] = mapped_column(String(20))
    payout_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default=CreatorStatus.ACTIVE)


class CreatorLoginThrottle(Base):
    """Recent login attempts for one key (`email:<sha256>` or `client:<sha256>`).

    Kept in the database so every API process sees the same counts. `attempts` holds the epoch
    milliseconds of the attempts inside the current window (a sliding log, pruned on every use);
    the row is locked while it is read and rewritten, so concurrent attempts cannot overshoot.
    """

    __tablename__ = "creator_login_throttles"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    attempts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
