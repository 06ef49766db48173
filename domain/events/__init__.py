"""The outbox: every state change records its event in the same transaction."""

import uuid
from collections.abc import Iterable
from typing import Any

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
