"""Outbox housekeeping: events older than EVENT_RETENTION_DAYS are deleted."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from core.settings import Settings
from domain import events
from workflows.contracts import housekeeping as contract
from workflows.contracts.housekeeping import PurgeResult


@dataclass
class EventActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings

    @implements(contract.PURGE_EVENTS)
    async def purge_expired(self, now: datetime) -> PurgeResult:
        cutoff = now - timedelta(days=self.settings.event_retention_days)
        async with unit_of_work(self.sessions) as session:
            purged = await events.purge_before(session, cutoff)
        activity.logger.info("purged expired events", extra={"purged": purged})
        return PurgeResult(purged=purged)
