"""Idempotency-Key housekeeping."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from domain import idempotency
from workflows.contracts import housekeeping as contract
from workflows.contracts.housekeeping import PurgeResult


@dataclass
class IdempotencyActivities:
    sessions: async_sessionmaker[AsyncSession]

    @implements(contract.PURGE_IDEMPOTENCY_KEYS)
    async def purge_expired(self, now: datetime) -> PurgeResult:
        async with unit_of_work(self.sessions) as session:
            purged = await idempotency.purge_expired(session, now)
        activity.logger.info("purged expired idempotency keys", extra={"purged": purged})
        return PurgeResult(purged=purged)
