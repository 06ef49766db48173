import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey, one_of


class AgentStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # deactivated by its owner: its tokens are refused


class RegisteredAgent(UUIDKey, Timestamps, Base):
    __tablename__ = "registered_agents"
    __table_args__ = (
        CheckConstraint("agent_type IN ('seller', 'buyer', 'both')", name="agent_type"),
        CheckConstraint(f"status IN {one_of(AgentStatus)}", name="status"),
        Index("ix_registered_agents_type_status", "agent_type", "status"),
    )

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    agent_type: Mapped[str] = mapped_column(String(10))
    public_key: Mapped[str] = mapped_column(Text, default="")
    wallet_address: Mapped[str] = mapped_column(String(128), default="")
    capabilities: Mapped[list[Any]] = mapped_column(JSON, default=list)
    a2a_endpoint: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default=AgentStatus.ACTIVE)
    last_seen_at: Mapped[datetime | None]
    # The creator who proved control of this agent and collects its royalties; claimed once.
    creator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("creators.id"), index=True)


class SignupBonusDay(Base):
    """Signup bonuses granted on one UTC day, against SIGNUP_BONUS_DAILY_BUDGET_ARD."""

    __tablename__ = "signup_bonus_days"
    __table_args__ = (CheckConstraint("granted_units >= 0", name="granted_not_negative"),)

    day: Mapped[date] = mapped_column(primary_key=True)
    granted_units: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
