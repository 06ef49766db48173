"""Idempotency-Key housekeeping."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from core.db import unit_of_work
from domain import idempotency
from workflows.messages import PurgeResult


@dataclass
class IdempotencyActivities:
    sessions: async_sessionmaker[AsyncSession]

    @activity.defn(name="idempotency.purge_expired")
    async def purge_expired(self, now: datetime) -> PurgeResult:
        """Delete Idempotency-Key records past their retention; safe to retry."""
        async with unit_of_work(self.sessions) as session:
            purged = await idempotency.purge_expired(session, now)
        activity.logger.info("purged expired idempotency keys", extra={"purged": purged})
        return PurgeResult(purged=purged)
