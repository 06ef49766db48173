"""Content delivery side effects."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import implements
from core.db import unit_of_work
from domain import events
from workflows.contracts import cache_decay as contract


@dataclass
class ContentActivities:
    sessions: async_sessionmaker[AsyncSession]

    @implements(contract.ANNOUNCE_DECAY)
    async def announce_decay(self) -> None:
        """Every API process follows the outbox and decays its own hot tier on this event."""
        async with unit_of_work(self.sessions) as session:
            events.emit(session, events.EventType.CDN_DECAY, {})
