"""The audit log: security-relevant actions, chained by hash like the ledger's entries."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, one_of, utcnow
from models.ledger import Units


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AuditEntry(Base):
    """One action, who did it (`actor`) and to whom (`subject`), as `kind:id` (`agent:…`).

    Append-only: `sequence` is contiguous from 1 and each entry hashes the one before it.
    """

    __tablename__ = "audit_log"
    __table_args__ = (CheckConstraint(f"severity IN {one_of(Severity)}", name="severity"),)

    sequence: Mapped[int] = mapped_column(Units, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    actor: Mapped[str | None] = mapped_column(String(100), index=True)
    subject: Mapped[str | None] = mapped_column(String(100), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row every audit append locks: appends are serialized, the chain never forks."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Units, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
