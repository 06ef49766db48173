"""Content delivery side effects."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from core.db import unit_of_work
from domain import events


@dataclass
class ContentActivities:
    sessions: async_sessionmaker[AsyncSession]

    @activity.defn(name="content.announce_decay")
    async def announce_decay(self) -> None:
        """Every API process follows the outbox and decays its own hot tier on this event."""
        async with unit_of_work(self.sessions) as session:
            events.emit(session, "cdn_decay", {}, audience=["system"])
