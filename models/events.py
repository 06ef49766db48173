import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, FetchedValue, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Event(Base):
    """The outbox: written in the same transaction as the change it reports.

    Followers read it in commit order, (`txid`, `sequence`) (`domain/events`): `txid` is the id
    of the writing transaction on PostgreSQL (a server default), empty on SQLite. `audience`
    lists the principal ids allowed to see a private event, and is empty for a public one.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_commit_order", "txid", "sequence"),)

    sequence: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    txid: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4, insert_sentinel=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxCursor(Base):
    """Where a follower of the outbox stands (`domain.events.Cursor`), moved in the same
    transaction as what it does with the events: the webhook dispatcher (`dispatch`) and the
    counters' tally of closed purchases (`tally`, ADR 0038)."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
