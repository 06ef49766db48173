"""The outbox: every state change records its event in the same transaction."""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.events import Event

PUBLIC: tuple[str, ...] = ()


def emit(
    session: AsyncSession,
    event_type: str,
    payload: dict[str, Any],
    audience: Iterable[uuid.UUID | str] = PUBLIC,
) -> Event:
    """Add an event to the outbox; it leaves only if the surrounding transaction commits."""
    event = Event(type=event_type, payload=payload, audience=[str(a) for a in audience])
    session.add(event)
    return event


async def latest_sequence(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Event.sequence))) or 0)


async def since(
    session: AsyncSession, sequence: int, types: Iterable[str], limit: int = 500
) -> list[Event]:
    """Events after `sequence`, oldest first: what an outbox follower has not seen yet."""
    rows = await session.scalars(
        select(Event)
        .where(Event.sequence > sequence, Event.type.in_(list(types)))
        .order_by(Event.sequence)
        .limit(limit)
    )
    return list(rows)
