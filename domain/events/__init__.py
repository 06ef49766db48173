"""The outbox: every state change records its event in the same transaction.

Followers (each API process, webhook delivery, aggregations) read it in commit order with a
`Cursor`. On PostgreSQL a sequence value is taken before commit, so a later number can commit
first: an event carries the id of the transaction that wrote it (`txid`), and a follower reads
only below the oldest transaction of this database still in flight, ordered by
(txid, sequence). Anything it has not read yet then commits above its cursor, never below. On
SQLite writers are serialized (BEGIN IMMEDIATE), so the sequence is the commit order.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import append
from domain.events.types import EventType, Visibility, visible_to
from models.events import Event, OutboxCursor

__all__ = [
    "CHANNEL",
    "START",
    "Cursor",
    "Event",
    "EventType",
    "Visibility",
    "announcement",
    "emit",
    "visible_to",
]

CHANNEL = "events"  # NOTIFY'd with the writing transaction's id as it commits (PostgreSQL)


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a follower stands: after this (transaction, sequence)."""

    txid: int = 0
    sequence: int = 0


START = Cursor()


def emit(
    session: AsyncSession,
    event_type: EventType,
    payload: dict[str, Any],
    audience: Iterable[uuid.UUID | str] = (),
) -> Event:
    """Add an event to the outbox; it leaves only if the surrounding transaction commits.
    A private event names its audience: the agents and creators it concerns."""
    event = announcement(event_type, payload, audience)
    append(session, event)
    return event


def announcement(
    event_type: EventType, payload: dict[str, Any], audience: Iterable[uuid.UUID | str] = ()
) -> Event:
    """An event not yet in the outbox, for a write that adds it in its own statement (a ledger
    movement announces itself only if it is recorded: `ledger.record(..., announce=...)`)."""
    if event_type.visibility is Visibility.PRIVATE and not audience:
        raise ValueError(f"{event_type} is private: it needs an audience")
    return Event(
        id=uuid.uuid4(),
        type=event_type,
        payload=payload,
        audience=[str(a) for a in audience],
        created_at=utcnow(),
    )


def cursor_of(event: Event) -> Cursor:
    return Cursor(event.txid or 0, event.sequence)


def _txid() -> ColumnElement[int]:
    return func.coalesce(Event.txid, 0)


# The oldest transaction still in flight that could have written an event here: the snapshot's
# in-progress ids, less those positively seen running in another database (an id that cannot be
# placed, e.g. one that has just finished, holds the follower back one poll, never loses it).
# Computed in the reading statement, so it agrees with what that statement sees.
_OLDEST_IN_FLIGHT = text(
    """
    coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
         WHERE x::xid NOT IN (SELECT backend_xid FROM pg_stat_activity
                              WHERE backend_xid IS NOT NULL
                                AND datname IS DISTINCT FROM current_database())),
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    """
)


def _committed(session: AsyncSession) -> ColumnElement[bool] | None:
    """Events every follower may read now: none of them can still be overtaken."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return Event.txid < _OLDEST_IN_FLIGHT


def _beyond(cursor: Cursor) -> ColumnElement[bool]:
    return or_(
        _txid() > cursor.txid, and_(_txid() == cursor.txid, Event.sequence > cursor.sequence)
    )


async def after(
    session: AsyncSession,
    cursor: Cursor,
    types: Iterable[str] | None = None,
    limit: int = 500,
    until: Cursor | None = None,
) -> list[Event]:
    """Events committed after `cursor` (and up to `until`), in commit order; `types` narrows
    them."""
    query = select(Event).where(_beyond(cursor))
    if until is not None:
        query = query.where(~_beyond(until))
    if (committed := _committed(session)) is not None:
        query = query.where(committed)
    if types is not None:
        query = query.where(Event.type.in_(list(types)))
    rows = await session.scalars(query.order_by(_txid(), Event.sequence).limit(limit))
    return list(rows)


async def latest(session: AsyncSession) -> Cursor:
    """The cursor after the newest event every follower may read: a new follower starts here."""
    query = select(_txid(), Event.sequence)
    if (committed := _committed(session)) is not None:
        query = query.where(committed)
    row = (await session.execute(query.order_by(_txid().desc(), Event.sequence.desc()))).first()
    return Cursor(int(row[0]), int(row[1])) if row else START


async def held_cursor(session: AsyncSession, name: str) -> OutboxCursor:
    """A follower's stored cursor row (made by the migrations), locked until the commit: one
    follower of that name moves it at a time, in the transaction that acts on what it read."""
    found = await session.get(OutboxCursor, name, with_for_update=True, populate_existing=True)
    if found is None:
        raise LookupError(f"the outbox cursor {name!r} is missing: run the migrations")
    return found


async def find(session: AsyncSession, event_id: uuid.UUID) -> Event | None:
    found: Event | None = await session.scalar(select(Event).where(Event.id == event_id))
    return found


async def purge_before(session: AsyncSession, moment: datetime) -> int:
    """Delete events older than `moment` (their retention has passed)."""
    result = await session.execute(delete(Event).where(Event.created_at < moment))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
