"""Deposit side effects: credit a confirmed deposit once, fail it, or expire it."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import implements
from core.db import unit_of_work
from domain.wallet import deposits
from workflows.contracts import deposit as contract
from workflows.contracts import housekeeping
from workflows.contracts.deposit import DepositState
from workflows.contracts.housekeeping import PurgeResult

# A callback id is remembered well past the signature's timestamp tolerance (5 minutes): by the
# time it is forgotten, a replay of it is refused as too old anyway.
CALLBACK_MEMORY = timedelta(days=1)


@dataclass
class DepositActivities:
    sessions: async_sessionmaker[AsyncSession]

    @implements(contract.CREDIT)
    async def credit(self, deposit_id: uuid.UUID, confirmed_by: str) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            credited = await deposits.credit(session, deposit_id, confirmed_by)
            return DepositState.model_validate(credited)

    @implements(contract.FAIL)
    async def fail(self, deposit_id: uuid.UUID, reported_by: str) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            return DepositState.model_validate(
                await deposits.fail(session, deposit_id, reported_by)
            )

    @implements(housekeeping.PURGE_DEPOSIT_CALLBACKS)
    async def purge_callbacks(self, now: datetime) -> PurgeResult:
        async with unit_of_work(self.sessions) as session:
            purged = await deposits.purge_callbacks_before(session, now - CALLBACK_MEMORY)
        return PurgeResult(purged=purged)

    @implements(contract.EXPIRE)
    async def expire(self, deposit_id: uuid.UUID) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            return DepositState.model_validate(await deposits.expire(session, deposit_id))
